"""Named files on Google Drive (EgoClip, EgoMCQ, EgoVLP weights and features, ...), each placed
where the code that consumes it looks for it.

Paths follow the consumers' READMEs: an EgoVLP checkout reads ``dataset/egoclip.csv``,
``dataset/egomcq.json`` and ``pretrained/egovlp.pth``; Ego2Exo reads ``metadata/ego2exo.json``.
Features are kept as the archives Drive serves. A size or MD5 given here is checked on
download; Drive's own answers give the size of the rest.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..config import EgoVlpConfig
from ..errors import EgogetError, UnsafePathError
from ..model import PlannedRun, RemoteFile
from ..paths import safe_relative_path
from ..sources import SourceRegistry
from .choices import check_choices


@dataclass(frozen=True)
class DriveAsset:
    part: str
    drive_id: str
    # A file's path, or for a Drive folder the directory (ending in /) its files go under.
    dest: str
    description: str
    size: int | None = None
    md5: str | None = None

    @property
    def is_folder(self) -> bool:
        return self.dest.endswith("/")


EGOVLP_ASSETS: tuple[DriveAsset, ...] = (
    DriveAsset(
        "egoclip",
        "1-aaDu_Gi-Y2sQI_2rsI2D1zvQBJnHpXl",
        "dataset/egoclip.csv",
        "EgoClip pretraining metadata (tab-separated, 3,847,723 clips)",
    ),
    DriveAsset(
        "egomcq",
        "1-5iRYf4BCHmj4MYQYFRMY4bhsWJUN3rW",
        "dataset/egomcq.json",
        "EgoMCQ evaluation metadata",
    ),
    DriveAsset(
        "taxonomy",
        "16fUv5rrZmt06Ty3QAEweDpveC-84RI9Z",
        "dataset/taxonomy/",
        "EgoVLP verb/noun taxonomy (Drive folder)",
    ),
    DriveAsset(
        "weights",
        "1-cP3Gcg0NGDcMZalgJ_615BQdbFIbcj7",
        "pretrained/egovlp.pth",
        "EgoVLP pretrained checkpoint (EgoVLP_PT_BEST)",
    ),
    DriveAsset(
        "weights-epo1",
        "10lRA4Fldt-c5Azh5D2Zvjwi-_YR5ve5e",
        "pretrained/egovlp_epo1.pth",
        "EgoVLP after one pretraining epoch (EgoVLP_PT_EPO1)",
    ),
    DriveAsset(
        "weights-epic",
        "1-YEHZ-WBCnO-LZEsDF14jo-pLSJKTp2G",
        "pretrained/egovlp_mir.pth",
        "EgoVLP fine-tuned on EPIC-Kitchens MIR (EgoVLP_FT_EPIC)",
    ),
    DriveAsset(
        "weights-epic-star",
        "1-SOQeXc-xSn544sJzgFLhC95hkQsm0BR",
        "pretrained/egovlp_mir_star.pth",
        "EgoVLP fine-tuned on EPIC-Kitchens MIR, second variant (EgoVLP_FT_EPIC*)",
    ),
    DriveAsset(
        "weights-charades",
        "1-xWVDH7XO4pi6Hj5QRpKVz6y-QkqcFlQ",
        "pretrained/charades_ft.pth",
        "EgoVLP fine-tuned on Charades-Ego (EgoVLP_FT_CHARADES)",
    ),
    DriveAsset(
        "nlq-features",
        "1TXBlLDqDuL_XPCuXlgiikEfVXO8Ly6eM",
        "features/egovlp_nlq_train_val.tar.gz",
        "EgoVLP clip features for Ego4D NLQ, train + val",
    ),
    DriveAsset(
        "nlq-features",
        "1-CGZg9t-kpW5bmg9M62VHk5eYTllsPKV",
        "features/egovlp_nlq_test.tar.gz",
        "EgoVLP clip features for Ego4D NLQ, test",
    ),
    DriveAsset(
        "mq-features",
        "1-HEUCdyfNX7CBZhz40yiyTr7to_p7wUi",
        "features/egovlp_mq_train_val.tar.gz",
        "EgoVLP clip features for Ego4D MQ, train + val",
    ),
    DriveAsset(
        "mq-features",
        "1-JmezY3eIkHKJ1JBA_AA8QWBoY3W2HpS",
        "features/egovlp_mq_test.tar.gz",
        "EgoVLP clip features for Ego4D MQ, test",
    ),
)
EGOVLP_PARTS = tuple(dict.fromkeys(asset.part for asset in EGOVLP_ASSETS))
EGOVLP_DEFAULT_PARTS = ("egoclip", "egomcq")

EGO2EXO_METADATA = DriveAsset(
    "metadata",
    "1pe4F8zYSfA-VYvx296opzHpggrzV-jYE",
    "metadata/ego2exo.json",
    "Ego2Exo metadata (~64 MB; also on Hugging Face, Tarun23/Ego2Exo)",
)

SOCIAL_CHECKPOINTS = DriveAsset(
    "checkpoints",
    "1MGrhm3J1dKoWPSL3RvC3qb3QeiIqe9vi",
    "checkpoints/",
    "Ego4D social (Looking-at-me / Talking-to-me) baseline checkpoints (Drive folder)",
)


def asset_files(
    assets: list[DriveAsset], registry: SourceRegistry
) -> tuple[list[RemoteFile], list[tuple[str, EgogetError]]]:
    """The files of these assets; a folder is listed on Drive (one request per folder)."""
    from ..sources.gdrive import drive_folder, drive_uri  # requests loads only when needed

    files: list[RemoteFile] = []
    refused: list[tuple[str, EgogetError]] = []
    for asset in assets:
        tags = {"part": asset.part}
        if not asset.is_folder:
            dest = safe_relative_path(asset.dest)
            uri = drive_uri(asset.drive_id)
            files.append(RemoteFile(uri, dest, asset.size, md5=asset.md5, tags=tags))
            continue
        for file_id, path in drive_folder(registry, asset.drive_id):
            try:
                dest = safe_relative_path(asset.dest + path)
            except UnsafePathError as exc:
                refused.append((drive_uri(file_id), exc))
                continue
            files.append(RemoteFile(drive_uri(file_id), dest, tags=tags))
    return files, refused


def plan_egovlp(config: EgoVlpConfig, registry: SourceRegistry) -> PlannedRun:
    parts = config.parts or list(EGOVLP_DEFAULT_PARTS)
    check_choices("part", parts, [*EGOVLP_PARTS, "all"])
    if "all" in parts:
        parts = list(EGOVLP_PARTS)
    assets = [asset for asset in EGOVLP_ASSETS if asset.part in parts]
    files, refused = asset_files(assets, registry)
    return PlannedRun(config.planned_share(files), refused)


def describe_egovlp() -> list[tuple[str, list[str]]]:
    return [
        ("parts", [f"{a.part} ({a.dest})" for a in EGOVLP_ASSETS]),
        ("default parts", list(EGOVLP_DEFAULT_PARTS)),
    ]

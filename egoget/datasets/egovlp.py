"""EgoVLP's files on Google Drive (EgoClip, EgoMCQ, checkpoints, features), each where an EgoVLP
checkout reads it (paths from EgoVLP's README and configs)."""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path

from ..config import EgoVlpConfig
from ..model import FinishingStep, Plan, PlannedRun, StartProgress, StepOutcome
from ..sources import SourceRegistry
from . import Fetcher
from .choices import check_choices
from .drive_assets import DriveAsset, asset_files

# Where EgoVLP's configs read the EgoClip/EgoMCQ metadata (configs/pt/egoclip.json:29-30,
# configs/eval/egomcq.json:29-30); its README says dataset/egoclip.csv and dataset/egomcq.json,
# where a relative link to each is made, so that both work.
META_DIR = "dataset/ego4d_toolbox/0_metadata/egovlp"
README_LINKS = {"dataset/egoclip.csv": f"{META_DIR}/egoclip.csv",
                "dataset/egomcq.json": f"{META_DIR}/egomcq.json"}  # fmt: skip

EGOVLP_ASSETS: tuple[DriveAsset, ...] = (
    DriveAsset(
        "egoclip",
        "1-aaDu_Gi-Y2sQI_2rsI2D1zvQBJnHpXl",
        f"{META_DIR}/egoclip.csv",
        "EgoClip pretraining metadata (tab-separated, 3,847,723 clips)",
    ),
    DriveAsset(
        "egomcq",
        "1-5iRYf4BCHmj4MYQYFRMY4bhsWJUN3rW",
        f"{META_DIR}/egomcq.json",
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


def plan_run(config: EgoVlpConfig, registry: SourceRegistry, fetcher: Fetcher) -> PlannedRun:
    parts = config.parts or list(EGOVLP_DEFAULT_PARTS)
    check_choices("part", parts, [*EGOVLP_PARTS, "all"])
    if "all" in parts:
        parts = list(EGOVLP_PARTS)
    assets = [asset for asset in EGOVLP_ASSETS if asset.part in parts]
    files, refused = asset_files(assets, registry)
    planned = {file.dest for file in files}
    links = tuple((link, target) for link, target in README_LINKS.items() if target in planned)
    finishing: list[FinishingStep] = [RelativeLinks(links)] if links else []
    return PlannedRun(Plan(files).share(config.this_shard), refused, finishing=finishing)


@dataclass(frozen=True)
class RelativeLinks:
    """Links from where a README says a file goes to where the code reads it. A file already
    at the link's place (put there by hand, or by an older egoget) is left as it is."""

    links: tuple[tuple[str, str], ...]  # (link, target), both relative to the output

    def run(
        self, output: Path, cancelled: threading.Event, start_progress: StartProgress
    ) -> StepOutcome:
        made, kept = 0, []
        for link, target in self.links:
            path = output / link
            relative = os.path.relpath(output / target, path.parent)
            if path.is_symlink() and os.readlink(path) == relative:
                continue
            if path.exists() or path.is_symlink():
                kept.append(link)
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            path.symlink_to(relative)
            made += 1
        summary = f"{made} links made for the README's paths"
        if kept:
            summary += f"; left as they are: {', '.join(kept)}"
        return StepOutcome(summary)


def describe() -> list[tuple[str, list[str]]]:
    return [
        ("parts", [f"{a.part} ({a.dest})" for a in EGOVLP_ASSETS]),
        ("default parts", list(EGOVLP_DEFAULT_PARTS)),
    ]

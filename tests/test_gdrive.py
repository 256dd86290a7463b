"""Google Drive through `egoget fetch`, against Drive's replayed pages (tests/drivereplay.py)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from .conftest import Outcome, run_cli
from .drivereplay import DriveReplay

SMALL_ID = "1-aaDu_Gi-Y2sQI_2rsI2D1zvQBJnHpXl"
LARGE_ID = "1-cP3Gcg0NGDcMZalgJ_615BQdbFIbcj7"
FOLDER_ID = "16fUv5rrZmt06Ty3QAEweDpveC-84RI9Z"
SUBFOLDER_ID = "1SubFolderSubFolderSubFolder0001"
NOUNS_ID = "1NounsNounsNounsNounsNounsNouns01"
VERBS_ID = "1VerbsVerbsVerbsVerbsVerbsVerbs01"
MIB = 1024 * 1024


CaptureFixture = pytest.CaptureFixture[str]


def data_of(seed: int, size: int) -> bytes:
    block = bytes((seed * 31 + i * 7) % 251 for i in range(4096))
    return (block * (size // len(block) + 1))[:size]


@pytest.fixture
def drive() -> DriveReplay:
    replay = DriveReplay()
    replay.files[SMALL_ID] = ("egoclip.csv", data_of(1, 300_000))
    replay.files[LARGE_ID] = ("egovlp.pth", data_of(2, 5 * MIB + 123))
    replay.files[NOUNS_ID] = ("nouns.csv", data_of(3, 20_000))
    replay.files[VERBS_ID] = ("verbs.csv", data_of(4, 10_000))
    replay.folders[FOLDER_ID] = ("EgoVLP taxonomy", [NOUNS_ID, SUBFOLDER_ID])
    replay.folders[SUBFOLDER_ID] = ("more", [VERBS_ID])
    return replay


def fetch(capsys: CaptureFixture, out: Path, *args: str) -> Outcome:
    return run_cli(["fetch", *args, "-o", str(out), "--chunk-size-mib", "1", "-j", "4"], capsys)


def no_html_anywhere(out: Path) -> bool:
    for path in out.rglob("*"):
        inspected = path.is_file() and ".egoget" not in path.parts
        if inspected and b"<html" in path.read_bytes()[:4096].lower():
            return False
    return True


def test_a_small_file_lands_under_its_drive_name(
    drive: DriveReplay, tmp_path: Path, capsys: CaptureFixture
) -> None:
    with drive.active():
        result = fetch(capsys, tmp_path / "o", f"gdrive://{SMALL_ID}")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "o" / "egoclip.csv").read_bytes() == drive.files[SMALL_ID][1]


def test_a_large_file_passes_the_virus_scan_page_once_and_arrives_in_chunks(
    drive: DriveReplay, tmp_path: Path, capsys: CaptureFixture
) -> None:
    link = f"https://drive.google.com/file/d/{LARGE_ID}/view?usp=sharing"
    with drive.active():
        result = fetch(capsys, tmp_path / "o", link)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "o" / "egovlp.pth").read_bytes() == drive.files[LARGE_ID][1]
    # One request found the scan page; every chunk then went straight to the confirmed link.
    assert drive.requests_seen["drive.google.com/uc"] <= 2
    assert drive.requests_seen["drive.usercontent.google.com/download"] >= 6


def test_a_folder_keeps_its_paths(
    drive: DriveReplay, tmp_path: Path, capsys: CaptureFixture
) -> None:
    with drive.active():
        result = fetch(
            capsys, tmp_path / "o", f"https://drive.google.com/drive/folders/{FOLDER_ID}"
        )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "o" / "nouns.csv").read_bytes() == drive.files[NOUNS_ID][1]
    assert (tmp_path / "o" / "more" / "verbs.csv").read_bytes() == drive.files[VERBS_ID][1]


def test_quota_page_is_an_error_with_a_hint_never_a_file(
    drive: DriveReplay, tmp_path: Path, capsys: CaptureFixture
) -> None:
    drive.quota_exceeded.add(SMALL_ID)
    with drive.active():
        result = fetch(capsys, tmp_path / "o", f"gdrive://{SMALL_ID}")
    assert result.exit_code == 1, result.output
    assert "too many users" in result.stderr
    assert "--cookies" in result.stderr and "wait" in result.stderr
    assert not (tmp_path / "o" / "egoclip.csv").exists()
    assert no_html_anywhere(tmp_path / "o")


def test_quota_running_out_mid_file_keeps_the_chunks_for_a_later_rerun(
    drive: DriveReplay, tmp_path: Path, capsys: CaptureFixture
) -> None:
    out = tmp_path / "o"
    drive.quota_after_bytes[LARGE_ID] = 3 * MIB
    with drive.active():
        first = run_cli(["fetch", f"gdrive://{LARGE_ID}", "-o", str(out),
                         "--chunk-size-mib", "1", "-j", "1"], capsys)  # fmt: skip
    assert first.exit_code == 1, first.output
    assert "too many users" in first.stderr
    assert not (out / "egovlp.pth").exists()
    assert no_html_anywhere(out)
    served_before = drive.body_bytes
    # A day later the quota is back: only the missing chunks travel.
    drive.quota_exceeded.clear()
    drive.quota_after_bytes.clear()
    with drive.active():
        second = fetch(capsys, out, f"gdrive://{LARGE_ID}")
    assert second.exit_code == 0, second.output
    assert (out / "egovlp.pth").read_bytes() == drive.files[LARGE_ID][1]
    resent = drive.body_bytes - served_before
    missing = len(drive.files[LARGE_ID][1]) - 3 * MIB
    assert missing <= resent <= missing + 8, resent  # + the one-byte probes that pin the file


@pytest.mark.parametrize("case", ["private", "deleted"])
def test_private_or_deleted_file_says_so(
    case: str, drive: DriveReplay, tmp_path: Path, capsys: CaptureFixture
) -> None:
    file_id = SMALL_ID
    if case == "private":
        drive.private.add(file_id)
    else:
        del drive.files[file_id]
    with drive.active():
        result = fetch(
            capsys,
            tmp_path / "o",
            f"gdrive://{file_id}",
        )
    assert result.exit_code != 0, result.output
    expected = "sign in" if case == "private" else "no file"
    assert expected in result.stderr, result.stderr
    assert "private, deleted" in result.stderr  # the hint
    assert "Traceback" not in result.stderr
    assert no_html_anywhere(tmp_path / "o") if (tmp_path / "o").exists() else True


def test_cookies_file_reaches_a_file_shared_with_the_account(
    drive: DriveReplay, tmp_path: Path, capsys: CaptureFixture
) -> None:
    drive.signed_in_only.add(SMALL_ID)
    cookies = tmp_path / "cookies.txt"
    cookies.write_text(
        "# Netscape HTTP Cookie File\n.google.com\tTRUE\t/\tTRUE\t0\tSID\tsigned-in-session\n"
    )
    with drive.active():
        refused = fetch(capsys, tmp_path / "a", f"gdrive://{SMALL_ID}")
        admitted = fetch(capsys, tmp_path / "b", f"gdrive://{SMALL_ID}", "--cookies", str(cookies))
    assert refused.exit_code != 0 and "sign in" in refused.stderr
    assert admitted.exit_code == 0, admitted.output
    assert (tmp_path / "b" / "egoclip.csv").read_bytes() == drive.files[SMALL_ID][1]
    assert not (Path(os.environ["HOME"]) / ".cache" / "gdown").exists()  # nothing written there


def test_unreadable_cookies_file_is_a_usage_error(
    drive: DriveReplay, tmp_path: Path, capsys: CaptureFixture
) -> None:
    bad = tmp_path / "cookies.txt"
    bad.write_text("not a cookie file\n")
    with drive.active():
        result = fetch(capsys, tmp_path / "o", f"gdrive://{SMALL_ID}", "--cookies", str(bad))
    assert result.exit_code == 2, result.output
    assert "cookies" in result.stderr and "Netscape" in result.stderr


# --- named assets: `egoget download egovlp` -------------------------------------------------

WEIGHTS_ID = LARGE_ID  # EgoVLP_PT_BEST
EGOMCQ_ID = "1-5iRYf4BCHmj4MYQYFRMY4bhsWJUN3rW"


@pytest.fixture
def egovlp_drive(drive: DriveReplay) -> DriveReplay:
    drive.files[EGOMCQ_ID] = ("egomcq.json", b'{"0": {"query": "#C C opens the fridge"}}')
    return drive


def download_egovlp(capsys: CaptureFixture, out: Path, *args: str) -> Outcome:
    return run_cli(["download", "egovlp", *args, "-o", str(out), "-y", "--chunk-size-mib", "1"],
                   capsys, out.parent / "report.json")  # fmt: skip


def test_egovlp_assets_land_where_an_egovlp_checkout_reads_them(
    egovlp_drive: DriveReplay, tmp_path: Path, capsys: CaptureFixture
) -> None:
    out = tmp_path / "EgoVLP"
    with egovlp_drive.active():
        first = download_egovlp(capsys, out, "--parts", "egoclip", "egomcq", "weights", "taxonomy")
    assert first.exit_code == 0, first.output
    files = egovlp_drive.files
    # Where EgoVLP's configs read them, and linked from where its README says to put them.
    meta = out / "dataset" / "ego4d_toolbox" / "0_metadata" / "egovlp"
    assert (meta / "egoclip.csv").read_bytes() == files[SMALL_ID][1]
    assert (meta / "egomcq.json").read_bytes() == files[EGOMCQ_ID][1]
    for name in ("egoclip.csv", "egomcq.json"):
        link = out / "dataset" / name
        assert os.readlink(link) == f"ego4d_toolbox/0_metadata/egovlp/{name}"
        assert link.read_bytes() == (meta / name).read_bytes()
    assert (out / "pretrained" / "egovlp.pth").read_bytes() == files[WEIGHTS_ID][1]
    assert (out / "dataset" / "taxonomy" / "more" / "verbs.csv").read_bytes() == files[VERBS_ID][1]
    # The rerun asks Drive for the folder listing only: every file is known to the ledger.
    served = egovlp_drive.body_bytes
    with egovlp_drive.active():
        again = download_egovlp(capsys, out, "--parts", "egoclip,egomcq", "--parts", "weights")
    assert again.exit_code == 0, again.output
    assert egovlp_drive.body_bytes == served
    assert again.report is not None and again.report["files_present"] == 3


def test_unknown_egovlp_part_suggests_the_close_name(
    egovlp_drive: DriveReplay, tmp_path: Path, capsys: CaptureFixture
) -> None:
    with egovlp_drive.active():
        result = download_egovlp(capsys, tmp_path / "o", "--parts", "egoclips")
    assert result.exit_code == 2
    assert "did you mean 'egoclip'" in result.stderr
    assert egovlp_drive.requests_seen.total() == 0


def test_a_catalogue_checksum_that_does_not_match_is_never_published(
    egovlp_drive: DriveReplay,
    tmp_path: Path,
    capsys: CaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import dataclasses

    from egoget.datasets import egovlp

    wrong = tuple(
        dataclasses.replace(a, md5="0" * 32) if a.part == "egomcq" else a
        for a in egovlp.EGOVLP_ASSETS
    )
    monkeypatch.setattr(egovlp, "EGOVLP_ASSETS", wrong)
    with egovlp_drive.active():
        result = download_egovlp(capsys, tmp_path / "o", "--parts", "egomcq", "--max-attempts", "2")
    assert result.exit_code == 1, result.output
    assert "md5" in result.stderr.lower() or "checksum" in result.stderr.lower()
    assert not (tmp_path / "o" / "dataset" / "egomcq.json").exists()

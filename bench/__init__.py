"""Benchmarks: egoget against its peers on the same local server. Not tests; CI times nothing."""

from __future__ import annotations

from pathlib import Path

RESULTS = Path(__file__).parent / "results"


def publish(report: str, file_name: str) -> None:
    """Print a markdown report and keep it as bench/results/FILE_NAME."""
    report = report.rstrip("\n") + "\n"
    print("\n" + report)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / file_name).write_text(report)

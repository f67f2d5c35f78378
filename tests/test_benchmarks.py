"""The benchmark suite runs end to end in quick mode and reports every figure with a number."""

from __future__ import annotations

import re

import pytest

from tests.conftest import REPO, run_cli

QUICK_RESULTS = REPO / "benchmarks" / "RESULTS.quick.md"
NUMBER = re.compile(r"^-?[\d,]*\.?\d+(e[+-]?\d+)?$")


def _rows(text: str) -> list[list[str]]:
    """The figure table's data rows, split into cells."""
    rows = []
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("|") and cells[0].isdigit():
            rows.append(cells)
    return rows


@pytest.mark.integration
def test_quick_benchmarks_report_every_figure():
    before = QUICK_RESULTS.stat().st_mtime if QUICK_RESULTS.exists() else None
    result = run_cli("benchmarks", "all", "--quick", timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert QUICK_RESULTS.exists() and QUICK_RESULTS.stat().st_mtime != before, "quick results file was not written"
    rows = _rows(QUICK_RESULTS.read_text(encoding="utf-8"))
    assert {r[0] for r in rows} >= {"1", "2", "3", "4", "5", "7"}, rows
    for cells in rows:
        value = cells[2].split()[0]  # "1,234 tokens/s"
        ratio = cells[4].removesuffix("x")
        assert NUMBER.match(value), f"figure {cells[0]} value is not numeric: {cells[2]!r}"
        assert NUMBER.match(ratio), f"figure {cells[0]} ratio is not numeric: {cells[4]!r}"
    assert "[1] training throughput" in result.stdout


def test_the_base_stage_benchmark_prints_its_ratio():
    result = run_cli("benchmarks.base_stage", "--num-known", "12", "--threads", "1", timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    figure = re.search(r"\[B1\] base-stage training: ([\d.]+) samples/s \(([\d.]+)x vs the previous loop", result.stdout)
    assert figure and float(figure.group(1)) > 0 and float(figure.group(2)) > 0, result.stdout
    assert re.search(r"platform: .* (\d+)% of positions padding", result.stdout)

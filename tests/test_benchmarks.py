"""The benchmark suite runs end to end in quick mode and reports every figure with a number."""

from __future__ import annotations

import re
import subprocess

import pytest

from tests.conftest import REPO, run_cli

NUMBER = re.compile(r"^-?[\d,]*\.?\d+(e[+-]?\d+)?$")


def _rows(text: str) -> list[list[str]]:
    """The figure table's data rows, split into cells."""
    rows = []
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("|") and cells[0].isdigit():
            rows.append(cells)
    return rows


def _benchmarks_status() -> str:
    """``git status --porcelain benchmarks/``: what a test run would have changed in the tracked files."""
    return subprocess.run(
        ["git", "status", "--porcelain", "--", "benchmarks/"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout


@pytest.mark.integration
def test_quick_benchmarks_report_every_figure(tmp_path):
    """The quick run writes where it is told: a test never rewrites the committed RESULTS.quick.md."""
    output = tmp_path / "RESULTS.quick.md"
    status_before = _benchmarks_status()
    result = run_cli("benchmarks", "all", "--quick", "--output", str(output), timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert output.exists(), "quick results file was not written"
    assert _benchmarks_status() == status_before, "the benchmark run changed files under benchmarks/"
    text = output.read_text(encoding="utf-8")
    assert "## Findings" not in text  # quick runs neither copy nor link the hand-written findings
    rows = _rows(text)
    assert {r[0] for r in rows} >= {"1", "2", "3", "4", "5", "7"}, rows
    for cells in rows:
        value = cells[2].split()[0]  # "1,234 tokens/s"
        ratio = cells[4].removesuffix("x")
        assert NUMBER.match(value), f"figure {cells[0]} value is not numeric: {cells[2]!r}"
        assert NUMBER.match(ratio), f"figure {cells[0]} ratio is not numeric: {cells[4]!r}"
    assert "[1] training throughput" in result.stdout


@pytest.mark.integration
def test_the_startup_floor_steps_in_a_trial_process_of_a_cluster_of_its_own(tmp_path):
    """Figure 6's floor runs as its own command: a step taken, then Ray shut down, before it exits."""
    from benchmarks.sweep_overhead import run_floor

    wall, first_step = run_floor(tmp_path)
    assert 0 < first_step < wall


def test_the_base_stage_benchmark_prints_its_ratio():
    result = run_cli("benchmarks.base_stage", "--num-known", "12", "--threads", "1", timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    figure = re.search(
        r"\[B1\] base-stage training: ([\d.]+) samples/s \(([\d.]+)x vs the previous loop", result.stdout
    )
    assert figure and float(figure.group(1)) > 0 and float(figure.group(2)) > 0, result.stdout
    assert re.search(r"platform: .* (\d+)% of positions padding", result.stdout)


def test_the_results_file_links_the_findings_instead_of_copying_them(tmp_path, monkeypatch):
    from benchmarks import report
    from benchmarks.common import Figure

    monkeypatch.setattr(report, "machine_info", lambda threads: {"torch threads": str(threads)})
    findings = tmp_path / "FINDINGS.md"
    findings.write_text("Written by hand.\n\n### 1. A finding only this file holds\n", encoding="utf-8")
    figure = Figure("1", "training throughput", 100.0, "tokens/s", "bare loop", 110.0, "tokens/s", 100 / 110)
    output = tmp_path / "out" / "RESULTS.md"
    output.parent.mkdir()
    report.write(output, [figure], "python -m benchmarks all", 1, 60.0, "- method", findings, "1.0 / 1.0 / 1.0")
    text = output.read_text(encoding="utf-8")
    assert "[FINDINGS.md](../FINDINGS.md)" in text
    assert "A finding only this file holds" not in text
    assert text.count("\n## Findings\n") == 1 and text.rstrip().endswith("(written by hand).")
    report.write(output, [figure], "python -m benchmarks all --quick", 1, 60.0, "- method", None, "")
    assert "## Findings" not in output.read_text(encoding="utf-8")


def test_the_committed_results_do_not_embed_the_findings():
    """RESULTS*.md carry the measured figures; the findings live in FINDINGS.md alone."""
    findings = (REPO / "benchmarks" / "FINDINGS.md").read_text(encoding="utf-8")
    headings = [line for line in findings.splitlines() if line.startswith("### ")]
    assert headings
    for results in sorted((REPO / "benchmarks").glob("RESULTS*.md")):
        text = results.read_text(encoding="utf-8")
        assert not [h for h in headings if h in text], f"{results.name} embeds FINDINGS.md"

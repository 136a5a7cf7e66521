"""``procon bench dashboard``: runs end to end on a small SQLite history and prints one JSON object."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.support.paths import REPO_ROOT

ROOT = REPO_ROOT


def test_bench_dashboard_prints_figures(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'bench.sqlite3'}"
    completed = subprocess.run(
        [sys.executable, "-m", "webapp.cli", "bench", "dashboard", "--cases", "2000", "--json",
         "--database-url", url, "--samples", "50"],
        cwd=ROOT, capture_output=True, text=True, timeout=600, check=True)
    result = json.loads(completed.stdout)
    assert result["database"] == "sqlite"
    assert result["cases"] == 2000
    for key in ("dashboard_ms", "inbox_p95_ms", "case_page_p95_ms", "generation_s"):
        assert isinstance(result[key], int | float) and result[key] > 0, key
    generated = result["generated"]
    assert generated["cases"] == 2000
    assert 2 * 2000 <= generated["deadlines"] <= 4 * 2000
    assert generated["audit"] > 2000 and 0 < generated["open"] < 2000
    for scope in ("unidade", "todas"):
        figures = result["dashboard_breakdown_ms"][scope]
        assert {"compliance_processo", "compliance_pessoa", "trend", "now_lists", "flow_times",
                "waiting_by_task"} <= figures.keys()
        assert all(value > 0 for value in figures.values())
    assert result["dashboard_slowest_view"]

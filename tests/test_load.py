"""packaging/load/locustfile.py, the standard load test, runs headless against a real server:
each scenario makes requests and none of them fails."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

from tests.process import WAIT_SECONDS, Server

LOCUSTFILE = Path(__file__).resolve().parent.parent / "packaging" / "load" / "locustfile.py"
SCENARIOS = {
    "PublishUser": {"publish"},
    "BulkUser": {"bulk"},
    "TemplateUser": {"template", "template preview"},
    "InboxUser": {"publish inapp", "inbox", "inbox count", "inbox token"},
}


def test_every_scenario_of_the_locustfile_runs_without_a_failure(tmp_path: Path) -> None:
    server = Server(tmp_path / "server").start()
    try:
        done = subprocess.run(
            [
                str(Path(sys.executable).parent / "locust"),
                *("-f", str(LOCUSTFILE), "--host", server.url, "--headless"),
                # One user per scenario; a few seconds of run, as a smoke test, not a measurement.
                *("-u", str(len(SCENARIOS)), "-r", str(len(SCENARIOS)), "-t", "6s"),
                *("--csv", str(tmp_path / "load"), "--only-summary", *SCENARIOS),
            ],
            env={"ALERTFLOW_API_KEY": server.api_key, "PATH": "/usr/bin:/bin"},
            capture_output=True,
            text=True,
            timeout=WAIT_SECONDS,
        )
    finally:
        server.stop()
    assert done.returncode == 0, done.stdout + done.stderr
    with (tmp_path / "load_stats.csv").open() as stats:
        counts = {row["Name"]: (int(row["Request Count"]), int(row["Failure Count"])) for row in csv.DictReader(stats)}
    assert counts.pop("Aggregated")[1] == 0, counts
    for scenario, names in SCENARIOS.items():
        assert sum(counts.get(name, (0, 0))[0] for name in names) > 0, f"{scenario} made no request: {counts}"

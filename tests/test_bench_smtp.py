"""``alertflow bench --smtp``, run as a user would: a short run completes and reports both rates
and their ratio, with every message arrived at the sink (no timing assertions)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.process import cli


def test_a_short_smtp_bench_reports_the_raw_ceiling_alertflows_rate_and_their_ratio(tmp_path: Path) -> None:
    result = cli(
        "bench", "--smtp", "--smtp-messages", "50", "--smtp-connections", "4", "-c", "8", "--json", cwd=tmp_path
    )
    figures = json.loads(result.stdout.splitlines()[-1])
    assert figures["smtp_arrived"] == 50 and figures["smtp_missing"] == 0 and figures["smtp_publish_errors"] == 0
    assert figures["smtp_raw_per_s"] > 0 and figures["smtp_alertflow_per_s"] > 0
    assert figures["smtp_ratio"] == pytest.approx(figures["smtp_alertflow_per_s"] / figures["smtp_raw_per_s"])
    for label in ("raw aiosmtplib → sink", "AlertFlow publish → arrival/s", "AlertFlow / raw", "arrived / missing"):
        assert label in result.stdout
    assert "50 / 0" in result.stdout
    assert not (tmp_path / "alertflow.toml").exists(), "the bench's own config stays in its scratch dir"


@pytest.mark.parametrize("other", [("--url", "http://127.0.0.1:1", "--api-key", "k"), ("--data-dir", "d")])
def test_smtp_bench_sets_up_its_own_server_and_refuses_another(tmp_path: Path, other: tuple[str, ...]) -> None:
    result = cli("bench", "--smtp", *other, cwd=tmp_path, check=False)
    assert result.returncode == 2 and result.stdout == ""
    assert "--smtp sets up its own embedded server" in result.stderr

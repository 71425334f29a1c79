"""``alertflow bench --digest``: a smoke run, small and with no timing asserted."""

from __future__ import annotations

import json
from pathlib import Path

from tests.process import cli

SMALL = ("-n", "20", "-c", "4", "--seconds", "0.2", "--rate", "10", "--sustain-rate", "10", "--json")


def test_bench_digest_collects_each_recipients_events_into_one_sent_notification(tmp_path: Path) -> None:
    result = cli("bench", *SMALL, "--digest", "300", "--digest-recipients", "3", cwd=tmp_path)
    figures = json.loads(result.stdout.splitlines()[-1])
    assert figures["digest_events"] == 300
    assert figures["digest_notifications"] == 3 and figures["digest_complete"] == 3
    assert figures["digest_publish_per_s"] > 0
    assert "digest: 300 events to 3 recipients" in result.stdout


def test_bench_digest_refuses_more_events_per_recipient_than_a_digest_holds(tmp_path: Path) -> None:
    refused = cli("bench", *SMALL, "--digest", "20001", cwd=tmp_path, check=False)
    assert refused.returncode == 2 and "--digest" in refused.stderr and refused.stderr.count("\n") == 1

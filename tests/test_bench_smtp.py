"""``alertflow bench --smtp``, run as a user would: a short run completes and reports the raw
ceiling, the closed loop, the open loop and the drain from a backlog, with every message
arrived at the sink exactly once (no timing assertions)."""

from __future__ import annotations

import json
from pathlib import Path

import aiosmtplib
import pytest

from alertflow.ops.bench import address
from alertflow.ops.bench_smtp import SENDER, Sink
from tests.process import cli, refused_in_one_line

# The open loop and the drain kept short: the figures' shape is checked, never their speed.
SHORT = ("--rate", "50", "--seconds", "1")


def test_a_short_smtp_bench_reports_the_raw_ceiling_alertflows_rate_and_their_ratio(tmp_path: Path) -> None:
    result = cli(
        "bench",
        "--smtp",
        "--smtp-messages",
        "50",
        "--smtp-connections",
        "4",
        "-c",
        "8",
        *SHORT,
        "--smtp-drain",
        "0",
        "--json",
        cwd=tmp_path,
    )
    figures = json.loads(result.stdout.splitlines()[-1])
    assert figures["smtp_arrived"] == 50 and figures["smtp_missing"] == 0 and figures["smtp_publish_errors"] == 0
    assert figures["smtp_raw_per_s"] > 0 and figures["smtp_alertflow_per_s"] > 0
    # The ceiling runs first and last; the higher is the one the ratios divide by.
    assert len(figures["smtp_raw_runs"]) == 2 and figures["smtp_raw_per_s"] == max(figures["smtp_raw_runs"])
    assert figures["smtp_ratio"] == pytest.approx(figures["smtp_alertflow_per_s"] / figures["smtp_raw_per_s"])
    for label in ("raw aiosmtplib → sink", "AlertFlow publish → arrival/s", "AlertFlow / raw", "arrived / missing"):
        assert label in result.stdout
    assert "50 / 0" in result.stdout
    assert not any(name.startswith("smtp_drain") for name in figures), "--smtp-drain 0 skips the drain"
    assert "SMTP from a backlog" not in result.stdout
    assert not (tmp_path / "alertflow.toml").exists(), "the bench's own config stays in its scratch dir"


def test_a_short_smtp_bench_delivers_its_open_loop_and_its_backlog_to_the_sink_exactly_once(tmp_path: Path) -> None:
    args = ("--smtp-messages", "50", "--smtp-connections", "4", "-c", "8", *SHORT, "--smtp-drain", "60")
    result = cli("bench", "--smtp", *args, "--json", cwd=tmp_path)
    figures = json.loads(result.stdout.splitlines()[-1])

    assert (figures["smtp_open_rate"], figures["smtp_open_seconds"]) == (50, 1)
    assert figures["smtp_open_published"] == figures["smtp_open_arrived_once"] == 50
    assert (figures["smtp_open_duplicates"], figures["smtp_open_missing"], figures["smtp_open_errors"]) == (0, 0, 0)
    assert 0 < figures["smtp_open_arrival_p50_ms"] <= figures["smtp_open_arrival_p99_ms"]
    samples = figures["smtp_open_backlog_samples"]
    assert samples and all(isinstance(n, int) and 0 <= n <= 50 for n in samples)
    assert figures["smtp_open_backlog_max"] == max([*samples, figures["smtp_open_backlog_at_end"]])
    assert figures["smtp_open_drain_s"] >= 0

    assert figures["smtp_drain_messages"] == figures["smtp_drain_queued_before"] == 60  # none sent while paused
    assert figures["smtp_drain_arrived_once"] == 60
    assert (figures["smtp_drain_duplicates"], figures["smtp_drain_missing"]) == (0, 0)
    assert figures["smtp_drain_per_s"] > 0 and figures["smtp_drain_seconds"] > 0
    assert figures["smtp_drain_ratio"] == pytest.approx(figures["smtp_drain_per_s"] / figures["smtp_raw_per_s"])
    for title in ("SMTP open loop: 50/s offered for 1 s", "SMTP from a backlog: 60 emails queued"):
        assert title in result.stdout
    assert "50 / 0 / 0" in result.stdout and "60 / 0 / 0" in result.stdout  # once / duplicates / missing


async def test_a_settled_sink_counts_a_second_arrival_as_a_duplicate_and_none_as_missing() -> None:
    sink = await Sink.start()
    try:
        twice, once, never = (address("t", i) for i in range(3))
        async with aiosmtplib.SMTP(hostname="127.0.0.1", port=sink.port, start_tls=False) as smtp:
            for recipient in (twice, once, twice):
                await smtp.sendmail(SENDER, [recipient], b"Subject: t\r\n\r\nt\r\n")
        await sink.settle()  # every arrival reported so far is read, the second to `twice` too
        assert sink.tally([twice, once, never]) == (1, 1, 1)
    finally:
        await sink.stop()


@pytest.mark.parametrize("other", [("--url", "http://127.0.0.1:1", "--api-key", "k"), ("--data-dir", "d")])
def test_smtp_bench_sets_up_its_own_server_and_refuses_another(tmp_path: Path, other: tuple[str, ...]) -> None:
    result = cli("bench", "--smtp", *other, cwd=tmp_path, check=False)
    assert result.returncode == 2 and result.stdout == ""
    assert "--smtp sets up its own embedded server" in result.stderr


def test_smtp_bench_refuses_a_negative_drain_in_one_line_naming_the_flag(tmp_path: Path) -> None:
    refused_in_one_line("bench", "--smtp", "--smtp-drain", "-1", cwd=tmp_path, says="--smtp-drain")

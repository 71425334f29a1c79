"""``alertflow bench --drain N`` (issue 19): N emails queued with the workers paused, then
delivered from the backlog by a server with workers. Small runs, as a user would start them;
the figures' shape is checked and every send is counted at the outbox, never their speed."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from tests.postgres import PostgresServer
from tests.process import cli, refused_in_one_line

# More than one publish list of 1,000, so the backlog is built by several requests.
EMAILS = 1200
FIGURES = (
    "drain_enqueue_per_s",
    "drain_per_s",
    "drain_seconds",
    "drain_queue_p50_ms",
    "drain_queue_p99_ms",
    "drain_commits_per_delivery",
    "drain_rss_before_mib",
    "drain_rss_after_mib",
)


def drained(result_stdout: str) -> dict[str, Any]:
    figures: dict[str, Any] = json.loads(result_stdout.splitlines()[-1])
    assert figures["drain_deliveries"] == EMAILS
    assert figures["drain_queued_before"] == EMAILS  # nothing was sent while the workers were paused
    assert figures["drain_sent"] == figures["drain_sent_once"] == figures["drain_captured"] == EMAILS
    assert all(figures[name] > 0 for name in FIGURES), figures
    assert figures["drain_queue_p50_ms"] <= figures["drain_queue_p99_ms"]
    assert f"drain: {EMAILS} emails queued" in result_stdout
    return figures


def test_bench_drain_sends_every_queued_email_exactly_once_and_reports_the_drain(tmp_path: Path) -> None:
    data = tmp_path / "data"
    result = cli("bench", "--drain", str(EMAILS), "--json", "--data-dir", str(data), cwd=tmp_path)
    drained(result.stdout)
    with sqlite3.connect(data / "alertflow.db") as db:  # counted where the outbox provider keeps them
        sends = db.execute("SELECT notification_id, COUNT(*) FROM outbox GROUP BY notification_id").fetchall()
        statuses = db.execute("SELECT status, COUNT(*) FROM deliveries GROUP BY status").fetchall()
    assert len(sends) == EMAILS and {count for _, count in sends} == {1}
    assert statuses == [("sent", EMAILS)]


def test_bench_drain_runs_on_the_postgresql_database_it_is_given(
    tmp_path: Path, postgres_server: PostgresServer, postgres_url: str
) -> None:
    result = cli("bench", "--drain", str(EMAILS), "--json", "--storage-url", postgres_url, cwd=tmp_path)
    drained(result.stdout)
    database = postgres_url.rsplit("/", 1)[1]
    counts = postgres_server.psql("SELECT COUNT(*), COUNT(DISTINCT notification_id) FROM outbox", database)
    assert counts == f"{EMAILS}|{EMAILS}"


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("--drain", "-5"), "--drain"),
        (("--drain", "many"), "--drain"),
        (("--drain", "10", "--url", "http://127.0.0.1:1", "--api-key", "k"), "--drain starts its own server"),
    ],
)
def test_bench_drain_refuses_a_bad_value_in_one_line_naming_the_flag(
    tmp_path: Path, args: tuple[str, ...], says: str
) -> None:
    refused_in_one_line("bench", *args, cwd=tmp_path, says=says)


def test_bench_drain_spreads_the_emails_over_distinct_inline_templates_and_reads_rss_at_its_checkpoint(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    emails, templates = 40, 4
    args = ("--drain", str(emails), "--drain-templates", str(templates), "--drain-checkpoint", "20")
    result = cli("bench", *args, "--json", "--data-dir", str(data), cwd=tmp_path)
    figures = json.loads(result.stdout.splitlines()[-1])
    assert figures["drain_sent"] == figures["drain_sent_once"] == emails
    assert (figures["drain_templates"], figures["drain_checkpoint"]) == (templates, 20)
    assert figures["drain_rss_checkpoint_mib"] > 0
    assert "server RSS after 20 delivered" in result.stdout
    with sqlite3.connect(data / "alertflow.db") as db:  # each template rendered with the publish's data
        texts = {json.loads(content)["text"] for (content,) in db.execute("SELECT content FROM outbox")}
    assert texts == {f"Your disk / is 95% full ({n})." for n in range(templates)}

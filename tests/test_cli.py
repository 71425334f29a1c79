"""The command line, run as a user would: a real process in a scratch directory."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from alertflow import __version__
from alertflow.cli import main
from tests.postgres import PostgresServer
from tests.process import Server, cli


def test_version(tmp_path: Path) -> None:
    assert cli("--version", cwd=tmp_path).stdout.strip() == f"alertflow {__version__}"


def test_init_creates_everything_once_and_prints_one_json_object(tmp_path: Path) -> None:
    first = json.loads(cli("init", "--json", cwd=tmp_path).stdout)
    assert set(first) == {"tenant_id", "api_key", "operator_invite_url"} and first["api_key"].startswith("af_")
    assert "/invite/" in first["operator_invite_url"], "the first run invites an operator"
    assert (tmp_path / "alertflow.toml").exists(), "init writes a commented config when none is found"
    assert (tmp_path / "data" / "secret_key").stat().st_mode & 0o777 == 0o600
    db_before = (tmp_path / "data" / "alertflow.db").stat().st_mtime_ns
    again = cli("init", "--json", cwd=tmp_path)
    assert json.loads(again.stdout) == {"tenant_id": first["tenant_id"], "api_key": None, "operator_invite_url": None}
    assert (tmp_path / "data" / "alertflow.db").stat().st_mtime_ns == db_before


def test_data_dir_and_config_are_accepted_before_or_after_the_subcommand(tmp_path: Path) -> None:
    cli("--data-dir", str(tmp_path / "a"), "init", "--json", cwd=tmp_path)
    cli("init", "--json", "--data-dir", str(tmp_path / "b"), cwd=tmp_path)
    assert (tmp_path / "a" / "alertflow.db").exists() and (tmp_path / "b" / "alertflow.db").exists()


def test_tenants_and_keys_are_created_with_json_output(tmp_path: Path) -> None:
    cli("init", cwd=tmp_path)
    tenant = json.loads(cli("tenants", "create", "globex", "--json", cwd=tmp_path).stdout)
    assert set(tenant) == {"tenant_id", "api_key"}
    key = json.loads(cli("keys", "create", "--tenant", "globex", "--role", "member", "--json", cwd=tmp_path).stdout)
    assert key["role"] == "member" and key["api_key"].startswith("af_")
    conn = sqlite3.connect(tmp_path / "data" / "alertflow.db")
    stored = [r[0] for r in conn.execute("SELECT secret_hash FROM api_keys")]
    assert key["api_key"] not in stored, "keys are stored hashed"
    duplicate = cli("tenants", "create", "globex", cwd=tmp_path, check=False)
    assert duplicate.returncode == 1 and "already exists" in duplicate.stderr
    unknown = cli("keys", "create", "--tenant", "nobody", "--role", "admin", cwd=tmp_path, check=False)
    assert unknown.returncode == 1 and "nobody" in unknown.stderr


def commands(group: click.Group, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    for name, command in group.commands.items():
        yield (*path, name)
        if isinstance(command, click.Group):
            yield from commands(command, (*path, name))


def test_every_command_and_group_lists_config_and_data_dir_in_its_help() -> None:
    walked = list(commands(main))
    assert ("bench",) in walked and ("webpush", "keys") in walked, "the walk misses commands"
    for path in walked:
        result = CliRunner().invoke(main, [*path, "--help"])
        assert result.exit_code == 0, result.output
        assert "--config" in result.output and "--data-dir" in result.output, " ".join(path)


def test_bench_runs_its_embedded_server_on_the_data_dir_it_is_given(tmp_path: Path) -> None:
    small = ("-n", "20", "-c", "2", "--seconds", "0.2", "--rate", "10", "--sustain-rate", "10", "--json")
    result = cli("bench", *small, "--data-dir", str(tmp_path / "bench-data"), cwd=tmp_path)
    assert json.loads(result.stdout.splitlines()[-1])["publish_per_s"] > 0
    assert (tmp_path / "bench-data" / "alertflow.db").exists()
    (tmp_path / "bad.toml").write_text("[server]\nport = 'x'\n")
    refused = cli("bench", *small, "--config", str(tmp_path / "bad.toml"), cwd=tmp_path, check=False)
    assert refused.returncode == 2 and refused.stderr.count("\n") == 1 and "server.port" in refused.stderr


def test_bench_runs_its_embedded_server_on_the_postgresql_database_it_is_given(
    tmp_path: Path, postgres_server: PostgresServer, postgres_url: str
) -> None:
    small = ("-n", "20", "-c", "2", "--seconds", "0.2", "--rate", "10", "--sustain-rate", "10", "--json")
    result = cli("bench", *small, "--storage-url", postgres_url, cwd=tmp_path)
    assert json.loads(result.stdout.splitlines()[-1])["publish_per_s"] > 0
    stored = int(postgres_server.psql("SELECT COUNT(*) FROM notifications", postgres_url.rsplit("/", 1)[1]))
    assert stored >= 20  # the closed loop's publishes, and the open loops' after them


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("keys", "create", "--tenant", "default", "--role", "god"), "'god' is not one of"),
        (("frobnicate",), "No such command 'frobnicate'"),
        (("init", "--bogus"), "No such option '--bogus'"),
        (("serve", "--port", "eighty"), "'eighty' is not a valid integer"),
        (("tenants", "create"), "Missing argument 'NAME'"),
        (("bench", "--url", "http://127.0.0.1:1"), "--url needs --api-key"),
    ],
)
def test_a_usage_error_is_one_line_on_stderr_and_exit_2(tmp_path: Path, args: tuple[str, ...], says: str) -> None:
    result = cli(*args, cwd=tmp_path, check=False)
    assert result.returncode == 2
    assert result.stderr.startswith("alertflow: ") and result.stderr.count("\n") == 1, result.stderr
    assert says in result.stderr and result.stdout == ""


def test_a_group_without_its_command_shows_its_help_and_exits_2(tmp_path: Path) -> None:
    result = cli("dlq", cwd=tmp_path, check=False)
    assert result.returncode == 2 and "list" in result.stderr and "replay" in result.stderr


def test_usage_and_config_errors_exit_2_with_one_line(tmp_path: Path) -> None:
    bad_role = cli("keys", "create", "--tenant", "default", "--role", "god", cwd=tmp_path, check=False)
    assert bad_role.returncode == 2
    (tmp_path / "alertflow.toml").write_text("[server]\nport = 'x'\n")
    result = cli("init", cwd=tmp_path, check=False)
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "server.port" in result.stderr
    env = cli("init", cwd=tmp_path, env={"ALERTFLOW_CONFIG": str(tmp_path / "missing.toml")}, check=False)
    assert env.returncode == 2 and "missing.toml" in env.stderr


def test_plugins_list_shows_the_builtin_providers(tmp_path: Path) -> None:
    listed = {p["type"]: p for p in json.loads(cli("plugins", "list", "--json", cwd=tmp_path).stdout)}
    assert listed["outbox"]["channels"] == ["email", "push", "sms"]
    assert listed["inbox"]["channels"] == ["inapp"]


def test_dlq_list_and_replay_from_the_command_line(tmp_path: Path) -> None:
    script_dir = tmp_path / "script"
    script_dir.mkdir()
    (script_dir / "s.json").write_text(json.dumps({"fail": "retry"}))
    server = Server(
        tmp_path / "srv",
        "[queue]\nmax_attempts = 1\n[providers.sms]\ntype = 'scripted'\n"
        f"script_file = '{script_dir / 's.json'}'\nlog_file = '{script_dir / 'log'}'\n",
    )
    server.start()
    try:
        resp = server.request(
            "POST",
            "/v1/notifications/publish",
            {"to": {"phone": "+15550000001"}, "content": {"sms": {"body": "hi"}}},
        )
        nid = resp.json()["notifications"][0]["id"]
        assert server.wait_for(lambda: server.request("GET", f"/v1/notifications/{nid}").json()["status"] == "dead")
        [dead] = json.loads(cli("dlq", "list", "--json", cwd=server.workdir).stdout)
        assert dead["notification_id"] == nid
        assert json.loads(cli("dlq", "list", "--tenant", "default", "--json", cwd=server.workdir).stdout) == [dead]
        (script_dir / "s.json").write_text("{}")
        cli("dlq", "replay", dead["delivery_id"], cwd=server.workdir)
        assert server.wait_for(lambda: server.request("GET", f"/v1/notifications/{nid}").json()["status"] == "sent")
        [delivery] = server.request("GET", f"/v1/notifications/{nid}").json()["deliveries"]
        assert [a["outcome"] for a in delivery["attempts"]] == ["dead", "replayed", "sent"]
        again = cli("dlq", "replay", dead["delivery_id"], cwd=server.workdir, check=False)
        assert again.returncode == 1 and "not in the dead-letter queue" in again.stderr
    finally:
        server.stop()


def test_a_second_server_on_the_same_data_dir_is_refused(tmp_path: Path) -> None:
    server = Server(tmp_path / "srv").start()
    try:
        second = cli("serve", "--port", "0", cwd=server.workdir, check=False)
        assert second.returncode == 1 and "another alertflow serve" in second.stderr
    finally:
        server.stop()


def test_plugins_contribute_commands_such_as_webpush_keys(tmp_path: Path) -> None:
    from alertflow_webpush import vapid_public_key

    pair = json.loads(cli("webpush", "keys", "--json", cwd=tmp_path).stdout)
    assert vapid_public_key(pair["private_key"]) == pair["public_key"]
    assert pair != json.loads(cli("webpush", "keys", "--json", cwd=tmp_path).stdout), "each call makes a new pair"

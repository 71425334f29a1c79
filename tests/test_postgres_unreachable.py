"""A PostgreSQL that cannot be reached (issue 15): the command says so in one line, naming the
setting and the cause, never with a traceback nor the password."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.process import cli, free_port

PASSWORD = "s3cret-never-shown"


@pytest.mark.parametrize("command", [("serve", "--port", "0"), ("init",), ("tenants", "create", "acme")])
def test_a_command_on_an_unreachable_postgresql_fails_in_one_line(tmp_path: Path, command: tuple[str, ...]) -> None:
    nobody = free_port()  # nothing listens there: the connection is refused
    (tmp_path / "alertflow.toml").write_text(
        f'[storage]\nurl = "postgresql://alertflow:{PASSWORD}@127.0.0.1:{nobody}/x"\n'
    )
    result = cli(*command, cwd=tmp_path, check=False)
    assert result.returncode == 1, result.stderr
    assert result.stderr.startswith("alertflow: the database is unavailable: ") and result.stderr.count("\n") == 1
    assert str(nobody) in result.stderr and "[storage] url" in result.stderr
    assert "Traceback" not in result.stderr and PASSWORD not in result.stderr + result.stdout


def test_the_storage_url_from_the_environment_fails_alike(tmp_path: Path) -> None:
    url = f"postgresql://alertflow@127.0.0.1:{free_port()}/x"
    result = cli("serve", "--port", "0", cwd=tmp_path, env={"ALERTFLOW_STORAGE__URL": url}, check=False)
    assert result.returncode == 1 and result.stderr.count("\n") == 1, result.stderr
    assert "the database is unavailable" in result.stderr and "Traceback" not in result.stderr

"""Configuration: defaults < file < environment < flags, and errors that name the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from alertflow.config import Config, ConfigError, ensure_secret_key, load


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "alertflow.toml"
    path.write_text(text)
    return path


def test_defaults_apply_without_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    config = load(env={})
    assert config.server.port == 8080 and config.queue.max_attempts == 5 and config.workers.email == 16


def test_the_file_then_the_environment_then_flags_take_precedence(tmp_path: Path) -> None:
    path = write(tmp_path, "[server]\nport = 9000\nhost = '0.0.0.0'\n[queue]\nmax_attempts = 3\n")
    config = load(path, env={"ALERTFLOW_SERVER__PORT": "8081", "ALERTFLOW_QUEUE__BACKOFF_BASE_SECONDS": "0.5"})
    assert (config.server.port, config.server.host, config.queue.max_attempts) == (
        8081,
        "0.0.0.0",
        3,
    )
    assert config.queue.backoff_base_seconds == 0.5
    flagged = load(path, {"server": {"port": 7000}}, env={"ALERTFLOW_SERVER__PORT": "8081"})
    assert flagged.server.port == 7000


def test_the_config_file_comes_from_alertflow_config_when_not_given(tmp_path: Path) -> None:
    path = write(tmp_path, "[server]\nport = 9100\n")
    assert load(env={"ALERTFLOW_CONFIG": str(path)}).server.port == 9100


@pytest.mark.parametrize(
    ("text", "env", "message"),
    [
        ("[server]\nprot = 1\n", {}, "server.prot: unknown key"),
        ("[serve]\nport = 1\n", {}, "serve: unknown key"),
        ("[server]\nport = 'high'\n", {}, "server.port"),
        ("[queue]\nmax_attempts = 0\n", {}, "queue.max_attempts"),
        ("", {"ALERTFLOW_WORKERS__EMAIL": "many"}, "workers.email"),
        ("[providers.fax]\ntype = 'outbox'\n", {}, "providers"),
        ("[server\n", {}, "not valid TOML"),
    ],
)
def test_errors_name_the_key_and_what_was_expected(
    tmp_path: Path, text: str, env: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError, match=message.replace(".", r"\.")):
        load(write(tmp_path, text), env=env)


def test_a_missing_config_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load(tmp_path / "nope.toml", env={})


def test_the_sample_config_is_valid_and_documents_every_key() -> None:
    sample = Path(__file__).parent.parent / "alertflow.toml"
    config = load(sample, env={})
    text = sample.read_text()
    for section in Config.model_fields.keys() - {"providers"}:
        for key in type(getattr(config, section)).model_fields:
            assert f"# {key} = " in text, f"{section}.{key} is not documented in alertflow.toml"


def test_a_generated_secret_key_is_kept_private_in_the_data_dir(tmp_path: Path) -> None:
    config = load(write(tmp_path, f"[server]\ndata_dir = '{tmp_path / 'd'}'\n"), env={})
    ensure_secret_key(config, create=True)
    key_file = tmp_path / "d" / "secret_key"
    assert config.server.secret_key and key_file.stat().st_mode & 0o777 == 0o600
    again = load(tmp_path / "alertflow.toml", env={})
    ensure_secret_key(again, create=False)
    assert again.server.secret_key == config.server.secret_key

"""One configuration tree, validated once: defaults < alertflow.toml < environment < flags."""

from __future__ import annotations

import os
import secrets
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, IPvAnyNetwork, ValidationError, field_validator

from .message import CHANNELS
from .providers.netguard import parse_networks

ENV_PREFIX = "ALERTFLOW_"
SECRET_KEY_FILE = "secret_key"
DEFAULT_CONFIG_FILE = "alertflow.toml"


class ConfigError(ValueError):
    """A configuration problem, phrased as ``key.path: what was expected``."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class ServerConfig(_Section):
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    data_dir: Path = Path("data")
    secret_key: str | None = None
    public_url: str | None = None
    max_body_mb: float = Field(1, gt=0)
    max_bulk_body_mb: float = Field(16, gt=0)
    shutdown_timeout_seconds: float = Field(10, ge=0)
    # Peers whose X-Forwarded-For is believed (a reverse proxy); a bare address is a /32 or /128.
    trusted_proxies: list[IPvAnyNetwork] = []
    # When set (not empty), GET /metrics needs "Authorization: Bearer <metrics_token>".
    metrics_token: str | None = None
    access_log: bool = False

    @property
    def base_url(self) -> str:
        """Where browsers reach this server: ``public_url``, else the address it listens on."""
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")


class QueueConfig(_Section):
    max_attempts: int = Field(5, ge=1)
    backoff_base_seconds: float = Field(2.0, ge=0)
    backoff_max_seconds: float = Field(600.0, ge=0)
    lease_seconds: float = Field(60.0, gt=0)


class WorkersConfig(_Section):
    """Concurrent sends per channel: a slow channel never holds up another. 0: this node sends
    nothing on the channel, its jobs wait for another node (or a restart with workers), as
    ``alertflow bench --drain`` builds its backlog."""

    email: int = Field(16, ge=0)
    sms: int = Field(16, ge=0)
    push: int = Field(16, ge=0)
    # An in-app send is a local write, not a remote call: more in flight makes bigger commit
    # groups (1,000 sends: ~90 commits instead of ~400), and p99 to the browser falls ~40%.
    inapp: int = Field(64, ge=0)
    webhook: int = Field(16, ge=0)


class InboxConfig(_Section):
    """In-app inbox: subscriber tokens and the live WebSocket connections of browsers."""

    token_ttl_seconds: float = Field(3600, gt=0)
    # The hosted preference page's links ({{ preferences_url }}): read in old mail, so a month.
    preferences_link_ttl_seconds: float = Field(30 * 86400, gt=0)
    heartbeat_seconds: float = Field(30, gt=0)
    max_connections_per_user: int = Field(10, ge=1)
    send_queue_size: int = Field(256, ge=1)


class LimitsConfig(_Section):
    """Per-tenant publish rate (token bucket) and failed authentications per client address; 0 turns either off."""

    publish_per_second: float = Field(0, ge=0)
    publish_burst: int = Field(0, ge=0)  # 0: one second's worth
    # Failed authentications per client address: this many within the window block it.
    auth_failures: int = Field(20, ge=0)  # 0: no limit
    auth_failure_window_seconds: float = Field(60, gt=0)
    auth_block_seconds: float = Field(300, gt=0)


class SecurityConfig(_Section):
    """Where tenants' outbound targets may reach (see alertflow.netguard)."""

    # CIDRs a tenant's provider URLs, hosts and webhook URLs may resolve to although they are
    # not public (loopback, private, link-local ...). Default none: nothing inside.
    allowed_private_networks: list[str] = []

    @field_validator("allowed_private_networks")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        parse_networks(value)  # raises naming the bad entry
        return value


class CacheConfig(_Section):
    """Entries each hot-path cache holds at most; past that the least recently used goes."""

    # Compiled template sources (text and HTML apart): ~10 KB each for a line, far more for
    # an HTML email; a tenant's stored templates are few, inline ones rarely repeat.
    templates: int = Field(1000, ge=1)
    # Stored template versions read (immutable, so kept until pushed out): small rows.
    template_versions: int = Field(10000, ge=1)
    # API key -> tenant and role, each kept 10 s at most: a few hundred bytes a key.
    keys: int = Field(10000, ge=1)
    # Tenant settings and users' preferences every publish reads, kept 5 s at most.
    settings: int = Field(10000, ge=1)
    # Tenants' channel set-ups with their provider instances (each with open connections).
    channel_setups: int = Field(1000, ge=1)


class ReceiptsConfig(_Section):
    """Bounce, complaint and delivery reports from SES (through SNS) and SendGrid."""

    # Certificate URLs trusted for SNS signatures besides SNS's own https hosts: a test double
    # standing in for SNS (its origin may then also serve SubscribeURLs). Operator-only.
    sns_certificate_urls: list[str] = []
    # A report older than this (by its own timestamp) is refused as a replay; one seen within
    # it is applied once. SNS retries a failed HTTP delivery for up to an hour at most.
    max_age_seconds: float = Field(3600, gt=0)

    @field_validator("sns_certificate_urls")
    @classmethod
    def _urls(cls, value: list[str]) -> list[str]:
        for url in value:
            if urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).hostname:
                raise ValueError(f"{url!r} is not an http(s) URL")
        return value


class RetentionConfig(_Section):
    """How many days rows are kept before the background purge deletes them; 0 keeps them
    forever. A tenant may set its own (PUT /v1/retention)."""

    notifications: int = Field(90, ge=0, le=36500)  # with their deliveries and attempts
    inbox: int = Field(180, ge=0, le=36500)
    outbox: int = Field(7, ge=0, le=36500)
    webhook_attempts: int = Field(30, ge=0, le=36500)
    audit: int = Field(365, ge=0, le=36500)
    # How often the purge runs, and the rows one of its writes deletes at most: small, so a
    # publish waits behind a chunk for milliseconds, not behind the whole purge.
    interval_seconds: float = Field(3600, gt=0)
    chunk_rows: int = Field(500, ge=1, le=10000)


class SessionsConfig(_Section):
    """Signed-in browsers (the dashboard): how long a session lasts, links that set a
    password, and failed sign-ins per account (per address they count in [limits])."""

    # A session unused this long ends; a session ends this long after sign-in whatever its use.
    idle_timeout_seconds: float = Field(7200, gt=0)
    absolute_timeout_seconds: float = Field(43200, gt=0)
    # How long an invite link (members create, POST /v1/members) and a reset link stay usable.
    invite_ttl_seconds: float = Field(7 * 86400, gt=0)
    reset_ttl_seconds: float = Field(86400, gt=0)
    # Failed sign-ins to one email, known or not, within the window block it for block seconds.
    account_failures: int = Field(10, ge=0)  # 0: no limit
    account_failure_window_seconds: float = Field(900, gt=0)
    account_block_seconds: float = Field(900, gt=0)


class WebhooksConfig(_Section):
    """Status webhooks (README "Status webhooks"): how they are sent, and when an endpoint
    that keeps failing is disabled."""

    # Events sent at once: each waits on a tenant's receiver, which may be slow.
    concurrency: int = Field(16, ge=1)
    timeout_seconds: float = Field(10, gt=0)
    # An endpoint failing every attempt for this long is disabled (PATCH re-enables it); 0: never.
    disable_after_hours: float = Field(72, ge=0)
    # After rotate-secret, events are signed with the old secret too for this long.
    secret_rollover_hours: float = Field(24, ge=0)


# The [storage] url schemes: SQLite's file in data_dir, or one PostgreSQL shared by every node.
SQLITE_URL = "sqlite:"
POSTGRESQL_SCHEMES = ("postgresql://", "postgres://")


class StorageConfig(_Section):
    """Where AlertFlow keeps its data (README "Storage")."""

    # "sqlite:" (the default): alertflow.db in server.data_dir. "postgresql://user@host/db?sslmode=...":
    # that database; every libpq parameter in the URL's query is passed on (TLS among them).
    url: str = SQLITE_URL
    # A file holding the PostgreSQL password (its first line), when the URL has none and
    # $PGPASSWORD is not set: a mounted secret rather than a password in the config.
    password_file: Path | None = None

    @field_validator("url")
    @classmethod
    def _known_kind(cls, value: str) -> str:
        value = value.strip() or SQLITE_URL
        if value == SQLITE_URL:
            return value
        if not value.startswith(POSTGRESQL_SCHEMES):
            raise ValueError('expected "sqlite:" or a "postgresql://..." URL')
        from psycopg.conninfo import conninfo_to_dict

        try:
            conninfo_to_dict(value)
        except Exception as exc:  # psycopg.ProgrammingError: libpq could not parse it
            raise ValueError(f"not a valid PostgreSQL URL: {exc}") from None
        return value

    @property
    def postgresql(self) -> bool:
        return self.url != SQLITE_URL

    def password(self) -> str | None:
        """The password ``password_file`` holds, if one is set (the URL's and $PGPASSWORD are
        libpq's own to use, before it)."""
        if self.password_file is None:
            return None
        if not self.postgresql:
            raise ConfigError("storage.password_file: only for a postgresql:// url")
        try:
            lines = self.password_file.read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise ConfigError(f"storage.password_file: cannot read {self.password_file}: {exc.strerror}") from None
        if not lines or not lines[0]:
            raise ConfigError(f"storage.password_file: {self.password_file} is empty")
        return lines[0]

    def redacted_url(self) -> str:
        """The URL to show in logs and errors: never its password."""
        if not self.postgresql:
            return self.url
        from psycopg.conninfo import conninfo_to_dict

        parts = conninfo_to_dict(self.url)
        host, db = parts.get("host", "localhost"), parts.get("dbname", "")
        user = f"{parts['user']}@" if "user" in parts else ""
        port = f":{parts['port']}" if "port" in parts else ""
        return f"postgresql://{user}{host}{port}/{db}"


class LogConfig(_Section):
    level: str = "info"
    format: str = Field("json", pattern="^(json|text)$")


class Config(_Section):
    server: ServerConfig = ServerConfig()
    queue: QueueConfig = QueueConfig()
    workers: WorkersConfig = WorkersConfig()
    inbox: InboxConfig = InboxConfig()
    limits: LimitsConfig = LimitsConfig()
    log: LogConfig = LogConfig()
    security: SecurityConfig = SecurityConfig()
    cache: CacheConfig = CacheConfig()
    receipts: ReceiptsConfig = ReceiptsConfig()

    retention: RetentionConfig = RetentionConfig()
    sessions: SessionsConfig = SessionsConfig()
    webhooks: WebhooksConfig = WebhooksConfig()
    storage: StorageConfig = StorageConfig()
    # channel -> ordered provider entries ({"type": ..., **settings}); validated against
    # the installed providers by ProviderRegistry.validate, which knows their settings.
    providers: dict[str, list[dict[str, Any]]] = {}

    @field_validator("providers", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        unknown = [c for c in value if c not in CHANNELS]
        if unknown:
            raise ValueError(f"unknown channel {unknown[0]!r}; expected one of {list(CHANNELS)}")
        return {c: [v] if isinstance(v, dict) else v for c, v in value.items()}

    @property
    def database_path(self) -> Path:
        return self.server.data_dir / "alertflow.db"


def find_config_file(explicit: str | os.PathLike[str] | None, env: dict[str, str]) -> Path | None:
    """``--config``, else ``$ALERTFLOW_CONFIG``, else ``./alertflow.toml`` if present."""
    if explicit:
        return Path(explicit)
    if env.get("ALERTFLOW_CONFIG"):
        return Path(env["ALERTFLOW_CONFIG"])
    default = Path(DEFAULT_CONFIG_FILE)
    return default if default.exists() else None


def _read_file(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError(f"config file {path} not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None


def _parse_env_value(raw: str) -> Any:
    """Environment values are TOML values when they parse as one (numbers, booleans, arrays)."""
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return raw


def _env_overrides(env: dict[str, str]) -> dict[str, Any]:
    tree: dict[str, Any] = {}
    for name, raw in env.items():
        if not name.startswith(ENV_PREFIX) or "__" not in name or name == "ALERTFLOW_CONFIG":
            continue
        path = name[len(ENV_PREFIX) :].lower().split("__")
        node = tree
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node[path[-1]] = _parse_env_value(raw)
    return tree


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _describe(exc: ValidationError) -> str:
    err = exc.errors()[0]
    path = ".".join(str(p) for p in err["loc"])
    if err["type"] == "extra_forbidden":
        return f"{path}: unknown key"
    return f"{path}: {err['msg']}" + (f" (got {err['input']!r})" if err["type"] != "missing" else "")


def load(
    config_file: str | os.PathLike[str] | None = None,
    overrides: dict[str, Any] | None = None,
    env: dict[str, str] | None = None,
) -> Config:
    """Build the configuration; ``overrides`` are the CLI flags (``{"server": {"port": 1}}``)."""
    env = dict(os.environ if env is None else env)
    path = find_config_file(config_file, env)
    tree = _read_file(path) if path else {}
    tree = _merge(tree, _env_overrides(env))
    tree = _merge(tree, overrides or {})
    try:
        config = Config.model_validate(tree)
    except ValidationError as exc:
        raise ConfigError(_describe(exc)) from None
    return config


def ensure_secret_key(config: Config, create: bool) -> None:
    """Fill ``server.secret_key`` from the data dir, generating it there (0600) when asked."""
    if config.server.secret_key:
        return
    key_file = config.server.data_dir / SECRET_KEY_FILE
    if key_file.exists():
        config.server.secret_key = key_file.read_text().strip()
        return
    if not create:
        return
    config.server.data_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(secrets.token_urlsafe(48) + "\n")
    config.server.secret_key = key_file.read_text().strip()

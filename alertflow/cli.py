"""The ``alertflow`` command line.

Long module: one concept, the command line; each command is a short function beside the
group it joins, and click's decorators make each a dozen lines before its body.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from importlib import resources
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, TypeVar

import click

from . import __version__, keys, members, passwords, tenants
from .config import POSTGRESQL_SCHEMES, SECRET_KEY_FILE, Config, ConfigError, ensure_secret_key, find_config_file, load
from .delivery import dlq
from .storage import jobs, member_rows, offline, tenant_rows
from .storage.backup import BackupFailed
from .storage.backup import backup as backup_database
from .storage.database import StorageUnavailable, Tx
from .storage.migrations import SchemaTooNew

F = TypeVar("F", bound=Callable[..., Any])
SAMPLE_CONFIG = "sample.toml"
COMMANDS_GROUP = "alertflow.commands"
SWITCH_INTERVAL_SECONDS = 0.0005  # see tune_interpreter


# Every command takes these two (the contract), at any level: `alertflow --config X dlq list`,
# `alertflow dlq --config X list`, `alertflow dlq list --config X`; the innermost wins.
COMMON_OPTIONS: tuple[tuple[tuple[str, ...], dict[str, Any]], ...] = (
    (
        ("--config", "config_path"),
        {
            "type": click.Path(dir_okay=False),
            "default": None,
            "help": "Config file (default: $ALERTFLOW_CONFIG, else ./alertflow.toml).",
        },
    ),
    (
        ("--data-dir", "data_dir"),
        {"type": click.Path(file_okay=False), "default": None, "help": "Data directory (overrides server.data_dir)."},
    ),
)


def common_options(fn: F) -> F:
    """``--config`` and ``--data-dir`` are accepted before or after a subcommand's arguments."""
    for decls, attrs in reversed(COMMON_OPTIONS):
        fn = click.option(*decls, **attrs)(fn)
    return fn


def accept_common_options(command: click.Command) -> None:
    """A plugin's command (and each of its subcommands) accepts the two as well, unused:
    a script can pass them to every alertflow command alike."""
    names = {p.name for p in command.params}
    for decls, attrs in COMMON_OPTIONS:
        if decls[-1] not in names:
            command.params.append(click.Option(list(decls), expose_value=False, **attrs))
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            accept_common_options(sub)


def fail(message: str, code: int = 1) -> None:
    click.echo(f"alertflow: {message}", err=True)
    sys.exit(code)


def given(name: str, value: str | None) -> str | None:
    """The command's own ``value``, else the nearest enclosing group's (``alertflow --data-dir X dlq list``)."""
    ctx: click.Context | None = click.get_current_context()
    while value is None and ctx is not None:
        value = ctx.params.get(name)
        ctx = ctx.parent
    return value


def settings(config_path: str | None, data_dir: str | None, **server: Any) -> Config:
    """The merged configuration; the subcommand's own flags win over the group's."""
    overrides: dict[str, Any] = {k: v for k, v in server.items() if v is not None}
    if given("data_dir", data_dir):
        overrides["data_dir"] = given("data_dir", data_dir)
    try:
        config = load(given("config_path", config_path), {"server": overrides} if overrides else None)
    except ConfigError as exc:
        fail(f"config error: {exc}", 2)
        raise
    ensure_secret_key(config, create=False)
    return config


@contextmanager
def database(config: Config) -> Iterator[offline.Session]:
    """The command's own session on the database; safe beside a running server."""
    try:
        with offline.session_for(config.storage, config.database_path) as session:
            yield session
    except SchemaTooNew as exc:
        fail(str(exc), 2)
    except StorageUnavailable as exc:
        fail(f"{exc} ([storage] url)")


# The operator the first run invites: the address is a placeholder to sign in with, shown with
# the link; `members create --operator` adds operators under their own addresses.
FIRST_OPERATOR = "operator@localhost"


def initialise(config: Config) -> tuple[str, str | None, str | None]:
    """Data dir, secret key, database, tenant ``default`` with its owner key and an operator
    invite; idempotent.

    Returns the default tenant's id, its new owner key and the operator's invite link (both
    None when the data dir was initialised already).
    """
    ensure_secret_key(config, create=True)
    with database(config) as session:
        existing = session.read(lambda tx: tenant_rows.tenant_id_of(tx, tenants.DEFAULT_TENANT))
        if existing:
            return existing, None, None

        def first_run(tx: Tx) -> tuple[str, str, str]:
            tenant_id, key = tenants.create_tenant(tx, tenants.DEFAULT_TENANT)
            now = time.time()
            operator = member_rows.member_by_email(tx, FIRST_OPERATOR)
            member_id = operator.member_id if operator else members.create(tx, FIRST_OPERATOR, None, None, now)
            return tenant_id, key.api_key, members.new_link(tx, member_id, now, config.sessions.invite_ttl_seconds)

        try:
            tenant_id, api_key, token = session.write(first_run)
        except Exception:  # DuplicateTenant, or the database's unique name: which one is a race
            # Nodes of a cluster starting at once on an empty database: another made it first.
            existing = session.read(lambda tx: tenant_rows.tenant_id_of(tx, tenants.DEFAULT_TENANT))
            if existing is None:
                raise
            return existing, None, None
        return tenant_id, api_key, members.link_url(config.server.base_url, token)


def operator_invite(url: str | None) -> str:
    return f"Operator {FIRST_OPERATOR}: set a password at {url} (one use), then sign in at /login"


def write_sample_config(target: Path) -> bool:
    if target.exists():
        return False
    target.write_text(resources.files("alertflow").joinpath(SAMPLE_CONFIG).read_text(encoding="utf-8"))
    return True


class AlertFlowCli(click.Group):
    """Every error is one line on stderr (the contract): click's usage errors, which print the
    usage, a hint and the error on three to five lines, included. Exit codes stay click's:
    2 for usage, 1 otherwise."""

    def main(  # type: ignore[override]
        self, args: Sequence[str] | None = None, prog_name: str | None = None, standalone_mode: bool = True
    ) -> Any:
        if not standalone_mode:
            return super().main(args, prog_name, standalone_mode=False)
        try:
            result = super().main(args, prog_name, standalone_mode=False)
        except click.exceptions.NoArgsIsHelpError as exc:
            exc.show()  # bare `alertflow` or `alertflow dlq`: the help is the answer
            sys.exit(exc.exit_code)
        except click.UsageError as exc:
            where = exc.ctx.command_path if exc.ctx else "alertflow"
            fail(f"{one_line(exc.format_message())} (see '{where} --help')", exc.exit_code)
        except click.ClickException as exc:
            fail(one_line(exc.format_message()), exc.exit_code)
        except click.Abort:
            fail("aborted")
        sys.exit(result if isinstance(result, int) else 0)  # --help and --version return 0


def one_line(message: str) -> str:
    return " ".join(message.split())


@click.group(cls=AlertFlowCli, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="alertflow", message="%(prog)s %(version)s")
@common_options
def main(config_path: str | None, data_dir: str | None) -> None:
    """AlertFlow: a self-hosted, multi-tenant notification appliance."""


@main.command()
@common_options
@click.option("--json", "as_json", is_flag=True, help="Print {tenant_id, api_key, operator_invite_url} as JSON.")
def init(config_path: str | None, data_dir: str | None, as_json: bool) -> None:
    """Create the data dir, database, tenant 'default' and an owner API key."""
    config = settings(config_path, data_dir)
    tenant_id, api_key, invite_url = initialise(config)
    explicit = given("config_path", config_path)
    wrote = find_config_file(explicit, dict(os.environ)) is None and write_sample_config(Path("alertflow.toml"))
    if as_json:
        click.echo(json.dumps({"tenant_id": tenant_id, "api_key": api_key, "operator_invite_url": invite_url}))
        return
    if api_key is None:
        click.echo(f"{config.server.data_dir} is already initialised (tenant default: {tenant_id}).")
        return
    click.echo(f"Initialised {config.server.data_dir}" + (" and wrote ./alertflow.toml" if wrote else "") + ".")
    click.echo(f"Tenant 'default': {tenant_id}\nOwner API key (shown once): {api_key}")
    click.echo(operator_invite(invite_url))


@main.command()
@common_options
@click.option("--host", default=None, help="Address to bind (overrides server.host).")
@click.option("--port", type=int, default=None, help="Port to bind (overrides server.port).")
def serve(config_path: str | None, data_dir: str | None, host: str | None, port: int | None) -> None:
    """Run the API, dashboard and workers in one process."""
    from aiohttp import web

    from . import log
    from .app import DataDirInUse, create_app, stop_on_signals

    config = settings(config_path, data_dir, host=host, port=port)
    log.setup(config.log.level, config.log.format)
    tenant_id, api_key, invite_url = initialise(config)
    if api_key:
        click.echo(f"Initialised {config.server.data_dir}. Tenant 'default': {tenant_id}")
        click.echo(f"Owner API key (shown once): {api_key}", err=False)
        click.echo(operator_invite(invite_url))
    try:
        app = create_app(config)
    except ConfigError as exc:
        fail(f"config error: {exc}", 2)
    app.cleanup_ctx.insert(0, stop_on_signals)
    loop = new_event_loop()
    loop_name = type(loop).__module__.partition(".")[0]
    click.echo(f"AlertFlow {__version__} on http://{config.server.host}:{config.server.port} ({loop_name})", err=True)
    try:
        tune_interpreter()
        web.run_app(
            app,
            loop=loop,
            host=config.server.host,
            port=config.server.port,
            print=None,
            access_log=log.access_log(config.server.access_log),
            access_log_class=log.AccessLogger,
            shutdown_timeout=config.server.shutdown_timeout_seconds,
            handle_signals=False,
        )
    except DataDirInUse as exc:
        fail(str(exc))
    except ConfigError as exc:  # found at start-up: a cluster node's secret key, say
        fail(f"config error: {exc}", 2)
    except StorageUnavailable as exc:  # gone between `init`'s check and the server's start
        fail(f"{exc} ([storage] url)")
    except OSError as exc:
        fail(f"cannot listen on {config.server.host}:{config.server.port}: {exc.strerror or exc}")


def new_event_loop() -> asyncio.AbstractEventLoop:
    """The server's event loop: uvloop's (libuv, in C) where it is installed, else asyncio's.
    Under callgrind a server on uvloop spent 12.5% fewer instructions per email delivered to
    an SMTP sink and 7% fewer per publish: the loop's own work (polling, callbacks, socket
    reads and writes) is a large share of both. AlertFlow uses only asyncio's interface, and
    the in-process tests run it on asyncio's loop, the served ones on uvloop."""
    try:
        import uvloop
    except ImportError:  # not built for Windows
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def tune_interpreter() -> None:
    """Settings for a server whose threads hand work to each other all the time.

    Fewer, later collections: the start-up objects are frozen out of every scan, and the
    youngest generation is collected every 50,000 allocations instead of 700, which under
    load turned into many millisecond pauses on the request path (publish p99).

    A shorter GIL switch interval: the writer thread takes the GIL back after each SQLite
    statement, and while the event loop is busy it waited up to the default 5 ms each time.
    With a thread spinning beside it, 300 fan-out steps took 10.2 s to write instead of
    1.9 s; at 0.5 ms, 3.4 s. The cost is a forced switch at most every 0.5 ms, and only
    while another thread is waiting.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)
    sys.setswitchinterval(SWITCH_INTERVAL_SECONDS)


@main.group("tenants")
@common_options
def tenants_group(config_path: str | None, data_dir: str | None) -> None:
    """Manage tenants."""


@tenants_group.command("create")
@click.argument("name")
@common_options
@click.option("--json", "as_json", is_flag=True)
def tenants_create(name: str, config_path: str | None, data_dir: str | None, as_json: bool) -> None:
    """Create a tenant and its first owner key."""
    config = settings(config_path, data_dir)
    with database(config) as session:
        try:
            tenant_id, key = session.write(lambda tx: tenants.create_tenant(tx, name))
        except tenants.DuplicateTenant:
            fail(f"a tenant named {name!r} already exists")
    if as_json:
        click.echo(json.dumps({"tenant_id": tenant_id, "api_key": key.api_key}))
    else:
        click.echo(f"Tenant {name!r}: {tenant_id}\nOwner API key (shown once): {key.api_key}")


@main.group("keys")
@common_options
def keys_group(config_path: str | None, data_dir: str | None) -> None:
    """Manage API keys."""


@keys_group.command("create")
@common_options
@click.option("--tenant", "tenant_ref", required=True, help="Tenant id or name.")
@click.option("--role", type=click.Choice([r.name for r in tenants.Role]), required=True)
@click.option("--name", default=None, help="A label for the key.")
@click.option("--json", "as_json", is_flag=True)
def keys_create(
    config_path: str | None, data_dir: str | None, tenant_ref: str, role: str, name: str | None, as_json: bool
) -> None:
    """Issue an API key with a role."""
    config = settings(config_path, data_dir)
    with database(config) as session:
        tenant_id = session.read(lambda tx: tenant_rows.tenant_id_of(tx, tenant_ref))
        if tenant_id is None:
            fail(f"no tenant {tenant_ref!r}")
            return
        key = session.write(lambda tx: tenants.issue_key(tx, tenant_id, tenants.Role[role], name))
    if as_json:
        click.echo(json.dumps({"api_key": key.api_key, "role": role}))
    else:
        click.echo(f"API key ({role}, shown once): {key.api_key}")


@keys_group.command("list")
@common_options
@click.option("--tenant", "tenant_ref", default=None, help="Tenant id or name (default: all).")
@click.option("--json", "as_json", is_flag=True)
def keys_list(config_path: str | None, data_dir: str | None, tenant_ref: str | None, as_json: bool) -> None:
    """Unrevoked API keys, oldest first; last use is written by a running server about once a minute."""
    config = settings(config_path, data_dir)
    with database(config) as session:
        tenant_id = session.read(lambda tx: tenant_rows.tenant_id_of(tx, tenant_ref)) if tenant_ref else None
        if tenant_ref and tenant_id is None:
            fail(f"no tenant {tenant_ref!r}")
        found = session.read(lambda tx: tenant_rows.keys_for_write(tx, tenant_id))
    items = [{**keys.shape(k), "tenant_id": k.tenant_id} for k in found]
    if as_json:
        click.echo(json.dumps(items))
        return
    for i in items:
        used = i["last_used_at"] or "never used"
        click.echo(f"{i['prefix']}  {i['role']:<6}  {i['tenant_id']}  {i['created_at']}  {used}  {i['name'] or ''}")


@keys_group.command("revoke")
@click.argument("prefix")
@common_options
def keys_revoke(prefix: str, config_path: str | None, data_dir: str | None) -> None:
    """Revoke a key by its prefix (af_xxxxxxxx); a running server refuses it within 10 seconds."""
    config = settings(config_path, data_dir)
    with database(config) as session:
        try:
            session.write(lambda tx: keys.revoke(tx, prefix, time.time(), None, None))
        except keys.UnknownKey:
            fail(f"no unrevoked key has the prefix {prefix!r}")
        except keys.AmbiguousPrefix:
            fail(f"several keys share the prefix {prefix!r}")
    click.echo(f"Revoked {prefix}.")


@main.group("plugins")
@common_options
def plugins_group(config_path: str | None, data_dir: str | None) -> None:
    """Installed provider plugins."""


@plugins_group.command("list")
@common_options
@click.option("--json", "as_json", is_flag=True)
def plugins_list(config_path: str | None, data_dir: str | None, as_json: bool) -> None:
    """Every provider found in the alertflow.providers entry-point group."""
    from .providers.registry import ProviderRegistry

    described = ProviderRegistry.from_entry_points().describe()
    if as_json:
        click.echo(json.dumps(described, indent=2))
        return
    for p in described:
        click.echo(f"{p['type']:<10} {','.join(p['channels']):<18} {p['module']}")
        click.echo(f"{'':<10} settings: {', '.join(p['settings']) or '-'}")


@main.group("dlq")
@common_options
def dlq_group(config_path: str | None, data_dir: str | None) -> None:
    """The dead-letter queue."""


@dlq_group.command("list")
@common_options
@click.option("--tenant", "tenant_ref", default=None, help="Tenant id or name (default: all).")
@click.option("--json", "as_json", is_flag=True)
def dlq_list(config_path: str | None, data_dir: str | None, tenant_ref: str | None, as_json: bool) -> None:
    """Dead deliveries, newest first."""
    config = settings(config_path, data_dir)
    with database(config) as session:
        tenant_id = session.read(lambda tx: tenant_rows.tenant_id_of(tx, tenant_ref)) if tenant_ref else None
        if tenant_ref and tenant_id is None:
            fail(f"no tenant {tenant_ref!r}")
        rows = session.read(lambda tx: jobs.all_dead_letters(tx, tenant_id))
    items = [dlq.shape(r) for r in rows]
    if as_json:
        click.echo(json.dumps(items))
        return
    for i in items:
        click.echo(f"{i['delivery_id']}  {i['channel']:<8} attempts={i['attempts']}  {i['dead_at']}  {i['last_error']}")


@dlq_group.command("replay")
@click.argument("delivery_id")
@common_options
def dlq_replay(delivery_id: str, config_path: str | None, data_dir: str | None) -> None:
    """Send a dead delivery again, with a fresh set of attempts."""
    config = settings(config_path, data_dir)
    with database(config) as session:
        replayed = session.write(lambda tx: dlq.replay(tx, delivery_id, time.time()))
    if replayed is None:
        fail(f"{delivery_id} is not in the dead-letter queue")
        return
    click.echo(f"Replaying {delivery_id} ({replayed['channel']}); a running server picks it up within a second.")


@main.group("members")
@common_options
def members_group(config_path: str | None, data_dir: str | None) -> None:
    """People who sign in to the dashboard."""


@members_group.command("create")
@common_options
@click.option("--email", required=True, help="The address the member signs in with.")
@click.option("--tenant", "tenant_ref", default=None, help="Tenant id or name (with --role).")
@click.option("--role", type=click.Choice([r.name for r in tenants.Role]), default=None)
@click.option("--operator", is_flag=True, help="Manages every tenant; belongs to none.")
@click.option("--password-stdin", is_flag=True, help="Set the password read from stdin instead of printing a link.")
@click.option("--json", "as_json", is_flag=True, help="Print {member_id, invite_url} as JSON.")
def members_create(
    config_path: str | None,
    data_dir: str | None,
    email: str,
    tenant_ref: str | None,
    role: str | None,
    operator: bool,
    password_stdin: bool,
    as_json: bool,
) -> None:
    """Add a member of a tenant with a role, or an operator; prints a one-time link that sets the password."""
    if (operator and (tenant_ref or role)) or (not operator and not (tenant_ref and role)):
        fail("give --tenant and --role, or --operator", 2)
    email = members.normalise_email(email)
    if problem := members.email_problem(email):
        fail(f"--email {problem}", 2)
    password_hash = new_password_hash() if password_stdin else None
    config = settings(config_path, data_dir)
    with database(config) as session:
        tenant_id = session.read(lambda tx: tenant_rows.tenant_id_of(tx, tenant_ref or "")) if tenant_ref else None
        if tenant_ref and tenant_id is None:
            fail(f"no tenant {tenant_ref!r}")
        if operator and session.read(tenant_rows.first_tenant) is None:
            fail("there is no tenant for an operator to act in yet: run `alertflow init` first")

        def create(tx: Tx) -> tuple[str, str | None]:
            now = time.time()
            member_id = members.create(tx, email, tenant_id, tenants.Role[role] if role else None, now)
            if password_hash:
                members.set_password(tx, member_id, password_hash)
                return member_id, None
            return member_id, members.new_link(tx, member_id, now, config.sessions.invite_ttl_seconds)

        try:
            member_id, token = session.write(create)
        except members.DuplicateEmail:
            fail(f"{email} is a member already")
            return
    url = members.link_url(config.server.base_url, token) if token else None
    if as_json:
        click.echo(json.dumps({"member_id": member_id, "invite_url": url}))
    elif url:
        click.echo(f"Member {email}: {member_id}\nOne-time link to set the password: {url}")
    else:
        click.echo(f"Member {email}: {member_id}, password set")


def new_password_hash() -> str:
    """The hash of the password on stdin (its one line; a trailing newline is not part of it)."""
    password = sys.stdin.readline().removesuffix("\n").removesuffix("\r")
    if problem := passwords.problem(password):
        fail(f"the password on stdin {problem}", 2)
    return passwords.hash_now(password)


@members_group.command("reset-password")
@click.argument("email")
@common_options
def members_reset_password(email: str, config_path: str | None, data_dir: str | None) -> None:
    """Print a new one-time link that sets the member's password; earlier links stop working."""
    config = settings(config_path, data_dir)
    email = members.normalise_email(email)
    with database(config) as session:
        found = session.read(lambda tx: member_rows.member_by_email(tx, email))
        if found is None:
            fail(f"no member {email!r}")
            return
        ttl = config.sessions.reset_ttl_seconds
        token = session.write(lambda tx: members.new_link(tx, found.member_id, time.time(), ttl))
    click.echo(members.link_url(config.server.base_url, token))


@main.command()
@click.argument("dest_file", type=click.Path(dir_okay=False))
@common_options
def backup(dest_file: str, config_path: str | None, data_dir: str | None) -> None:
    """A consistent online copy of the database, safe while the server runs."""
    config = settings(config_path, data_dir)
    if config.storage.postgresql:
        fail("the database is PostgreSQL ([storage] url): back it up with pg_dump or your provider's snapshots")
    if not config.database_path.exists():
        fail(f"no database at {config.database_path}")
    dest = Path(dest_file)
    started = time.monotonic()
    try:
        size = backup_database(config.database_path, dest, show_progress if sys.stderr.isatty() else None)
    except FileExistsError:
        fail(f"{dest} exists; a backup never overwrites a file, choose a new name")
    except BackupFailed as exc:
        fail(f"backup failed: {exc}")
    except OSError as exc:
        fail(f"cannot write {dest}: {exc.strerror or exc}")
    click.echo(
        f"Backed up {config.database_path} to {dest}: {size / 2**20:.1f} MiB in {time.monotonic() - started:.1f} s"
    )
    key_file = config.server.data_dir / SECRET_KEY_FILE
    if key_file.exists():
        # Sealed provider credentials and signed tokens in the copy are useless without it.
        click.echo(f"Keep {key_file} with it: a restore needs both.")


def show_progress(copied: int, total: int) -> None:
    click.echo(f"\r{copied * 100 // max(total, 1)}% of {total} pages", err=True, nl=copied >= total)


@main.command()
@click.option("--url", default=None, help="Target a running server instead of an embedded one.")
@click.option("--storage-url", default=None, help="The embedded server's [storage] url (default: SQLite).")
@click.option(
    "--nodes",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Embedded servers on the --storage-url PostgreSQL database, publishes spread over them.",
)
@click.option("--api-key", default=None, help="With --url: a key of the tenant to publish as.")
@click.option("-n", "--requests", default=20000, show_default=True, help="Publishes in the closed loop (python).")
@click.option("--generator", type=click.Choice(["auto", "wrk", "python"]), help="Closed loops' load: wrk if installed.")
@click.option("-c", "--concurrency", default=50, show_default=True, help="Clients in the closed-loop run.")
@click.option(
    "--rate", default=1000.0, show_default=True, help="Offered publishes/s for the latency run (and --smtp's)."
)
@click.option("--sustain-rate", default=2000.0, show_default=True, help="Offered publishes/s, end to end.")
@click.option("--seconds", default=10.0, show_default=True, help="Length of each open-loop run.")
@click.option(
    "--sockets",
    default=0,
    show_default=True,
    help="Also hold this many users' inbox WebSockets and time in-app publish→receipt (0: skip).",
)
@click.option("--reference", is_flag=True, help="Also measure a bare aiohttp + SQLite endpoint.")
@click.option("--bulk", default=0, show_default=True, help="Recipients of a bulk send to measure (0: skip).")
@click.option(
    "--bulk-publish-rate", default=200.0, show_default=True, help="Ordinary publishes/s offered during the bulk."
)
@click.option(
    "--topic-subscribers", default=0, show_default=True, help="Subscribers of a topic to bulk-send to (0: skip)."
)
@click.option("--digest", default=0, show_default=True, help="Events to publish as digests (0: skip).")
@click.option("--digest-recipients", default=1, show_default=True, help="Recipients the --digest events go to.")
@click.option(
    "--smtp",
    is_flag=True,
    help="Instead: email through the smtp provider to a local aiosmtpd sink, as a ratio of raw aiosmtplib: "
    "closed loop, open loop at --rate for --seconds, and from a backlog (--smtp-drain).",
)
@click.option(
    "--smtp-messages", default=3000, show_default=True, help="Messages in --smtp's ceiling and closed-loop phases."
)
@click.option(
    "--smtp-connections", default=16, show_default=True, help="Raw clients, and the server's email workers (--smtp)."
)
@click.option(
    "--smtp-drain",
    type=click.IntRange(min=0),
    default=5000,
    show_default=True,
    help="--smtp: emails queued with the workers paused, then delivered to the sink from the backlog (0: skip).",
)
@click.option(
    "--purge",
    default=0,
    show_default=True,
    help="Instead: seed this many old notifications and time publish (--rate, --seconds) alone and while purging.",
)
@click.option(
    "--drain",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Instead: queue this many emails with the workers paused, then time their delivery (0: skip).",
)
@click.option(
    "--drain-templates",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="--drain: spread the emails over this many distinct inline templates (0: literal content).",
)
@click.option(
    "--drain-checkpoint",
    type=click.IntRange(min=0),
    default=10000,
    show_default=True,
    help="--drain: also report server RSS once this many are delivered (0: skip).",
)
@click.option(
    "--instructions",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Instead: count the server's instructions per publish and per email delivered to an SMTP sink, "
    "this many of each, under valgrind's callgrind (0: skip).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON at the end.")
@common_options
def bench(config_path: str | None, data_dir: str | None, **options: Any) -> None:
    """Measure publish throughput and latency, publish→sent latency, in-app push latency and memory.

    The embedded server runs on a temporary data dir (--data-dir: that one instead) with the
    built-in defaults (--config: that file instead; ./alertflow.toml is never used, so a bench
    does not send through real providers by accident).
    """
    from types import SimpleNamespace

    from .ops.bench import FROZEN, choose_generator
    from .ops.bench import bench as run_bench
    from .ops.bench_digest import scenario as digest_scenario

    config_path, data_dir = given("config_path", config_path), given("data_dir", data_dir)
    args = SimpleNamespace(**options, config_file=None, data_dir=None, scenarios=[])
    if args.digest:  # its section comes after the others, on the same server
        args.scenarios.append(digest_scenario(args.digest, args.digest_recipients, args.concurrency))
    if args.url and not args.api_key:
        fail("--url needs --api-key", 2)
    if args.url and (config_path or data_dir or args.storage_url):
        fail("--config, --data-dir and --storage-url set up the embedded server; --url targets a running one", 2)
    if config_path:
        settings(config_path, data_dir)  # a config error is told now, in one line, not by the server's log
        args.config_file = Path(config_path).resolve()
    if data_dir:
        args.data_dir = Path(data_dir).resolve()
    if args.reference and FROZEN:
        fail("--reference runs the Python module alertflow.ops.bench: use a pip-installed alertflow", 2)
    if not choose_generator(args):
        fail("wrk is not installed (Debian: apt-get install wrk)", 2)
    if args.drain and (args.url or args.smtp):
        fail("--drain starts its own server twice: not with --url or --smtp", 2)
    if args.nodes > 1 and not (args.storage_url or "").startswith(POSTGRESQL_SCHEMES):
        fail("--nodes above 1 needs --storage-url postgresql://...: the nodes share one database", 2)
    if args.nodes > 1 and (args.drain or args.smtp or args.purge):
        fail("--nodes spreads the publish runs: not with --drain, --smtp or --purge", 2)
    if args.instructions:
        results = instructions_bench(args)
    elif args.smtp:
        results = smtp_bench(args)
    elif args.drain:
        from .ops.bench_drain import drain_bench

        results = asyncio.run(drain_bench(args))
    else:
        results = asyncio.run(run_bench(args))
    if args.as_json:
        click.echo(json.dumps(results))


def instructions_bench(args: Any) -> dict[str, Any]:
    """``bench --instructions``: its own servers and sink, each under callgrind."""
    from .ops.bench_instructions import callgrind_missing, instructions_bench

    if args.url or args.config_file or args.data_dir or args.smtp or args.drain or args.nodes > 1:
        fail(
            "--instructions sets up its own servers: not with --url, --config, --data-dir, --smtp, --drain or --nodes",
            2,
        )
    needs_sink(args)
    missing = callgrind_missing()
    if missing:
        fail(missing, 2)
    return asyncio.run(instructions_bench(args))


def needs_sink(args: Any) -> None:
    """The aiosmtpd sink of --smtp and --instructions: a Python module run as its own process."""
    import importlib.util

    from .ops.bench import FROZEN

    if FROZEN:
        fail("the SMTP sink runs the Python module alertflow.ops.bench_smtp: use a pip-installed alertflow", 2)
    if importlib.util.find_spec("aiosmtpd") is None:
        fail("the SMTP sink needs aiosmtpd: pip install 'alertflow[bench]'", 2)


def smtp_bench(args: Any) -> dict[str, Any]:
    """``bench --smtp``: its own server configuration, so not with --url or --config."""
    import tempfile

    from .ops.bench_smtp import smtp_bench as run_smtp_bench

    if args.url or args.config_file or args.data_dir:
        fail("--smtp sets up its own embedded server: not with --url, --config or --data-dir", 2)
    needs_sink(args)

    async def run() -> dict[str, Any]:
        with tempfile.TemporaryDirectory(prefix="alertflow-bench-smtp-") as tmp:
            return await run_smtp_bench(
                Path(tmp),
                args.smtp_messages,
                args.smtp_connections,
                args.concurrency,
                args.rate,
                args.seconds,
                args.smtp_drain,
            )

    return asyncio.run(run())


@main.group("storage")
@common_options
def storage_group(config_path: str | None, data_dir: str | None) -> None:
    """Where the data lives: moving an install to PostgreSQL."""


@storage_group.command("copy")
@click.option("--to", "url", required=True, help="An EMPTY PostgreSQL database: postgresql://user@host/db")
@common_options
def storage_copy(url: str, config_path: str | None, data_dir: str | None) -> None:
    """Copy this SQLite install into an empty PostgreSQL database (the server stopped).

    Every table in one transaction, verified by row counts; then set [storage] url to it and
    start the nodes (README, "Scaling out"). The password comes from the URL or $PGPASSWORD."""
    from .app import DataDirInUse, lock_data_dir
    from .storage import transfer

    config = settings(config_path, data_dir)
    if config.storage.postgresql:
        fail("this install already keeps its data in PostgreSQL ([storage] url): nothing to copy", 2)
    if not url.startswith(POSTGRESQL_SCHEMES):
        fail(f"--to: expected a postgresql:// URL, got {url!r}", 2)
    if not config.database_path.exists():
        fail(f"no database at {config.database_path}")
    try:
        lock = lock_data_dir(config.server.data_dir)  # held for the copy: no server starts meanwhile
    except DataDirInUse:
        fail(
            f"alertflow serve is running on {config.server.data_dir}: stop it first, so nothing changes during the copy"
        )
        return
    started = time.monotonic()
    try:
        copied = transfer.copy_to_postgresql(
            config.database_path, url, None, lambda c: click.echo(f"{c.table}: {c.rows} rows")
        )
    except transfer.CopyRefused as exc:
        fail(f"storage copy: {exc}; nothing was copied")
        return
    except SchemaTooNew as exc:
        fail(str(exc), 2)
        return
    finally:
        os.close(lock)
    click.echo(
        f"Copied {sum(c.rows for c in copied)} rows in {len(copied)} tables, counts verified,"
        f" in {time.monotonic() - started:.1f} s. Now set [storage] url to it and start the nodes."
    )


def add_plugin_commands(group: click.Group) -> None:
    """Plugins contribute commands through the ``alertflow.commands`` entry points."""
    for ep in entry_points(group=COMMANDS_GROUP):
        try:
            command = ep.load()
        except Exception as exc:  # a broken plugin must not take the whole CLI down
            click.echo(f"alertflow: plugin command {ep.name!r} failed to load: {exc}", err=True)
            continue
        if isinstance(command, click.Command) and command.name not in group.commands:
            accept_common_options(command)
            group.add_command(command)


add_plugin_commands(main)


def run() -> None:
    main(prog_name="alertflow")


if __name__ == "__main__":
    run()

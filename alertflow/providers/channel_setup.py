"""Which providers serve a tenant's channel, in order: the first is primary, the rest fail-over.

Precedence: the tenant's own set-up (``PUT /v1/channels/{channel}``) > ``[providers.<channel>]``
in alertflow.toml > the built-in default (``outbox`` for email, sms and push; ``inbox`` for
in-app; none for webhook, which needs a URL).

Every entry may also carry ``rate_per_second``: a send-rate limit for that provider, which
paces bulk sends instead of having the provider refuse them.

A tenant's providers connect only where ``[security]`` allows (alertflow.netguard); the
operator's own, from alertflow.toml, are trusted to go anywhere (a local SMTP relay). Likewise
only the operator's may name a file on the server (a setting typed as a path, such as fcm's
``service_account_file``): a tenant sends the content inline, in the setting the path field
names under ``inline_alternative`` in its JSON schema extra.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import json
import math
import time
import typing
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field, replace
from pathlib import PurePath
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit, urlunsplit

from pydantic import ValidationError

from ..cache import Lru, TtlCache
from ..config import Config, ConfigError
from ..message import STATUS_CHANNEL
from ..storage import channel_setups
from ..storage.database import Database
from .interface import Provider, ProviderConfigError, ProviderContext, ProviderSettings
from .netguard import OutboundGuard, kind_of, plain
from .registry import ProviderRegistry
from .resilience import CircuitBreaker, NoCircuit, TokenBucket
from .sealing import Sealer, Unsealable

BUILTIN_DEFAULTS: dict[str, str] = {
    "email": "outbox",
    "sms": "outbox",
    "push": "outbox",
    "inapp": "inbox",
    STATUS_CHANNEL: "status_webhooks",
}
MASK = "********"
RATE_KEY = "rate_per_second"
# The key of a path setting's JSON schema extra naming the setting that takes the content inline.
INLINE_KEY = "inline_alternative"


@dataclass(frozen=True)
class Entry:
    """One configured provider: its type, validated settings and optional send rate."""

    type_name: str
    settings: ProviderSettings
    rate_per_second: float | None = None

    @functools.cached_property
    def key(self) -> str:
        """Which set-up this is: a handle per distinct key. Every send asks, so it is built once."""
        return json.dumps([self.type_name, self.settings.model_dump(mode="json"), self.rate_per_second], sort_keys=True)


@dataclass
class Handle:
    """A provider instance with its own health and pace, shared by every tenant using the same set-up."""

    entry: Entry
    provider: Provider
    breaker: CircuitBreaker = field(default_factory=CircuitBreaker)
    bucket: TokenBucket | None = None

    @property
    def name(self) -> str:
        return self.entry.type_name

    def serves(self, device_kind: str) -> bool:
        kinds = self.provider.device_kinds
        return not kinds or device_kind in kinds


def _names_a_path(annotation: Any) -> bool:
    """Whether a settings field's type is (or holds) a file-system path: ``Path``, ``FilePath``,
    ``Path | None``."""
    if isinstance(annotation, type) and issubclass(annotation, PurePath):
        return True
    return any(_names_a_path(arg) for arg in typing.get_args(annotation))


@functools.cache  # a model's fields never change; deliveries ask for every tenant set-up
def path_settings(settings: type[ProviderSettings]) -> dict[str, str | None]:
    """The settings that name a file on the server, each with the setting that takes its
    content inline instead (None when there is none). Found by type, so a third-party
    provider's path setting is caught without it declaring anything."""
    out = {}
    for name, info in settings.model_fields.items():
        if _names_a_path(info.annotation):
            extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
            inline = extra.get(INLINE_KEY)
            out[name] = inline if isinstance(inline, str) else None
    return out


def _opened_inside(guard: OutboundGuard, host: str) -> bool:
    """Whether ``host`` is an address literal inside that the guard lets through."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return kind_of(plain(address)) is not None and guard.refusal(host) is None


def masked_url(url: str) -> str:
    """A URL with its credentials (user info, query values) shown as the mask."""
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    netloc = f"{MASK}@{host}" if "@" in parts.netloc else host
    query = "&".join(f"{quote(k)}={MASK}" for k, _ in parse_qsl(parts.query, keep_blank_values=True))
    return urlunsplit(parts._replace(netloc=netloc, query=query))


class UnreadableSetup(ValueError):
    """A tenant's stored set-up that can no longer be read: sealed under a rotated secret key,
    naming a provider plugin since uninstalled, or settings that today's rules refuse. The API
    says so and lets the owner replace it; a delivery fails with this as its reason."""


class ChannelProviders:
    """``context`` is what a tenant's providers get; the operator's get the same, unguarded."""

    def __init__(self, config: Config, registry: ProviderRegistry, context: ProviderContext, sealer: Sealer) -> None:
        self.registry = registry
        self.context = context
        self.operator_context = replace(context, guard=context.guard.unrestricted())
        self.sealer = sealer
        self._defaults: dict[str, list[Entry]] = {}
        for channel, entries in config.providers.items():
            try:
                self._defaults[channel] = self.parse(
                    channel, [dict(e) for e in entries], "providers." + channel, trusted=True
                )
            except ProviderConfigError as exc:
                raise ConfigError(str(exc)) from None
        self._concurrency: dict[str, int] = {**config.workers.model_dump(), STATUS_CHANNEL: config.webhooks.concurrency}
        self._tenants = TtlCache(max_entries=config.cache.channel_setups)
        # Set-ups a tenant replaced stay until pushed out; one pushed out closes its connections.
        self._handles: Lru[str, Handle] = Lru(config.cache.channel_setups, self._evicted)
        self._closing: set[asyncio.Task[None]] = set()

    # -- reading and writing set-ups

    def parse(self, channel: str, entries: list[dict[str, Any]], path: str, trusted: bool = False) -> list[Entry]:
        """Validate ``{"type": ..., "rate_per_second"?: ..., **settings}`` entries; raise naming the path.

        Only ``trusted`` (the operator's) entries may name files on the server."""
        out = []
        for i, raw in enumerate(entries):
            if not trusted:
                # Before validating: validation may read the file (fcm's key), or tell a
                # tenant whether a path exists.
                self._refuse_server_files(raw, f"{path}.{i}")
            rate = raw.pop(RATE_KEY, None)
            # NaN fails the comparison too; TOML can write nan and inf.
            if rate is not None and (
                not isinstance(rate, int | float) or isinstance(rate, bool) or not 0 < rate < math.inf
            ):
                raise ProviderConfigError(f"{path}.{i}.{RATE_KEY}", "expected a finite number above 0")
            type_name, settings = self.registry.validate(f"{path}.{i}", channel, raw)
            out.append(Entry(type_name, settings, rate))
        return out

    def _refuse_server_files(self, raw: dict[str, Any], path: str) -> None:
        type_name = raw.get("type")
        if not (isinstance(type_name, str) and type_name in self.registry.names()):
            return  # validation names the bad type
        for name, inline in path_settings(self.registry.get(type_name).Settings).items():
            if raw.get(name) is not None:
                instead = f"; send the content inline in {inline}" if inline else ""
                raise ProviderConfigError(
                    f"{path}.{name}", f"a tenant's set-up cannot name a file on the server{instead}"
                )

    def defaults(self, channel: str) -> list[Entry]:
        if channel not in self._defaults:
            # Made once: every send asks, and a new Entry would build its key anew each time.
            builtin = BUILTIN_DEFAULTS.get(channel)
            found = builtin if builtin in self.registry.names() else None
            self._defaults[channel] = [Entry(found, self.registry.get(found).Settings())] if found else []
        return self._defaults[channel]

    async def refuse_inside(self, entries: list[Entry], path: str) -> None:
        """Refuse a tenant's set-up whose hosts the guard does not allow; raise naming the setting."""
        for i, e in enumerate(entries):
            for name, host in self.registry.get(e.type_name).outbound_hosts(e.settings).items():
                why = await self.context.guard.refusal_for_host(host)
                if why is not None:
                    raise ProviderConfigError(f"{path}.{i}.{name}", f"refused: {why}")

    async def endpoint_refusal(self, url: str) -> str | None:
        """Why a Web Push endpoint a tenant stores is refused, or None. Push services speak
        HTTPS (RFC 8030 §8); plain http:// is only for an address literal in a network
        ``[security] allowed_private_networks`` opens (a push relay of the operator's own)."""
        guard = self.context.guard
        host = urlsplit(url).hostname
        if not host or not url.startswith(("https://", "http://")):
            return "expected an https:// URL"
        why = await guard.refusal_for_host(host)
        if why is not None:
            return f"refused: {why}"
        if url.startswith("http://") and not _opened_inside(guard, host):
            return "expected an https:// URL (http:// only to an address in [security] allowed_private_networks)"
        return None

    def sealed(self, tenant_id: str, channel: str, entries: list[Entry]) -> str:
        """The stored form: secret settings (URLs too: they may hold credentials) sealed,
        bound to this tenant and channel."""
        out = []
        for e in entries:
            values = e.settings.model_dump(mode="json", exclude_unset=True)
            provider = self.registry.get(e.type_name)
            secrets = {k: values.pop(k) for k in provider.secret_fields | provider.url_fields if k in values}
            item: dict[str, Any] = {"type": e.type_name, "config": values, RATE_KEY: e.rate_per_second}
            if secrets:
                item["sealed"] = self.sealer.seal(secrets, f"{tenant_id}/{channel}")
            out.append(item)
        return json.dumps(out)

    def unsealed(self, tenant_id: str, channel: str, stored: str) -> list[Entry]:
        entries = []
        for i, item in enumerate(json.loads(stored)):
            try:
                values = dict(item["config"])
                if "sealed" in item:
                    values.update(self.sealer.unseal(item["sealed"], f"{tenant_id}/{channel}"))
                settings = self.registry.get(item["type"]).Settings.model_validate(values)
            except Unsealable as exc:
                raise UnreadableSetup(f"providers.{i}: {exc}") from None
            except KeyError:
                gone = f"provider type {item['type']!r} is not installed"
                raise UnreadableSetup(f"providers.{i}: {gone}; set it again") from None
            except ValidationError:
                raise UnreadableSetup(f"providers.{i}: today's rules refuse its settings; set it again") from None
            entries.append(Entry(item["type"], settings, item.get(RATE_KEY)))
        return entries

    def masked(self, entries: list[Entry]) -> list[dict[str, Any]]:
        """For API answers: secrets are write-only, shown as a mask when set."""
        out = []
        for e in entries:
            values = e.settings.model_dump(mode="json", exclude_unset=True)
            provider = self.registry.get(e.type_name)
            for key in provider.secret_fields:
                if values.get(key) is not None:
                    values[key] = MASK
            for key in provider.url_fields:
                if values.get(key) is not None:
                    values[key] = masked_url(values[key])
            out.append({"type": e.type_name, "config": values, RATE_KEY: e.rate_per_second})
        return out

    async def tenant_entries(self, database: Database, tenant_id: str, channel: str) -> list[Entry] | None:
        async def load() -> list[Entry] | None:
            stored = await channel_setups.load(database, tenant_id, channel)
            return self.unsealed(tenant_id, channel, stored) if stored is not None else None

        entries: list[Entry] | None = await self._tenants.get((tenant_id, channel), load)
        return entries

    def changed(self, tenant_id: str, channel: str) -> None:
        self._tenants.drop((tenant_id, channel))

    def forget_all(self) -> None:
        """Any tenant's set-up may have changed unheard (see Coordinator.on_resync)."""
        self._tenants.clear()

    # -- what the deliverer uses

    async def for_tenant(self, tenant_id: str, channel: str) -> list[Handle]:
        entries = await self.tenant_entries(self.context.database, tenant_id, channel)
        if entries is not None:
            for i, e in enumerate(entries):
                # A set-up stored before tenants were refused server files sends nothing until
                # set again (GET and PUT still show and replace it).
                self._refuse_server_files({"type": e.type_name, **vars(e.settings)}, f"providers.{i}")
            return [self._handle(channel, e, trusted=False) for e in entries]
        return [self._handle(channel, e, trusted=True) for e in self.defaults(channel)]

    def _handle(self, channel: str, entry: Entry, trusted: bool) -> Handle:
        provider_type = self.registry.get(entry.type_name)
        trusted = trusted and not provider_type.recipient_endpoints
        # One instance per distinct set-up, so connections (SMTP, HTTP) are reused across sends;
        # the operator's and a tenant's alike set-ups differ in where they may connect, and
        # one serving two channels sizes its pools by each channel's concurrency.
        concurrency = self._concurrency.get(channel)
        key = f"{trusted}:{concurrency}:{entry.key}"
        handle = self._handles.get(key)
        if handle is None:
            context = self.operator_context if trusted else self.context
            provider = provider_type(entry.settings, replace(context, concurrency=concurrency))
            # A burst of one spaces sends evenly, the way providers meter them (e.g. per number).
            bucket = TokenBucket(entry.rate_per_second, burst=1) if entry.rate_per_second else None
            breaker = CircuitBreaker(time.monotonic) if provider_type.shared_health else NoCircuit()
            handle = Handle(entry, provider, breaker, bucket)
            self._handles.put(key, handle)
        return handle

    def _evicted(self, key: str, handle: Handle) -> None:
        # A send still in flight on it finishes first (providers close only idle connections).
        task = asyncio.get_running_loop().create_task(handle.provider.close())
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    @asynccontextmanager
    async def connected(self) -> AsyncIterator[None]:
        """Lend providers their HTTP sessions (a guarded one for tenants' providers); on the
        way out close the providers, then the sessions. Every channel's sends may be in
        flight at once through one session, so its connection limit is their sum (aiohttp's
        default of 100 held 200 webhook workers to half)."""
        limit = sum(self._concurrency.values())
        async with AsyncExitStack() as stack:
            for context in (self.context, self.operator_context):
                context.http = await stack.enter_async_context(context.guard.session(limit))
            yield
            await self.close()

    async def close(self) -> None:
        for handle in self._handles.values():
            await handle.provider.close()
        self._handles.clear()
        await asyncio.gather(*self._closing)

"""The provider interface and the registry that finds providers through entry points.

Every provider, the built-in ``outbox`` included, is a class registered under the
``alertflow.providers`` entry-point group; the core imports none of them by name.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any, ClassVar, Protocol
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, ValidationError

from .message import Message
from .netguard import OutboundGuard
from .outcomes import Receipt, Sent

if TYPE_CHECKING:
    import aiohttp
    from aiohttp import web

    from .storage.database import Database

ENTRY_POINT_GROUP = "alertflow.providers"
log = logging.getLogger(__name__)


class ProviderSettings(BaseModel):
    """Base of every provider's settings model: unknown keys are a configuration error."""

    model_config = ConfigDict(extra="forbid")


class ReceiptSink(Protocol):
    """Where a provider reports what happened after the send (delivery receipts)."""

    async def __call__(
        self, provider: str, provider_message_id: str, status: str, error: str | None = None
    ) -> bool: ...


@dataclass
class ProviderContext:
    """What the core lends a provider: shared resources, never another tenant's data.

    ``guard`` says where the provider may connect: ``http`` enforces it on every request, and
    a provider that opens connections by other means checks them with it. A tenant's
    providers get ``[security]``'s policy, the operator's own (alertflow.toml) go anywhere.
    """

    database: Database
    public_url: str | None = None
    http: aiohttp.ClientSession | None = None
    guard: OutboundGuard = field(default_factory=OutboundGuard)
    extras: dict[str, Any] = field(default_factory=dict)


class Provider:
    """Base class of providers. Subclasses set the class variables and implement ``send``.

    ``send`` returns :class:`~alertflow.outcomes.Sent` or raises one of the outcome
    exceptions of :mod:`alertflow.outcomes`.
    """

    type_name: ClassVar[str] = ""
    channels: ClassVar[frozenset[str]] = frozenset()
    # For the push channel: which device kinds ("fcm", "webpush") this provider serves.
    device_kinds: ClassVar[frozenset[str]] = frozenset()
    Settings: ClassVar[type[ProviderSettings]] = ProviderSettings
    # Settings that are sealed at rest and never returned by the API.
    secret_fields: ClassVar[frozenset[str]] = frozenset()
    # Settings holding a URL, or a host name, the provider connects to. A tenant's value must
    # not point inside (alertflow.netguard); a URL's user info and query values are secrets.
    url_fields: ClassVar[frozenset[str]] = frozenset()
    host_fields: ClassVar[frozenset[str]] = frozenset()
    # True when the provider connects to addresses recipients carry (Web Push endpoints):
    # those are tenant data, so it is guarded even when the operator set it up.
    recipient_endpoints: ClassVar[bool] = False
    description: ClassVar[str] = ""

    def __init__(self, settings: ProviderSettings, context: ProviderContext) -> None:
        self.settings = settings
        self.context = context

    async def send(self, message: Message) -> Sent:
        raise NotImplementedError

    @classmethod
    def outbound_hosts(cls, settings: ProviderSettings) -> dict[str, str]:
        """The hosts a set-up connects to, by the setting that names each (checked when a
        tenant sets it up). Override when a host hides deeper, as in a key file."""
        values = settings.model_dump(mode="json")
        hosts = {f: urlsplit(values[f]).hostname or "" for f in cls.url_fields if values.get(f)}
        hosts.update({f: values[f] for f in cls.host_fields if values.get(f)})
        return hosts

    async def close(self) -> None:
        """Release connections; called once when the server stops."""

    def receipt_url(self, message: Message) -> str | None:
        """The status-callback URL for this delivery, when ``server.public_url`` is set.

        The core routes ``POST /v1/receipts/{type}/{delivery_id}`` to :meth:`parse_receipt`.
        """
        base = self.context.public_url
        if not base:
            return None
        return f"{base.rstrip('/')}/v1/receipts/{self.type_name}/{message.delivery_id}"

    @classmethod
    async def parse_receipt(cls, request: web.Request, settings: ProviderSettings) -> Receipt:
        """Verify and read a status callback; raise ``InvalidReceipt`` when it does not verify."""
        raise NotImplementedError(f"provider {cls.type_name!r} takes no receipts")


class ProviderConfigError(ValueError):
    """A provider section names an unknown type or carries invalid settings."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
        self.message = message


class ProviderRegistry:
    """Provider types by name, as installed plugins declare them."""

    def __init__(self, types: dict[str, type[Provider]] | None = None) -> None:
        self._types: dict[str, type[Provider]] = dict(types or {})

    @classmethod
    def from_entry_points(cls) -> ProviderRegistry:
        registry = cls()
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            try:
                registry.register(ep.name, ep.load())
            except Exception:  # a broken third-party plugin must not take the server down
                log.exception("provider plugin %r failed to load", ep.name)
        return registry

    def register(self, name: str, provider: type[Provider]) -> None:
        if not (isinstance(provider, type) and issubclass(provider, Provider)):
            raise TypeError(f"provider {name!r} is not a subclass of alertflow.providers.Provider")
        provider.type_name = name
        self._types[name] = provider

    def get(self, name: str) -> type[Provider]:
        return self._types[name]

    def names(self) -> list[str]:
        return sorted(self._types)

    def for_channel(self, channel: str) -> list[str]:
        return [n for n in self.names() if channel in self._types[n].channels]

    def validate(self, path: str, channel: str, spec: dict[str, Any]) -> tuple[str, ProviderSettings]:
        """Check one ``{"type": ..., **settings}`` entry for ``channel``; raise naming ``path``."""
        settings = dict(spec)
        type_name = settings.pop("type", None)
        if not isinstance(type_name, str):
            raise ProviderConfigError(f"{path}.type", f"expected one of {self.for_channel(channel)}")
        if type_name not in self._types:
            raise ProviderConfigError(f"{path}.type", f"unknown provider {type_name!r}; installed: {self.names()}")
        provider = self._types[type_name]
        if channel not in provider.channels:
            raise ProviderConfigError(f"{path}.type", f"provider {type_name!r} does not serve channel {channel!r}")
        try:
            return type_name, provider.Settings.model_validate(settings)
        except ValidationError as exc:
            err = exc.errors()[0]
            where = ".".join(str(p) for p in err["loc"])
            raise ProviderConfigError(f"{path}.{where}" if where else path, err["msg"]) from exc

    def describe(self) -> list[dict[str, Any]]:
        """One entry per provider type: name, channels and settings (for `plugins list`)."""
        out = []
        for name in self.names():
            p = self._types[name]
            schema = p.Settings.model_json_schema()
            out.append(
                {
                    "type": name,
                    "channels": sorted(p.channels),
                    "device_kinds": sorted(p.device_kinds),
                    "description": p.description,
                    "module": p.__module__,
                    "settings": sorted(schema.get("properties", {})),
                    "required": sorted(schema.get("required", [])),
                    "secrets": sorted(p.secret_fields),
                }
            )
        return out

"""The provider interface: what a provider plugin subclasses, is given and returns.

Every provider, the built-in ``outbox`` included, is a class registered under the
``alertflow.providers`` entry-point group; the core imports none of them by name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Protocol
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict

from ..message import Message
from ..outcomes import Receipt, Sent
from .netguard import OutboundGuard

if TYPE_CHECKING:
    import aiohttp
    from aiohttp import web

    from ..storage.database import Database

ENTRY_POINT_GROUP = "alertflow.providers"


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

    ``concurrency`` is how many sends the channel the provider serves runs at once (``[workers]
    <channel>``): a provider that pools connections sizes its pool by it, so no send waits for
    a connection while a worker is free. None outside a channel (the API's test sends).
    """

    database: Database
    public_url: str | None = None
    http: aiohttp.ClientSession | None = None
    guard: OutboundGuard = field(default_factory=OutboundGuard)
    extras: dict[str, Any] = field(default_factory=dict)
    concurrency: int | None = None


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
    # True when every send reaches the same service, whose health a circuit breaker tracks
    # (repeated failures skip it for a while); False when sends go to independent peers.
    shared_health: ClassVar[bool] = True
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

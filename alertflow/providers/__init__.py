"""Providers: the interface a provider plugin implements (exported here, the documented import
path ``alertflow.providers``), the registry that finds plugins, each tenant's channel set-up,
and what protects a send: circuit breakers, sealed credentials, the outbound address guard.
The built-in ``outbox`` and ``inbox`` providers register through the same entry points as any plugin.
"""

from .interface import ENTRY_POINT_GROUP, Provider, ProviderConfigError, ProviderContext, ProviderSettings, ReceiptSink
from .registry import ProviderRegistry

__all__ = [
    "ENTRY_POINT_GROUP",
    "Provider",
    "ProviderConfigError",
    "ProviderContext",
    "ProviderRegistry",
    "ProviderSettings",
    "ReceiptSink",
]

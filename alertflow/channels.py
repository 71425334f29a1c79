"""Which providers serve a tenant's channel, in order: the first is primary, the rest fail-over.

Precedence: the tenant's own set-up (``PUT /v1/channels/{channel}``) > ``[providers.<channel>]``
in alertflow.toml > the built-in default (``outbox`` for email, sms and push; ``inbox`` for
in-app; none for webhook, which needs a URL).
"""

from __future__ import annotations

import json
from typing import Any

from .config import Config, ConfigError
from .providers import Provider, ProviderConfigError, ProviderContext, ProviderRegistry, ProviderSettings

BUILTIN_DEFAULTS: dict[str, str] = {"email": "outbox", "sms": "outbox", "push": "outbox", "inapp": "inbox"}


class ChannelProviders:
    def __init__(self, config: Config, registry: ProviderRegistry, context: ProviderContext) -> None:
        self.registry = registry
        self.context = context
        self._defaults: dict[str, list[tuple[str, ProviderSettings]]] = {}
        for channel, entries in config.providers.items():
            self._defaults[channel] = [
                self._validate(f"providers.{channel}.{i}", channel, entry) for i, entry in enumerate(entries)
            ]
        self._instances: dict[str, Provider] = {}

    def _validate(self, path: str, channel: str, entry: dict[str, Any]) -> tuple[str, ProviderSettings]:
        try:
            return self.registry.validate(path, channel, entry)
        except ProviderConfigError as exc:
            raise ConfigError(str(exc)) from None

    def defaults(self, channel: str) -> list[tuple[str, ProviderSettings]]:
        if channel in self._defaults:
            return self._defaults[channel]
        builtin = BUILTIN_DEFAULTS.get(channel)
        if builtin and builtin in self.registry.names():
            return [(builtin, self.registry.get(builtin).Settings())]
        return []

    async def for_tenant(self, tenant_id: str, channel: str) -> list[Provider]:
        return [self._instance(name, settings) for name, settings in self.defaults(channel)]

    def _instance(self, name: str, settings: ProviderSettings) -> Provider:
        # One instance per distinct set-up, so connections (SMTP, HTTP) are reused across sends.
        key = name + json.dumps(settings.model_dump(mode="json"), sort_keys=True)
        if key not in self._instances:
            self._instances[key] = self.registry.get(name)(settings, self.context)
        return self._instances[key]

    async def close(self) -> None:
        for provider in self._instances.values():
            await provider.close()
        self._instances.clear()

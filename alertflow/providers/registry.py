"""The registry that finds providers through the ``alertflow.providers`` entry-point group."""

from __future__ import annotations

import logging
from importlib.metadata import entry_points
from typing import Any

from pydantic import ValidationError

from .interface import ENTRY_POINT_GROUP, Provider, ProviderConfigError, ProviderSettings

# The interface's module name before providers/ became a package: log lines keep their logger.
log = logging.getLogger("alertflow.providers")


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

"""SMS through MSG91's Flow API (template-based sending, as India's DLT rules require)."""

from .provider import Msg91Provider, Msg91Settings

__all__ = ["Msg91Provider", "Msg91Settings"]

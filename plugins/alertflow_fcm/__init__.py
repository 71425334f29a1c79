"""Push to Android/iOS/web apps through Firebase Cloud Messaging (HTTP v1), via pyfcm."""

from .provider import FcmProvider, FcmSettings

__all__ = ["FcmProvider", "FcmSettings"]

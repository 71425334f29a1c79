"""SMS through Twilio's Messages API, with signed delivery receipts."""

from .provider import TwilioProvider, TwilioSettings

__all__ = ["TwilioProvider", "TwilioSettings"]

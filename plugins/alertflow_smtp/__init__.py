"""Email through any SMTP server (Amazon SES, SendGrid, Postfix, ...) with aiosmtplib."""

from .provider import SmtpProvider, SmtpSettings

__all__ = ["SmtpProvider", "SmtpSettings"]

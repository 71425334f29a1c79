"""The suppression list's rules: which channels have one, how addresses compare, and which of
a publish's addresses are on it.

A bounce or complaint reported by a provider, or an admin's PUT, puts an address on the
tenant's list; from then on every delivery to it is ``suppressed`` with reason
``suppression:<bounce|complaint|manual>``, whatever the category (an address that bounced
cannot take an OTP either, and mailing one that complained hurts the sender's reputation).
"""

from __future__ import annotations

from collections.abc import Iterable

from ..cache import TtlCache
from ..intake.publish import check_email, check_phone
from ..storage import suppressions
from ..storage.database import Database

# The channels with a list: those that reach an address a provider can report on.
CHANNELS = ("email", "sms")
REASONS = ("bounce", "complaint", "manual")
REASON_PREFIX = "suppression:"
# Written around phone numbers by people and spreadsheets, never part of the number.
_PHONE_PUNCTUATION = str.maketrans("", "", " -.()")

Pair = tuple[str, str]  # (channel, address)


def normalise(channel: str, address: str) -> str:
    """The form an address is listed and looked up in; ValueError when it is not one.

    Email: lower case throughout. Domains are case-insensitive by definition, and although a
    local part may be case-sensitive, providers report bounces in whatever case they saw and
    no mailbox provider tells Ann@ from ann@ (SES's own suppression list ignores case). An
    internationalised domain is compared in its ASCII (punycode) form, as SMTP carries it.
    SMS: E.164, after dropping spaces, dashes, dots and parentheses.
    """
    address = address.strip()
    if channel == "email":
        check_email(address)
        local, _, domain = address.rpartition("@")
        if not domain.isascii():  # most are: the codec costs as much again as the rest
            try:
                domain = domain.encode("idna").decode("ascii")
            except UnicodeError:
                raise ValueError("not an email address (the domain is not a valid host name)") from None
        return f"{local}@{domain}".lower()
    if channel == "sms":
        phone = address.translate(_PHONE_PUNCTUATION)
        check_phone(phone)
        return phone
    raise ValueError(f"channels with a suppression list are {', '.join(CHANNELS)}")


def cache_key(tenant_id: str) -> tuple[str, str]:
    """Where whether a tenant lists anything sits in the settings cache; writes drop it."""
    return ("suppressions", tenant_id)


async def listed(settings: TtlCache, db: Database, tenant_id: str, addresses: Iterable[Pair]) -> dict[Pair, str]:
    """``suppression:<why>`` for each (channel, address as given) of ``addresses`` that is on
    the tenant's list: one indexed query, and none at all for a tenant whose list is empty
    (most; known through the settings cache)."""
    if not await settings.get(cache_key(tenant_id), lambda: suppressions.any_for(db, tenant_id)):
        return {}
    given: dict[Pair, list[Pair]] = {}  # (channel, normalised) -> the (channel, as given) it stands for
    for channel, address in addresses:
        try:
            given.setdefault((channel, normalise(channel, address)), []).append((channel, address))
        except ValueError:
            continue  # not an address the list could hold
    found = await suppressions.reasons(db, tenant_id, given)
    return {as_given: REASON_PREFIX + why for pair, why in found.items() for as_given in given[pair]}


async def reason(settings: TtlCache, db: Database, tenant_id: str, channel: str, address: str) -> str | None:
    """``suppression:<why>`` when the address is on the tenant's list (a send's last check)."""
    return (await listed(settings, db, tenant_id, [(channel, address)])).get((channel, address))

"""One-click unsubscribe (RFC 8058): signed links that turn one category off for one user.

Links are issued only for a known user and a category that allows opting out. They need no
API key; the signature is the credential, bound to tenant, user and category.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from .. import signing
from ..storage import preference_rows, users
from ..storage.database import Tx
from . import preference_center
from .categories import Category
from .preferences import CategoryChoice, Preferences, parse

PURPOSE = "unsubscribe"
# Mail is read long after it is sent; a link that died after a day would fail the reader.
LINK_TTL_SECONDS = 365 * 86400
PATH = "/v1/unsubscribe/"
# The preference center's links: like unsubscribe links they are read in old mail, but they
# open every choice of the user, so by default they last a month (config inbox.preferences_link_ttl_seconds).
PREFERENCES_TTL_SECONDS = 30 * 86400

Categories = Callable[[str], Awaitable[dict[str, Category]]]


class Links:
    def __init__(
        self, secret: str, base_url: str, categories: Categories, preferences_ttl: float = PREFERENCES_TTL_SECONDS
    ) -> None:
        self.secret = secret
        self.base_url = base_url.rstrip("/")
        self.categories = categories
        self.preferences_ttl = preferences_ttl

    async def url_for(self, tenant_id: str, user_id: str | None, category: str, now: float) -> str | None:
        if user_id is None:
            return None
        known = (await self.categories(tenant_id)).get(category)
        if known is None or not known.opt_out_allowed:
            return None
        token = signing.sign(self.secret, PURPOSE, {"t": tenant_id, "u": user_id, "c": category}, LINK_TTL_SECONDS, now)
        return f"{self.base_url}{PATH}{token}"

    def read(self, token: str, now: float) -> tuple[str, str, str]:
        """(tenant, user, category) of a genuine link; raises signing.InvalidToken."""
        payload = signing.verify(self.secret, PURPOSE, token, now)
        return payload["t"], payload["u"], payload["c"]

    def preferences_url_for(self, tenant_id: str, user_id: str | None, now: float) -> str | None:
        """The signed link to the user's hosted preference page; None without a user."""
        if user_id is None:
            return None
        token = signing.sign(
            self.secret, preference_center.PURPOSE, {"t": tenant_id, "u": user_id}, self.preferences_ttl, now
        )
        return f"{self.base_url}{preference_center.PATH}{token}"

    def read_preferences(self, token: str, now: float) -> tuple[str, str]:
        """(tenant, user) of a genuine preference link; raises signing.InvalidToken."""
        payload = signing.verify(self.secret, preference_center.PURPOSE, token, now)
        return payload["t"], payload["u"]


def headers(url: str) -> dict[str, str]:
    """RFC 8058: a mail client may offer one-click unsubscribe, POSTing to the URL."""
    return {"List-Unsubscribe": f"<{url}>", "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}


def opt_out(tx: Tx, tenant_id: str, user_id: str, category: str, now: float) -> bool:
    """Turn ``category`` off in the user's preferences (writer); False when the user is gone."""
    if not users.exists_for_write(tx, tenant_id, user_id):
        return False
    prefs = parse(preference_rows.document_for_write(tx, tenant_id, user_id)) or Preferences()
    choice = prefs.categories.get(category) or CategoryChoice()
    prefs.categories[category] = choice.model_copy(update={"enabled": False})
    preference_rows.put_document(tx, tenant_id, user_id, prefs.model_dump_json(exclude_none=True), now)
    return True

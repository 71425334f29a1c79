"""Idempotency keys: the ``Idempotency-Key`` header names one request, for a day.

As Stripe does and the IETF draft (draft-ietf-httpapi-idempotency-key-header) asks, a key is
bound to a fingerprint of the request it was first used with: method, path and the body in
canonical form (its fields as validated, keys sorted), per tenant. The same request again
gets the first answer and creates nothing; another request under the same key is a 422.

The claim of the key and the create run in one transaction, the claim first: requests sent
together with one key cannot both create, on one node (one writer) or on several sharing a
PostgreSQL database (the key's unique row: a second claim waits for the first to commit and
then finds its response).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from ..errors import ApiError
from ..storage import idempotency_keys
from ..storage.database import Database, Tx

HEADER = "Idempotency-Key"
# Keys are honoured for a day, as the contract promises.
TTL_SECONDS = 24 * 3600
Response = dict[str, Any]


@dataclass(frozen=True)
class IdempotencyKey:
    """A request's key and the fingerprint of the request it came with."""

    key: str
    fingerprint: str


def key_for(key: str | None, method: str, path: str, body: BaseModel) -> IdempotencyKey | None:
    """The request's key bound to its fingerprint; None when it sent no key."""
    if key is None:
        return None
    # Validated fields, not raw bytes: key order, spacing and an explicit null for an
    # omitted field do not make another request.
    canonical = json.dumps(body.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    digest = hashlib.sha256(f"{method} {path}\n{canonical}".encode()).hexdigest()
    return IdempotencyKey(key, digest)


async def earlier_response(
    database: Database, tenant_id: str, key: IdempotencyKey | None, now: float
) -> Response | None:
    """The first answer to this request, if it was made before; raises the 422 if the key
    was used for another one. A shortcut on a reader: :func:`once` decides in the writer."""
    if key is None:
        return None
    return _replayed(await idempotency_keys.find(database, tenant_id, key.key, now - TTL_SECONDS), key)


def once(
    tx: Tx, tenant_id: str, key: IdempotencyKey | None, now: float, create: Callable[[Tx], tuple[Response, bool]]
) -> tuple[Response, bool]:
    """Writer function: ``create(tx)`` → (response, created) unless the key was used before,
    then (the first response, False); raises the 422 when it was used for another request."""
    if key is None:
        return create(tx)
    since = now - TTL_SECONDS
    if not idempotency_keys.claim(tx, tenant_id, key.key, key.fingerprint, now, since):
        earlier = _replayed(idempotency_keys.find_in(tx, tenant_id, key.key, since), key)
        assert earlier is not None  # claimed by a committed request that is still live
        return earlier, False
    response, created = create(tx)
    idempotency_keys.save(tx, tenant_id, key.key, json.dumps(response), key.fingerprint, now)
    return response, created


def _replayed(stored: idempotency_keys.StoredKey | None, key: IdempotencyKey) -> Response | None:
    if stored is None:
        return None
    # None: stored before fingerprints were; honoured as it was then.
    if stored.fingerprint is not None and stored.fingerprint != key.fingerprint:
        message = "this key was already used for a different request; send a new key for a new request"
        raise ApiError("idempotency-key-reused", f"{HEADER}: {message}", [{"field": HEADER, "message": message}])
    response: Response = json.loads(stored.response)
    return response

"""The clients. :class:`AsyncAlertFlow` holds every operation; :class:`AlertFlow` runs the
same operations on an event loop of its own in a background thread, so the two can never
drift apart and a blocking program needs no asyncio of its own."""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator
from typing import Any, Concatenate, ParamSpec, TypeVar
from urllib.parse import urlencode

import httpx

from .errors import raise_for_problem, retry_after
from .models import (
    Batch,
    BulkAnswer,
    InboxItem,
    InboxToken,
    Model,
    Notification,
    Page,
    PublishAnswer,
    Recipient,
)

M = TypeVar("M", bound=Model)
T = TypeVar("T")
P = ParamSpec("P")

# Answers worth another try: the server or a proxy in front of it was briefly unable.
RETRY_STATUSES = frozenset({429, 502, 503, 504})
# Backoff between tries: 0.5 s, 1 s, 2 s, ... capped, unless the server says Retry-After.
BACKOFF_SECONDS = 0.5
BACKOFF_CAP_SECONDS = 8.0


class AsyncAlertFlow:
    """A tenant's client of one AlertFlow server.

    ``retries``: how many more times an idempotent request is tried after a connection error
    or a 429/502/503/504. Publishes and bulk sends count as idempotent because each carries
    an ``Idempotency-Key`` (made here unless given): a retry after a lost answer returns the
    first answer instead of sending twice. Other writes are tried once.
    """

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout: float = 30.0,
        retries: int = 3,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.retries = retries
        self._http = httpx.AsyncClient(
            base_url=self.base_url,
            headers={"Authorization": f"Bearer {api_key}", "User-Agent": "alertflow-client-python/0.1"},
            timeout=timeout,
            transport=transport,
        )

    async def __aenter__(self) -> AsyncAlertFlow:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        await self._http.aclose()

    # -- the operations ------------------------------------------------------------------

    async def publish(
        self,
        /,
        to: Recipient | list[Recipient],
        *,
        idempotency_key: str | None = None,
        **fields: Any,
    ) -> PublishAnswer:
        """``POST /v1/notifications/publish``: ``fields`` as the contract names them
        (``template``, ``content``, ``data``, ``channels``, ``category``, ``priority``,
        ``send_at``, ...)."""
        answer = await self._idempotent("/v1/notifications/publish", {"to": to, **fields}, idempotency_key)
        return PublishAnswer.model_validate(answer)

    async def bulk(self, /, *, idempotency_key: str | None = None, **fields: Any) -> BulkAnswer:
        """``POST /v1/notifications/bulk``: ``to`` (up to 100,000) or ``topic``, and the
        publish fields."""
        answer = await self._idempotent("/v1/notifications/bulk", fields, idempotency_key)
        return BulkAnswer.model_validate(answer)

    async def batch(self, /, batch_id: str) -> Batch:
        return Batch.model_validate(await self.request("GET", f"/v1/batches/{batch_id}"))

    async def notification(self, /, notification_id: str) -> Notification:
        return Notification.model_validate(await self.request("GET", f"/v1/notifications/{notification_id}"))

    async def notifications(self, /, *, cursor: str | None = None, **filters: Any) -> Page[Notification]:
        """One page of ``GET /v1/notifications`` (``status``, ``channel``, ``user_id``,
        ``category``, ``since``, ``until``, ``limit``), newest first."""
        return await self._page(Page[Notification], "/v1/notifications", cursor, filters)

    def iter_notifications(self, /, **filters: Any) -> AsyncIterator[Notification]:
        """Every notification the filters match, page after page."""
        return self._iterate(self.notifications, filters)

    async def cancel(self, /, notification_id: str) -> Any:
        return await self.request("POST", f"/v1/notifications/{notification_id}/cancel")

    async def put_user(self, /, user_id: str, **fields: Any) -> Any:
        """``PUT /v1/users/{id}``: ``email``, ``phone``, ``push_tokens``, ``locale``,
        ``timezone``, ``name``, ``data``."""
        return await self.request("PUT", f"/v1/users/{user_id}", json=fields)

    async def inbox_token(self, /, user_id: str) -> InboxToken:
        """A short-lived token to hand to ``user_id``'s browser for the inbox WebSocket."""
        return InboxToken.model_validate(await self.request("POST", f"/v1/users/{user_id}/inbox-token"))

    async def inbox(self, /, user_id: str, *, cursor: str | None = None, **filters: Any) -> Page[InboxItem]:
        """One page of ``user_id``'s inbox (``unread``, ``limit``)."""
        return await self._page(Page[InboxItem], f"/v1/users/{user_id}/inbox", cursor, filters)

    def inbox_ws_url(self, token: str) -> str:
        """The WebSocket URL a browser opens with an inbox token."""
        scheme, rest = self.base_url.split("://", 1)
        return f"{'wss' if scheme == 'https' else 'ws'}://{rest}/v1/inbox/ws?" + urlencode({"token": token})

    async def request(
        self, /, method: str, path: str, *, json: Any = None, params: dict[str, Any] | None = None
    ) -> Any:
        """Any other call of the API: the answer's JSON (``None`` for 204), or the error
        class of its problem. GETs are retried as described above."""
        retries = self.retries if method == "GET" else 0
        return await self._send(method, path, json=json, params=params, headers={}, retries=retries)

    # -- the machinery -------------------------------------------------------------------

    async def _idempotent(self, path: str, body: dict[str, Any], key: str | None) -> Any:
        headers = {"Idempotency-Key": key or uuid.uuid4().hex}
        return await self._send("POST", path, json=body, params=None, headers=headers, retries=self.retries)

    async def _page(self, model: type[M], path: str, cursor: str | None, filters: dict[str, Any]) -> M:
        params = {k: _query_value(v) for k, v in filters.items() if v is not None}
        if cursor:
            params["cursor"] = cursor
        return model.model_validate(await self.request("GET", path, params=params))

    async def _iterate(self, fetch: Callable[..., Awaitable[Page[Any]]], filters: dict[str, Any]) -> AsyncIterator[Any]:
        cursor: str | None = None
        while True:
            page = await fetch(cursor=cursor, **filters)
            for item in page.items:
                yield item
            if not page.next_cursor:
                return
            cursor = page.next_cursor

    async def _send(
        self,
        method: str,
        path: str,
        *,
        json: Any,
        params: dict[str, Any] | None,
        headers: dict[str, str],
        retries: int,
    ) -> Any:
        for attempt in range(retries + 1):
            last = attempt == retries
            try:
                response = await self._http.request(method, path, json=json, params=params, headers=headers)
            except httpx.TransportError:
                if last:
                    raise
                await asyncio.sleep(_backoff(attempt))
                continue
            if response.status_code in RETRY_STATUSES and not last:
                await asyncio.sleep(max(_backoff(attempt), min(BACKOFF_CAP_SECONDS, retry_after(response.headers))))
                continue
            raise_for_problem(response)
            return response.json() if response.content else None
        raise AssertionError("unreachable: the last attempt returns or raises")


def _backoff(attempt: int) -> float:
    return min(BACKOFF_CAP_SECONDS, BACKOFF_SECONDS * 2.0**attempt)


def _query_value(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


class _Loop:
    """An event loop in a daemon thread: blocking calls hand it coroutines to run."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="alertflow-client", daemon=True)
        self.thread.start()

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result()

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join()
        self.loop.close()


def _blocking(
    operation: Callable[Concatenate[AsyncAlertFlow, P], Coroutine[Any, Any, T]],
) -> Callable[Concatenate[AlertFlow, P], T]:
    def run(self: AlertFlow, /, *args: P.args, **kwargs: P.kwargs) -> T:
        return self._loop.run(operation(self._async, *args, **kwargs))

    run.__doc__ = operation.__doc__
    return run


def _blocking_iter(
    operation: Callable[Concatenate[AsyncAlertFlow, P], AsyncIterator[T]],
) -> Callable[Concatenate[AlertFlow, P], Iterator[T]]:
    def run(self: AlertFlow, /, *args: P.args, **kwargs: P.kwargs) -> Iterator[T]:
        pages = operation(self._async, *args, **kwargs)
        while True:
            try:
                yield self._loop.run(_next(pages))
            except StopAsyncIteration:
                return

    run.__doc__ = operation.__doc__
    return run


async def _next(iterator: AsyncIterator[T]) -> T:
    return await iterator.__anext__()


class AlertFlow:
    """The blocking client: the same operations and arguments as :class:`AsyncAlertFlow`."""

    def __init__(self, base_url: str, api_key: str, **options: Any) -> None:
        self._loop = _Loop()
        # httpx's async client must be made on the loop that will use it.
        self._async = self._loop.run(_make(base_url, api_key, options))
        self.base_url = self._async.base_url

    def __enter__(self) -> AlertFlow:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._loop.run(self._async.close())
        self._loop.stop()

    def inbox_ws_url(self, token: str) -> str:
        return self._async.inbox_ws_url(token)

    publish = _blocking(AsyncAlertFlow.publish)
    bulk = _blocking(AsyncAlertFlow.bulk)
    batch = _blocking(AsyncAlertFlow.batch)
    notification = _blocking(AsyncAlertFlow.notification)
    notifications = _blocking(AsyncAlertFlow.notifications)
    iter_notifications = _blocking_iter(AsyncAlertFlow.iter_notifications)
    cancel = _blocking(AsyncAlertFlow.cancel)
    put_user = _blocking(AsyncAlertFlow.put_user)
    inbox_token = _blocking(AsyncAlertFlow.inbox_token)
    inbox = _blocking(AsyncAlertFlow.inbox)
    request = _blocking(AsyncAlertFlow.request)


async def _make(base_url: str, api_key: str, options: dict[str, Any]) -> AsyncAlertFlow:
    return AsyncAlertFlow(base_url, api_key, **options)

"""problem+json answers (RFC 9457) as exceptions: one class per status, each naming the
fields the server named, so callers catch what they can handle."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx


@dataclass(frozen=True)
class FieldError:
    field: str  # a path into the request body, e.g. "to.0.email"
    message: str


class AlertFlowError(Exception):
    """Any error answer: ``status``, the problem ``type`` (stable, switch on it), ``title``,
    ``detail`` and, for invalid fields, ``errors``."""

    def __init__(self, status: int, problem: dict[str, Any], headers: httpx.Headers) -> None:
        self.status = status
        self.type: str = problem.get("type", "about:blank")
        self.title: str = problem.get("title", "")
        self.detail: str = problem.get("detail", self.title)
        self.errors = [FieldError(e.get("field", ""), e.get("message", "")) for e in problem.get("errors") or []]
        self.headers = headers
        fields = "; ".join(f"{e.field}: {e.message}" for e in self.errors)
        super().__init__(f"{status} {self.detail}" + (f" ({fields})" if fields else ""))

    @property
    def code(self) -> str:
        """The problem's name: the fragment of ``type`` after ``problem-``, e.g. "validation"."""
        return self.type.rsplit("problem-", 1)[-1]


class BadRequest(AlertFlowError):
    """400: the body is not JSON, or the request cannot be understood."""


class Unauthorized(AlertFlowError):
    """401: no key, a wrong key, or a revoked one."""


class Forbidden(AlertFlowError):
    """403: the key's role does not allow this."""


class NotFound(AlertFlowError):
    """404: no such resource in this tenant."""


class Conflict(AlertFlowError):
    """409: the request conflicts with the current state."""


class PayloadTooLarge(AlertFlowError):
    """413: the body is over the server's limit."""


class ValidationFailed(AlertFlowError):
    """422: some fields are invalid; ``errors`` names each."""


class RateLimited(AlertFlowError):
    """429: too many requests; ``retry_after`` is how many seconds the server asks to wait."""

    @property
    def retry_after(self) -> float:
        return retry_after(self.headers)


class ServerError(AlertFlowError):
    """5xx: the server failed, is not ready (503) or its storage is full (507)."""

    @property
    def retry_after(self) -> float:
        return retry_after(self.headers)


class WebhookVerificationError(Exception):
    """A status webhook whose signature, or timestamp, does not check out."""


_BY_STATUS: dict[int, type[AlertFlowError]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    413: PayloadTooLarge,
    422: ValidationFailed,
    429: RateLimited,
}


def retry_after(headers: httpx.Headers) -> float:
    try:
        return max(0.0, float(headers.get("Retry-After", "0")))
    except ValueError:  # an HTTP date: the server sends seconds, a proxy might not
        return 0.0


def raise_for_problem(response: httpx.Response) -> None:
    """Raise the error class for ``response`` unless it is a success."""
    if response.is_success:
        return
    try:
        problem = response.json()
    except ValueError:
        problem = {}
    if not isinstance(problem, dict):
        problem = {}
    problem.setdefault("detail", response.text[:200] or response.reason_phrase)
    cls = _BY_STATUS.get(response.status_code, ServerError if response.status_code >= 500 else AlertFlowError)
    raise cls(response.status_code, problem, response.headers)

"""The catalogue of API errors, rendered as RFC 9457 problem+json by one middleware.

Codes are stable: clients may switch on ``type``, whose fragment names the entry below and
whose page (``/docs#problems``) explains it.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

PROBLEM_CONTENT_TYPE = "application/problem+json"

CATALOGUE: dict[str, tuple[int, str]] = {
    "malformed-json": (400, "The body is not valid JSON"),
    "bad-request": (400, "The request cannot be understood"),
    "unauthorized": (401, "A valid API key is required"),
    "forbidden": (403, "Your key's role does not allow this"),
    "not-found": (404, "No such resource"),
    "method-not-allowed": (405, "Method not allowed"),
    "conflict": (409, "The request conflicts with the current state"),
    "body-too-large": (413, "The body is too large"),
    "uri-too-long": (414, "The URL is too long"),
    "unsupported-media-type": (415, "The body must be JSON"),
    "validation": (422, "Some fields are invalid"),
    "idempotency-key-reused": (422, "The Idempotency-Key was already used for a different request"),
    "rate-limited": (429, "Too many requests"),
    "headers-too-large": (431, "A request header is too large"),
    "internal": (500, "Internal error"),
    "unavailable": (503, "Not ready"),
    "storage-full": (507, "Storage is full"),
}


class ApiError(Exception):
    """An error the API answers with; ``code`` is a key of :data:`CATALOGUE`."""

    def __init__(
        self,
        code: str,
        detail: str | None = None,
        errors: list[dict[str, str]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.code = code
        self.status, self.title = CATALOGUE[code]
        self.detail = detail or self.title
        self.errors = errors
        self.headers = headers or {}
        super().__init__(self.detail)

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "type": f"/docs#problem-{self.code}",
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }
        if self.errors is not None:
            out["errors"] = self.errors
        return out


def invalid(field: str, message: str) -> ApiError:
    """A 422 naming one field."""
    return ApiError("validation", f"{field}: {message}", [{"field": field, "message": message}])


def invalid_many(errors: list[dict[str, str]]) -> ApiError:
    detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors[:5])
    return ApiError("validation", detail, errors)


def from_validation(exc: ValidationError, prefix: str = "") -> ApiError:
    """Pydantic's errors as contract field paths (``to.0.email``)."""
    errors = []
    for err in exc.errors():
        # Union members add their type names to the location; they are noise to a caller.
        loc = [str(p) for p in err["loc"] if not (isinstance(p, str) and ("[" in p or p[:1].isupper()))]
        field = ".".join(([prefix] if prefix else []) + loc) or "body"
        message = err["msg"].removeprefix("Value error, ")
        errors.append({"field": field, "message": message})
    return invalid_many(errors)

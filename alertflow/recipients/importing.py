"""Users imported from NDJSON or CSV: read, checked row by row, all or nothing.

Every row goes through the model of the single-user upsert (``build``), so an import accepts
exactly what ``PUT /v1/users/{user_id}`` accepts. Decoding, splitting and checking run in
worker threads, ``CHUNK_ROWS`` rows at a time, so the event loop serves other requests
between chunks; checking 100,000 rows takes a second or two of CPU.

Rows are numbered as an editor shows the file: an NDJSON row is its line; a CSV row is the
line its record starts on, the header being row 1.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import ValidationError

from ..errors import from_validation
from ..storage import users as stored
from ..storage.users import User

Kind = Literal["ndjson", "csv"]
MEDIA_TYPES: dict[str, Kind] = {"application/x-ndjson": "ndjson", "text/csv": "csv"}
# What a request may carry; more is several requests (each one all or nothing).
MAX_ROWS = 100_000
# Rows a worker-thread step checks: ~20-40 ms of work, so other requests wait at most that.
CHUNK_ROWS = 2_000
# CSV cells that hold JSON (lists and objects have no CSV form of their own).
JSON_COLUMNS = frozenset({"push_tokens", "webpush", "data"})
# Web Push endpoints looked up at once (a DNS lookup each), as PUT /v1/users does for one user.
ENDPOINT_CHECKS_AT_ONCE = 50

# Validates one row, an NDJSON line or a CSV record's fields, as the upsert does: raises
# ValidationError, or NoUserId (an upsert has it from its path).
Build = Callable[[str | dict[str, Any]], User]
EndpointRefusal = Callable[[str], Awaitable[str | None]]
Raw = str | dict[str, str]  # an NDJSON line, or a CSV record by column


@dataclass(frozen=True)
class RowError:
    row: int
    field: str
    detail: str


class NoUserId(ValueError):
    """A row without a user_id."""


class Refused(Exception):
    """The import stores nothing: every error found, in row order."""

    def __init__(self, errors: list[RowError]) -> None:
        super().__init__(f"{len(errors)} row errors")
        self.errors = errors


def split(body: bytes, kind: Kind, columns: frozenset[str]) -> list[tuple[int, Raw]]:
    """The body's rows with their numbers: UTF-8 (a byte order mark is skipped), blank lines
    left out; raises Refused for bad bytes, a bad CSV header or too many rows."""
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = body[: exc.start].count(b"\n") + 1
        detail = f"not UTF-8: byte 0x{body[exc.start]:02x} at offset {exc.start}"
        raise Refused([RowError(line, "body", detail)]) from None
    rows: list[tuple[int, Raw]]
    if kind == "ndjson":
        rows = [(n, line) for n, line in enumerate(text.split("\n"), 1) if line.strip()]
    else:
        rows = _csv_rows(text, columns)
    if len(rows) > MAX_ROWS:
        raise Refused([RowError(rows[MAX_ROWS][0], "body", f"more than {MAX_ROWS} rows: import them in parts")])
    if not rows:
        raise Refused([RowError(1, "body", "no rows")])
    return rows


def _csv_rows(text: str, columns: frozenset[str]) -> list[tuple[int, Raw]]:
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader, [])
        unknown = [name for name in header if name not in columns]
        if "user_id" not in header or unknown:
            what = f"unknown column {unknown[0]!r}" if unknown else "a user_id column is required"
            raise Refused([RowError(1, unknown[0] if unknown else "user_id", f"{what}; columns: {sorted(columns)}")])
        rows: list[tuple[int, Raw]] = []
        start = reader.line_num + 1
        for record in reader:
            if any(record):
                if len(record) != len(header):
                    detail = f"{len(record)} cells for {len(header)} columns"
                    rows.append((start, {"": detail}))
                else:
                    rows.append((start, {k: v for k, v in zip(header, record, strict=True) if v != ""}))
            start = reader.line_num + 1
    except csv.Error as exc:
        raise Refused([RowError(reader.line_num, "body", f"not CSV: {exc}")]) from None
    return rows


def check(rows: list[tuple[int, Raw]], build: Build) -> tuple[list[tuple[int, User]], list[RowError]]:
    """Each row parsed and validated (a worker-thread step)."""
    users: list[tuple[int, User]] = []
    errors: list[RowError] = []
    for number, raw in rows:
        try:
            users.append((number, build(raw if isinstance(raw, str) else _csv_fields(raw))))
        except ValidationError as exc:
            errors += [RowError(number, e["field"], e["message"]) for e in from_validation(exc).errors or []]
        except NoUserId:
            errors.append(RowError(number, "user_id", "required"))
        except ValueError as exc:
            field, _, detail = str(exc).partition(": ")
            errors.append(RowError(number, field, detail))
    return users, errors


def _csv_fields(raw: dict[str, str]) -> dict[str, Any]:
    """A CSV record's fields, its JSON cells parsed; raises ValueError("field: detail")."""
    if "" in raw:  # _csv_rows' mark of a record with the wrong number of cells
        raise ValueError(f"body: {raw['']}")
    fields: dict[str, Any] = dict(raw)
    for name in JSON_COLUMNS.intersection(raw):
        try:
            fields[name] = json.loads(raw[name])
        except ValueError:
            raise ValueError(f"{name}: expected JSON in this cell") from None
    return fields


async def load(
    tenant_id: str, body: bytes, kind: Kind, columns: frozenset[str], build: Build, refusal: EndpointRefusal
) -> list[stored.Prepared]:
    """Every row as a user ready to store, a chunk at a time, or Refused with every error found."""
    rows = await asyncio.to_thread(split, body, kind, columns)
    users: list[tuple[int, User]] = []
    errors: list[RowError] = []
    first_row: dict[str, int] = {}
    for start in range(0, len(rows), CHUNK_ROWS):
        checked, found = await asyncio.to_thread(check, rows[start : start + CHUNK_ROWS], build)
        errors += found
        for number, user in checked:
            earlier = first_row.setdefault(user.user_id, number)
            if earlier != number:
                errors.append(RowError(number, "user_id", f"{user.user_id!r} is on row {earlier} already"))
            else:
                users.append((number, user))
    if not errors:
        errors = await _endpoint_errors(users, refusal)
    if errors:
        raise Refused(sorted(errors, key=lambda e: e.row))
    return [
        await asyncio.to_thread(stored.prepare, tenant_id, [u for _, u in users[start : start + CHUNK_ROWS]])
        for start in range(0, len(users), CHUNK_ROWS)
    ]


async def _endpoint_errors(users: list[tuple[int, User]], refusal: EndpointRefusal) -> list[RowError]:
    """Web Push endpoints checked as a user's are when stored one at a time."""
    endpoints = [
        (number, f"webpush.{i}.endpoint", str(s.get("endpoint")))
        for number, user in users
        for i, s in enumerate(user.webpush)
    ]
    errors = []
    for start in range(0, len(endpoints), ENDPOINT_CHECKS_AT_ONCE):
        batch = endpoints[start : start + ENDPOINT_CHECKS_AT_ONCE]
        refusals = await asyncio.gather(*(refusal(url) for _, _, url in batch))
        errors += [RowError(n, field, why) for (n, field, _), why in zip(batch, refusals, strict=True) if why]
    return errors

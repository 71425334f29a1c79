"""How SQLite-shaped SQL, rows and values cross to psycopg: ``?`` placeholders translated once
per statement, rows that read like ``sqlite3.Row``, booleans stored as the integers the schema
has. The storage modules write one dialect; the PostgreSQL backend speaks it through these."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import psycopg
from psycopg.adapt import AdaptersMap, Dumper
from psycopg.postgres import types as pg_types


class _BoolAsInt(Dumper):
    """Booleans as 0/1, as SQLite stores them: the schema's flags are integer columns."""

    oid = pg_types["int8"].oid

    def dump(self, obj: Any) -> bytes:
        return b"1" if obj else b"0"


ADAPTERS = AdaptersMap(psycopg.adapters)
ADAPTERS.register_dumper(bool, _BoolAsInt)


class PgRow(tuple[Any, ...]):
    """A row as ``sqlite3.Row`` gives it: ``row[0]``, ``row["col"]``, ``keys()``, ``dict(row)``."""

    __slots__ = ()
    _index: ClassVar[dict[str, int]] = {}

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            return tuple.__getitem__(self, self._index[key])
        return tuple.__getitem__(self, key)

    def keys(self) -> list[str]:
        return list(self._index)


@functools.lru_cache(maxsize=1024)
def _row_class(names: tuple[str, ...]) -> type[PgRow]:
    # The first of two same-named columns wins, as in sqlite3.Row.
    index = {name: i for i, name in reversed(list(enumerate(names)))}
    return type("PgRow", (PgRow,), {"__slots__": (), "_index": index})


@functools.lru_cache(maxsize=1024)
def _row_class_of_raw(raw: tuple[bytes | None, ...]) -> type[PgRow]:
    return _row_class(tuple((name or b"").decode() for name in raw))


def row_factory(cursor: Any) -> Callable[[Sequence[Any]], PgRow]:
    """psycopg's hook, called for every statement's result: one row class per distinct column
    list, made once. The names come from the raw result, not ``cursor.description``, which
    builds a Column object per column each call (7.6 us against 0.8 us for six columns; a
    twelfth of the writer's time in a PostgreSQL drain)."""
    result = cursor.pgresult
    if result is None or not result.nfields:
        return _row_class(())
    return _row_class_of_raw(tuple(result.fname(i) for i in range(result.nfields)))


_TOKEN = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|--[^\n]*|\?(\d*)|%")


@functools.lru_cache(maxsize=4096)
def translate(sql: str) -> tuple[str, bool]:
    """SQLite's placeholders as psycopg's, once per distinct statement → (sql, numbered).

    ``?`` becomes ``%s``; ``?N`` becomes ``%(pN)s`` (its parameters are then bound by name,
    see ``bind``); a literal ``%`` is doubled. ``?`` in quoted strings and comments is left alone.
    """
    numbered = False

    def replace(match: re.Match[str]) -> str:
        nonlocal numbered
        token = match.group(0)
        if token == "%":
            return "%%"
        if token[0] != "?":
            return token.replace("%", "%%")  # psycopg reads % inside quotes as well
        if match.group(1):
            numbered = True
            return f"%(p{match.group(1)})s"
        return "%s"

    return _TOKEN.sub(replace, sql), numbered


def bind(params: Any, numbered: bool) -> Any:
    if numbered:
        return {f"p{i}": value for i, value in enumerate(params, 1)}
    return params

"""A publish's rows: its notifications, their deliveries and the deliveries' jobs, stored
together in one write (a fan-out step stores the same rows for its chunk of a batch).

The rows come planned (intake/publish.py's ``Plan``) as tuples in the column order below, so
the hottest write in AlertFlow builds no object per row between the plan and the statement.
"""

from __future__ import annotations

import functools
import sqlite3
from typing import Any

from .database import POSTGRESQL, Tx, dialect

# PostgreSQL's limit on a statement's parameters (its protocol counts them in 16 bits).
POSTGRESQL_MAX_PARAMETERS = 65535

# The column order of the tuples each list holds.
NOTIFICATIONS = (
    "notifications (id, tenant_id, user_id, category, priority, created_at, send_at, recipient, content,"
    " template, template_version, data, batch_id, options)"
)
DELIVERIES = "deliveries (id, notification_id, tenant_id, channel, status, reason, created_at, updated_at, batch_id)"
JOBS = "jobs (delivery_id, tenant_id, channel, priority, state, run_at)"


def insert(
    tx: Tx, notifications: list[tuple[Any, ...]], deliveries: list[tuple[Any, ...]], jobs: list[tuple[Any, ...]]
) -> None:
    """Store planned rows, each list in its table's column order above (writer function)."""
    if dialect(tx) == POSTGRESQL and _parameters(notifications, deliveries, jobs) <= POSTGRESQL_MAX_PARAMETERS:
        _insert_together(tx, (NOTIFICATIONS, notifications), (DELIVERIES, deliveries), (JOBS, jobs))
        return
    insert_rows(tx, NOTIFICATIONS, notifications)
    insert_rows(tx, DELIVERIES, deliveries)
    insert_rows(tx, JOBS, jobs)


def _parameters(*lists: list[tuple[Any, ...]]) -> int:
    return sum(len(rows) * len(rows[0]) for rows in lists if rows)


def _insert_together(tx: Tx, *tables: tuple[str, list[tuple[Any, ...]]]) -> None:
    """One PostgreSQL statement for several tables' rows: each statement costs the writer a
    round of the pipeline and its Python on the GIL, and a publish wrote three. The foreign
    keys still hold: PostgreSQL checks them at the end of the statement, all rows in place."""
    parts = [(into, rows) for into, rows in tables if rows]
    if not parts:
        return
    inserts = [f"INSERT INTO {into} VALUES " + ",".join([_placeholders(rows)] * len(rows)) for into, rows in parts]
    *first, last = inserts
    sql = ("WITH " + ", ".join(f"t{i} AS ({insert})" for i, insert in enumerate(first)) + " " if first else "") + last
    tx.execute(sql, [v for _, rows in parts for row in rows for v in row])


def _placeholders(rows: list[tuple[Any, ...]]) -> str:
    return "(" + ",".join("?" * len(rows[0])) + ")"


def insert_rows(tx: Tx, into: str, rows: list[tuple[Any, ...]]) -> None:
    """``INSERT INTO {into}`` the rows, as few multi-row statements as SQLite's variable limit allows.

    executemany steps once per row, and the sqlite3 module takes the GIL back after each
    step: while the event loop is busy each of those waits for a switch interval, and a
    bulk chunk's 1,500 rows took seconds to write. One statement takes it back once, and is
    twice as fast even when nothing else runs.

    A column with one value in every row (the tenant, the batch, the time...) is bound once
    rather than once per row: binding holds the GIL, and a fan-out step bound 28 values per
    recipient where 8 differ.
    """
    if not rows:
        return
    # A plain VALUES list for one row (a publish to one recipient, the commonest write, has
    # nothing to share), and on PostgreSQL, which types each parameter by its target column,
    # which an INSERT ... SELECT of shared values would leave untyped.
    if len(rows) == 1:
        tx.execute(_one_row_insert(into, len(rows[0])), rows[0])
        return
    if dialect(tx) == POSTGRESQL:
        insert_values(tx, f"INSERT INTO {into} VALUES ", rows)
        return
    columns = list(zip(*rows, strict=True))
    varying = [i for i, column in enumerate(columns) if not _one_value(column)]
    if not varying or len(varying) == len(columns):  # all shared, or nothing
        insert_values(tx, f"INSERT INTO {into} VALUES ", rows)
        return
    select, shared, position, differ = [], [], 0, set(varying)
    for i, column in enumerate(columns):
        if i in differ:
            position += 1
            # SQLite: a VALUES list's columns are named column1, column2, ...
            select.append(f"column{position}")
        else:
            select.append("?")
            shared.append(column[0])
    # Shared values are bound ahead of the VALUES rows: their ? come first in the statement.
    head = f"INSERT INTO {into} SELECT {','.join(select)} FROM (VALUES "
    insert_values(tx, head, list(zip(*(columns[i] for i in varying), strict=True)), shared, ")")


@functools.cache
def _one_row_insert(into: str, columns: int) -> str:
    # The statement of a publish to one recipient, three of which the writer runs per publish:
    # built once, it is also the same string object every time (the statement cache's key).
    return f"INSERT INTO {into} VALUES (" + ",".join("?" * columns) + ")"


def _one_value(column: tuple[Any, ...]) -> bool:
    """Every value is the same, type included: 1, 1.0 and True are equal, and would store apart."""
    return len(set(column)) == 1 and len(set(map(type, column))) == 1


def insert_values(
    tx: Tx, head: str, rows: list[tuple[Any, ...]], shared: list[Any] | None = None, tail: str = ""
) -> None:
    """``head`` + a VALUES list of ``rows`` + ``tail``, split to fit SQLite's variable limit."""
    shared = shared or []
    placeholders = _placeholders(rows)
    per_statement = max(1, (_max_parameters(tx) - len(shared)) // len(rows[0]))
    for start in range(0, len(rows), per_statement):
        part = rows[start : start + per_statement]
        tx.execute(head + ",".join([placeholders] * len(part)) + tail, [*shared, *(v for row in part for v in row)])


def _max_parameters(tx: Tx) -> int:
    if isinstance(tx, sqlite3.Connection):
        return tx.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
    return POSTGRESQL_MAX_PARAMETERS

"""Short-lived connections to the DuckDB warehouse file, and its timestamp convention.

DuckDB lets one process at a time open a database file for writing; any other process (reader or
writer) that tries meanwhile fails at once with an IOException ("Could not set lock on file ...:
Conflicting lock is held in ... (PID n)"). Dagster serialises our writers with a pool of one, but a
`dagster dev` UI, a sensor or a person's notebook can still hold the file for a moment, so
`connect` waits for the lock with backoff instead of failing a run on first contact. Callers keep
connections short (open, do the work, close) so nobody waits long.

Timestamps: every TIMESTAMP column in the warehouse is naive and holds UTC. Salesforce returns UTC
instants; storing them naive keeps DuckDB's comparisons independent of the session time zone.
`to_warehouse_ts` / `from_warehouse_ts` are the one place that crosses between aware Python
datetimes and those columns.
"""

from __future__ import annotations

import os
import random
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path

import duckdb

# The lock messages DuckDB raises as IOException when another process holds the file.
_LOCK_MESSAGES = ("Could not set lock on file", "Conflicting lock")
_HOLDER = re.compile(r"Conflicting lock is held in (?P<holder>.+?)(?:\. See also|$)")

_FIRST_WAIT_S = 0.05
_MAX_WAIT_S = 1.0


class WarehouseLockTimeout(TimeoutError):
    """The warehouse file stayed locked by another process for longer than the timeout."""

    def __init__(self, path: Path, timeout_s: float, holder: str | None) -> None:
        self.path = path
        self.timeout_s = timeout_s
        self.holder = holder
        held_by = f"held by {holder}" if holder else "held by another process"
        super().__init__(
            f"DuckDB warehouse {path} is locked ({held_by}) and did not come free within "
            f"{timeout_s:g} s. Only one process may open it for writing at a time: wait for that "
            "process to finish (or stop it), then retry."
        )


def _is_lock_conflict(error: duckdb.Error) -> bool:
    return isinstance(error, duckdb.IOException) and any(m in str(error) for m in _LOCK_MESSAGES)


def _lock_holder(error: duckdb.Error) -> str | None:
    """The process DuckDB names in a lock-conflict message, e.g. `/usr/bin/python3 (PID 123)`."""
    match = _HOLDER.search(str(error))
    return match.group("holder").strip() if match else None


def _use_utc(con: duckdb.DuckDBPyConnection) -> None:
    # TIMESTAMPTZ values (and now()) render in the session time zone. Setting it needs the ICU
    # extension; builds without ICU already behave as UTC, so a failure here is harmless.
    with suppress(duckdb.Error):
        con.execute("SET TimeZone = 'UTC'")


def _limit_memory(con: duckdb.DuckDBPyConnection) -> None:
    # DuckDB takes 80% of RAM by default; the warehouse shares the machine with Dagster and the
    # dev org. Spilling to disk past the limit is slower but never fails a run.
    limit = os.environ.get("SALESOPS_DUCKDB_MEMORY_LIMIT") or "2GB"
    con.execute(f"SET memory_limit = '{limit}'")


def _open(path: Path, read_only: bool, timeout_s: float) -> duckdb.DuckDBPyConnection:
    deadline = time.monotonic() + timeout_s
    wait_s = _FIRST_WAIT_S
    while True:
        try:
            return duckdb.connect(str(path), read_only=read_only)
        except duckdb.Error as error:
            if not _is_lock_conflict(error):
                raise
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise WarehouseLockTimeout(path, timeout_s, _lock_holder(error)) from error
            # Jitter keeps two waiting processes from retrying in lockstep.
            time.sleep(min(remaining, wait_s * random.uniform(0.5, 1.0)))
            wait_s = min(wait_s * 2, _MAX_WAIT_S)


@contextmanager
def connect(
    path: str | Path, *, read_only: bool = False, timeout_s: float = 60.0
) -> Iterator[duckdb.DuckDBPyConnection]:
    """Open the warehouse file, waiting up to `timeout_s` for another process's lock; close on exit.

    Creates the parent directory (and, unless `read_only`, the file). Raises WarehouseLockTimeout
    naming the file and, when DuckDB reports it, the process holding the lock. An open transaction
    left by the block is rolled back when the connection closes.
    """
    path = Path(path)
    if not read_only:
        path.parent.mkdir(parents=True, exist_ok=True)
    con = _open(path, read_only, timeout_s)
    try:
        _use_utc(con)
        _limit_memory(con)
        yield con
    finally:
        con.close()


def to_warehouse_ts(value: datetime) -> datetime:
    """An aware datetime as the naive-UTC value a warehouse TIMESTAMP column holds.

    Naive datetimes are refused: whether they mean UTC or the machine's local time cannot be known.
    """
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"naive datetime {value!r}: pass a timezone-aware (UTC) datetime")
    return value.astimezone(UTC).replace(tzinfo=None)


def from_warehouse_ts(value: datetime | None) -> datetime | None:
    """A naive-UTC value read from a warehouse TIMESTAMP column, as an aware UTC datetime."""
    return None if value is None else value.replace(tzinfo=UTC)


def fetch_one(result: duckdb.DuckDBPyConnection) -> tuple | None:
    """The first row of a result, reading all of it: DuckDB 2 keeps a result read with
    `fetchone()` open, and the connection then refuses other work (`register`, ...)."""
    rows = result.fetchall()
    return rows[0] if rows else None


def table_exists(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    """Whether `schema.table` exists: read-only callers (sensors, checks, the policy loader)
    look before the first run has created it."""
    rows = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE schema_name = $schema "
        "AND table_name = $table AND database_name = current_database()",
        {"schema": schema, "table": table},
    ).fetchall()
    return bool(rows and rows[0][0])

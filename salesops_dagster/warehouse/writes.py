"""`salesops.salesforce_write`: every write attempted to Salesforce, one row per record per attempt.

The Salesforce writer (`salesforce.writer`) appends a row for each record it was asked to write,
after each batch, in its own short statement: `written` (Salesforce saved it), `failed` (Salesforce
refused it, or the call carrying it failed; `retryable` says whether the next run sends it again)
or `not_sent` (the writer stopped before sending it: API budget reserve, `REQUEST_LIMIT_EXCEEDED`,
an outage that outlived the retries; always retryable). Rows are never updated or deleted, so the
table is the full history; `salesops.salesforce_write_latest` is the latest attempt per
(purpose, sobject, record), which is what checks and the next publish read.

`fields` holds the exact values sent, as canonical JSON text (sorted keys, datetimes as
`yyyy-MM-ddTHH:mm:ss.SSSZ`), so "the same values that already failed" is a string comparison.
`attempted_at` is when Salesforce answered (naive UTC, like every warehouse TIMESTAMP).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

import duckdb
import pandas as pd

from salesops_dagster.findings import Finding
from salesops_dagster.ingest.objects import OBJECTS_BY_NAME
from salesops_dagster.warehouse.connection import (
    from_warehouse_ts,
    table_exists,
    to_warehouse_ts,
)
from salesops_dagster.warehouse.raw import quote, table_name

WRITE_TABLE = "salesops.salesforce_write"
LATEST_VIEW = "salesops.salesforce_write_latest"
STATUSES = ("written", "failed", "not_sent")
METHODS = ("collections", "bulk")

_CREATE_TABLE = """
CREATE TABLE IF NOT EXISTS salesops.salesforce_write (
    write_id VARCHAR PRIMARY KEY,  -- uuid4 of this attempt
    run_id VARCHAR,                -- the Dagster run (or '' outside Dagster)
    purpose VARCHAR NOT NULL,      -- 'routing', 'first_response', ...
    sobject VARCHAR NOT NULL,      -- Salesforce API name: Lead, ...
    record_id VARCHAR NOT NULL,    -- the record's Id, as sent
    source_key VARCHAR,            -- what asked for the write, e.g. a routing decision_id
    fields JSON NOT NULL,          -- the exact values sent (canonical JSON text)
    method VARCHAR NOT NULL,       -- 'collections' | 'bulk'
    attempted_at TIMESTAMP NOT NULL,  -- when Salesforce answered (UTC)
    success BOOLEAN NOT NULL,
    error_code VARCHAR,            -- Salesforce's statusCode/errorCode, or ours for transport
    message VARCHAR,
    retryable BOOLEAN NOT NULL,    -- sent again by the next run (never for 'written')
    status VARCHAR NOT NULL        -- 'written' | 'failed' | 'not_sent'
)
"""

# The latest attempt per record and purpose; ties (same microsecond) broken by write_id so the
# answer is stable.
_CREATE_VIEW = """
CREATE VIEW IF NOT EXISTS salesops.salesforce_write_latest AS
SELECT *
FROM salesops.salesforce_write
QUALIFY row_number() OVER (
    PARTITION BY purpose, sobject, record_id ORDER BY attempted_at DESC, write_id DESC
) = 1
"""

_INCOMING_VIEW = "_salesforce_write_incoming"


@dataclass(frozen=True)
class WriteAttempt:
    """One row of `salesops.salesforce_write` (`attempted_at` aware UTC, `fields` JSON text)."""

    write_id: str
    run_id: str
    purpose: str
    sobject: str
    record_id: str
    source_key: str | None
    fields: str
    method: str
    attempted_at: datetime
    success: bool
    error_code: str | None
    message: str | None
    retryable: bool
    status: str

    @property
    def values(self) -> dict[str, Any]:
        """The values sent, parsed from `fields`."""
        return json.loads(self.fields)


_COLUMNS = [f.name for f in fields(WriteAttempt)]


def ensure_writes_table(con: duckdb.DuckDBPyConnection) -> None:
    """Create schema `salesops`, the table and the latest-attempt view if they are missing."""
    con.execute("CREATE SCHEMA IF NOT EXISTS salesops")
    con.execute(_CREATE_TABLE)
    con.execute(_CREATE_VIEW)


def record_attempts(con: duckdb.DuckDBPyConnection, attempts: Sequence[WriteAttempt]) -> None:
    """Append `attempts` in one INSERT (atomic on its own; no transaction needed around it)."""
    if not attempts:
        return
    for attempt in attempts:
        if attempt.status not in STATUSES:
            raise ValueError(f"write status must be one of {STATUSES}, not {attempt.status!r}")
        if attempt.method not in METHODS:
            raise ValueError(f"write method must be one of {METHODS}, not {attempt.method!r}")
    rows = [
        [
            to_warehouse_ts(a.attempted_at) if name == "attempted_at" else getattr(a, name)
            for name in _COLUMNS
        ]
        for a in attempts
    ]
    frame = pd.DataFrame(rows, columns=_COLUMNS, dtype=object)
    ensure_writes_table(con)
    con.register(_INCOMING_VIEW, frame)
    try:
        # A frame of Python objects: the casts give DuckDB the types an all-NULL column lacks.
        con.execute(
            f"""
            INSERT INTO {WRITE_TABLE} ({", ".join(_COLUMNS)})
            SELECT CAST(write_id AS VARCHAR), CAST(run_id AS VARCHAR), CAST(purpose AS VARCHAR),
                   CAST(sobject AS VARCHAR), CAST(record_id AS VARCHAR),
                   CAST(source_key AS VARCHAR), CAST(CAST(fields AS VARCHAR) AS JSON),
                   CAST(method AS VARCHAR), CAST(attempted_at AS TIMESTAMP),
                   CAST(success AS BOOLEAN), CAST(error_code AS VARCHAR),
                   CAST(message AS VARCHAR), CAST(retryable AS BOOLEAN), CAST(status AS VARCHAR)
            FROM {_INCOMING_VIEW}
            """  # noqa: S608 - constant names only
        )
    finally:
        con.unregister(_INCOMING_VIEW)


def _attempts(rows: Iterable[tuple[Any, ...]]) -> list[WriteAttempt]:
    out = []
    for row in rows:
        values = dict(zip(_COLUMNS, row, strict=True))
        values["attempted_at"] = from_warehouse_ts(values["attempted_at"])
        values["fields"] = str(values["fields"])
        out.append(WriteAttempt(**values))
    return out


def latest_writes(
    con: duckdb.DuckDBPyConnection,
    purpose: str | None = None,
    *,
    status: str | None = None,
    run_id: str | None = None,
) -> list[WriteAttempt]:
    """The latest attempt per record (optionally of one purpose, status or run), oldest first."""
    if not table_exists(con, "salesops", "salesforce_write"):
        return []
    rows = con.execute(
        f"""
        SELECT {", ".join(_COLUMNS)} FROM {LATEST_VIEW}
        WHERE ($purpose IS NULL OR purpose = $purpose)
          AND ($status IS NULL OR status = $status)
          AND ($run_id IS NULL OR run_id = $run_id)
        ORDER BY attempted_at, record_id
        """,  # noqa: S608 - constant names only
        {"purpose": purpose, "status": status, "run_id": run_id},
    ).fetchall()
    return _attempts(rows)


def write_history(
    con: duckdb.DuckDBPyConnection, purpose: str | None = None, record_id: str | None = None
) -> list[WriteAttempt]:
    """Every attempt (optionally of one purpose or record), oldest first."""
    if not table_exists(con, "salesops", "salesforce_write"):
        return []
    rows = con.execute(
        f"""
        SELECT {", ".join(_COLUMNS)} FROM {WRITE_TABLE}
        WHERE ($purpose IS NULL OR purpose = $purpose)
          AND ($record_id IS NULL OR record_id = $record_id)
        ORDER BY attempted_at, write_id
        """,  # noqa: S608 - constant names only
        {"purpose": purpose, "record_id": record_id},
    ).fetchall()
    return _attempts(rows)


def permanent_failures(con: duckdb.DuckDBPyConnection, purpose: str) -> set[tuple[str, str]]:
    """(record_id, fields JSON) of every record whose latest `purpose` attempt failed for good.

    A publish drops a planned write whose (record_id, fields JSON) is in this set: sending the
    same values again would fail the same way and spend an API call every run. When the desired
    values change, the key changes and the write goes out again. `PlannedWrite.key` is the
    matching key on the planning side.
    """
    if not table_exists(con, "salesops", "salesforce_write"):
        return set()
    rows = con.execute(
        f"""
        SELECT record_id, CAST(fields AS VARCHAR) FROM {LATEST_VIEW}
        WHERE purpose = $purpose AND status = 'failed' AND NOT retryable
        """,  # noqa: S608 - constant names only
        {"purpose": purpose},
    ).fetchall()
    return {(record_id, fields_json) for record_id, fields_json in rows}


def held_values(
    con: duckdb.DuckDBPyConnection,
    sobject: str,
    field_names: Sequence[str],
    record_ids: Iterable[str] | None = None,
) -> dict[str, dict[str, Any]]:
    """What Salesforce holds for `field_names`, per record Id, as far as the warehouse knows:
    the raw copy (`salesforce.<object>`, deleted rows included), overlaid with the values of
    every successful write made after the raw row was last loaded.

    The overlay is what keeps a publish rerun before the next ingest from sending again what it
    just wrote: a write changes the record's SystemModstamp, so the next incremental pull loads
    the new version (with a later `_synced_at`) and the raw copy takes over again. Values come as
    stored (naive-UTC datetimes from the raw table, JSON wire values from the overlay), which is
    what `writer.only_changed` compares against.
    """
    spec = OBJECTS_BY_NAME.get(sobject)
    if spec is None:
        raise ValueError(
            f"{sobject} has no raw table in the warehouse (known: {', '.join(OBJECTS_BY_NAME)})"
        )
    unknown = [name for name in field_names if name not in spec.fields]
    if unknown:
        raise ValueError(
            f"{sobject} field(s) {', '.join(unknown)} are not in the warehouse's raw table; add "
            "them to salesops_dagster/ingest/objects.py"
        )
    ids = None if record_ids is None else sorted(set(record_ids))
    columns = ", ".join(quote(name) for name in ["Id", *field_names])
    # Names come from the ObjectSpec (declared in code) and are quoted; values are parameters.
    rows = con.execute(
        f"""
        SELECT {columns} FROM {table_name(spec)}
        WHERE $ids IS NULL OR list_contains($ids, "Id")
        """,  # noqa: S608
        {"ids": ids},
    ).fetchall()
    held = {row[0]: dict(zip(field_names, row[1:], strict=True)) for row in rows}
    if not table_exists(con, "salesops", "salesforce_write") or not held:
        return held
    overlay = con.execute(
        f"""
        SELECT w.record_id, CAST(w.fields AS VARCHAR)
        FROM {WRITE_TABLE} AS w
        JOIN {table_name(spec)} AS r ON r."Id" = w.record_id
        WHERE w.sobject = $sobject AND w.success AND w.attempted_at > r._synced_at
          AND ($ids IS NULL OR list_contains($ids, w.record_id))
        ORDER BY w.attempted_at, w.write_id
        """,  # noqa: S608
        {"sobject": sobject, "ids": ids},
    ).fetchall()
    wanted = set(field_names)
    for record_id, fields_json in overlay:
        for name, value in json.loads(fields_json).items():
            if name in wanted:
                held[record_id][name] = value
    return held


def permanent_write_failures(con: duckdb.DuckDBPyConnection, purpose: str) -> Finding:
    """Records whose latest `purpose` attempt failed for good, with Salesforce's code and
    message (the next publish does not resend those values: a person should look)."""
    failed = [w for w in latest_writes(con, purpose, status="failed") if not w.retryable]
    return Finding.of({w.record_id: f"{w.error_code}: {w.message}" for w in failed})

"""Per-object sync state: the watermark ingest resumes from, and what the last load left behind.

`salesforce._sync_state` has one row per Salesforce object. The watermark is a SystemModstamp (naive
UTC, like every warehouse TIMESTAMP): the rows it covers are already stored. It is only written
inside the transaction that stores those rows (`raw.load_batch`), so a run that dies mid-write
leaves the old watermark and the next run re-pulls what was lost. It never moves backwards.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import duckdb

from salesops_dagster.warehouse.connection import (
    fetch_one,
    from_warehouse_ts,
    table_exists,
    to_warehouse_ts,
)

SYNC_STATE_TABLE = "salesforce._sync_state"

_CREATE = """
CREATE TABLE IF NOT EXISTS salesforce._sync_state (
    object VARCHAR PRIMARY KEY,  -- Salesforce API name: Lead, Task, ...
    watermark TIMESTAMP,         -- SystemModstamp (UTC) the stored rows are complete up to
    rows_total BIGINT,           -- rows in the object's table after the last load
    updated_at TIMESTAMP         -- when the last load committed (UTC)
)
"""

# greatest() ignores NULLs, so a load that passes no watermark (a backfill) keeps the stored one,
# and an older watermark never replaces a newer one.
_UPSERT = """
INSERT INTO salesforce._sync_state AS state (object, watermark, rows_total, updated_at)
VALUES ($object, $watermark, $rows_total, $updated_at)
ON CONFLICT (object) DO UPDATE SET
    watermark = greatest(state.watermark, excluded.watermark),
    rows_total = coalesce(excluded.rows_total, state.rows_total),
    updated_at = excluded.updated_at
RETURNING watermark
"""


def ensure_sync_state(con: duckdb.DuckDBPyConnection) -> None:
    """Create schema `salesforce` and the sync-state table if they are missing."""
    con.execute("CREATE SCHEMA IF NOT EXISTS salesforce")
    con.execute(_CREATE)


def get_watermark(con: duckdb.DuckDBPyConnection, sobject: str) -> datetime | None:
    """The object's watermark as an aware UTC datetime, or None before its first load."""
    if not table_exists(con, "salesforce", "_sync_state"):
        return None
    row = fetch_one(
        con.execute(
            "SELECT watermark FROM salesforce._sync_state WHERE object = $object",
            {"object": sobject},
        )
    )
    return from_warehouse_ts(row[0]) if row else None


def _upsert_state(
    con: duckdb.DuckDBPyConnection,
    sobject: str,
    watermark: datetime | None,
    rows_total: int | None,
    updated_at: datetime | None,
) -> datetime | None:
    params = {
        "object": sobject,
        "watermark": None if watermark is None else to_warehouse_ts(watermark),
        "rows_total": rows_total,
        "updated_at": to_warehouse_ts(updated_at or datetime.now(UTC)),
    }
    row = fetch_one(con.execute(_UPSERT, params))
    return from_warehouse_ts(row[0]) if row else None


def set_watermark(
    con: duckdb.DuckDBPyConnection,
    sobject: str,
    watermark: datetime,
    *,
    rows_total: int | None = None,
    updated_at: datetime | None = None,
) -> datetime:
    """Move the object's watermark forward to `watermark` (never back); return the stored value.

    Call it inside the transaction that stored the rows the watermark covers (`raw.load_batch`
    does). `watermark` and `updated_at` (default: now) must be timezone-aware; `rows_total`, when
    given, replaces the recorded row count.
    """
    stored = _upsert_state(con, sobject, watermark, rows_total, updated_at)
    assert stored is not None  # greatest(old, new) with a non-null new value
    return stored


def record_load(
    con: duckdb.DuckDBPyConnection,
    sobject: str,
    *,
    rows_total: int,
    updated_at: datetime | None = None,
) -> None:
    """Record a load that must not touch the watermark (a partition backfill)."""
    _upsert_state(con, sobject, None, rows_total, updated_at)


def sync_states(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    """Every object's sync state, ordered by object, timestamps as aware UTC datetimes."""
    if not table_exists(con, "salesforce", "_sync_state"):
        return []
    rows = con.execute(
        "SELECT object, watermark, rows_total, updated_at FROM salesforce._sync_state "
        "ORDER BY object"
    ).fetchall()
    return [
        {
            "object": sobject,
            "watermark": from_warehouse_ts(watermark),
            "rows_total": rows_total,
            "updated_at": from_warehouse_ts(updated_at),
        }
        for sobject, watermark, rows_total, updated_at in rows
    ]

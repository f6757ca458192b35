"""`salesops.lead_routing_decision`: one row per lead per routing attempt, never updated.

`decision_id` is a hash of (lead Id, attempt), so a rerun that decides the same attempt again
inserts nothing (`INSERT ... ON CONFLICT DO NOTHING`). `decided_at` is the decision's logical time
(see `engine`), `computed_at` the wall-clock time of the run that made it; both naive UTC, like
every warehouse TIMESTAMP.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import duckdb
import pandas as pd

from salesops_dagster.warehouse.connection import (
    from_warehouse_ts,
    table_exists,
    to_warehouse_ts,
)

DECISION_TABLE = "salesops.lead_routing_decision"

_CREATE = """
CREATE TABLE IF NOT EXISTS salesops.lead_routing_decision (
    -- sha256 of (lead_id, attempt): the key is also "one decision per lead and attempt"
    decision_id VARCHAR PRIMARY KEY,
    lead_id VARCHAR NOT NULL,
    attempt INTEGER NOT NULL,          -- 1, then +1 each time the lead comes back to intake
    policy_version VARCHAR NOT NULL,
    policy_sha256 VARCHAR NOT NULL,    -- sha256 of the policy file's bytes
    segment VARCHAR NOT NULL,
    region VARCHAR NOT NULL,
    pool VARCHAR,                      -- NULL only when no pool covers (segment, region)
    owner_id VARCHAR NOT NULL,         -- a pool member, or the fallback user/queue
    is_fallback BOOLEAN NOT NULL,
    reasons JSON NOT NULL,             -- matched rules, field values, skipped members and why
    decided_at TIMESTAMP NOT NULL,     -- logical decision time (UTC): caps and out-of-office
    lead_created_at TIMESTAMP NOT NULL,
    computed_at TIMESTAMP NOT NULL     -- when the run that decided it ran (UTC)
)
"""

_COLUMNS = (
    "decision_id",
    "lead_id",
    "attempt",
    "policy_version",
    "policy_sha256",
    "segment",
    "region",
    "pool",
    "owner_id",
    "is_fallback",
    "reasons",
    "decided_at",
    "lead_created_at",
    "computed_at",
)
_INCOMING_VIEW = "_lead_routing_decision_incoming"
_CHUNK = 10_000


def decision_id(lead_id: str, attempt: int) -> str:
    """The decision's Id: the same lead and attempt always give the same Id."""
    return hashlib.sha256(f"lead_routing_decision:{lead_id}:{attempt}".encode()).hexdigest()[:32]


@dataclass(frozen=True)
class RoutingDecision:
    """One row of `salesops.lead_routing_decision` (datetimes aware UTC, reasons a dict)."""

    decision_id: str
    lead_id: str
    attempt: int
    policy_version: str
    policy_sha256: str
    segment: str
    region: str
    pool: str | None
    owner_id: str
    is_fallback: bool
    reasons: dict[str, Any] = field(compare=False, hash=False)
    decided_at: datetime
    lead_created_at: datetime
    computed_at: datetime

    def key(self) -> tuple:
        """What the decision decided, without when it was computed (for replay comparisons)."""
        return (
            self.decision_id,
            self.lead_id,
            self.attempt,
            self.segment,
            self.region,
            self.pool,
            self.owner_id,
            self.is_fallback,
            self.decided_at,
        )


def ensure_decision_table(con: duckdb.DuckDBPyConnection) -> None:
    """Create schema `salesops` and the decision table if they are missing."""
    con.execute("CREATE SCHEMA IF NOT EXISTS salesops")
    con.execute(_CREATE)


def insert_decisions(con: duckdb.DuckDBPyConnection, decisions: Sequence[RoutingDecision]) -> int:
    """Insert decisions whose decision_id is new; return how many were inserted.

    All or nothing: one transaction (the caller's, when one is open). Deciding the same attempt
    again (a rerun, a retried run) inserts nothing: the first decision of an attempt stands.
    Rows go in in chunks, which keeps DuckDB's memory flat for large runs.
    """
    ensure_decision_table(con)
    if not decisions:
        return 0
    try:
        con.begin()
        own_transaction = True
    except duckdb.TransactionException:
        own_transaction = False  # the caller's transaction makes it atomic
    inserted = 0
    try:
        for start in range(0, len(decisions), _CHUNK):
            inserted += _insert_chunk(con, decisions[start : start + _CHUNK])
        if own_transaction:
            con.commit()
    except BaseException:
        if own_transaction:
            con.rollback()
        raise
    return inserted


def _insert_chunk(con: duckdb.DuckDBPyConnection, decisions: Sequence[RoutingDecision]) -> int:
    frame = pd.DataFrame(
        {
            "decision_id": [d.decision_id for d in decisions],
            "lead_id": [d.lead_id for d in decisions],
            "attempt": [d.attempt for d in decisions],
            "policy_version": [d.policy_version for d in decisions],
            "policy_sha256": [d.policy_sha256 for d in decisions],
            "segment": [d.segment for d in decisions],
            "region": [d.region for d in decisions],
            "pool": pd.Series([d.pool for d in decisions], dtype=object),
            "owner_id": [d.owner_id for d in decisions],
            "is_fallback": [d.is_fallback for d in decisions],
            "reasons": [json.dumps(d.reasons) for d in decisions],
            "decided_at": [to_warehouse_ts(d.decided_at) for d in decisions],
            "lead_created_at": [to_warehouse_ts(d.lead_created_at) for d in decisions],
            "computed_at": [to_warehouse_ts(d.computed_at) for d in decisions],
        }
    )
    con.register(_INCOMING_VIEW, frame)
    try:
        inserted = con.execute(
            f"""
            INSERT INTO {DECISION_TABLE} ({", ".join(_COLUMNS)})
            SELECT CAST(decision_id AS VARCHAR), CAST(lead_id AS VARCHAR),
                   CAST(attempt AS INTEGER), CAST(policy_version AS VARCHAR),
                   CAST(policy_sha256 AS VARCHAR), CAST(segment AS VARCHAR),
                   CAST(region AS VARCHAR), CAST(pool AS VARCHAR), CAST(owner_id AS VARCHAR),
                   CAST(is_fallback AS BOOLEAN), CAST(CAST(reasons AS VARCHAR) AS JSON),
                   CAST(decided_at AS TIMESTAMP), CAST(lead_created_at AS TIMESTAMP),
                   CAST(computed_at AS TIMESTAMP)
            FROM {_INCOMING_VIEW}
            ON CONFLICT DO NOTHING
            RETURNING decision_id
            """  # noqa: S608 - constant names only
        ).fetchall()
    finally:
        con.unregister(_INCOMING_VIEW)
    return len(inserted)


def _decision(row: tuple[Any, ...]) -> RoutingDecision:
    values = dict(zip(_COLUMNS, row, strict=True))
    values["reasons"] = json.loads(values["reasons"]) if values["reasons"] else {}
    for name in ("decided_at", "lead_created_at", "computed_at"):
        values[name] = from_warehouse_ts(values[name])
    return RoutingDecision(**values)


def read_decisions(
    con: duckdb.DuckDBPyConnection,
    *,
    lead_created_since: datetime | None = None,
) -> list[RoutingDecision]:
    """Every decision (optionally of leads created on or after a time), in the order they were
    made: by run (computed_at), then lead CreatedDate, lead Id, attempt."""
    if not table_exists(con, "salesops", "lead_routing_decision"):
        return []
    since = to_warehouse_ts(lead_created_since) if lead_created_since is not None else None
    rows = con.execute(
        f"""
        SELECT {", ".join(_COLUMNS)} FROM {DECISION_TABLE}
        WHERE $since IS NULL OR lead_created_at >= $since
        ORDER BY computed_at, lead_created_at, lead_id, attempt
        """,  # noqa: S608 - constant names only
        {"since": since},
    ).fetchall()
    return [_decision(row) for row in rows]


@dataclass(frozen=True, slots=True)
class HistoryRow:
    """What the round robin and the caps need to know about a past decision."""

    pool: str | None
    owner_id: str
    is_fallback: bool
    decided_at: datetime  # aware UTC


def read_history(con: duckdb.DuckDBPyConnection) -> list[HistoryRow]:
    """Every past decision's pool, owner, fallback flag and logical time."""
    if not table_exists(con, "salesops", "lead_routing_decision"):
        return []
    rows = con.execute(
        f"SELECT pool, owner_id, is_fallback, decided_at FROM {DECISION_TABLE}"  # noqa: S608
    ).fetchall()
    return [
        HistoryRow(pool, owner, bool(fallback), at.replace(tzinfo=UTC))
        for pool, owner, fallback, at in rows
    ]


def history_of(decisions: Sequence[RoutingDecision]) -> list[HistoryRow]:
    """The history rows of decisions held in memory."""
    return [HistoryRow(d.pool, d.owner_id, d.is_fallback, d.decided_at) for d in decisions]

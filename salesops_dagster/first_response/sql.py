"""`salesops.lead_first_response`: time to first response (TTFR), computed in DuckDB SQL.

One row per Lead in `salesforce.lead` (deleted and converted leads included, flagged): when, by
whom and through which record the lead was first answered, the minutes it took (calendar and
business), its segment and region (the routing policy's first-match rules, compiled by
`routing.rules.case_sql`, so TTFR and routing agree), its SLA and SLA status (see `sla`).

The semantics, and how the first response is found, are `responses`' docstring.

Never later
-----------
The stored value is kept when a recomputation finds only later responses or none (the first task
was deleted, its WhoId moved, the policy stopped counting its kind): the result per lead is the
earliest, by the same ordering, of the stored response and the newly computed one. The only stored
response dropped is one that now precedes the lead's CreatedDate (it is no response at all by
definition). `recompute_all(..., reset=True)` is the one explicit way to recompute from scratch
and let values move later (after a policy change that should rewrite history, say); nothing in the
pipeline calls it.

Incremental
-----------
`salesops._ttfr_state.last_synced_at` is the newest raw `_synced_at` the table reflects. A refresh
looks only at raw rows loaded after it: candidates built from at least one changed row (Task;
EmailMessage; EmailMessageRelation; the Task an email's ActivityId names), and every candidate of
the leads that are new (their activities may have arrived first) or whose CreatedDate changed.
Other changed leads (owner, status, country, conversion, our own write-back coming back) get their
derived columns recomputed without searching their activity again. By induction that finds
everything a full recompute would: a candidate none of whose rows changed, on a lead whose
creation time did not change, already qualified at the previous refresh, so the stored value is
no later than it.
The new mark is read in the refresh's own transaction, so rows committed later are picked up next
time. Assumption: a refresh does not run while a load run is half-way (the pipeline's single
warehouse writer pool guarantees it), since rows of one load share one `_synced_at`.
A policy whose TTFR-relevant parts changed (segments, regions and their hours, first-touch
settings) triggers a full recompute (still never later).

Cost
----
A refresh is a handful of statements over temp tables in one transaction. The mart has no
PRIMARY KEY: one row per lead holds by construction (every write is keyed by lead_id from a
GROUP BY or a MERGE on it) and is verified by the `one_row_per_lead` check, while DuckDB's ART
index would make the million-row insert and its commit several times slower. The refresh turns
`preserve_insertion_order` off while it runs (nothing depends on row order; it restores the
setting). Memory follows DuckDB's `memory_limit`: 1 GB is plenty for a million leads and ten
million activities (benchmarks/ttfr.py). `RefreshStats.timings` says where the time went.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import duckdb

from salesops_dagster.first_response import calendar as cal
from salesops_dagster.first_response import responses, sla
from salesops_dagster.ingest.objects import EMAIL_MESSAGE, EMAIL_MESSAGE_RELATION, LEAD, TASK, USER
from salesops_dagster.policy.models import RoutingPolicy
from salesops_dagster.routing import rules as rule_logic
from salesops_dagster.warehouse.connection import from_warehouse_ts, to_warehouse_ts
from salesops_dagster.warehouse.raw import ensure_table

FIRST_RESPONSE_TABLE = "salesops.lead_first_response"
STATE_TABLE = "salesops._ttfr_state"
RAW_SPECS = (LEAD, TASK, EMAIL_MESSAGE, EMAIL_MESSAGE_RELATION, USER)

_CREATE_TABLE = f"""
CREATE TABLE IF NOT EXISTS {FIRST_RESPONSE_TABLE} (
    lead_id VARCHAR NOT NULL,             -- one row per lead (the check one_row_per_lead)
    lead_created_at TIMESTAMP,            -- Lead.CreatedDate (UTC)
    first_response_at TIMESTAMP,          -- NULL: no response yet
    first_response_user VARCHAR,          -- Task.OwnerId or EmailMessage.FromAddress
    first_response_source VARCHAR,        -- 'Task' | 'EmailMessage'
    first_response_record_id VARCHAR,     -- the Task or EmailMessage Id
    ttfr_minutes DECIMAL(18, 2),          -- calendar minutes from creation
    ttfr_business_minutes DECIMAL(18, 2), -- business minutes of the lead's region
    segment VARCHAR NOT NULL,
    region VARCHAR NOT NULL,
    sla_minutes INTEGER,                  -- business minutes; NULL: no SLA
    sla_due_at TIMESTAMP,                 -- last instant still within the SLA
    sla_status VARCHAR,                   -- see first_response.sla
    is_converted BOOLEAN NOT NULL,        -- computed, never written back
    is_deleted BOOLEAN NOT NULL,          -- computed, never written back
    computed_at TIMESTAMP NOT NULL        -- the `now` of the refresh that last changed the row
)
"""

_CREATE_STATE = f"""
CREATE TABLE IF NOT EXISTS {STATE_TABLE} (
    id INTEGER PRIMARY KEY,               -- always 1: one row
    last_synced_at TIMESTAMP,             -- newest raw _synced_at the table reflects
    policy_fingerprint VARCHAR NOT NULL,  -- sha256 of the policy's TTFR-relevant parts
    refreshed_at TIMESTAMP NOT NULL,      -- `now` of the last refresh: SLA status as of then
    calendar_first_day DATE,
    calendar_last_day DATE,
    calendar_fingerprint VARCHAR
)
"""

_COLUMNS = (
    "lead_id",
    "lead_created_at",
    "first_response_at",
    "first_response_user",
    "first_response_source",
    "first_response_record_id",
    "ttfr_minutes",
    "ttfr_business_minutes",
    "segment",
    "region",
    "sla_minutes",
    "sla_due_at",
    "sla_status",
    "is_converted",
    "is_deleted",
    "computed_at",
)
# Every column but the key and the stamp: a row is rewritten only when one of these differs.
_VALUE_COLUMNS = tuple(c for c in _COLUMNS if c not in ("lead_id", "computed_at"))

_US_PER_MINUTE = 60_000_000
_TEMP_TABLES = (*responses.TEMP_TABLES, "_ttfr_leads", "_ttfr_rows")


# --- schema ---------------------------------------------------------------------------------------


def ensure_tables(con: duckdb.DuckDBPyConnection) -> None:
    """The raw tables TTFR reads (empty if ingest has not run), the mart, its state, the
    calendar and the breach view."""
    for spec in RAW_SPECS:
        ensure_table(con, spec)
    con.execute("CREATE SCHEMA IF NOT EXISTS salesops")
    con.execute(_CREATE_TABLE)
    con.execute(_CREATE_STATE)
    cal.ensure_calendar_table(con)
    con.execute(sla.BREACH_VIEW_SQL)


# --- policy ---------------------------------------------------------------------------------------


def policy_fingerprint(policy: RoutingPolicy) -> str:
    """sha256 of the policy parts TTFR depends on; pools, caps and versions do not count."""
    parts = policy.model_dump(
        mode="json",
        by_alias=True,
        include={"segments", "default_segment", "regions", "default_region", "first_touch"},
    )
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def calendar_fingerprint(policy: RoutingPolicy) -> str:
    """sha256 of what the stored calendar is built from: regions' hours and the SLAs' reach."""
    parts = {
        "hours": {r.name: r.business_hours.model_dump(mode="json") for r in policy.regions},
        "slas": sorted(
            {m for s in policy.segments if (m := policy.sla_minutes(s.name)) is not None}
        ),
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


_ID_SUFFIX = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"


def to18(record_id: str) -> str:
    """The 18-character (case-safe) form of a Salesforce Id; 18-character Ids pass unchanged."""
    if len(record_id) != 15:
        return record_id
    suffix = ""
    for block in range(3):
        bits = sum(
            1 << i for i, ch in enumerate(record_id[block * 5 : block * 5 + 5]) if ch.isupper()
        )
        suffix += _ID_SUFFIX[bits]
    return record_id + suffix


class _Params(rule_logic.SqlParams):
    """Bound values for one statement family; `for_sql` passes only those a statement uses
    (DuckDB refuses unused named parameters)."""

    def in_list(self, values: list[str] | tuple[str, ...]) -> str | None:
        if not values:
            return None
        return "(" + ", ".join(self.add(v) for v in values) + ")"

    def for_sql(self, sql: str, **extra: Any) -> dict[str, Any]:
        used = set(re.findall(r"\$([A-Za-z_]\w*)", sql))
        merged = {**self.values, **extra}
        return {name: value for name, value in merged.items() if name in used}


@dataclass(frozen=True)
class _PolicySql:
    """The policy compiled to SQL fragments, with their bound parameters."""

    params: _Params
    task_counts: str  # predicate over alias t
    segment: str  # expression over alias lead
    region: str
    sla_minutes: str  # expression over column `segment`


def _compile(policy: RoutingPolicy) -> _PolicySql:
    params = _Params("p")
    touch = policy.first_touch
    kinds = params.in_list(tuple(touch.counted_task_kinds))
    # Raw OwnerIds are 18-character; a policy may name a user by either form.
    excluded = params.in_list(tuple(sorted({to18(i) for i in touch.excluded_user_ids})))
    task_counts = " AND ".join(
        [
            "NOT t._is_deleted",
            't."WhoId" IS NOT NULL',
            't."CreatedDate" IS NOT NULL',
            f'coalesce(t."TaskSubtype", t."Type") IN {kinds}' if kinds else "false",
            *([f'(t."OwnerId" IS NULL OR t."OwnerId" NOT IN {excluded})'] if excluded else []),
        ]
    )

    def pick(dimension: str, groups: Any, default: str) -> str:
        flat = rule_logic.flatten(dimension, groups)
        case = rule_logic.case_sql(flat, params, alias="lead")
        whens = " ".join(f"WHEN {f.index} THEN {params.add(f.target)}" for f in flat)
        if not whens:
            return params.add(default)
        return f"CASE ({case}) {whens} ELSE {params.add(default)} END"

    segment = pick("segments", policy.segments, policy.default_segment)
    region = pick("regions", policy.regions, policy.default_region)
    slas = [(s.name, policy.sla_minutes(s.name)) for s in policy.segments]
    sla_whens = " ".join(
        f"WHEN {params.add(name)} THEN {int(minutes)}"
        for name, minutes in slas
        if minutes is not None
    )
    sla_minutes = f"CASE segment {sla_whens} ELSE NULL END" if sla_whens else "NULL"
    return _PolicySql(params, task_counts, segment, region, f"CAST({sla_minutes} AS INTEGER)")


# --- the refresh ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RefreshStats:
    """What one refresh did.

    `leads_recomputed`: leads whose response was recomputed (all leads for a full run);
    inserted + updated + unchanged = leads_recomputed. `kept_earlier`: recomputed leads whose
    stored response stayed because the recomputation found only later ones or none (never later).
    `sla_changed`: rows outside the recomputed set whose open-lead SLA status flipped at `now`.
    `synced_from` / `synced_through`: the raw `_synced_at` window covered (from exclusive).
    `timings`: seconds per step (changes, reached, first, calendar, derive, write, open_sla).
    """

    mode: str  # 'full' | 'incremental'
    reason: str  # why this mode
    leads_recomputed: int
    inserted: int
    updated: int
    unchanged: int
    kept_earlier: int
    sla_changed: int
    rows_total: int
    synced_from: datetime | None
    synced_through: datetime | None
    seconds: float
    timings: dict[str, float] = field(default_factory=dict)  # seconds per step

    @property
    def changed(self) -> int:
        return self.inserted + self.updated + self.sla_changed

    def as_metadata(self) -> dict[str, Any]:
        """Plain values (datetimes as ISO text) for Dagster metadata."""
        out = asdict(self)
        for key in ("synced_from", "synced_through"):
            out[key] = out[key].isoformat() if out[key] else None
        out["seconds"] = round(self.seconds, 3)
        return out


@dataclass(frozen=True)
class _State:
    last_synced_at: datetime | None
    policy_fingerprint: str
    refreshed_at: datetime
    calendar_first_day: date | None
    calendar_last_day: date | None
    calendar_fingerprint: str | None


def _read_state(con: duckdb.DuckDBPyConnection) -> _State | None:
    row = con.execute(
        f"""
        SELECT last_synced_at, policy_fingerprint, refreshed_at, calendar_first_day,
               calendar_last_day, calendar_fingerprint
        FROM {STATE_TABLE} WHERE id = 1
        """  # noqa: S608 - constant name
    ).fetchall()
    return _State(*row[0]) if row else None


def mart_exists(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether the mart and its state exist (read-only callers look before the first refresh)."""
    rows = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'salesops' "
        "AND table_name IN ('lead_first_response', '_ttfr_state') "
        "AND database_name = current_database()"
    ).fetchall()
    return bool(rows) and rows[0][0] == 2


def last_refresh(con: duckdb.DuckDBPyConnection) -> dict[str, Any] | None:
    """The stored mark and the last refresh's `now` (aware UTC), or None before the first."""
    if not mart_exists(con):
        return None
    state = _read_state(con)
    if state is None:
        return None
    return {
        "last_synced_at": from_warehouse_ts(state.last_synced_at),
        "refreshed_at": from_warehouse_ts(state.refreshed_at),
    }


def _newest_sync(con: duckdb.DuckDBPyConnection) -> datetime | None:
    row = con.execute(
        """
        SELECT greatest(
            (SELECT max(_synced_at) FROM salesforce.lead),
            (SELECT max(_synced_at) FROM salesforce.task),
            (SELECT max(_synced_at) FROM salesforce.email_message),
            (SELECT max(_synced_at) FROM salesforce.email_message_relation))
        """
    ).fetchall()
    return row[0][0] if row else None


def _run(con: duckdb.DuckDBPyConnection, sql: str, params: _Params, **extra: Any) -> Any:
    return con.execute(sql, params.for_sql(sql, **extra))


def _scalar(con: duckdb.DuckDBPyConnection, sql: str, params: dict | None = None) -> Any:
    row = con.execute(sql, params or {}).fetchall()
    return row[0][0] if row else None


def _build_leads(con: duckdb.DuckDBPyConnection, p: _PolicySql, incremental: bool) -> None:
    scope = (
        """
    WHERE lead."Id" IN (
        SELECT lead_id FROM _ttfr_changed_leads
        UNION ALL SELECT lead_id FROM _ttfr_candidates)"""
        if incremental
        else ""
    )
    sql = f"""
CREATE OR REPLACE TEMP TABLE _ttfr_leads AS
SELECT
    lead.rowid AS lead_no,
    lead."Id" AS lead_id,
    lead."CreatedDate" AS created_at,
    coalesce(lead._is_deleted, false) AS is_deleted,
    coalesce(lead."IsConverted", false) AS is_converted,
    {p.segment} AS segment,
    {p.region} AS region
FROM salesforce.lead AS lead{scope}
"""  # noqa: S608 - rule values are bound parameters
    _run(con, sql, p.params)


def _rows_sql(p: _PolicySql) -> str:
    """The mart's rows (plus `kept_earlier`) from `_ttfr_chosen`: minutes, business minutes, SLA."""
    status = sla.status_sql(now="CAST($now AS TIMESTAMP)")
    f_created = cal.f_sql("c.created_at", "dc")
    f_answered = cal.f_sql("c.first_response_at", "da")
    due = cal.instant_sql("c.f_due", "h")
    return f"""
WITH business AS (
    SELECT c.*,
        {p.sla_minutes} AS sla_minutes,
        {f_created} AS f_created,
        {f_answered} AS f_answered
    FROM _ttfr_chosen AS c
    LEFT JOIN {cal.DAY_TABLE} AS dc
        ON dc.region = c.region AND dc.day = CAST(c.created_at AS DATE)
    LEFT JOIN {cal.DAY_TABLE} AS da
        ON da.region = c.region AND da.day = CAST(c.first_response_at AS DATE)
), targets AS (
    SELECT *, f_created + CAST(sla_minutes AS BIGINT) * {_US_PER_MINUTE} AS f_due
    FROM business
), due AS (
    SELECT c.*, {due} AS sla_due_at
    FROM targets AS c
    LEFT JOIN {cal.HOUR_TABLE} AS h
        ON h.region = c.region AND h.bucket = c.f_due // {cal.BUCKET_US}
)
SELECT
    lead_id,
    created_at AS lead_created_at,
    first_response_at,
    first_response_user,
    CASE source_rank WHEN 0 THEN 'Task' WHEN 1 THEN 'EmailMessage' END AS first_response_source,
    first_response_record_id,
    CAST(round((epoch_us(first_response_at) - epoch_us(created_at)) / {_US_PER_MINUTE}.0, 2)
        AS DECIMAL(18, 2)) AS ttfr_minutes,
    CAST(round((f_answered - f_created) / {_US_PER_MINUTE}.0, 2) AS DECIMAL(18, 2))
        AS ttfr_business_minutes,
    segment,
    region,
    sla_minutes,
    sla_due_at,
    {status} AS sla_status,
    is_converted,
    is_deleted,
    CAST($now AS TIMESTAMP) AS computed_at,
    kept_earlier
FROM due
"""  # noqa: S608 - constant names, values bound


def _ensure_calendar(
    con: duckdb.DuckDBPyConnection, policy: RoutingPolicy, now: datetime, state: _State | None
) -> tuple[date | None, date | None, str | None]:
    """Make the stored calendar cover every instant this refresh needs (creation, response,
    `now`, with SLA deadlines beyond); return its (first_day, last_day, fingerprint)."""
    fingerprint = calendar_fingerprint(policy)
    lo, hi = con.execute(
        "SELECT min(created_at), greatest(max(created_at), max(first_response_at)) "
        "FROM _ttfr_chosen"
    ).fetchall()[0]
    same = (
        state is not None
        and state.calendar_fingerprint == fingerprint
        and state.calendar_first_day is not None
        and state.calendar_last_day is not None
    )
    if lo is None:  # nothing to compute: leave the calendar as it is
        if state is None:
            return None, None, None
        return state.calendar_first_day, state.calendar_last_day, state.calendar_fingerprint
    top = max(hi or lo, to_warehouse_ts(now))
    wanted = (lo.date() - timedelta(days=1), top.date() + timedelta(days=1))
    if same:
        assert state is not None
        stored = (state.calendar_first_day, state.calendar_last_day)
        if cal.covers(stored, wanted):
            return state.calendar_first_day, state.calendar_last_day, fingerprint
    first_day = lo.date() - timedelta(days=2)
    last_day = top.date() + timedelta(days=cal.HORIZON_DAYS)
    if same:
        assert state is not None and state.calendar_first_day and state.calendar_last_day
        first_day = min(first_day, state.calendar_first_day)
        last_day = max(last_day, state.calendar_last_day)
    cal.write_calendar(con, policy, first_day, last_day)
    return first_day, last_day, fingerprint


def _merge(con: duckdb.DuckDBPyConnection) -> None:
    """Write the recomputed rows that differ from the stored ones (new rows inserted)."""
    columns = ", ".join(_COLUMNS)
    differs = " OR ".join(f"s.{c} IS DISTINCT FROM n.{c}" for c in _VALUE_COLUMNS)
    updates = ", ".join(f"{c} = n.{c}" for c in _COLUMNS if c != "lead_id")
    values = ", ".join(f"n.{c}" for c in _COLUMNS)
    con.execute(
        f"""
        MERGE INTO {FIRST_RESPONSE_TABLE} AS s
        USING _ttfr_rows AS n ON s.lead_id = n.lead_id
        WHEN MATCHED AND ({differs}) THEN UPDATE SET {updates}
        WHEN NOT MATCHED THEN INSERT ({columns}) VALUES ({values})
        """  # noqa: S608 - constant names
    )


def _counts(con: duckdb.DuckDBPyConnection) -> tuple[int, int, int, int, int]:
    """(recomputed, inserted, updated, unchanged, kept_earlier) of `_ttfr_rows` vs the mart."""
    differs = " OR ".join(f"s.{c} IS DISTINCT FROM n.{c}" for c in _VALUE_COLUMNS)
    row = con.execute(
        f"""
        SELECT count(*),
               count(*) FILTER (WHERE s.lead_id IS NULL),
               count(*) FILTER (WHERE s.lead_id IS NOT NULL AND ({differs})),
               count(*) FILTER (WHERE s.lead_id IS NOT NULL AND NOT ({differs})),
               count(*) FILTER (WHERE n.kept_earlier)
        FROM _ttfr_rows AS n
        LEFT JOIN {FIRST_RESPONSE_TABLE} AS s ON s.lead_id = n.lead_id
        """  # noqa: S608 - constant names
    ).fetchall()[0]
    return row[0], row[1], row[2], row[3], row[4]


def _lap(timings: dict[str, float], name: str, since: float) -> float:
    now = time.perf_counter()
    timings[name] = round(now - since, 4)
    return now


def _refresh(
    con: duckdb.DuckDBPyConnection,
    policy: RoutingPolicy,
    *,
    now: datetime,
    force_full: bool,
    reset: bool,
) -> RefreshStats:
    started = time.perf_counter()
    now_naive = to_warehouse_ts(now)
    ensure_tables(con)
    p = _compile(policy)
    fingerprint = policy_fingerprint(policy)
    # Nothing here relies on row order; not preserving it lets DuckDB stream and spill less.
    keep_order = _scalar(con, "SELECT current_setting('preserve_insertion_order')")
    con.execute("SET preserve_insertion_order = false")
    con.begin()
    try:
        state = _read_state(con)
        mark_to = _newest_sync(con)
        if force_full:
            mode, reason = "full", "reset requested" if reset else "full recompute requested"
        elif state is None:
            mode, reason = "full", "first refresh"
        elif state.policy_fingerprint != fingerprint:
            mode, reason = "full", "policy changed (segments, regions, hours or first-touch)"
        elif state.last_synced_at is None:
            mode, reason = "full", "no raw rows covered yet"
        else:
            mode, reason = "incremental", "raw rows loaded since the last refresh"
        incremental = mode == "incremental"
        mark_from = state.last_synced_at if (state and incremental) else None

        timings: dict[str, float] = {}
        tick = time.perf_counter()
        if incremental:
            assert mark_from is not None
            responses.prepare_changes(con, mark_from, FIRST_RESPONSE_TABLE)
            incremental_sql = responses.incremental_candidates(p.task_counts)
            candidates_sql = f"CREATE OR REPLACE TEMP TABLE _ttfr_candidates AS {incremental_sql}"
            _run(con, candidates_sql, p.params)
            candidates = "_ttfr_candidates"
            tick = _lap(timings, "changes", tick)
        else:
            candidates = responses.full_candidates(p.task_counts)
        _build_leads(con, p, incremental)
        _run(con, responses.reached_sql(candidates), p.params)
        tick = _lap(timings, "reached", tick)
        con.execute(responses.FOUND_SQL)
        con.execute(responses.chosen_sql(None if reset else FIRST_RESPONSE_TABLE))
        tick = _lap(timings, "first", tick)
        first_day, last_day, cal_fp = _ensure_calendar(con, policy, now, state)
        tick = _lap(timings, "calendar", tick)
        rows_sql = _rows_sql(p)
        if reset:
            # Nothing stored to compare with: straight into the emptied mart.
            columns = ", ".join(_COLUMNS)
            con.execute(f"DELETE FROM {FIRST_RESPONSE_TABLE}")  # noqa: S608 - constant name
            insert_sql = (
                f"INSERT INTO {FIRST_RESPONSE_TABLE} ({columns}) "  # noqa: S608
                f"SELECT {columns} FROM ({rows_sql})"
            )
            total = _run(con, insert_sql, p.params, now=now_naive).fetchall()[0][0]
            inserted, updated, unchanged, kept = total, 0, 0, 0
            tick = _lap(timings, "derive_and_write", tick)
        else:
            _run(
                con,
                f"CREATE OR REPLACE TEMP TABLE _ttfr_rows AS {rows_sql}",
                p.params,
                now=now_naive,
            )
            tick = _lap(timings, "derive", tick)
            total, inserted, updated, unchanged, kept = _counts(con)
            if inserted or updated:
                _merge(con)
            tick = _lap(timings, "write", tick)
        sla_changed = sla.refresh_open_sla(con, now)
        tick = _lap(timings, "open_sla", tick)
        con.execute(
            f"""
            INSERT OR REPLACE INTO {STATE_TABLE} VALUES
                (1, $mark, $fingerprint, $now, $first_day, $last_day, $cal_fp)
            """,  # noqa: S608 - constant name
            {
                "mark": mark_to if mark_to is not None else mark_from,
                "fingerprint": fingerprint,
                "now": now_naive,
                "first_day": first_day,
                "last_day": last_day,
                "cal_fp": cal_fp,
            },
        )
        rows_total = _scalar(con, f"SELECT count(*) FROM {FIRST_RESPONSE_TABLE}")  # noqa: S608
        for table in _TEMP_TABLES:
            con.execute(f"DROP TABLE IF EXISTS {table}")
        con.commit()
    except BaseException:
        con.rollback()
        raise
    finally:
        con.execute(f"SET preserve_insertion_order = {'true' if keep_order else 'false'}")
    return RefreshStats(
        mode=mode,
        reason=reason,
        leads_recomputed=int(total),
        inserted=int(inserted),
        updated=int(updated),
        unchanged=int(unchanged),
        kept_earlier=int(kept),
        sla_changed=sla_changed,
        rows_total=int(rows_total),
        synced_from=from_warehouse_ts(mark_from),
        synced_through=from_warehouse_ts(mark_to if mark_to is not None else mark_from),
        seconds=time.perf_counter() - started,
        timings=timings,
    )


def refresh_first_response(
    con: duckdb.DuckDBPyConnection, policy: RoutingPolicy, *, now: datetime
) -> RefreshStats:
    """Bring `salesops.lead_first_response` up to date with the raw tables, in one transaction.

    Recomputes only the leads touched by raw rows loaded since the last refresh (everything on
    the first refresh or after a TTFR-relevant policy change), merges them never-later, and
    re-evaluates every open lead's SLA status at `now` (aware). Must not be called inside an
    open transaction. A rerun with nothing new changes no row.
    """
    return _refresh(con, policy, now=now, force_full=False, reset=False)


def recompute_all(
    con: duckdb.DuckDBPyConnection,
    policy: RoutingPolicy,
    *,
    now: datetime,
    reset: bool = False,
) -> RefreshStats:
    """Recompute every lead from the raw tables (benchmarks, policy changes, repairs).

    Still never later: each lead's stored response is kept when it is earlier than what the
    raw tables now give. `reset=True` discards the stored responses first, so values may move
    later (a deleted first response is forgotten): only when that is what a person asked for.
    """
    return _refresh(con, policy, now=now, force_full=True, reset=reset)

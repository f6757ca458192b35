"""What the TTFR asset checks verify, as plain functions over the warehouse.

Each returns a `Finding`: how many leads break the rule and up to `limit` of their Ids (smallest
first, so a rerun names the same ones), with a short note per lead a person can act on. They only
read (a read-only connection will do) and pass trivially before the mart exists. The Dagster
checks in `defs/first_response` wrap them; the ones guarding the publish are blocking.

- `negative_ttfr`: no lead has a negative `ttfr_minutes` or `ttfr_business_minutes`.
- `response_before_creation`: no first response precedes the lead's creation (the stored
  `lead_created_at` or the raw Lead's current CreatedDate).
- `one_row_per_lead`: every raw Lead the last refresh covered has exactly one row, and every row
  a raw Lead.
- `planned_writes_move_later`: no planned write would set a lead's First_Response_At__c later
  than (or equal to) what Salesforce holds, or to anything but the mart's value, and each carries
  all four fields. A computed value later than Salesforce's is not planned at all, which is not a
  failure; this check proves the plan kept that promise.
- `unresolvable_responders`: a Task response names a User in `salesforce."user"`; an
  EmailMessage response names an e-mail address.
(Writes that failed for good are reported by `warehouse.writes.permanent_write_failures`, the
same for every publish.)
"""

from __future__ import annotations

from collections.abc import Sequence

import duckdb

from salesops_dagster.findings import Finding
from salesops_dagster.first_response.publish import (
    FIELD_NAMES,
    PURPOSE,
    held_first_response,
    moves_later,
    plan_first_response_writes,
)
from salesops_dagster.first_response.sql import FIRST_RESPONSE_TABLE, STATE_TABLE, mart_exists
from salesops_dagster.salesforce.fields import FIRST_RESPONSE_AT
from salesops_dagster.salesforce.writer import PlannedWrite, same_value
from salesops_dagster.warehouse.connection import from_warehouse_ts

LIMIT = 20

# A deliberately loose address test: something@something.tld, no spaces.
EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"


def _finding(con: duckdb.DuckDBPyConnection, sql: str, limit: int, **params: object) -> Finding:
    """Run `sql` (selecting lead_id, note) as count + first `limit` rows by lead_id; nothing to
    find before the first refresh has created the mart."""
    if not mart_exists(con):
        return Finding()
    rows = con.execute(f"SELECT count(*) FROM ({sql})", params).fetchall()  # noqa: S608
    count = int(rows[0][0]) if rows else 0
    if not count:
        return Finding()
    sample = con.execute(
        f"SELECT lead_id, note FROM ({sql}) ORDER BY lead_id LIMIT {int(limit)}",  # noqa: S608
        params,
    ).fetchall()
    return Finding(count, {lead_id: note for lead_id, note in sample})


def negative_ttfr(con: duckdb.DuckDBPyConnection, *, limit: int = LIMIT) -> Finding:
    return _finding(
        con,
        f"""
        SELECT lead_id,
               'ttfr_minutes ' || coalesce(ttfr_minutes::VARCHAR, 'NULL')
               || ', ttfr_business_minutes ' || coalesce(ttfr_business_minutes::VARCHAR, 'NULL')
               AS note
        FROM {FIRST_RESPONSE_TABLE}
        WHERE ttfr_minutes < 0 OR ttfr_business_minutes < 0
        """,  # noqa: S608 - constant names
        limit,
    )


def response_before_creation(con: duckdb.DuckDBPyConnection, *, limit: int = LIMIT) -> Finding:
    return _finding(
        con,
        f"""
        SELECT f.lead_id,
               'first response ' || f.first_response_at::VARCHAR || ' (' ||
               f.first_response_source || ' ' || coalesce(f.first_response_record_id, '?')
               || ') before the lead was created ' ||
               least(f.lead_created_at, coalesce(l."CreatedDate", f.lead_created_at))::VARCHAR
               AS note
        FROM {FIRST_RESPONSE_TABLE} AS f
        LEFT JOIN salesforce.lead AS l ON l."Id" = f.lead_id
        WHERE f.first_response_at < f.lead_created_at
           OR f.first_response_at < l."CreatedDate"
        """,  # noqa: S608 - constant names
        limit,
    )


def one_row_per_lead(con: duckdb.DuckDBPyConnection, *, limit: int = LIMIT) -> Finding:
    """Exactly one row per raw Lead the last refresh covered (leads loaded since are not due
    yet, so an ingest between the refresh and this check is no failure), none for unknown Ids."""
    return _finding(
        con,
        f"""
        WITH rows AS (
            SELECT lead_id, count(*) AS n FROM {FIRST_RESPONSE_TABLE} GROUP BY lead_id
        ), leads AS (
            SELECT "Id" AS lead_id,
                   bool_or(_synced_at <= (SELECT last_synced_at FROM {STATE_TABLE})) AS covered
            FROM salesforce.lead
            GROUP BY "Id"
        )
        SELECT coalesce(r.lead_id, l.lead_id) AS lead_id,
               CASE
                   WHEN r.lead_id IS NULL THEN 'raw lead without a row'
                   WHEN l.lead_id IS NULL THEN 'row without a raw lead'
                   ELSE r.n::VARCHAR || ' rows'
               END AS note
        FROM rows AS r
        FULL OUTER JOIN leads AS l ON l.lead_id = r.lead_id
        WHERE (r.lead_id IS NULL AND coalesce(l.covered, false))
           OR l.lead_id IS NULL
           OR r.n <> 1
        """,  # noqa: S608 - constant names
        limit,
    )


def unresolvable_responders(con: duckdb.DuckDBPyConnection, *, limit: int = LIMIT) -> Finding:
    return _finding(
        con,
        f"""
        SELECT f.lead_id,
               f.first_response_source || ' ' || coalesce(f.first_response_record_id, '?')
               || ': responder ' || coalesce('''' || f.first_response_user || '''', 'missing')
               || CASE f.first_response_source
                      WHEN 'Task' THEN ' is not a User in salesforce."user"'
                      ELSE ' is not an e-mail address' END AS note
        FROM {FIRST_RESPONSE_TABLE} AS f
        LEFT JOIN salesforce."user" AS u ON u."Id" = f.first_response_user
        WHERE f.first_response_at IS NOT NULL AND (
            f.first_response_source NOT IN ('Task', 'EmailMessage')
            OR (f.first_response_source = 'Task' AND u."Id" IS NULL)
            OR (f.first_response_source = 'EmailMessage'
                AND NOT regexp_full_match(coalesce(f.first_response_user, ''), $pattern))
        )
        """,  # noqa: S608 - constant names
        limit,
        pattern=EMAIL_PATTERN,
    )


def planned_writes_move_later(
    con: duckdb.DuckDBPyConnection,
    planned: Sequence[PlannedWrite] | None = None,
    *,
    limit: int = LIMIT,
) -> Finding:
    """Verify a plan (by default, the plan `plan_first_response_writes` makes now)."""
    if not mart_exists(con):
        return Finding()
    if planned is None:
        planned = plan_first_response_writes(con)
    planned = [w for w in planned if w.purpose == PURPOSE]
    if not planned:
        return Finding()
    ids = [w.record_id for w in planned]
    held = held_first_response(con, ids)
    computed = dict(
        con.execute(
            f"""
            SELECT f.lead_id, f.first_response_at
            FROM {FIRST_RESPONSE_TABLE} AS f
            JOIN (SELECT unnest($ids) AS lead_id) AS p ON p.lead_id = f.lead_id
            """,  # noqa: S608 - constant name
            {"ids": ids},
        ).fetchall()
    )
    problems: dict[str, str] = {}
    at_name = FIRST_RESPONSE_AT.api_name
    for write in planned:
        lead_id = write.record_id
        if set(write.fields) != set(FIELD_NAMES):
            problems[lead_id] = f"fields {sorted(write.fields)} are not the four First_Response"
            continue
        value = write.fields[at_name]
        held_at = held.get(lead_id, {}).get(at_name)
        if moves_later(value, held_at):
            problems[lead_id] = f"would write {value.isoformat()} over the earlier {held_at}"
            continue
        mart = from_warehouse_ts(computed.get(lead_id))
        if mart is None or not same_value(value, mart):
            problems[lead_id] = f"plans {value.isoformat()} but the mart holds {mart}"
    return Finding.of(problems, limit)

"""Which leads get their four First_Response fields written to Salesforce, with what values.

A lead is written when it has a first response, is neither converted nor deleted (in the mart or in
the raw copy, whichever knows it first), and Salesforce's current `First_Response_At__c` (as far as
the warehouse knows: `warehouse.writes.held_values`, the raw copy overlaid with our own successful
writes since it was loaded) is empty or later than the computed one, compared to the millisecond
Salesforce keeps. Then all four fields go in one record update (`PlannedWrite`), so they land
together or not at all.

A computed value later than Salesforce's is simply not planned: the never-later rule holds on the
Salesforce side too, even when the earlier value there came from somewhere else. Writes whose
exact values already failed for good are not planned again (`drop_known_failures`), and a rerun
with no new activity plans nothing (`only_changed` against the held values, which include what we
just wrote).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import duckdb

from salesops_dagster.salesforce.fields import (
    FIRST_RESPONSE_AT,
    FIRST_RESPONSE_FIELDS,
    FIRST_RESPONSE_SOURCE,
    FIRST_RESPONSE_USER,
    TIME_TO_FIRST_RESPONSE,
)
from salesops_dagster.salesforce.soql import parse_sf_datetime
from salesops_dagster.salesforce.writer import (
    PlannedWrite,
    drop_known_failures,
    gc_paused,
    only_changed,
)
from salesops_dagster.warehouse.connection import from_warehouse_ts, table_exists
from salesops_dagster.warehouse.writes import held_values, permanent_failures

PURPOSE = "first_response"
SOBJECT = "Lead"
FIELD_NAMES = tuple(f.api_name for f in FIRST_RESPONSE_FIELDS)

# Above this many leads, reading every lead's held values at once is cheaper than filtering the
# raw table by a list of Ids that long.
_HELD_BY_ID_LIMIT = 100_000

# Leads that may need a write: the raw copy says empty or later, or a successful write of ours
# since the raw row was loaded overrides the raw copy (held_values decides those).
_CANDIDATES = """
WITH overlay AS ({overlay})
SELECT f.lead_id, f.first_response_at, f.first_response_user, f.first_response_source,
       f.ttfr_minutes, f.first_response_record_id
FROM salesops.lead_first_response AS f
JOIN salesforce.lead AS l ON l."Id" = f.lead_id
WHERE f.first_response_at IS NOT NULL
  AND NOT f.is_deleted AND NOT f.is_converted
  AND NOT l._is_deleted AND NOT coalesce(l."IsConverted", false)
  AND (
      l."First_Response_At__c" IS NULL
      OR date_trunc('millisecond', l."First_Response_At__c")
         > date_trunc('millisecond', f.first_response_at)
      OR f.lead_id IN (SELECT record_id FROM overlay)
  )
ORDER BY f.lead_created_at, f.lead_id
"""
_OVERLAY = """
SELECT DISTINCT w.record_id
FROM salesops.salesforce_write AS w
JOIN salesforce.lead AS r ON r."Id" = w.record_id
WHERE w.sobject = 'Lead' AND w.success AND w.attempted_at > r._synced_at
"""
_NO_OVERLAY = "SELECT NULL::VARCHAR AS record_id WHERE false"


def _millis(value: datetime) -> datetime:
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


def as_utc(value: Any) -> datetime | None:
    """A held First_Response_At__c (naive-UTC datetime from the raw copy, wire text from the
    write overlay) as an aware UTC datetime; None when empty or unreadable."""
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if isinstance(value, str) and value:
        try:
            return parse_sf_datetime(value)
        except ValueError:
            return None
    return None


def moves_later(computed_at: datetime, held_at: Any) -> bool:
    """Whether writing `computed_at` over `held_at` would move the value later (or keep it):
    True unless Salesforce holds nothing or a strictly later instant (to the millisecond)."""
    held = as_utc(held_at)
    if held is None:
        return held_at not in (None, "")  # unreadable text: never overwrite what we cannot read
    return _millis(held) <= _millis(computed_at)


def held_first_response(
    con: duckdb.DuckDBPyConnection, lead_ids: list[str]
) -> dict[str, dict[str, Any]]:
    """The four fields as Salesforce holds them for `lead_ids` (`warehouse.writes.held_values`)."""
    if len(lead_ids) > _HELD_BY_ID_LIMIT:
        return held_values(con, SOBJECT, list(FIELD_NAMES))
    return held_values(con, SOBJECT, list(FIELD_NAMES), lead_ids)


def planned_write(
    lead_id: str,
    first_response_at: datetime,
    user: str | None,
    source: str,
    ttfr_minutes: Any,
    record_id: str | None,
) -> PlannedWrite:
    """The one record update carrying a lead's four fields (`first_response_at` aware UTC)."""
    return PlannedWrite(
        sobject=SOBJECT,
        record_id=lead_id,
        fields={
            FIRST_RESPONSE_AT.api_name: first_response_at,
            FIRST_RESPONSE_USER.api_name: user,
            FIRST_RESPONSE_SOURCE.api_name: source,
            TIME_TO_FIRST_RESPONSE.api_name: ttfr_minutes,
        },
        purpose=PURPOSE,
        source_key=record_id,
    )


@gc_paused()
def plan_first_response_writes(con: duckdb.DuckDBPyConnection) -> list[PlannedWrite]:
    """The First_Response writes this run should send, oldest lead first; [] when nothing new.

    `source_key` is the Task or EmailMessage Id of the response written.
    """
    if not table_exists(con, "salesops", "lead_first_response"):
        return []
    overlay = _OVERLAY if table_exists(con, "salesops", "salesforce_write") else _NO_OVERLAY
    rows = con.execute(_CANDIDATES.format(overlay=overlay)).fetchall()
    if not rows:
        return []
    held = held_first_response(con, [row[0] for row in rows])
    planned = []
    for lead_id, at, user, source, ttfr, record_id in rows:
        computed = from_warehouse_ts(at)
        assert computed is not None
        if moves_later(computed, held.get(lead_id, {}).get(FIRST_RESPONSE_AT.api_name)):
            continue
        planned.append(planned_write(lead_id, computed, user, source, ttfr, record_id))
    planned = only_changed(planned, held)
    permanent = permanent_failures(con, PURPOSE)
    # Only leads with a failure on record can match one; sparing the others the key (canonical
    # JSON) keeps a first publish of a million leads from paying for it a million times.
    failed_ids = {record_id for record_id, _ in permanent}
    suspects = [w for w in planned if w.record_id in failed_ids]
    if not suspects:
        return planned
    kept = {id(w) for w in drop_known_failures(suspects, permanent)}
    return [w for w in planned if w.record_id not in failed_ids or id(w) in kept]

"""First-response SLA: the status rule, open breaches, and the statistics a materialisation shows.

The rule
--------
- A lead's SLA is its segment's `sla_minutes`, else the policy's `first_touch.default_sla_minutes`
  (`RoutingPolicy.sla_minutes`); a lead with neither has no SLA and a NULL `sla_status`.
- SLA minutes are **business minutes** of the lead's region (the same calendar as
  `ttfr_business_minutes`): a lead created on Friday evening is not breached over the weekend.
- `sla_due_at` is the last instant at which the lead has been waiting no more than `sla_minutes`
  business minutes: the moment the calendar has accumulated them after creation, moved to the next
  opening when that moment is a closing time (waiting over a closed night adds nothing).
- Responded leads: `responded_within_sla` when `first_response_at <= sla_due_at` (that is,
  `ttfr_business_minutes <= sla_minutes`), else `responded_late`. Final: a later refresh only
  changes it if the first response moves earlier.
- Open leads (no response yet): `open_breached` when the refresh's `now` is past `sla_due_at`,
  else `open_within_sla`. This one depends on time, so every refresh re-evaluates it for every open
  lead (`refresh_open_sla`: one UPDATE over the open rows whose status flips; cheap, the table is
  column-stored and open leads are few). The stored status is therefore "as of the last refresh",
  whose `now` is `salesops._ttfr_state.refreshed_at`.

`salesops.lead_sla_breach` (a view) lists the open breaches a person should act on: open, breached,
lead neither converted nor deleted, with the lead's current owner and how overdue it was at the
last refresh.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import duckdb

from salesops_dagster.warehouse.connection import from_warehouse_ts, table_exists, to_warehouse_ts

RESPONDED_WITHIN = "responded_within_sla"
RESPONDED_LATE = "responded_late"
OPEN_WITHIN = "open_within_sla"
OPEN_BREACHED = "open_breached"
SLA_STATUSES = (RESPONDED_WITHIN, RESPONDED_LATE, OPEN_WITHIN, OPEN_BREACHED)

BREACH_VIEW = "salesops.lead_sla_breach"


def status_sql(
    responded_at: str = "first_response_at",
    sla_minutes: str = "sla_minutes",
    due_at: str = "sla_due_at",
    now: str = "$now",
) -> str:
    """The SQL CASE giving `sla_status` from the named columns and the `now` expression."""
    return f"""CASE
        WHEN {sla_minutes} IS NULL THEN NULL
        WHEN {responded_at} IS NOT NULL THEN
            CASE WHEN {due_at} IS NULL OR {responded_at} <= {due_at}
                 THEN '{RESPONDED_WITHIN}' ELSE '{RESPONDED_LATE}' END
        WHEN {due_at} IS NOT NULL AND {now} > {due_at} THEN '{OPEN_BREACHED}'
        ELSE '{OPEN_WITHIN}'
    END"""


def refresh_open_sla(con: duckdb.DuckDBPyConnection, now: datetime) -> int:
    """Re-evaluate every open lead's status at `now`; return how many rows changed.

    Rows change only when their status flips (stamped `computed_at = now`), so a rerun at the
    same `now` changes nothing.
    """
    status = status_sql(now="CAST($now AS TIMESTAMP)")
    rows = con.execute(
        f"""
        UPDATE salesops.lead_first_response
        SET sla_status = {status}, computed_at = CAST($now AS TIMESTAMP)
        WHERE first_response_at IS NULL
          AND sla_minutes IS NOT NULL
          AND sla_status IS DISTINCT FROM {status}
        """,  # noqa: S608 - constant names, `now` bound
        {"now": to_warehouse_ts(now)},
    ).fetchall()
    return int(rows[0][0]) if rows else 0


BREACH_VIEW_SQL = f"""
CREATE OR REPLACE VIEW {BREACH_VIEW} AS
SELECT
    f.lead_id,
    lead."OwnerId" AS owner_id,
    f.segment,
    f.region,
    f.lead_created_at,
    f.sla_minutes,
    f.sla_due_at,
    state.refreshed_at AS as_of,
    round((epoch_us(state.refreshed_at) - epoch_us(f.sla_due_at)) / 60000000.0, 2)
        AS overdue_minutes
FROM salesops.lead_first_response AS f
JOIN salesforce.lead AS lead ON lead."Id" = f.lead_id
CROSS JOIN salesops._ttfr_state AS state
WHERE f.sla_status = '{OPEN_BREACHED}'
  AND NOT f.is_deleted
  AND NOT f.is_converted
"""  # noqa: S608 - constant names


def open_breaches(con: duckdb.DuckDBPyConnection, limit: int = 50) -> list[dict[str, Any]]:
    """The most overdue open breaches (as of the last refresh), for asset metadata; [] before
    the first refresh. Only reads."""
    if not (
        table_exists(con, "salesops", "lead_first_response")
        and table_exists(con, "salesops", "_ttfr_state")
    ):
        return []
    cursor = con.execute(
        f"""
        SELECT lead_id, owner_id, segment, region, lead_created_at, sla_minutes, sla_due_at,
               overdue_minutes
        FROM {BREACH_VIEW}
        ORDER BY sla_due_at, lead_id
        LIMIT $limit
        """,  # noqa: S608 - constant names
        {"limit": limit},
    )
    names = [d[0] for d in cursor.description]
    out = []
    for row in cursor.fetchall():
        item = dict(zip(names, row, strict=True))
        for key in ("lead_created_at", "sla_due_at"):
            item[key] = from_warehouse_ts(item[key])
        item["overdue_minutes"] = float(item["overdue_minutes"])
        out.append(item)
    return out


def _number(value: Any) -> float | None:
    return None if value is None else round(float(value), 2)


def first_response_stats(con: duckdb.DuckDBPyConnection) -> dict[str, Any]:
    """Figures for materialisation metadata (plain ints and floats; None where undefined).

    Over leads that are not deleted (converted ones included: they were answered or not):
    `leads`, `leads_responded`, `response_rate`, p50/p90 of `ttfr_minutes` and of
    `ttfr_business_minutes` over responded leads, the SLA status counts, `open_breaches` (open,
    breached, not converted: what `lead_sla_breach` lists) and `share_within_sla` = within /
    (within + late + open breaches): of the leads whose SLA outcome is known, the share answered
    in time. Only reads; before the first refresh every count is 0.
    """
    if not table_exists(con, "salesops", "lead_first_response"):
        return {
            "leads": 0,
            "leads_responded": 0,
            "response_rate": None,
            "ttfr_p50_minutes": None,
            "ttfr_p90_minutes": None,
            "ttfr_business_p50_minutes": None,
            "ttfr_business_p90_minutes": None,
            "responded_within_sla": 0,
            "responded_late": 0,
            "open_within_sla": 0,
            "open_breaches": 0,
            "share_within_sla": None,
        }
    row = con.execute(
        f"""
        SELECT
            count(*) AS leads,
            count(first_response_at) AS leads_responded,
            quantile_cont(ttfr_minutes::DOUBLE, 0.5) AS ttfr_p50_minutes,
            quantile_cont(ttfr_minutes::DOUBLE, 0.9) AS ttfr_p90_minutes,
            quantile_cont(ttfr_business_minutes::DOUBLE, 0.5) AS ttfr_business_p50_minutes,
            quantile_cont(ttfr_business_minutes::DOUBLE, 0.9) AS ttfr_business_p90_minutes,
            count(*) FILTER (WHERE sla_status = '{RESPONDED_WITHIN}') AS responded_within_sla,
            count(*) FILTER (WHERE sla_status = '{RESPONDED_LATE}') AS responded_late,
            count(*) FILTER (WHERE sla_status = '{OPEN_WITHIN}' AND NOT is_converted)
                AS open_within_sla,
            count(*) FILTER (WHERE sla_status = '{OPEN_BREACHED}' AND NOT is_converted)
                AS open_breaches
        FROM salesops.lead_first_response
        WHERE NOT is_deleted
        """  # noqa: S608 - constant names
    ).fetchall()[0]
    (
        leads,
        responded,
        p50,
        p90,
        bp50,
        bp90,
        within,
        late,
        open_within,
        breaches,
    ) = row
    decided = within + late + breaches
    return {
        "leads": int(leads),
        "leads_responded": int(responded),
        "response_rate": round(responded / leads, 4) if leads else None,
        "ttfr_p50_minutes": _number(p50),
        "ttfr_p90_minutes": _number(p90),
        "ttfr_business_p50_minutes": _number(bp50),
        "ttfr_business_p90_minutes": _number(bp90),
        "responded_within_sla": int(within),
        "responded_late": int(late),
        "open_within_sla": int(open_within),
        "open_breaches": int(breaches),
        "share_within_sla": round(within / decided, 4) if decided else None,
    }

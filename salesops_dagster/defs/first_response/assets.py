"""Time to first response per lead, with SLA status."""

from datetime import UTC, datetime

import dagster as dg

from salesops_dagster.first_response.sla import first_response_stats, open_breaches
from salesops_dagster.first_response.sql import refresh_first_response
from salesops_dagster.warehouse.resource import WAREHOUSE_POOL, WarehouseResource

from ..results import markdown_table
from ..routing.assets import AFTER_INGEST, load_current_policy

RAW_DEPS = [
    dg.AssetKey(["salesforce", name])
    for name in ("lead", "task", "email_message", "email_message_relation", "user")
]


def _breach_table(rows: list[dict]) -> str:
    if not rows:
        return "No open lead is past its SLA."
    header = ["lead", "segment", "region", "created", "due", "overdue (min)"]
    table = [
        [
            r["lead_id"],
            r.get("segment"),
            r.get("region"),
            f"{r['lead_created_at']:%Y-%m-%d %H:%M}",
            f"{r['sla_due_at']:%Y-%m-%d %H:%M}",
            f"{r['overdue_minutes']:.0f}",
        ]
        for r in rows
    ]
    return markdown_table(header, table)


@dg.asset(
    key=["salesops", "lead_first_response"],
    group_name="first_response",
    kinds={"duckdb"},
    deps=RAW_DEPS,
    pool=WAREHOUSE_POOL,
    automation_condition=AFTER_INGEST,
    metadata={"dagster/table_name": "salesops.lead_first_response"},
)
def lead_first_response(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
    """When, by whom and through which channel each lead was first answered: the earliest
    counted Task or outbound, non-draft EmailMessage (linked by EmailMessageRelation or by
    ActivityId) at or after the lead's creation, ties Task first, then record Id. Computed in
    DuckDB SQL for the leads touched since the last run only; a value never moves later, even
    when its response is deleted. Carries TTFR in minutes and in business minutes (the region's
    calendar) and the SLA status per the policy's segment SLA; open breaches are listed in
    `salesops.lead_sla_breach` and below."""
    now = datetime.now(UTC)
    with warehouse.get_connection() as con:
        policy = load_current_policy(con).policy
        refresh = refresh_first_response(con, policy, now=now)
        stats = first_response_stats(con)
        breaches = open_breaches(con, limit=25)
    context.log.info(
        f"{refresh.mode} refresh ({refresh.reason}): {refresh.leads_recomputed} leads recomputed, "
        f"{refresh.inserted} new, {refresh.updated} updated, {refresh.kept_earlier} kept earlier"
    )
    figures = {k: v for k, v in stats.items() if isinstance(v, int | float) and v is not None}
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": refresh.rows_total,
            "refresh_mode": refresh.mode,
            "leads_recomputed": refresh.leads_recomputed,
            "rows_changed": refresh.changed,
            "refresh_seconds": round(refresh.seconds, 3),
            **figures,
            "open_breaches_list": dg.MetadataValue.md(_breach_table(breaches)),
        }
    )

"""Which routing decisions to write to Salesforce, and with what values.

A decision is written once: its lead gets `OwnerId`, `Owner_Assigned_At__c` (when we wrote it)
and `Assignment_Latency_Minutes__c` (CreatedDate to that moment) in one record update. Only the
latest decision of a lead that still sits in an intake queue is written: a lead a person already
took (owner no longer a queue of the policy) is never overwritten, converted and deleted leads are
skipped, and a decision whose write failed for good is not sent again.
"""

from __future__ import annotations

from datetime import datetime

import duckdb

from salesops_dagster.policy.loader import LoadedPolicy
from salesops_dagster.salesforce.fields import ASSIGNMENT_LATENCY_MINUTES, OWNER_ASSIGNED_AT
from salesops_dagster.salesforce.writer import PlannedWrite, gc_paused, only_changed
from salesops_dagster.warehouse.connection import from_warehouse_ts, table_exists
from salesops_dagster.warehouse.writes import held_values

PURPOSE = "routing"
WRITTEN_FIELDS = ("OwnerId", OWNER_ASSIGNED_AT.api_name, ASSIGNMENT_LATENCY_MINUTES.api_name)

_PENDING = """
WITH latest AS (
    SELECT * FROM salesops.lead_routing_decision
    QUALIFY row_number() OVER (PARTITION BY lead_id ORDER BY attempt DESC) = 1
), attempts AS (
    SELECT source_key, bool_or(status = 'written') AS written,
           bool_or(status = 'failed' AND NOT retryable) AS failed_for_good
    FROM {writes}
    WHERE purpose = 'routing'
    GROUP BY source_key
)
SELECT d.decision_id, d.lead_id, d.owner_id, l."CreatedDate"
FROM latest AS d
JOIN salesforce.lead AS l ON l."Id" = d.lead_id
LEFT JOIN attempts AS a ON a.source_key = d.decision_id
WHERE NOT l."IsDeleted" AND NOT coalesce(l."IsConverted", false)
  AND list_contains($queues, l."OwnerId")
  AND NOT coalesce(a.written, false)
  AND NOT coalesce(a.failed_for_good, false)
ORDER BY l."CreatedDate", d.lead_id
"""


@gc_paused()
def plan_owner_writes(
    con: duckdb.DuckDBPyConnection, loaded: LoadedPolicy, *, now: datetime
) -> list[PlannedWrite]:
    """The owner writes this run should send (empty on a rerun with nothing new)."""
    if not table_exists(con, "salesops", "lead_routing_decision"):
        return []
    writes = (
        "salesops.salesforce_write"
        if table_exists(con, "salesops", "salesforce_write")
        else "(SELECT NULL::VARCHAR AS source_key, NULL::VARCHAR AS purpose, "
        "NULL::VARCHAR AS status, NULL::BOOLEAN AS retryable WHERE false)"
    )
    rows = con.execute(
        _PENDING.format(writes=writes), {"queues": list(loaded.policy.intake_queues)}
    ).fetchall()
    planned = [
        PlannedWrite(
            sobject="Lead",
            record_id=lead_id,
            fields={
                "OwnerId": owner_id,
                OWNER_ASSIGNED_AT.api_name: now,
                ASSIGNMENT_LATENCY_MINUTES.api_name: round(
                    (now - from_warehouse_ts(created)).total_seconds() / 60, 2
                ),
            },
            purpose=PURPOSE,
            source_key=decision_id,
        )
        for decision_id, lead_id, owner_id, created in rows
    ]
    held = held_values(con, "Lead", list(WRITTEN_FIELDS), [p.record_id for p in planned])
    return only_changed(planned, held)

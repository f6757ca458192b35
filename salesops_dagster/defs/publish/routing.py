"""The owner write-back of routing decisions."""

from datetime import UTC, datetime

import dagster as dg

from salesops_dagster.routing.publish import PURPOSE, plan_owner_writes
from salesops_dagster.salesforce.resource import SalesforceResource
from salesops_dagster.warehouse.resource import WAREHOUSE_POOL, WarehouseResource

from ..routing.assets import lead_routing_decision, load_current_policy
from .writes import AFTER_CHECKS, permanent_failures_result, publish


@dg.asset(
    key=["salesforce_publish", "lead_owner"],
    group_name="publish",
    kinds={"salesforce"},
    deps=[lead_routing_decision],
    automation_condition=AFTER_CHECKS,
    # Planning and writing must not interleave with another publish (it would send the same
    # leads twice), and the writer records every attempt in the warehouse: one at a time.
    pool=WAREHOUSE_POOL,
)
def lead_owner_publish(
    context: dg.AssetExecutionContext,
    salesforce: SalesforceResource,
    warehouse: WarehouseResource,
):
    """Writes each new routing decision to its Lead: `OwnerId`, `Owner_Assigned_At__c` and
    `Assignment_Latency_Minutes__c` in one record update, with `Sforce-Auto-Assign: FALSE` so
    assignment rules never move the owner. Only leads still in an intake queue are written: an
    owner a person changed is never overwritten. Runs only when the blocking routing checks
    passed; a rerun writes nothing."""
    now = datetime.now(UTC)

    def plan(con):
        return plan_owner_writes(con, load_current_policy(con), now=now)

    return publish(context, salesforce, warehouse, plan)


@dg.asset_check(asset=lead_owner_publish)
def owner_writes_without_permanent_failures(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    """Warns about leads whose owner write failed for good (converted, deleted, validation)."""
    return permanent_failures_result(warehouse, PURPOSE)

"""The first-response write-back."""

import dagster as dg

from salesops_dagster.first_response.publish import PURPOSE, plan_first_response_writes
from salesops_dagster.salesforce.resource import SalesforceResource
from salesops_dagster.warehouse.resource import WAREHOUSE_POOL, WarehouseResource

from ..first_response.assets import lead_first_response
from .writes import AFTER_CHECKS, permanent_failures_result, publish


@dg.asset(
    key=["salesforce_publish", "lead_first_response"],
    group_name="publish",
    kinds={"salesforce"},
    deps=[lead_first_response],
    automation_condition=AFTER_CHECKS,
    pool=WAREHOUSE_POOL,
)
def lead_first_response_publish(
    context: dg.AssetExecutionContext,
    salesforce: SalesforceResource,
    warehouse: WarehouseResource,
):
    """Writes First_Response_At__c, First_Response_User__c, First_Response_Source__c and
    Time_to_First_Response__c together in one record update, only where Salesforce's value is
    empty or later than the computed one; converted and deleted leads are skipped. Runs only
    when the blocking first-response checks passed; a rerun with no new activity writes
    nothing."""
    return publish(context, salesforce, warehouse, plan_first_response_writes)


@dg.asset_check(asset=lead_first_response_publish)
def first_response_writes_without_permanent_failures(
    warehouse: WarehouseResource,
) -> dg.AssetCheckResult:
    """Warns about leads whose first-response write failed for good (validation rule,
    converted or deleted lead); retryable failures are sent again by the next run."""
    return permanent_failures_result(warehouse, PURPOSE)

"""What every publish asset shares: run the writer, describe the outcome, check failures."""

from collections.abc import Callable

import dagster as dg

from salesops_dagster import settings
from salesops_dagster.salesforce.resource import SalesforceResource
from salesops_dagster.salesforce.writer import PlannedWrite, SalesforceWriter
from salesops_dagster.warehouse.resource import WarehouseResource
from salesops_dagster.warehouse.writes import permanent_write_failures

from ..results import check_result

# Publishes run after their source asset and only when its blocking checks passed.
AFTER_CHECKS = (
    dg.AutomationCondition.any_deps_updated()
    & dg.AutomationCondition.all_deps_blocking_checks_passed()
    & ~dg.AutomationCondition.any_deps_in_progress()
    & ~dg.AutomationCondition.in_progress()
)


def publish(
    context: dg.AssetExecutionContext,
    salesforce: SalesforceResource,
    warehouse: WarehouseResource,
    plan: Callable[..., list[PlannedWrite]],
) -> dg.MaterializeResult:
    """Plan (with a short warehouse connection), write, and report. A write the writer had to
    stop (API budget reserve, REQUEST_LIMIT_EXCEEDED, an outage) fails the run after every
    attempt is recorded, so the next run sends exactly what is missing."""
    with warehouse.get_connection() as con:
        planned = plan(con)
    context.log.info(f"{len(planned)} record(s) to write")
    report = SalesforceWriter(
        salesforce.client(),
        warehouse.database,
        bulk_threshold=settings.write_bulk_threshold(),
        api_reserve=settings.api_reserve(),
        run_id=context.run.run_id,
    ).write(planned)
    metadata = {"writes_planned": len(planned), **report.metadata()}
    if report.stopped_reason:
        raise dg.Failure(description=report.stopped_reason, metadata=metadata)
    return dg.MaterializeResult(metadata=metadata)


def permanent_failures_result(warehouse: WarehouseResource, purpose: str) -> dg.AssetCheckResult:
    """Records whose latest write attempt failed for good (validation rule, converted or deleted
    lead): they will not be retried with the same values, so a person should look."""
    with warehouse.get_connection() as con:
        finding = permanent_write_failures(con, purpose)
    return check_result(
        finding, "records whose write failed for good", severity=dg.AssetCheckSeverity.WARN
    )

"""The code location: every domain's definitions, with the resources bound once."""

import dagster as dg

from salesops_dagster import settings
from salesops_dagster.defs import ingest
from salesops_dagster.salesforce.resource import SalesforceResource
from salesops_dagster.warehouse.resource import WarehouseResource

# `salesops sync` and `salesops demo` run this job; in `dagster dev` the sensor launches the same
# selection. It grows as domains are added.
sync_job = dg.define_asset_job(
    name="salesops_sync",
    selection=dg.AssetSelection.groups("ingest"),
    description="One incremental pass: ingest since the watermarks.",
    executor_def=dg.in_process_executor,
)


def build_defs() -> dg.Definitions:
    """The definitions with resources bound from the environment as it is now (tests and
    `salesops sync` call this after setting SALESOPS_WAREHOUSE)."""
    return dg.Definitions.merge(
        ingest.defs,
        dg.Definitions(
            jobs=[sync_job],
            resources={
                "salesforce": SalesforceResource(),
                "warehouse": WarehouseResource(database=settings.warehouse_path()),
            },
        ),
    )


defs = build_defs()

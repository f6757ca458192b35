"""The code location: every domain's definitions, with the resources bound once."""

import dagster as dg

from salesops_dagster import settings
from salesops_dagster.defs import first_response, ingest, publish, routing
from salesops_dagster.salesforce.resource import SalesforceResource
from salesops_dagster.warehouse.resource import WarehouseResource

# `salesops sync` runs these two jobs one after the other; in `dagster dev` the change sensor
# launches ingest runs and the automation sensor runs what depends on them.
ingest_job = dg.define_asset_job(
    name="salesops_ingest",
    selection=dg.AssetSelection.groups("ingest"),
    description="Raw Salesforce objects since the watermarks (daily partitions).",
    executor_def=dg.in_process_executor,
)
transform_publish_job = dg.define_asset_job(
    name="salesops_transform_publish",
    selection=dg.AssetSelection.assets(
        routing.lead_routing_decision,
        first_response.lead_first_response,
        publish.lead_owner_publish,
        publish.lead_first_response_publish,
    ),
    description="Marts from the raw tables, their checks, and the write-back they allow.",
    executor_def=dg.in_process_executor,
)

automation = dg.AutomationConditionSensorDefinition(
    "salesops_automation",
    target=dg.AssetSelection.all(),
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Runs routing, TTFR and their publishes after each ingest, once checks pass.",
)


def build_defs() -> dg.Definitions:
    """The definitions with resources bound from the environment as it is now (tests and
    `salesops sync` call this after setting SALESOPS_WAREHOUSE)."""
    return dg.Definitions.merge(
        ingest.defs,
        routing.defs,
        first_response.defs,
        publish.defs,
        dg.Definitions(
            jobs=[ingest_job, transform_publish_job],
            sensors=[automation],
            resources={
                "salesforce": SalesforceResource(),
                "warehouse": WarehouseResource(database=settings.warehouse_path()),
            },
        ),
    )


defs = build_defs()

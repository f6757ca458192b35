"""Raw Salesforce objects in the warehouse: one asset per object, daily partitions on
SystemModstamp, written by one op so a run holds the DuckDB writer slot once."""

from datetime import UTC, datetime

import dagster as dg

from salesops_dagster import settings
from salesops_dagster.ingest.objects import OBJECTS, ObjectSpec
from salesops_dagster.ingest.pull import PullResult, pull_object
from salesops_dagster.salesforce.resource import SalesforceResource
from salesops_dagster.warehouse.resource import WAREHOUSE_POOL, WarehouseResource

# Runs tagged incremental pull everything past the watermarks (sensor, `salesops sync`); any other
# run (a backfill, a partition picked in the UI) re-pulls exactly its partitions' days.
INGEST_MODE_TAG = "salesops/ingest_mode"
INCREMENTAL = "incremental"
INGEST_RUN_TAG = "salesops/ingest"  # limited to one run in progress (dagster.yaml)

DAILY = dg.DailyPartitionsDefinition(start_date=settings.partitions_start(), end_offset=1)

_DESCRIPTIONS = {
    "Lead": "Salesforce Leads, latest version per Id (deleted ones flagged `_is_deleted`).",
    "Task": "Salesforce Tasks (calls, emails, to-dos): the activity TTFR reads.",
    "EmailMessage": "Salesforce EmailMessages, inbound and outbound, with drafts and status.",
    "EmailMessageRelation": "Who each EmailMessage was from and to (links emails to Leads).",
    "User": "Salesforce Users: responders, routing pool members, activity flags.",
    "Group": "Salesforce Groups, including the Queues leads are routed from and to.",
}


def raw_asset_key(spec: ObjectSpec) -> dg.AssetKey:
    return dg.AssetKey(["salesforce", spec.table])


RAW_ASSET_KEYS = [raw_asset_key(spec) for spec in OBJECTS]


def _metadata(result: PullResult, now: datetime) -> dict[str, dg.MetadataValue]:
    meta: dict[str, object] = {
        "rows_read": result.rows,
        "rows_inserted": result.stats.inserted,
        "rows_updated": result.stats.updated,
        "rows_deleted": result.stats.deleted,
        "rows_unchanged": result.stats.unchanged,
        "window_start": result.since.isoformat() if result.since else "beginning",
        "window_end": result.until.isoformat(),
        "api_calls": result.api_calls,
        "read_method": result.method,
    }
    if result.watermark is not None:
        meta["watermark"] = result.watermark.isoformat()
        meta["lag_seconds"] = round((now - result.watermark).total_seconds(), 1)
    return {k: dg.MetadataValue.text(v) if isinstance(v, str) else v for k, v in meta.items()}


@dg.multi_asset(
    name="salesforce_raw",
    specs=[
        dg.AssetSpec(
            raw_asset_key(spec),
            description=_DESCRIPTIONS[spec.sobject],
            group_name="ingest",
            kinds={"salesforce", "duckdb"},
            partitions_def=DAILY,
            metadata={"dagster/table_name": f'salesforce."{spec.table}"'},
        )
        for spec in OBJECTS
    ],
    partitions_def=DAILY,
    can_subset=True,
    backfill_policy=dg.BackfillPolicy.single_run(),
    pool=WAREHOUSE_POOL,
)
def salesforce_raw(
    context: dg.AssetExecutionContext,
    salesforce: SalesforceResource,
    warehouse: WarehouseResource,
):
    """Pull Lead, Task, EmailMessage, EmailMessageRelation, User and Group changes into schema
    `salesforce`, upserting by Id.

    Incremental runs (the change sensor, `salesops sync`) read `queryAll` from each object's
    watermark minus an overlap up to the run's start, page by page, each page committed with the
    watermark it covers. Other runs (backfills) re-read exactly their partitions' days and leave
    the watermarks alone. Windows larger than `SALESOPS_BULK_THRESHOLD` rows use Bulk API 2.0.
    """
    incremental = context.run.tags.get(INGEST_MODE_TAG) == INCREMENTAL
    now = datetime.now(UTC)
    since = until = now
    if not incremental:
        window = context.partition_time_window
        since, until = window.start.astimezone(UTC), min(window.end.astimezone(UTC), now)
    client = salesforce.client()
    selected = context.selected_asset_keys
    for spec in OBJECTS:
        key = raw_asset_key(spec)
        if key not in selected:
            continue
        result = pull_object(
            client,
            warehouse.database,
            spec,
            until=until,
            since=None if incremental else since,
            incremental=incremental,
            overlap=settings.ingest_overlap(),
            bulk_threshold=settings.bulk_threshold(),
            synced_at=now,
        )
        context.log.info(
            f"{spec.sobject}: {result.rows} rows read ({result.method}), "
            f"{result.stats.inserted} new, {result.stats.updated} updated, "
            f"{result.stats.deleted} deleted, {result.api_calls} API calls"
        )
        yield dg.MaterializeResult(asset_key=key, metadata=_metadata(result, now))

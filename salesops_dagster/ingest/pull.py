"""Pull one object's changes from Salesforce into the warehouse, batch by batch, losing nothing.

Pages are committed in batches, each in its own short DuckDB transaction together with the
watermark it covers,
so a failure at any point (network, 5xx, expired session, API limit, a killed process) leaves the
warehouse consistent and the next run resumes from the last committed page. Rows are read ordered
by (SystemModstamp, Id) and the next run starts `overlap` before the watermark: rows sharing a
stamp across a page boundary, and rows committed late by long Salesforce transactions, are read
again and upserted, never skipped. Nothing here depends on Dagster.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from simple_salesforce.exceptions import SalesforceMalformedRequest

from salesops_dagster.ingest.objects import ObjectSpec
from salesops_dagster.salesforce.client import SalesforceClient, changes_soql
from salesops_dagster.salesforce.soql import parse_sf_datetime
from salesops_dagster.warehouse.connection import connect
from salesops_dagster.warehouse.raw import UpsertStats, ensure_all, load_batch
from salesops_dagster.warehouse.sync_state import get_watermark

log = logging.getLogger(__name__)

DEFAULT_OVERLAP = timedelta(minutes=5)
DEFAULT_BULK_THRESHOLD = 50_000
# Pages are committed in batches of about this many rows: opening the file and checkpointing a
# commit cost ~30 ms each, so one commit per 2,000-row page spent more time on that than on the
# wire (benchmarks/ingest.py). A crash re-reads at most one batch.
DEFAULT_COMMIT_ROWS = 25_000


class MissingFieldError(RuntimeError):
    """The org lacks a field this project reads (the declared list in ingest/objects.py)."""


@dataclass
class PullResult:
    sobject: str
    since: datetime | None
    until: datetime
    method: str = "rest"  # rest | bulk
    pages: int = 0
    rows: int = 0
    stats: UpsertStats = field(default_factory=lambda: UpsertStats(0, 0, 0, 0))
    api_calls: int = 0
    watermark: datetime | None = None

    def add(self, stats: UpsertStats) -> None:
        self.stats = UpsertStats(
            inserted=self.stats.inserted + stats.inserted,
            updated=self.stats.updated + stats.updated,
            deleted=self.stats.deleted + stats.deleted,
            unchanged=self.stats.unchanged + stats.unchanged,
        )


def _missing_field(exc: SalesforceMalformedRequest, spec: ObjectSpec) -> MissingFieldError | None:
    content = exc.content if isinstance(exc.content, list) else []
    for error in content:
        if isinstance(error, dict) and error.get("errorCode") == "INVALID_FIELD":
            match = re.search(r"No such column '([^']+)'", error.get("message", ""))
            name = match.group(1) if match else "?"
            return MissingFieldError(
                f"the Salesforce org has no field {spec.sobject}.{name}, which salesops reads "
                f"(declared in salesops_dagster/ingest/objects.py). Deploy the metadata in sf/ "
                f"or grant the integration user read access to it."
            )
    return None


def _pages(
    client: SalesforceClient,
    spec: ObjectSpec,
    since: datetime | None,
    until: datetime,
    bulk_threshold: int,
    result: PullResult,
    batch_size: int | None,
) -> Iterator[list[dict]]:
    """REST pages; when the first page says the window holds more than `bulk_threshold` rows,
    the window is read through one Bulk API 2.0 query job instead (first loads, backfills)."""
    rest = client.query_changes(spec.sobject, spec.field_names, since, until, batch_size=batch_size)
    try:
        first = next(rest)
    except SalesforceMalformedRequest as exc:
        raise (_missing_field(exc, spec) or exc) from exc
    if first.total_size > bulk_threshold:
        rest.close()
        result.method = "bulk"
        soql = changes_soql(spec.sobject, spec.field_names, since, until)
        yield from client.bulk_query(soql, include_deleted=spec.has_is_deleted)
        return
    yield first.records
    for page in rest:
        yield page.records


def pull_object(
    client: SalesforceClient,
    warehouse: str | Path,
    spec: ObjectSpec,
    *,
    until: datetime,
    since: datetime | None = None,
    incremental: bool = True,
    overlap: timedelta = DEFAULT_OVERLAP,
    bulk_threshold: int = DEFAULT_BULK_THRESHOLD,
    synced_at: datetime | None = None,
    batch_size: int | None = None,
    commit_rows: int = DEFAULT_COMMIT_ROWS,
) -> PullResult:
    """Pull `spec`'s rows changed before `until` into the warehouse.

    Incremental (sensor, `salesops sync`): from the stored watermark minus `overlap`, advancing
    the watermark with every committed batch (`commit_rows`) and to `until` at the end. Backfill
    (`incremental=False`): exactly [since, until), upserted, the watermark left alone.
    """
    # SOQL dateTime literals carry milliseconds: a finer `until` would let the watermark claim
    # rows stamped in the same millisecond that the query (SystemModstamp < until) left out.
    until = until.replace(microsecond=until.microsecond // 1000 * 1000)
    synced_at = synced_at or until
    if incremental:
        with connect(warehouse) as con:
            ensure_all(con)
            stored = get_watermark(con, spec.sobject)
        since = None if stored is None else stored - overlap
    calls_before = client.usage.calls
    result = PullResult(spec.sobject, since, until)
    pending: list[dict] = []

    def commit() -> None:
        last_stamp = parse_sf_datetime(pending[-1]["SystemModstamp"])
        with connect(warehouse) as con:
            stats = load_batch(
                con, spec, pending, last_stamp, synced_at, advance_watermark=incremental
            )
        result.add(stats)
        pending.clear()
        log.info("%s: %d rows committed", spec.sobject, result.rows)

    for records in _pages(client, spec, since, until, bulk_threshold, result, batch_size):
        result.pages += 1
        result.rows += len(records)
        pending.extend(records)
        if len(pending) >= commit_rows:
            commit()
    if pending:
        commit()
    if incremental:
        with connect(warehouse) as con:
            load_batch(con, spec, [], until, synced_at)
            result.watermark = get_watermark(con, spec.sobject)
    result.api_calls = client.usage.calls - calls_before
    return result

"""Incremental pulls into DuckDB against the dev org over HTTPS: exact, idempotent, gap-free."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

import pytest
from requests.exceptions import ConnectionError as RequestsConnectionError
from simple_salesforce.exceptions import SalesforceGeneralError

from salesops_dagster.devorg.ids import make_id
from salesops_dagster.ingest.objects import LEAD, OBJECTS, TASK
from salesops_dagster.ingest.pull import MissingFieldError, pull_object
from salesops_dagster.salesforce.errors import ApiLimitExceeded

from .helpers import (
    assert_no_gap,
    assert_warehouse_equals_org,
    client_for,
    org_rows,
    warehouse_rows,
    watermarks,
)


def sync_all(client, path, **kwargs):
    until = kwargs.pop("until", None) or datetime.now(UTC)
    return {
        spec.sobject: pull_object(client, path, spec, until=until, **kwargs) for spec in OBJECTS
    }


@pytest.fixture
def warehouse(tmp_path):
    return tmp_path / "warehouse.duckdb"


def test_first_load_equals_the_org_and_a_rerun_reads_nothing_new(devorg, warehouse):
    client = client_for(devorg)
    first = sync_all(client, warehouse)
    assert_warehouse_equals_org(devorg, warehouse)
    assert first["Lead"].stats.inserted == len(devorg.records("Lead"))
    assert first["Lead"].stats.deleted == sum(bool(r["IsDeleted"]) for r in devorg.records("Lead"))
    calls = client.usage.calls
    second = sync_all(client, warehouse)
    assert all(r.stats.inserted == r.stats.updated == 0 for r in second.values())
    # Rows re-read inside the overlap are upserted as no-ops.
    assert all(r.rows == r.stats.unchanged for r in second.values())
    assert client.usage.calls - calls == len(OBJECTS)  # one empty page per object
    assert_warehouse_equals_org(devorg, warehouse)


def test_updates_deletes_and_undeletes_arrive_on_the_next_run(devorg, warehouse):
    client = client_for(devorg)
    sync_all(client, warehouse)
    leads = [r for r in devorg.records("Lead") if not r["IsDeleted"] and not r["IsConverted"]]
    client.update_records("Lead", [{"Id": leads[0]["Id"], "Title": "Chief Revenue Officer"}])
    task = next(r for r in devorg.records("Task") if not r["IsDeleted"])
    client.sf.restful(f"sobjects/Task/{task['Id']}", method="DELETE")
    recycled = next(r for r in devorg.records("Lead") if r["IsDeleted"])
    devorg.undelete("Lead", recycled["Id"])
    created = client.sf.restful(
        "sobjects/Lead/", method="POST", json={"LastName": "New", "Company": "Newco"}
    )
    time.sleep(0.01)  # the next run starts after the writes' millisecond, as any real run would
    result = sync_all(client, warehouse)
    assert_warehouse_equals_org(devorg, warehouse)
    assert result["Lead"].stats.inserted == 1 and result["Lead"].stats.updated == 2
    assert result["Task"].stats.deleted == 1
    lead_rows = warehouse_rows(warehouse, LEAD)
    assert lead_rows[leads[0]["Id"]]["Title"] == "Chief Revenue Officer"
    assert lead_rows[recycled["Id"]]["IsDeleted"] is False
    assert created["id"] in lead_rows


def test_a_late_commit_inside_the_overlap_is_not_missed(devorg, warehouse):
    client = client_for(devorg)
    sync_all(client, warehouse)
    mark = watermarks(warehouse)["Lead"]
    late_stamp = (mark - timedelta(minutes=2)).strftime("%Y-%m-%dT%H:%M:%S.000+0000")
    # Committed after the last pull, stamped before its watermark (a long Salesforce transaction).
    late = {
        "Id": make_id("00Q", 999_999, "LT"),
        "LastName": "Late",
        "Company": "Slow Transaction Ltd",
        "OwnerId": devorg.records("Group")[0]["Id"],
        "CreatedDate": late_stamp,
        "LastModifiedDate": late_stamp,
        "SystemModstamp": late_stamp,
    }
    devorg.put_records("Lead", [late])
    result = sync_all(client, warehouse)
    assert result["Lead"].stats.inserted == 1
    assert late["Id"] in warehouse_rows(warehouse, LEAD)
    assert_warehouse_equals_org(devorg, warehouse)


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        (
            {"action": "error", "status": 503, "error_code": "SERVER_UNAVAILABLE"},
            SalesforceGeneralError,
        ),
        ({"action": "drop"}, RequestsConnectionError),
    ],
    ids=["503", "dropped-connection"],
)
def test_a_failure_mid_paging_loses_nothing(devorg, warehouse, fault, error):
    client = client_for(devorg, retries=1)
    # Tasks in pages of 200: the second page (first query_more) keeps failing past the retries.
    devorg.add_fault(match="query_more", count=10, **fault)
    with pytest.raises(error):
        sync_all(client, warehouse, batch_size=200, commit_rows=200)
    assert_no_gap(devorg, warehouse)
    marks = watermarks(warehouse)
    assert marks["Lead"] is not None, "the first page of leads was committed with its watermark"
    devorg.clear_faults()
    sync_all(client_for(devorg), warehouse, batch_size=200)
    assert_warehouse_equals_org(devorg, warehouse)


def test_an_expired_session_mid_paging_reauthenticates(devorg, warehouse):
    client = client_for(devorg)
    devorg.add_fault(match="query_more", action="expire_session", count=1)
    sync_all(client, warehouse, batch_size=200)
    assert client.logins == 2
    assert_warehouse_equals_org(devorg, warehouse)


def test_api_limit_exhausted_mid_run_stops_cleanly_and_resumes(devorg, warehouse):
    client = client_for(devorg)
    devorg.set_api_limit(remaining=4)
    with pytest.raises(ApiLimitExceeded):
        sync_all(client, warehouse, batch_size=200, commit_rows=200)
    refused = devorg.stats()["requests"]
    assert_no_gap(devorg, warehouse)
    devorg.set_api_limit(remaining=10_000)
    sync_all(client, warehouse, batch_size=200)
    assert_warehouse_equals_org(devorg, warehouse)
    assert sum(refused.values()) >= 5  # the refused call was made once, not hot-retried


_KILLABLE_SYNC = """
import sys
from datetime import UTC, datetime
from salesops_dagster.devorg.ids import make_id
from salesops_dagster.ingest.objects import OBJECTS
from salesops_dagster.ingest.pull import pull_object
from salesops_dagster.salesforce.client import SalesforceClient
from salesops_dagster.salesforce.config import SalesforceConfig
client = SalesforceClient(SalesforceConfig.from_env())
until = datetime.now(UTC)
for spec in OBJECTS:
    pull_object(client, sys.argv[1], spec, until=until, batch_size=200, commit_rows=200)
"""


@pytest.mark.slow
def test_a_run_killed_mid_write_leaves_no_gap(devorg, warehouse):
    # Every page after the first is slow, so the process is mid-run when it is killed.
    devorg.add_fault(match="query_more", action="slow", delay_seconds=0.4, count=None)
    env = {**os.environ, **devorg.env()}
    child = subprocess.Popen([sys.executable, "-c", _KILLABLE_SYNC, str(warehouse)], env=env)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if warehouse.exists() and (watermarks(warehouse)["Task"] is not None):
                break
            time.sleep(0.1)
        else:
            pytest.fail("the child never committed a Task page")
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == -signal.SIGKILL
    assert_no_gap(devorg, warehouse)
    assert len(warehouse_rows(warehouse, TASK)) < len(devorg.records("Task")), "killed mid-run"
    devorg.clear_faults()
    sync_all(client_for(devorg), warehouse)
    assert_warehouse_equals_org(devorg, warehouse)


def test_backfill_rereads_exactly_its_days_and_leaves_watermarks(devorg, warehouse):
    client = client_for(devorg)
    sync_all(client, warehouse)
    marks = watermarks(warehouse)
    stamps = sorted(r["SystemModstamp"] for r in org_rows(devorg, TASK).values())
    day = stamps[len(stamps) // 2].replace(hour=0, minute=0, second=0, microsecond=0)
    since, until = day.replace(tzinfo=UTC), (day + timedelta(days=2)).replace(tzinfo=UTC)
    expected = sum(since.replace(tzinfo=None) <= s < until.replace(tzinfo=None) for s in stamps)
    assert expected > 0
    first = pull_object(client, warehouse, TASK, since=since, until=until, incremental=False)
    assert first.rows == expected
    assert first.stats.inserted == first.stats.updated == 0  # already there: changes nothing
    assert watermarks(warehouse) == marks
    # A backfill into an empty warehouse loads exactly those days.
    fresh = warehouse.with_name("fresh.duckdb")
    pull_object(client, fresh, TASK, since=since, until=until, incremental=False)
    loaded = warehouse_rows(fresh, TASK)
    assert len(loaded) == expected
    assert all(
        since.replace(tzinfo=None) <= r["SystemModstamp"] < until.replace(tzinfo=None)
        for r in loaded.values()
    )
    assert watermarks(fresh)["Task"] is None


def test_large_windows_read_through_bulk(devorg, warehouse):
    client = client_for(devorg)
    result = pull_object(client, warehouse, TASK, until=datetime.now(UTC), bulk_threshold=100)
    assert result.method == "bulk"
    assert devorg.stats()["requests"].get("bulk_query_create") == 1
    assert warehouse_rows(warehouse, TASK) == org_rows(devorg, TASK)


def test_an_org_without_a_declared_field_fails_naming_it(devorg_factory, warehouse, tmp_path):
    empty_metadata = tmp_path / "no-custom-fields"
    empty_metadata.mkdir()
    org = devorg_factory(metadata_dir=empty_metadata)
    with pytest.raises(MissingFieldError, match=r"Lead\.\w+__c.*sf/"):
        pull_object(client_for(org), warehouse, LEAD, until=datetime.now(UTC))
    assert not warehouse_rows(warehouse, LEAD)
    assert watermarks(warehouse)["Lead"] is None

"""The Salesforce writer against the dev org over HTTPS, with its bookkeeping in a DuckDB file."""

from __future__ import annotations

import gc
import math
from collections import Counter
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from salesops_dagster.ingest.objects import LEAD
from salesops_dagster.ingest.pull import pull_object
from salesops_dagster.salesforce.client import SalesforceClient
from salesops_dagster.salesforce.config import SalesforceConfig
from salesops_dagster.salesforce.errors import ApiBudgetReserveReached, ApiLimitExceeded
from salesops_dagster.salesforce.soql import InvalidSoqlValue
from salesops_dagster.salesforce.writer import (
    PlannedWrite,
    SalesforceWriter,
    drop_known_failures,
    gc_paused,
    is_retryable,
    only_changed,
    same_value,
)
from salesops_dagster.warehouse.connection import connect
from salesops_dagster.warehouse.writes import (
    held_values,
    latest_writes,
    permanent_failures,
    write_history,
)
from tests.conftest import QUEUE_ID, REP_ID, SEED, lead_records

ROUTING_FIELDS = ["OwnerId", "Owner_Assigned_At__c", "Assignment_Latency_Minutes__c"]
ASSIGNED_AT = datetime(2026, 3, 2, 9, 30, 15, 250000, tzinfo=UTC)


def _client(org, **kwargs) -> SalesforceClient:
    kwargs.setdefault("backoff", 0.01)
    return SalesforceClient(SalesforceConfig.from_env(org.env()), bulk_poll_seconds=0.05, **kwargs)


def _writer(org, tmp_path, client=None, **kwargs) -> SalesforceWriter:
    kwargs.setdefault("run_id", "run-1")
    return SalesforceWriter(client or _client(org), tmp_path / "warehouse.duckdb", **kwargs)


def _routing(lead_ids: list[str], owner: str = REP_ID) -> list[PlannedWrite]:
    return [
        PlannedWrite(
            "Lead",
            lead_id,
            {
                "OwnerId": owner,
                "Owner_Assigned_At__c": ASSIGNED_AT + timedelta(minutes=i),
                "Assignment_Latency_Minutes__c": round(12.5 + i / 100, 2),
            },
            "routing",
            source_key=f"decision-{i}",
        )
        for i, lead_id in enumerate(lead_ids)
    ]


def _leads(org, *, converted: bool = False, deleted: bool = False) -> list[str]:
    return [
        r["Id"]
        for r in org.records("Lead")
        if bool(r.get("IsConverted")) == converted and bool(r.get("IsDeleted")) == deleted
    ]


def _org_holds(org) -> dict[str, dict]:
    return {r["Id"]: r for r in org.records("Lead")}


def _requests(org, kind: str) -> int:
    return org.stats()["requests"].get(kind, 0)


def _history(tmp_path, purpose: str = "routing"):
    with connect(tmp_path / "warehouse.duckdb", read_only=True) as con:
        return write_history(con, purpose)


def _assert_landed(org, writes: list[PlannedWrite]) -> None:
    held = _org_holds(org)
    for write in writes:
        for name, value in write.fields.items():
            assert same_value(value, held[write.record_id].get(name)), (write.record_id, name)


def _org_with_leads(devorg_factory, n: int, **kwargs):
    return devorg_factory(records={**SEED, "Lead": lead_records(n)}, **kwargs)


# -- planning --------------------------------------------------------------------------------------


def test_same_value_compares_by_meaning():
    aware = datetime(2026, 3, 1, 9, 30, 0, 123456, tzinfo=timezone(timedelta(hours=2)))
    assert same_value(aware, datetime(2026, 3, 1, 7, 30, 0, 123000))  # naive UTC (warehouse)
    assert same_value(aware, "2026-03-01T07:30:00.123+0000")  # REST
    assert same_value(aware, "2026-03-01T07:30:00.123Z")  # Bulk CSV
    assert not same_value(aware, "2026-03-01T07:30:00.124+0000")
    assert not same_value(aware, datetime(2026, 3, 1, 9, 30, 0, 123000))  # local time is not UTC
    assert same_value(12.34, 12.340000001)
    assert same_value(12.34, "12.34")
    assert same_value(Decimal("7.10"), 7.1)
    assert not same_value(12.34, 12.35)
    assert same_value(5, 5.0)
    assert same_value(None, None) and same_value(None, "")
    assert not same_value("Task", None) and not same_value(None, "Task")
    assert not same_value(0.0, None)
    assert same_value(True, "true") and not same_value(False, True)
    assert same_value(REP_ID, REP_ID[:15]) and not same_value(REP_ID, QUEUE_ID)


def test_only_changed_keeps_a_write_whole_when_any_field_differs():
    lead_a, lead_b, lead_c, lead_d = (r["Id"] for r in lead_records(4))
    fields = {
        "First_Response_At__c": datetime(2026, 3, 1, 8, 0, 0, 500000, tzinfo=UTC),
        "First_Response_User__c": REP_ID,
        "First_Response_Source__c": "Task",
        "Time_to_First_Response__c": 42.25,
    }
    same = {
        "First_Response_At__c": datetime(2026, 3, 1, 8, 0, 0, 500000),  # naive UTC
        "First_Response_User__c": REP_ID,
        "First_Response_Source__c": "Task",
        "Time_to_First_Response__c": 42.250000001,
    }
    planned = [
        PlannedWrite("Lead", lead_id, fields, "first_response")
        for lead_id in (lead_a, lead_b, lead_c, lead_d)
    ]
    current = {
        lead_a: same,
        lead_b: {**same, "Time_to_First_Response__c": 42.26},  # one field differs
        lead_c: {k: v for k, v in same.items() if k != "First_Response_Source__c"},  # missing
        # lead_d: not held at all
    }
    kept = only_changed(planned, current)
    assert [w.record_id for w in kept] == [lead_b, lead_c, lead_d]
    assert all(w.fields == fields for w in kept)  # the whole field set, not just the change
    # Clearing a field that is already empty is no change.
    clear = PlannedWrite("Lead", lead_a, {"First_Response_User__c": None}, "first_response")
    assert only_changed([clear], {lead_a: {"First_Response_User__c": ""}}) == []
    assert only_changed([clear], {}) == []


def test_planned_writes_are_validated_and_serialised_canonically():
    lead = lead_records(1)[0]["Id"]
    write = PlannedWrite(
        "Lead",
        lead,
        {
            "Owner_Assigned_At__c": datetime(
                2026, 3, 2, 10, 0, 0, 123999, tzinfo=timezone(timedelta(hours=1))
            ),
            "Assignment_Latency_Minutes__c": Decimal("3.50"),
            "OwnerId": REP_ID,
        },
        "routing",
    )
    assert write.fields_json == (
        f'{{"Assignment_Latency_Minutes__c":3.5,"OwnerId":"{REP_ID}",'
        '"Owner_Assigned_At__c":"2026-03-02T09:00:00.123Z"}'
    )
    assert write.key == (lead, write.fields_json)
    with pytest.raises(ValueError, match="naive datetime"):
        PlannedWrite("Lead", lead, {"Owner_Assigned_At__c": datetime(2026, 3, 2)}, "routing")
    with pytest.raises(ValueError, match="cannot be written"):
        PlannedWrite("Lead", lead, {"Assignment_Latency_Minutes__c": math.nan}, "routing")
    with pytest.raises(InvalidSoqlValue):
        PlannedWrite("Lead", "00Q' OR Id != '", {"OwnerId": REP_ID}, "routing")
    with pytest.raises(InvalidSoqlValue):
        PlannedWrite("Lead", lead, {"Owner Id": REP_ID}, "routing")
    assert is_retryable("UNABLE_TO_LOCK_ROW") and not is_retryable("ENTITY_IS_DELETED")


def test_planning_pauses_the_collector_and_always_restores_it():
    seen = []

    @gc_paused()
    def plan(fail: bool) -> None:
        seen.append(gc.isenabled())
        if fail:
            raise RuntimeError("a planning bug")

    assert gc.isenabled()
    plan(False)
    with pytest.raises(RuntimeError):
        plan(True)
    assert gc.isenabled() and seen == [False, False]
    gc.disable()  # a caller that had it off keeps it off
    try:
        plan(False)
        assert not gc.isenabled()
    finally:
        gc.enable()


# -- Collections and Bulk --------------------------------------------------------------------------


def _mixed_batch(org) -> tuple[list[PlannedWrite], list[str], list[str]]:
    good = _leads(org)[:250]
    converted = _leads(org, converted=True)[:2]
    deleted = _leads(org, deleted=True)[:2]
    writes = _routing(good)
    writes.insert(3, _routing(converted[:1])[0])
    writes.insert(150, _routing(deleted[:1])[0])
    writes.insert(210, _routing(converted[1:])[0])
    writes.append(_routing(deleted[1:])[0])
    return writes, converted, deleted


def test_collections_keep_good_records_when_others_fail(devorg, tmp_path):
    writes, converted, deleted = _mixed_batch(devorg)
    report = _writer(devorg, tmp_path).write(writes)

    assert (report.attempted, report.written, report.failed, report.not_sent) == (254, 250, 4, 0)
    assert report.stopped_reason is None
    assert _requests(devorg, "collections_update") == math.ceil(254 / 200) == 2
    assert devorg.stats()["records_written"]["Lead"] == 250
    good = [w for w in writes if w.record_id not in {*converted, *deleted}]
    _assert_landed(devorg, good)
    codes = {f.record_id: (f.error_code, f.retryable) for f in report.failures}
    assert codes == {
        **dict.fromkeys(converted, ("CANNOT_UPDATE_CONVERTED_LEAD", False)),
        **dict.fromkeys(deleted, ("ENTITY_IS_DELETED", False)),
    }

    rows = _history(tmp_path)
    assert Counter(r.status for r in rows) == {"written": 250, "failed": 4}
    by_id = {r.record_id: r for r in rows}
    sent = {w.record_id: w for w in writes}
    assert all(r.fields == sent[r.record_id].fields_json for r in rows)
    assert all(r.method == "collections" and r.run_id == "run-1" for r in rows)
    assert by_id[converted[0]].error_code == "CANNOT_UPDATE_CONVERTED_LEAD"
    assert not by_id[converted[0]].retryable and not by_id[converted[0]].success
    assert by_id[good[0].record_id].source_key == good[0].source_key

    # The next publish skips the same values that failed for good, and sends new ones.
    with connect(tmp_path / "warehouse.duckdb", read_only=True) as con:
        failed_for_good = permanent_failures(con, "routing")
    assert {record_id for record_id, _ in failed_for_good} == {*converted, *deleted}
    replanned = only_changed(writes, _org_holds(devorg))
    assert {w.record_id for w in replanned} == {*converted, *deleted}
    assert drop_known_failures(replanned, failed_for_good) == []
    new_values = _routing([*converted, *deleted], owner=QUEUE_ID)
    assert drop_known_failures(new_values, failed_for_good) == new_values


def test_bulk_path_above_the_threshold_lands_the_same_results(devorg, tmp_path):
    writes, converted, deleted = _mixed_batch(devorg)
    cleared = writes[0].record_id
    writes[0] = PlannedWrite(
        "Lead", cleared, {**writes[0].fields, "Assignment_Latency_Minutes__c": None}, "routing"
    )
    report = _writer(devorg, tmp_path, bulk_threshold=100).write(writes)

    assert (report.written, report.failed, report.not_sent) == (250, 4, 0)
    assert _requests(devorg, "bulk_ingest_create") == 1
    assert _requests(devorg, "collections_update") == 0
    _assert_landed(devorg, [w for w in writes if w.record_id not in {*converted, *deleted}])
    assert devorg.record("Lead", cleared)["Assignment_Latency_Minutes__c"] is None
    codes = {f.record_id: (f.error_code, f.retryable) for f in report.failures}
    assert codes == {
        **dict.fromkeys(converted, ("CANNOT_UPDATE_CONVERTED_LEAD", False)),
        **dict.fromkeys(deleted, ("ENTITY_IS_DELETED", False)),
    }
    rows = _history(tmp_path)
    assert {r.method for r in rows} == {"bulk"}
    assert Counter(r.status for r in rows) == {"written": 250, "failed": 4}


# -- faults ----------------------------------------------------------------------------------------


def _written_once_each(org, tmp_path, writes: list[PlannedWrite]) -> None:
    _assert_landed(org, writes)
    assert org.stats()["records_written"]["Lead"] == len(writes)
    successes = Counter(r.record_id for r in _history(tmp_path) if r.success)
    assert successes == dict.fromkeys((w.record_id for w in writes), 1)
    with connect(tmp_path / "warehouse.duckdb", read_only=True) as con:
        latest = latest_writes(con, "routing")
    assert len(latest) == len(writes) and {r.status for r in latest} == {"written"}


@pytest.mark.parametrize(
    ("action", "code"), [("error", "SERVER_UNAVAILABLE"), ("drop", "CONNECTION_ERROR")]
)
def test_outage_mid_publish_stops_then_a_rerun_writes_exactly_the_rest(
    devorg_factory, tmp_path, action, code
):
    org = _org_with_leads(devorg_factory, 600)
    writes = _routing(_leads(org))
    # Batch 1 goes through; batch 2 gets a 503 (or a dropped connection) on its first try and
    # on its one retry.
    org.add_fault(match="collections_update", action=action, status=503, after=1, count=2)
    report = _writer(org, tmp_path, _client(org, retries=1)).write(writes)

    assert (report.written, report.failed, report.not_sent) == (200, 200, 200)
    assert report.stopped_by == "outage"
    assert "Lead collections batch of 200" in report.stopped_reason
    assert "after the client's retries" in report.stopped_reason
    assert all(f.retryable and f.error_code == code for f in report.failures)
    assert _requests(org, "collections_update") == 3  # batch 1, batch 2 twice, nothing after
    held = _org_holds(org)
    assert all(held[w.record_id]["OwnerId"] == QUEUE_ID for w in writes[200:])
    rows = _history(tmp_path)
    assert Counter(r.status for r in rows) == {"written": 200, "failed": 200, "not_sent": 200}
    assert all(r.retryable for r in rows if not r.success)

    rest = only_changed(writes, _org_holds(org))
    assert [w.record_id for w in rest] == [w.record_id for w in writes[200:]]
    again = _writer(org, tmp_path, run_id="run-2").write(rest)
    assert (again.written, again.failed, again.not_sent) == (400, 0, 0)
    assert _requests(org, "collections_update") == 3 + 2
    _written_once_each(org, tmp_path, writes)


def test_expired_session_mid_publish_reauthenticates_and_keeps_auto_assign_off(
    devorg_factory, tmp_path
):
    # The emulated assignment rule would hand every Lead written without the header to the queue.
    org = _org_with_leads(devorg_factory, 450, assignment_rule_owner_id=QUEUE_ID)
    writes = _routing(_leads(org))
    org.add_fault(match="collections_update", action="expire_session", after=1, count=1)
    client = _client(org)
    report = _writer(org, tmp_path, client).write(writes)

    assert (report.written, report.failed, report.not_sent) == (450, 0, 0)
    assert client.logins == 2
    assert _requests(org, "collections_update") == 3 + 1  # the refused call, repeated once
    by_header = org.stats()["lead_writes_by_auto_assign"]
    assert by_header["FALSE"] == 450
    assert not any(n for header, n in by_header.items() if header != "FALSE")
    _written_once_each(org, tmp_path, writes)


def test_request_limit_exceeded_stops_without_retrying_then_a_rerun_completes(
    devorg_factory, tmp_path
):
    org = _org_with_leads(devorg_factory, 450)
    writes = _routing(_leads(org))
    client = _client(org)
    list(client.query("SELECT Id FROM Lead LIMIT 1"))  # the client last saw plenty left...
    org.set_api_limit(remaining=0)  # ...then other integrations spent the day's allocation
    report = _writer(org, tmp_path, client, api_reserve=0).write(writes)

    assert (report.written, report.failed, report.not_sent) == (0, 200, 250)
    assert report.stopped_by == "api_limit"
    assert "REQUEST_LIMIT_EXCEEDED" in report.stopped_reason
    assert _requests(org, "collections_update") == 1  # never retried
    rows = _history(tmp_path)
    assert Counter(r.status for r in rows) == {"failed": 200, "not_sent": 250}
    assert {r.error_code for r in rows} == {"REQUEST_LIMIT_EXCEEDED"}
    assert all(r.retryable for r in rows)
    with pytest.raises(ApiLimitExceeded):
        report.raise_if_stopped()

    org.set_api_limit(remaining=100_000)
    # The next run has its own client, which asks `limits` before trusting the budget again.
    again = _writer(org, tmp_path, api_reserve=0).write(only_changed(writes, _org_holds(org)))
    assert (again.written, again.failed, again.not_sent) == (450, 0, 0)
    assert _requests(org, "collections_update") == 1 + 3
    _written_once_each(org, tmp_path, writes)


def test_budget_reserve_stops_before_sending(devorg_factory, tmp_path):
    org = _org_with_leads(devorg_factory, 600)
    org.set_api_limit(max_requests=5_000, remaining=1_002)
    writes = _routing(_leads(org))
    writer = _writer(org, tmp_path, api_reserve=1_000)
    report = writer.write(writes)

    # limits (1001 left), batch 1 (1000 left), then batch 2 would leave 999 < 1000.
    assert (report.written, report.failed, report.not_sent) == (200, 0, 400)
    assert report.api_calls == 2
    assert _requests(org, "limits") == 1 and _requests(org, "collections_update") == 1
    assert report.stopped_by == "budget_reserve"
    assert "1000 calls left, reserve 1000" in report.stopped_reason
    not_sent = [r for r in _history(tmp_path) if r.status == "not_sent"]
    assert len(not_sent) == 400
    assert all(r.retryable and r.error_code == "API_BUDGET_RESERVE" for r in not_sent)
    assert all("reserve 1000" in r.message for r in not_sent)
    with pytest.raises(ApiBudgetReserveReached, match="reserve 1000"):
        report.raise_if_stopped()

    later = writer.write(only_changed(writes, _org_holds(org)))
    assert (later.written, later.not_sent, later.api_calls) == (0, 400, 0)
    assert _requests(org, "collections_update") == 1  # nothing sent after the stop


# -- idempotence -----------------------------------------------------------------------------------


def test_planning_the_same_writes_after_success_sends_nothing(devorg, tmp_path):
    warehouse = tmp_path / "warehouse.duckdb"
    client = _client(devorg)
    pull_object(client, warehouse, LEAD, until=datetime.now(UTC))
    writes = _routing(_leads(devorg)[:50])
    writer = _writer(devorg, tmp_path, client)

    def plan() -> list[PlannedWrite]:
        with connect(warehouse, read_only=True) as con:
            held = held_values(con, "Lead", ROUTING_FIELDS, [w.record_id for w in writes])
            failed = permanent_failures(con, "routing")
        return drop_known_failures(only_changed(writes, held), failed)

    assert len(plan()) == 50
    assert writer.write(plan()).written == 50
    calls = _requests(devorg, "collections_update")
    # Before the next ingest, the warehouse knows what was written from salesforce_write ...
    assert plan() == []
    empty = writer.write(plan())
    assert (empty.attempted, empty.api_calls) == (0, 0)
    # ... and after it, from the raw copy itself.
    pull_object(client, warehouse, LEAD, until=datetime.now(UTC))
    assert plan() == []
    assert only_changed(writes, _org_holds(devorg)) == []
    assert _requests(devorg, "collections_update") == calls
    assert devorg.stats()["records_written"]["Lead"] == 50


def test_one_record_planned_twice_is_refused(devorg, tmp_path):
    lead = _leads(devorg)[0]
    with pytest.raises(ValueError, match="planned twice"):
        _writer(devorg, tmp_path).write(_routing([lead]) + _routing([lead]))
    assert _requests(devorg, "collections_update") == 0

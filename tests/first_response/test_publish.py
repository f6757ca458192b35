"""Planning the First_Response write-back: only empty or later values, four fields together."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import duckdb
import pytest

from salesops_dagster.first_response.checks import planned_writes_move_later
from salesops_dagster.first_response.publish import (
    FIELD_NAMES,
    PURPOSE,
    plan_first_response_writes,
)
from salesops_dagster.first_response.sql import refresh_first_response
from salesops_dagster.salesforce.client import write_calls_floor
from salesops_dagster.salesforce.writer import PlannedWrite
from salesops_dagster.warehouse.writes import WriteAttempt, record_attempts
from tests.first_response import MONDAY, REP, REP_EMAIL, Org, sf_ts, shipped_policy

POLICY = shipped_policy()
NOW = MONDAY + timedelta(days=30)
C = MONDAY


def minutes(n: float) -> timedelta:
    return timedelta(minutes=n)


@pytest.fixture
def org(tmp_path):
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    yield Org(con)
    con.close()


def refresh_and_plan(org: Org) -> list[PlannedWrite]:
    org.sync()
    refresh_first_response(org.con, POLICY, now=NOW)
    planned = plan_first_response_writes(org.con)
    assert planned_writes_move_later(org.con, planned).passed
    return planned


def record(
    org: Org,
    planned: Sequence[PlannedWrite],
    *,
    status: str = "written",
    error_code: str | None = None,
    retryable: bool = False,
) -> None:
    """What the writer appends after a batch, stamped just after the last ingest."""
    assert org.last_synced_at is not None
    record_attempts(
        org.con,
        [
            WriteAttempt(
                write_id=uuid.uuid4().hex,
                run_id="",
                purpose=w.purpose,
                sobject=w.sobject,
                record_id=w.record_id,
                source_key=w.source_key,
                fields=w.fields_json,
                method="collections",
                attempted_at=org.last_synced_at + timedelta(seconds=30),
                success=status == "written",
                error_code=error_code,
                message=error_code,
                retryable=retryable,
                status=status,
            )
            for w in planned
        ],
    )


def ingest_written_values(org: Org, planned: Sequence[PlannedWrite]) -> None:
    """The next pull brings the written values back in the raw Lead copy."""
    for w in planned:
        org.update("Lead", w.record_id, **w.payload)


def test_the_four_fields_in_one_update_only_where_salesforce_is_empty_or_later(org: Org) -> None:
    empty = org.lead(C)
    t_empty = org.task(empty, C + timedelta(minutes=12, seconds=30))
    later_held = org.lead(C, First_Response_At__c=sf_ts(C + minutes(60)))
    e_later = org.email(C + minutes(10), to=[later_held])
    earlier_held = org.lead(C, First_Response_At__c=sf_ts(C + minutes(5)))
    org.task(earlier_held, C + minutes(10))
    equal_held = org.lead(C, First_Response_At__c=sf_ts(C + minutes(10)))
    org.task(equal_held, C + minutes(10))
    converted = org.lead(C, IsConverted=True)
    org.task(converted, C + minutes(10))
    deleted = org.lead(C)
    org.task(deleted, C + minutes(10))
    org.delete("Lead", deleted)
    org.lead(C)  # open: nothing to write

    planned = refresh_and_plan(org)
    by_lead = {w.record_id: w for w in planned}
    assert set(by_lead) == {empty, later_held}
    w = by_lead[empty]
    assert (w.sobject, w.purpose, w.source_key) == ("Lead", PURPOSE, t_empty)
    assert w.payload == {
        "First_Response_At__c": "2026-03-02T14:12:30.000Z",
        "First_Response_User__c": REP,
        "First_Response_Source__c": "Task",
        "Time_to_First_Response__c": 12.5,
    }
    assert by_lead[later_held].fields == {
        "First_Response_At__c": datetime(2026, 3, 2, 14, 10, tzinfo=UTC),
        "First_Response_User__c": REP_EMAIL,
        "First_Response_Source__c": "EmailMessage",
        "Time_to_First_Response__c": Decimal("10.00"),
    }
    assert by_lead[later_held].source_key == e_later
    assert write_calls_floor(len(planned)) == 1


def test_after_writing_a_rerun_plans_nothing_until_an_earlier_response(org: Org) -> None:
    lead = org.lead(C)
    org.task(lead, C + minutes(30))
    planned = refresh_and_plan(org)
    assert [w.record_id for w in planned] == [lead]
    record(org, planned)
    # Before the next ingest: the write overlay says Salesforce holds it.
    assert refresh_and_plan(org) == []
    # After it: the raw copy holds it.
    ingest_written_values(org, planned)
    assert refresh_and_plan(org) == []
    # A later task changes nothing; an earlier e-mail is written over the later value.
    org.task(lead, C + minutes(40))
    assert refresh_and_plan(org) == []
    email = org.email(C + minutes(20), to=[lead])
    (again,) = refresh_and_plan(org)
    assert again.source_key == email
    assert again.payload["First_Response_At__c"] == "2026-03-02T14:20:00.000Z"
    assert set(again.fields) == set(FIELD_NAMES)


def test_values_that_failed_for_good_are_not_planned_again_until_they_change(org: Org) -> None:
    lead = org.lead(C)
    org.task(lead, C + minutes(30))
    planned = refresh_and_plan(org)
    record(org, planned, status="failed", error_code="FIELD_CUSTOM_VALIDATION_EXCEPTION")
    assert refresh_and_plan(org) == []
    # A retryable failure is planned again.
    record(org, planned, status="failed", error_code="UNABLE_TO_LOCK_ROW", retryable=True)
    assert [w.record_id for w in refresh_and_plan(org)] == [lead]
    record(org, planned, status="failed", error_code="FIELD_CUSTOM_VALIDATION_EXCEPTION")
    org.task(lead, C + minutes(15))
    (changed,) = refresh_and_plan(org)
    assert changed.payload["Time_to_First_Response__c"] == 15.0


def test_a_lead_converted_after_the_refresh_is_skipped(org: Org) -> None:
    lead = org.lead(C)
    org.task(lead, C + minutes(30))
    org.sync()
    refresh_first_response(org.con, POLICY, now=NOW)
    org.update("Lead", lead, IsConverted=True)
    org.sync()  # ingested, TTFR not refreshed yet: the raw copy already says converted
    assert plan_first_response_writes(org.con) == []


def test_no_mart_yet_plans_nothing(tmp_path) -> None:
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    assert plan_first_response_writes(con) == []

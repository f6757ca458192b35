"""Each TTFR check passes on a clean mart and names the lead with a planted violation."""

from __future__ import annotations

import uuid
from datetime import UTC, timedelta

import duckdb
import pytest

from salesops_dagster.first_response import checks
from salesops_dagster.first_response.publish import plan_first_response_writes, planned_write
from salesops_dagster.first_response.sql import refresh_first_response
from salesops_dagster.warehouse.writes import (
    WriteAttempt,
    permanent_write_failures,
    record_attempts,
)
from tests.first_response import MONDAY, Org, sf_ts, shipped_policy

POLICY = shipped_policy()
NOW = MONDAY + timedelta(days=30)
C = MONDAY


@pytest.fixture
def org(tmp_path):
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    org = Org(con)
    org.leads = [org.lead(C + timedelta(minutes=i)) for i in range(4)]
    for i, lead in enumerate(org.leads[:3]):
        org.task(lead, C + timedelta(minutes=30 + i))
    org.email(C + timedelta(minutes=20), to=[org.leads[2]])
    org.sync()
    refresh_first_response(con, POLICY, now=NOW)
    yield org
    con.close()


ALL = (
    checks.negative_ttfr,
    checks.response_before_creation,
    checks.one_row_per_lead,
    checks.unresolvable_responders,
    checks.planned_writes_move_later,
    lambda con: permanent_write_failures(con, "first_response"),
)


def test_a_clean_mart_passes_every_check(org: Org) -> None:
    for check in ALL:
        finding = check(org.con)
        assert finding.passed and finding.count == 0 and finding.keys == [], getattr(
            check, "__name__", "permanent_write_failures"
        )


def update(org: Org, lead_id: str, assignments: str) -> None:
    org.con.execute(
        f"UPDATE salesops.lead_first_response SET {assignments} WHERE lead_id = $id",  # noqa: S608
        {"id": lead_id},
    )


def test_negative_ttfr(org: Org) -> None:
    update(org, org.leads[1], "ttfr_minutes = -3.5")
    update(org, org.leads[0], "ttfr_business_minutes = -0.01")
    finding = checks.negative_ttfr(org.con)
    assert finding.count == 2
    assert finding.keys == sorted([org.leads[0], org.leads[1]])
    assert "-3.50" in finding.sample[org.leads[1]]


def test_response_before_creation(org: Org) -> None:
    update(org, org.leads[0], "first_response_at = lead_created_at - INTERVAL 1 MINUTE")
    # Also when the raw Lead's CreatedDate moved after the stored response.
    org.update("Lead", org.leads[1], CreatedDate=sf_ts(C + timedelta(hours=5)))
    org.sync()
    finding = checks.response_before_creation(org.con)
    assert finding.keys == sorted(org.leads[:2])


def test_one_row_per_lead(org: Org) -> None:
    stray = org.leads[0][:-5] + "ZZZZZ"
    org.con.execute(
        "INSERT INTO salesops.lead_first_response (lead_id, segment, region, is_converted, "
        "is_deleted, computed_at) VALUES ($id, 'smb', 'NA', false, false, now()::TIMESTAMP)",
        {"id": stray},
    )
    org.con.execute(
        "DELETE FROM salesops.lead_first_response WHERE lead_id = $id", {"id": org.leads[3]}
    )
    duplicate = org.leads[1]
    org.con.execute(
        "INSERT INTO salesops.lead_first_response SELECT * FROM salesops.lead_first_response "
        "WHERE lead_id = $id",
        {"id": duplicate},
    )
    # Ingested after the refresh: not due yet, so not a failure.
    org.lead(C)
    org.sync()
    finding = checks.one_row_per_lead(org.con)
    assert finding.count == 3
    assert finding.sample == {
        stray: "row without a raw lead",
        org.leads[3]: "raw lead without a row",
        duplicate: "2 rows",
    }


def test_unresolvable_responders(org: Org) -> None:
    update(org, org.leads[0], "first_response_user = '0055e00000000ZZAAA'")  # no such User
    update(org, org.leads[2], "first_response_user = 'not an address'")  # an EmailMessage
    finding = checks.unresolvable_responders(org.con)
    assert finding.keys == sorted([org.leads[0], org.leads[2]])
    assert "is not a User" in finding.sample[org.leads[0]]
    assert "is not an e-mail address" in finding.sample[org.leads[2]]


def test_a_plan_that_would_move_a_value_later_is_caught(org: Org) -> None:
    lead = org.leads[0]
    # Salesforce holds an earlier value than the mart: the real plan leaves the lead alone...
    org.update("Lead", lead, First_Response_At__c=sf_ts(C + timedelta(minutes=1)))
    org.sync()
    assert lead not in {w.record_id for w in plan_first_response_writes(org.con)}
    assert checks.planned_writes_move_later(org.con).passed
    # ...and a plan that writes over it anyway is named.
    later = planned_write(lead, C + timedelta(minutes=30), "x", "Task", 30, None)
    finding = checks.planned_writes_move_later(org.con, [later])
    assert finding.keys == [lead]
    assert "over the earlier" in finding.sample[lead]
    # A value that is not the mart's is caught too, and so is a partial update.
    other = org.leads[1]
    wrong = planned_write(other, C + timedelta(minutes=2), "x", "Task", 1, None)
    partial = planned_write(org.leads[2], C + timedelta(minutes=20), "x", "Task", 1, None)
    partial = type(partial)(
        partial.sobject, partial.record_id, {"First_Response_At__c": C}, partial.purpose
    )
    finding = checks.planned_writes_move_later(org.con, [wrong, partial])
    assert finding.keys == sorted([other, org.leads[2]])


def test_permanent_write_failures(org: Org) -> None:
    (write, *_) = plan_first_response_writes(org.con)
    record_attempts(
        org.con,
        [
            WriteAttempt(
                write_id=uuid.uuid4().hex,
                run_id="r1",
                purpose="first_response",
                sobject="Lead",
                record_id=write.record_id,
                source_key=write.source_key,
                fields=write.fields_json,
                method="collections",
                attempted_at=NOW.astimezone(UTC),
                success=False,
                error_code="FIELD_CUSTOM_VALIDATION_EXCEPTION",
                message="Status must be set first",
                retryable=False,
                status="failed",
            )
        ],
    )
    finding = permanent_write_failures(org.con, "first_response")
    assert finding.sample == {
        write.record_id: "FIELD_CUSTOM_VALIDATION_EXCEPTION: Status must be set first"
    }


def test_checks_stats_and_plan_only_read(tmp_path, org: Org) -> None:
    """Asset checks may open the warehouse read-only, before or after the first refresh."""
    from salesops_dagster.first_response.sla import first_response_stats, open_breaches

    empty = tmp_path / "empty.duckdb"
    duckdb.connect(str(empty)).close()
    path = tmp_path / "w.duckdb"
    org.con.close()
    for file, leads in ((empty, 0), (path, 4)):
        con = duckdb.connect(str(file), read_only=True)
        for check in ALL:
            assert check(con).passed, check
        assert first_response_stats(con)["leads"] == leads
        assert len(open_breaches(con)) == (1 if leads else 0)  # the open lead, 30 days on
        assert len(plan_first_response_writes(con)) == (3 if leads else 0)
        con.close()
    org.con = duckdb.connect(str(path))  # the fixture closes it

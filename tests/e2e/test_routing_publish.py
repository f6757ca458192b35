"""Routing end to end: the dev org over HTTPS, `salesops sync` runs on a Dagster instance."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import dagster as dg
import pytest

from salesops_dagster.devorg.synthetic import LEAD_INTAKE_QUEUE_ID, generate
from salesops_dagster.sync import run_sync
from salesops_dagster.warehouse.connection import connect
from tests.conftest import salesforce_client

ROUTING_FIELDS = ("Owner_Assigned_At__c", "Assignment_Latency_Minutes__c")


@pytest.fixture(scope="module")
def org_data():
    return generate(200, seed=11)


@pytest.fixture
def world(devorg_factory, org_data, tmp_path, monkeypatch):
    """A dev org, a warehouse, and a Dagster instance, wired through the environment."""

    def make(**org_kwargs):
        org = devorg_factory(records=org_data, **org_kwargs)
        for name, value in org.env().items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("SALESOPS_WAREHOUSE", str(tmp_path / "warehouse.duckdb"))
        return org

    with dg.instance_for_test() as instance:
        yield make, instance, tmp_path / "warehouse.duckdb"


def decisions(warehouse) -> dict[str, tuple[str, int]]:
    """lead -> (owner, attempt) of its latest decision."""
    with connect(warehouse, read_only=True) as con:
        rows = con.execute(
            """
            SELECT lead_id, owner_id, attempt FROM salesops.lead_routing_decision
            QUALIFY row_number() OVER (PARTITION BY lead_id ORDER BY attempt DESC) = 1
            """
        ).fetchall()
    return {lead: (owner, attempt) for lead, owner, attempt in rows}


def intake_leads(org_data) -> list[dict]:
    return [
        r
        for r in org_data["Lead"]
        if r["OwnerId"] == LEAD_INTAKE_QUEUE_ID and not r["IsDeleted"] and not r["IsConverted"]
    ]


def test_intake_leads_get_owners_and_assignment_fields_once(world, org_data):
    make, instance, warehouse = world
    org = make()
    before = datetime.now(UTC)
    first = run_sync(instance)
    assert first.success, first.failure
    decided = decisions(warehouse)
    expected = {r["Id"] for r in intake_leads(org_data)}
    assert set(decided) == expected
    for lead_id, (owner, _) in decided.items():
        record = org.record("Lead", lead_id)
        assert record["OwnerId"] == owner
        assigned = datetime.strptime(record["Owner_Assigned_At__c"], "%Y-%m-%dT%H:%M:%S.%f%z")
        assert assigned >= before.replace(microsecond=0)
        created = datetime.strptime(record["CreatedDate"], "%Y-%m-%dT%H:%M:%S.%f%z")
        latency = round((assigned - created).total_seconds() / 60, 2)
        assert record["Assignment_Latency_Minutes__c"] == pytest.approx(latency, abs=0.02)
    owner_publish = first.metadata_of("salesforce_publish/lead_owner")
    assert owner_publish["writes_written"] == len(expected)
    # ceil(n / 200) Collections calls, plus at most one limits call to learn the API budget.
    assert owner_publish["write_api_calls"] - -(-len(expected) // 200) in (0, 1)

    assert run_sync(instance).success  # reads back our own writes
    written = org.stats()["records_written"]["Lead"]
    again = run_sync(instance)
    assert again.success, again.failure
    assert again.metadata_of("salesforce_publish/lead_owner")["writes_planned"] == 0
    assert org.stats()["records_written"]["Lead"] == written


def test_a_person_reassigning_is_respected_and_a_handback_goes_to_someone_else(world, org_data):
    make, instance, warehouse = world
    org = make()
    assert run_sync(instance).success
    leads = sorted(decisions(warehouse).items())
    (taken, (routed_owner, _)), (returned, (first_owner, _)) = leads[0], leads[1]
    person = salesforce_client(org)
    other_rep = next(
        u["Id"]
        for u in org_data["User"]
        if u["IsActive"]
        and u["Id"] != routed_owner
        and u["Id"].startswith("005")
        and "Integration" not in u["Name"]
    )
    person.Lead.update(taken, {"OwnerId": other_rep}, headers={"Sforce-Auto-Assign": "FALSE"})
    person.Lead.update(
        returned, {"OwnerId": LEAD_INTAKE_QUEUE_ID}, headers={"Sforce-Auto-Assign": "FALSE"}
    )
    assert run_sync(instance).success
    assert run_sync(instance).success
    assert org.record("Lead", taken)["OwnerId"] == other_rep  # never overwritten
    owner, attempt = decisions(warehouse)[returned]
    assert attempt == 2 and owner != first_owner
    assert org.record("Lead", returned)["OwnerId"] == owner


def test_assignment_rules_never_run_even_after_a_session_expiry(world, org_data):
    make, instance, warehouse = world
    # An org whose assignment rule would move every lead written without the header.
    org = make(assignment_rule_owner_id=LEAD_INTAKE_QUEUE_ID)
    org.add_fault(match="collections_update", action="expire_session", count=1)
    result = run_sync(instance)
    assert result.success, result.failure
    writes = org.stats()["lead_writes_by_auto_assign"]
    assert writes.get("FALSE") == org.stats()["records_written"]["Lead"] > len(decisions(warehouse))
    assert not writes.get("TRUE") and not writes.get("absent")
    for lead_id, (owner, _) in decisions(warehouse).items():
        assert org.record("Lead", lead_id)["OwnerId"] == owner


def test_a_bad_policy_stops_before_any_decision_or_write(world, tmp_path, monkeypatch):
    make, instance, warehouse = world
    org = make()
    policy = json.loads(open("policies/routing_policy.json").read())  # noqa: SIM115
    policy["pools"][0]["members"][0]["weight"] = 0
    bad = tmp_path / "bad_policy.json"
    bad.write_text(json.dumps(policy))
    monkeypatch.setenv("SALESOPS_POLICY", str(bad))
    result = run_sync(instance)
    assert not result.success
    assert "bad_policy.json" in result.failure or "policy" in result.failure
    with connect(warehouse, read_only=True) as con:
        tables = {
            r[0]
            for r in con.execute(
                "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'salesops'"
            ).fetchall()
        }
        if "lead_routing_decision" in tables:
            assert (
                con.execute("SELECT count(*) FROM salesops.lead_routing_decision").fetchone()[0]
                == 0
            )
    assert org.stats()["records_written"].get("Lead", 0) == 0

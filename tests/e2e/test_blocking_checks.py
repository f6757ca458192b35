"""Blocking checks stop the write-back: a planted violation fails its check, the publish does
not run, nothing is written, and `salesops sync` reports it."""

from __future__ import annotations

import json

import dagster as dg
import pytest

from salesops_dagster.devorg.synthetic import LEAD_INTAKE_QUEUE_ID, generate
from salesops_dagster.policy.loader import known_ids, load_policy
from salesops_dagster.routing import checks
from salesops_dagster.settings import policy_path
from salesops_dagster.sync import run_sync
from salesops_dagster.warehouse.connection import connect


@pytest.fixture
def synced(devorg_factory, tmp_path, monkeypatch):
    org = devorg_factory(records=generate(150, seed=5))
    for name, value in org.env().items():
        monkeypatch.setenv(name, value)
    warehouse = tmp_path / "warehouse.duckdb"
    monkeypatch.setenv("SALESOPS_WAREHOUSE", str(warehouse))
    with dg.instance_for_test() as instance:
        assert run_sync(instance).success
        yield org, instance, warehouse


def _loaded(con):
    return load_policy(policy_path(), **known_ids(con))


def _plant(warehouse, sql: str, **params) -> None:
    with connect(warehouse) as con:
        con.execute(sql, params)


def test_the_checks_pass_on_what_the_engine_decided(synced):
    _, _, warehouse = synced
    with connect(warehouse, read_only=True) as con:
        loaded = _loaded(con)
        assert checks.invalid_owners(con, loaded).passed
        assert checks.cap_violations(con, loaded).passed
        assert checks.unstamped(con).passed
        assert checks.attempt_gaps(con).passed
        assert checks.current_decisions(con, loaded)


def test_each_check_catches_its_planted_violation(synced):
    _, _, warehouse = synced
    with connect(warehouse) as con:
        loaded = _loaded(con)
        decision = checks.current_decisions(con, loaded)[0]
        con.execute(
            "UPDATE salesops.lead_routing_decision SET owner_id = $o WHERE decision_id = $d",
            {"o": "005000000000000AAA", "d": decision.decision_id},
        )
        found = checks.invalid_owners(con, loaded)
        assert found.count == 1 and found.keys == [decision.lead_id]
        assert "is not in pool" in found.sample[decision.lead_id]
        con.execute(
            "UPDATE salesops.lead_routing_decision SET policy_version = '' WHERE decision_id = $d",
            {"d": decision.decision_id},
        )
        assert checks.unstamped(con).keys == [decision.decision_id]
        con.execute(
            "UPDATE salesops.lead_routing_decision SET attempt = 3 WHERE decision_id = $d",
            {"d": decision.decision_id},
        )
        assert checks.attempt_gaps(con).count == 1


def test_a_cap_violation_is_found_on_the_pools_calendar_day(synced, tmp_path, monkeypatch):
    _, _, warehouse = synced
    with connect(warehouse) as con:
        loaded = _loaded(con)
        decisions = [d for d in checks.current_decisions(con, loaded) if not d.is_fallback]
        pool, owner = decisions[0].pool, decisions[0].owner_id
        same = [d for d in decisions if d.pool == pool and d.owner_id == owner]
    # A policy giving that member a daily cap below what they got on one day.
    policy = json.loads(open(policy_path()).read())  # noqa: SIM115
    for p in policy["pools"]:
        if p["name"] == pool:
            for m in p["members"]:
                if m["user_id"] == owner:
                    m["daily_cap"] = 1
    capped = tmp_path / "capped.json"
    capped.write_text(json.dumps(policy))
    with connect(warehouse) as con:
        loaded = load_policy(capped, **known_ids(con))
        # Same decisions, relabelled as made under the capped policy, stacked on one day.
        con.execute(
            "UPDATE salesops.lead_routing_decision SET policy_sha256 = $sha, "
            "decided_at = TIMESTAMP '2026-11-24 15:00:00' WHERE list_contains($ids, decision_id)",
            {"sha": loaded.sha256, "ids": [d.decision_id for d in same[:2]]},
        )
        found = checks.cap_violations(con, loaded)
    assert len(same) >= 2
    [(where, what)] = found.sample.items()
    assert found.count == 1 and owner in where and "daily cap 1" in what


def test_a_failed_blocking_check_stops_the_owner_write(synced):
    org, instance, warehouse = synced
    assert run_sync(instance).success  # read back the owners routing wrote
    # A lead handed back to intake is owed a new decision and owner write; every stored
    # decision is then made to carry a bad sha256, which the blocking stamp check must catch.
    written_before = org.stats()["records_written"].get("Lead", 0)
    lead = next(
        r
        for r in org.records("Lead")
        if r["OwnerId"] != LEAD_INTAKE_QUEUE_ID
        and not r["IsDeleted"]
        and not r["IsConverted"]
        and r["OwnerId"].startswith("005")
    )
    from tests.conftest import salesforce_client

    salesforce_client(org).Lead.update(
        lead["Id"], {"OwnerId": LEAD_INTAKE_QUEUE_ID}, headers={"Sforce-Auto-Assign": "FALSE"}
    )
    _plant(warehouse, "UPDATE salesops.lead_routing_decision SET policy_sha256 = 'not-a-sha'")
    result = run_sync(instance)
    assert not result.success
    assert "policy_version_stamped" in result.failure
    assert "salesforce_publish/lead_owner" not in {a.key for a in result.assets}
    # The handed-back lead was decided again, but its owner was not written.
    assert org.stats()["records_written"].get("Lead", 0) == written_before + 1  # the hand-back
    assert org.record("Lead", lead["Id"])["OwnerId"] == LEAD_INTAKE_QUEUE_ID

"""Candidates and decisions against a real DuckDB warehouse: eligibility, SQL rule matching,
re-routing through `salesops.salesforce_write`, idempotent inserts."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import duckdb
import pytest

from salesops_dagster.devorg import synthetic
from salesops_dagster.policy import known_ids, load_policy
from salesops_dagster.routing.candidates import (
    candidates_from_records,
    candidates_sql,
    load_candidates,
)
from salesops_dagster.routing.decisions import insert_decisions, read_decisions
from salesops_dagster.routing.engine import route_pending
from salesops_dagster.warehouse.connection import to_warehouse_ts
from tests.routing import (
    FALLBACK_QUEUE,
    INTAKE_QUEUE,
    POLICY_PATH,
    REPS,
    business_hours,
    load_records,
    loaded,
    record_owner_write,
    simple_policy,
)

END = datetime(2026, 11, 30, tzinfo=UTC)


@pytest.fixture(scope="module")
def synthetic_data() -> dict:
    return synthetic.generate(1500, seed=11, end=END)


@pytest.fixture
def con(synthetic_data: dict) -> duckdb.DuckDBPyConnection:
    connection = duckdb.connect()
    load_records(connection, synthetic_data, END)
    yield connection
    connection.close()


def lead_rows(con: duckdb.DuckDBPyConnection) -> list[dict]:
    cursor = con.execute("SELECT * FROM salesforce.lead")
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def test_eligible_leads_in_created_order(con: duckdb.DuckDBPyConnection, synthetic_data) -> None:
    policy = load_policy(POLICY_PATH).policy
    candidates = load_candidates(con, policy)
    expected = sorted(
        (r["CreatedDate"], r["Id"])
        for r in synthetic_data["Lead"]
        if not r["IsDeleted"] and not r["IsConverted"] and r["OwnerId"] == INTAKE_QUEUE
    )
    assert [c.lead_id for c in candidates] == [lead_id for _, lead_id in expected]
    assert len(candidates) > 900  # ~72 % of 1500 in the intake queue
    assert all(c.attempt == 1 and not c.previous_owners for c in candidates)


def test_sql_rule_matching_agrees_with_python(con: duckdb.DuckDBPyConnection) -> None:
    policy = load_policy(POLICY_PATH).policy
    by_sql = {c.lead_id: c for c in load_candidates(con, policy)}
    rows = [r for r in lead_rows(con) if r["Id"] in by_sql]
    by_python = {c.lead_id: c for c in candidates_from_records(policy, rows)}
    assert by_sql.keys() == by_python.keys()
    for lead_id, sql in by_sql.items():
        python = by_python[lead_id]
        assert (sql.segment_rule, sql.region_rule) == (python.segment_rule, python.region_rule)
        assert sql.enrichment_complete == python.enrichment_complete
        assert sql.fields == python.fields
        assert sql.created_at == python.created_at
    # The synthetic data exercises several rules of each dimension.
    assert len(Counter(c.segment_rule for c in by_sql.values())) >= 4
    assert len(Counter(c.region_rule for c in by_sql.values())) >= 4


def test_route_pending_decides_each_lead_once(con: duckdb.DuckDBPyConnection) -> None:
    loaded_policy = load_policy(POLICY_PATH, **known_ids(con))
    policy = loaded_policy.policy
    result = route_pending(con, loaded_policy, as_of=END)
    decisions = result.decisions
    assert len(decisions) == len(load_candidates(con, policy))
    assert len({d.lead_id for d in decisions}) == len(decisions)
    pools = {p.name: p for p in policy.pools}
    for d in decisions:
        assert d.policy_version == "1.0.0" and d.policy_sha256 == loaded_policy.sha256
        if d.is_fallback:
            assert d.owner_id == policy.fallback_for(pools[d.pool])
        else:
            assert d.owner_id in {m.user_id for m in pools[d.pool].members}
        assert d.owner_id != synthetic.INACTIVE_REP_ID
    assert insert_decisions(con, decisions) == len(decisions)
    # A rerun decides nothing new (nothing was written), and re-inserting changes nothing.
    assert route_pending(con, loaded_policy, as_of=END).decisions == []
    assert insert_decisions(con, decisions) == 0
    stored = read_decisions(con)
    assert [d.key() for d in stored] == [d.key() for d in decisions]
    assert stored[0].reasons == decisions[0].reasons


def test_enrichment_wait_in_the_warehouse(con: duckdb.DuckDBPyConnection) -> None:
    loaded_policy = load_policy(POLICY_PATH)
    waiting_lead = con.execute(
        """
        SELECT "Id", "CreatedDate" FROM salesforce.lead
        WHERE "OwnerId" = $q AND NOT _is_deleted AND NOT "IsConverted"
        ORDER BY "CreatedDate" DESC LIMIT 1
        """,
        {"q": INTAKE_QUEUE},
    ).fetchone()
    con.execute(
        'UPDATE salesforce.lead SET "NumberOfEmployees" = NULL WHERE "Id" = $id',
        {"id": waiting_lead[0]},
    )
    created = waiting_lead[1].replace(tzinfo=UTC)
    soon = route_pending(con, loaded_policy, as_of=created + timedelta(minutes=5))
    assert [w.lead_id for w in soon.waiting] == [waiting_lead[0]]
    assert waiting_lead[0] not in {d.lead_id for d in soon.decisions}
    later = route_pending(con, loaded_policy, as_of=created + timedelta(minutes=31))
    (decision,) = [d for d in later.decisions if d.lead_id == waiting_lead[0]]
    assert decision.decided_at == created + timedelta(minutes=30)
    assert decision.segment == "smb"  # routed anyway, without a company size


def small_warehouse() -> tuple[duckdb.DuckDBPyConnection, list[str]]:
    """Three reps, two queues and three leads in the intake queue."""
    con = duckdb.connect()
    users = [
        {"Id": user_id, "SystemModstamp": "2026-01-01T00:00:00.000+0000", "IsActive": True}
        for user_id in REPS[:3]
    ]
    groups = [
        {"Id": INTAKE_QUEUE, "SystemModstamp": "2026-01-01T00:00:00.000+0000", "Type": "Queue"},
        {"Id": FALLBACK_QUEUE, "SystemModstamp": "2026-01-01T00:00:00.000+0000", "Type": "Queue"},
    ]
    leads = [
        {
            "Id": f"00Q5e000000000{n}AAA",
            "SystemModstamp": f"2026-03-02T0{n}:00:00.000+0000",
            "CreatedDate": f"2026-03-02T0{n}:00:00.000+0000",
            "LastModifiedDate": f"2026-03-02T0{n}:00:00.000+0000",
            "IsDeleted": False,
            "IsConverted": False,
            "OwnerId": INTAKE_QUEUE,
            "LastName": f"Lead {n}",
        }
        for n in (1, 2, 3)
    ]
    load_records(con, {"User": users, "Group": groups, "Lead": leads}, END)
    return con, [lead["Id"] for lead in leads]


def write(con: duckdb.DuckDBPyConnection, decision_id: str, lead_id: str, at: datetime, ok=True):
    record_owner_write(con, decision_id, lead_id, at, ok)


def set_owner(con: duckdb.DuckDBPyConnection, lead_id: str, owner_id: str, at: datetime) -> None:
    con.execute(
        'UPDATE salesforce.lead SET "OwnerId" = ?, "SystemModstamp" = ?, "LastModifiedDate" = ? '
        'WHERE "Id" = ?',
        [owner_id, to_warehouse_ts(at), to_warehouse_ts(at), lead_id],
    )


def test_rerouting_follows_the_write_log() -> None:
    con, lead_ids = small_warehouse()
    pool = {
        "name": "p",
        "segment": "all",
        "region": "world",
        "members": [{"user_id": u, "weight": 1} for u in REPS[:3]],
    }
    policy = loaded(simple_policy([pool]), **known_ids(con))
    first = route_pending(con, policy, as_of=END).decisions
    insert_decisions(con, first)
    assert [d.attempt for d in first] == [1, 1, 1]
    lead, decision = lead_ids[0], first[0]
    t_write = datetime(2026, 3, 3, 9, 0, tzinfo=UTC)

    # Not written yet: no new decision, even though the lead still sits in the intake queue.
    assert route_pending(con, policy, as_of=END).decisions == []
    # A failed write does not count as applied either.
    write(con, decision.decision_id, lead, t_write, ok=False)
    assert route_pending(con, policy, as_of=END).decisions == []
    # Written, and the warehouse has not pulled the new owner yet (older SystemModstamp).
    write(con, decision.decision_id, lead, t_write)
    assert route_pending(con, policy, as_of=END).decisions == []
    # The pull brings the new owner: not in an intake queue, so nothing to do.
    set_owner(con, lead, decision.owner_id, t_write)
    assert route_pending(con, policy, as_of=END).decisions == []

    # A person hands it back: attempt 2, never to the owner it had.
    handed_back = t_write + timedelta(hours=5)
    set_owner(con, lead, INTAKE_QUEUE, handed_back)
    (candidate,) = load_candidates(con, policy.policy)
    assert (candidate.lead_id, candidate.attempt) == (lead, 2)
    assert candidate.previous_owners == {decision.owner_id}
    (second,) = route_pending(con, policy, as_of=END).decisions
    assert second.attempt == 2 and second.owner_id != decision.owner_id
    assert second.decided_at == handed_back
    assert second.reasons["decided_at_basis"] == "handed_back"
    assert insert_decisions(con, [second]) == 1

    # Third time: both earlier owners are excluded.
    write(con, second.decision_id, lead, handed_back + timedelta(minutes=1))
    set_owner(con, lead, second.owner_id, handed_back + timedelta(minutes=1))
    set_owner(con, lead, INTAKE_QUEUE, handed_back + timedelta(hours=1))
    (third,) = route_pending(con, policy, as_of=END).decisions
    assert third.attempt == 3
    assert third.owner_id not in {decision.owner_id, second.owner_id}
    assert not third.is_fallback
    insert_decisions(con, [third])

    # Fourth: everyone had it, so the fallback takes it.
    write(con, third.decision_id, lead, handed_back + timedelta(hours=2))
    set_owner(con, lead, INTAKE_QUEUE, handed_back + timedelta(hours=3))
    (fourth,) = route_pending(con, policy, as_of=END).decisions
    assert (fourth.attempt, fourth.owner_id, fourth.is_fallback) == (4, FALLBACK_QUEUE, True)
    assert {s["why"] for s in fourth.reasons["skipped"]} == {"previous_owner"}


def test_deleted_converted_and_other_owners_are_not_candidates() -> None:
    con, lead_ids = small_warehouse()
    con.execute('UPDATE salesforce.lead SET _is_deleted = true WHERE "Id" = ?', [lead_ids[0]])
    con.execute('UPDATE salesforce.lead SET "IsConverted" = true WHERE "Id" = ?', [lead_ids[1]])
    policy = loaded(
        simple_policy(
            [
                {
                    "name": "p",
                    "segment": "all",
                    "region": "world",
                    "members": [{"user_id": REPS[0], "weight": 1}],
                }
            ],
            regions=[{"name": "world", "rules": [], "business_hours": business_hours()}],
        )
    )
    assert [c.lead_id for c in load_candidates(con, policy.policy)] == [lead_ids[2]]
    set_owner(con, lead_ids[2], REPS[1], END)
    assert load_candidates(con, policy.policy) == []


def test_candidate_query_binds_values() -> None:
    con = duckdb.connect()
    policy = load_policy(POLICY_PATH).policy
    sql, params = candidates_sql(policy, con)
    assert "United States" not in sql and INTAKE_QUEUE not in sql
    assert "United States" in params.values() and INTAKE_QUEUE in params.values()

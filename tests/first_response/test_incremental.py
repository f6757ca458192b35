"""Incremental refresh: idempotent, and equal to a full recompute under the never-later rule."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import duckdb
import pytest

from salesops_dagster.devorg.ids import make_id
from salesops_dagster.first_response.sql import (
    last_refresh,
    policy_fingerprint,
    recompute_all,
    refresh_first_response,
)
from salesops_dagster.policy.models import RoutingPolicy
from tests.first_response import (
    INTEGRATION,
    MONDAY,
    OTHER_REP,
    REP,
    Org,
    Response,
    parse_ts,
    reference_first_responses,
    shipped_policy,
    table_responses,
)

POLICY = shipped_policy()
NOW = MONDAY + timedelta(days=30)


def snapshot(con: duckdb.DuckDBPyConnection) -> list[tuple]:
    return con.execute("SELECT * FROM salesops.lead_first_response ORDER BY lead_id").fetchall()


def test_refresh_twice_the_second_changes_nothing(tmp_path) -> None:
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    org = Org(con)
    for i in range(5):
        lead = org.lead(MONDAY + timedelta(hours=i))
        org.task(lead, MONDAY + timedelta(hours=i, minutes=30))
        org.email(MONDAY + timedelta(hours=i, minutes=20), to=[lead])
    org.lead(MONDAY)  # open
    org.sync()
    first = refresh_first_response(con, POLICY, now=NOW)
    assert (first.mode, first.inserted, first.rows_total) == ("full", 6, 6)
    before = snapshot(con)
    second = refresh_first_response(con, POLICY, now=NOW)
    assert second.mode == "incremental"
    assert (second.leads_recomputed, second.changed) == (0, 0)
    assert snapshot(con) == before
    # A replayed load (same versions) is no change either: upserts keep _synced_at.
    for sobject in org.records:
        org.pending[sobject].update(org.records[sobject])
    org.sync()
    third = refresh_first_response(con, POLICY, now=NOW)
    assert (third.leads_recomputed, third.changed) == (0, 0)
    assert snapshot(con) == before
    state = last_refresh(con)
    assert state is not None and state["refreshed_at"] == NOW


def test_a_policy_change_recomputes_everything_but_never_later(tmp_path) -> None:
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    org = Org(con)
    lead = org.lead(MONDAY)
    email_task = org.task(lead, MONDAY + timedelta(minutes=5), "Email")
    org.task(lead, MONDAY + timedelta(minutes=9), "Call")
    org.sync()
    refresh_first_response(con, POLICY, now=NOW)
    calls_only = POLICY.model_copy(
        update={
            "first_touch": POLICY.first_touch.model_copy(update={"counted_task_kinds": ["Call"]})
        }
    )
    assert policy_fingerprint(calls_only) != policy_fingerprint(POLICY)
    stats = refresh_first_response(con, calls_only, now=NOW)
    assert (stats.mode, stats.kept_earlier, stats.updated) == ("full", 1, 0)
    assert table_responses(con)[lead].record_id == email_task
    # Unrelated policy edits (pools, version) are no reason to recompute.
    renamed = calls_only.model_copy(update={"policy_version": "9.9.9", "name": "other"})
    assert refresh_first_response(con, renamed, now=NOW).mode == "incremental"


def _key(response: Response) -> tuple:
    return (response.at, response.source != "Task", response.record_id)


def _never_later(
    held: dict[str, Response | None],
    current: dict[str, Response | None],
    records: dict,
) -> dict[str, Response | None]:
    """The reference result after one more refresh: earliest of what was held and what the raw
    records now give, a held response before the lead's (current) creation dropped."""
    out: dict[str, Response | None] = {}
    for lead_id, now_first in current.items():
        stored = held.get(lead_id)
        created = parse_ts(records["Lead"][lead_id]["CreatedDate"])
        if stored is not None and stored.at < created:
            stored = None
        if stored is not None and (now_first is None or _key(stored) <= _key(now_first)):
            out[lead_id] = stored
        else:
            out[lead_id] = now_first
    return out


class _Chaos:
    """Random edits of an org: the shapes of change ingest delivers, traps included."""

    def __init__(self, org: Org, rng: random.Random) -> None:
        self.org = org
        self.rng = rng
        self.contact = make_id("003", 77, "FR")

    def when(self, lead_id: str) -> datetime:
        created = parse_ts(self.org.records["Lead"][lead_id]["CreatedDate"])
        # Mostly after creation, sometimes before; whole seconds with collisions on purpose.
        return created + timedelta(minutes=self.rng.randint(-30, 240))

    def pick(self, sobject: str) -> str | None:
        ids = sorted(self.org.records[sobject])
        if sobject == "User" or not ids:
            return None
        return self.rng.choice(ids)

    def step(self) -> None:
        org, rng = self.org, self.rng
        action = rng.choice(
            ["lead", "task", "task", "task", "email", "email", "relation", "delete", "undelete",
             "move_task", "retype", "lead_edit", "send_draft"]
        )  # fmt: skip
        lead = self.pick("Lead")
        if action == "lead" or lead is None:
            start = MONDAY + timedelta(minutes=rng.randint(0, 3 * 24 * 60))
            country = rng.choice(["United States", "Germany", "Japan", "Brazil", None])
            employees = rng.choice([None, 20, 500, 5000])
            org.lead(start, Country=country, NumberOfEmployees=employees)
        elif action == "task":
            who = rng.choice([lead, lead, lead, self.contact, None])
            subtype = rng.choice(["Call", "Email", "Task", "ListEmail", None])
            owner = rng.choice([REP, REP, OTHER_REP, INTEGRATION])
            task_type = rng.choice(["Call", "Email", "Other", None])
            org.task(who, self.when(lead), subtype, owner=owner, Type=task_type)
        elif action == "email":
            others = [self.pick("Lead") for _ in range(rng.randint(0, 2))]
            role = rng.choice(["to", "cc", "bcc"])
            activity = self.pick("Task") if rng.random() < 0.3 else None
            org.email(
                self.when(lead),
                **{role: [x for x in others if x]},
                activity=activity,
                incoming=rng.random() < 0.15,
                status=rng.choice(["3", "3", "3", "5", "2"]),
            )
        elif action == "relation":
            email = self.pick("EmailMessage")
            if email:
                org.relation(email, lead, rng.choice(["ToAddress", "CcAddress", "FromAddress"]))
        elif action in ("delete", "undelete"):
            sobject = rng.choice(["Task", "EmailMessage", "EmailMessageRelation", "Lead"])
            record = self.pick(sobject)
            if record:
                org.update(sobject, record, IsDeleted=action == "delete")
        elif action == "move_task":
            task = self.pick("Task")
            if task:
                org.update("Task", task, WhoId=lead)
        elif action == "retype":
            task = self.pick("Task")
            if task:
                org.update(
                    "Task",
                    task,
                    TaskSubtype=rng.choice(["Call", "Task", None]),
                    OwnerId=rng.choice([REP, INTEGRATION]),
                )
        elif action == "lead_edit":
            created = parse_ts(org.records["Lead"][lead]["CreatedDate"])
            shift = timedelta(minutes=rng.choice([-90, -10, 10, 90]))
            org.update(
                "Lead",
                lead,
                CreatedDate=(created + shift).strftime("%Y-%m-%dT%H:%M:%S.000+0000"),
                IsConverted=rng.random() < 0.2,
                Country=rng.choice(["Canada", "France", None]),
            )
        elif action == "send_draft":
            email = self.pick("EmailMessage")
            if email and org.records["EmailMessage"][email]["Status"] == "5":
                org.update("EmailMessage", email, Status="3")


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_incremental_equals_full_recompute_on_random_changes(tmp_path, seed: int) -> None:
    rng = random.Random(seed)
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    org = Org(con)
    chaos = _Chaos(org, rng)
    for _ in range(15):
        org.lead(MONDAY + timedelta(minutes=rng.randint(0, 3 * 24 * 60)))
    expected: dict[str, Response | None] = {}
    modes = []
    for batch in range(25):
        for _ in range(rng.randint(1, 12)):
            chaos.step()
        org.sync()
        now = NOW + timedelta(hours=batch)
        stats = refresh_first_response(con, POLICY, now=now)
        modes.append(stats.mode)
        current = reference_first_responses(org.records, POLICY)
        expected = _never_later(expected, current, org.records)
        assert table_responses(con) == expected, f"seed {seed}, batch {batch}"
    assert modes[0] == "full" and set(modes[1:]) == {"incremental"}
    # A full recompute over the same warehouse finds nothing the increments missed...
    before = snapshot(con)
    full = recompute_all(con, POLICY, now=now)
    assert (full.inserted, full.updated, full.sla_changed) == (0, 0, 0)
    assert snapshot(con) == before
    # ...and a reset recomputes exactly what the raw records say today.
    recompute_all(con, POLICY, now=now, reset=True)
    assert table_responses(con) == reference_first_responses(org.records, POLICY)
    con.close()


def test_first_refresh_on_an_empty_warehouse(tmp_path) -> None:
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    stats = refresh_first_response(con, POLICY, now=NOW)
    assert (stats.mode, stats.rows_total, stats.synced_through) == ("full", 0, None)
    # Still "full" until some raw rows have been covered.
    assert refresh_first_response(con, POLICY, now=NOW).mode == "full"
    org = Org(con)
    org.lead(MONDAY)
    org.sync(datetime(2030, 1, 1, tzinfo=UTC))
    stats = refresh_first_response(con, POLICY, now=NOW)
    assert (stats.mode, stats.rows_total) == ("full", 1)
    assert stats.synced_through == datetime(2030, 1, 1, tzinfo=UTC)


def test_unused_policy_parts_do_not_matter(tmp_path) -> None:
    assert isinstance(POLICY, RoutingPolicy)
    assert policy_fingerprint(POLICY) == policy_fingerprint(POLICY.model_copy())


def test_a_lead_edit_recomputes_its_derived_columns_without_losing_the_response(
    tmp_path,
) -> None:
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    org = Org(con)
    lead = org.lead(MONDAY, Country="United States")  # 09:00 in New York, 15:00 in Berlin
    task = org.task(lead, MONDAY + timedelta(hours=3))
    org.sync()
    refresh_first_response(con, POLICY, now=NOW)
    before = con.execute(
        "SELECT region, ttfr_business_minutes FROM salesops.lead_first_response"
    ).fetchall()
    assert [(r, float(m)) for r, m in before] == [("NA", 180.0)]
    # Our write-back comes back with the lead, which has also moved to Japan.
    org.update("Lead", lead, Country="Japan", First_Response_At__c="2026-03-02T17:00:00.000+0000")
    org.sync()
    stats = refresh_first_response(con, POLICY, now=NOW)
    assert (stats.leads_recomputed, stats.updated) == (1, 1)
    after = con.execute(
        "SELECT region, ttfr_business_minutes, first_response_record_id "
        "FROM salesops.lead_first_response"
    ).fetchall()
    # APAC keeps Singapore hours (01:00-10:00 UTC): 14:00-17:00 UTC is after hours.
    assert [(r, float(m), t) for r, m, t in after] == [("APAC", 0.0, task)]

"""TTFR semantics (DESIGN.md): which records count, in which order, and never later."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import duckdb
import pytest

from salesops_dagster.devorg.ids import make_id
from salesops_dagster.devorg.synthetic import generate
from salesops_dagster.first_response.checks import (
    negative_ttfr,
    one_row_per_lead,
    response_before_creation,
    unresolvable_responders,
)
from salesops_dagster.first_response.sql import recompute_all, refresh_first_response
from salesops_dagster.ingest.objects import OBJECTS_BY_NAME
from salesops_dagster.warehouse.raw import upsert_records
from tests.first_response import (
    INTEGRATION,
    MONDAY,
    OTHER_REP,
    REP,
    REP_EMAIL,
    Org,
    Response,
    reference_first_responses,
    row,
    shipped_policy,
    table_responses,
)

POLICY = shipped_policy()
NOW = MONDAY + timedelta(days=30)
C = MONDAY  # lead creation time used throughout


def minutes(n: float) -> timedelta:
    return timedelta(minutes=n)


@pytest.fixture
def org(tmp_path) -> Iterator[Org]:
    con = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    yield Org(con)
    con.close()


def refresh(org: Org):
    org.sync()
    return refresh_first_response(org.con, POLICY, now=NOW)


def first(org: Org, lead_id: str) -> tuple[str | None, str | None, datetime | None]:
    r = row(org.con, lead_id)
    at = r["first_response_at"]
    return r["first_response_source"], r["first_response_record_id"], at and at.replace(tzinfo=UTC)


# --- ordering ---------------------------------------------------------------------------------


def test_calendar_minutes_responder_and_source_of_a_task(org: Org) -> None:
    lead = org.lead(C)
    task = org.task(lead, C + timedelta(minutes=45, seconds=30), "Call", owner=REP)
    refresh(org)
    r = row(org.con, lead)
    assert r["first_response_source"] == "Task"
    assert r["first_response_record_id"] == task
    assert r["first_response_user"] == REP
    assert r["first_response_at"] == datetime(2026, 3, 2, 14, 45, 30)
    assert r["lead_created_at"] == datetime(2026, 3, 2, 14, 0)
    assert r["ttfr_minutes"] == Decimal("45.50")
    assert (r["segment"], r["region"]) == ("smb", "NA")


def test_an_email_earlier_than_the_stored_task_wins_on_the_next_refresh(org: Org) -> None:
    lead = org.lead(C)
    task = org.task(lead, C + minutes(60))
    refresh(org)
    assert first(org, lead) == ("Task", task, C + minutes(60))
    # The e-mail was sent before the call but reached the warehouse only now.
    email = org.email(C + minutes(30), to=[lead])
    stats = refresh(org)
    assert first(org, lead) == ("EmailMessage", email, C + minutes(30))
    assert row(org.con, lead)["first_response_user"] == REP_EMAIL
    assert row(org.con, lead)["ttfr_minutes"] == Decimal("30.00")
    assert (stats.mode, stats.updated, stats.kept_earlier) == ("incremental", 1, 0)


def test_a_later_task_never_overwrites(org: Org) -> None:
    lead = org.lead(C)
    task = org.task(lead, C + minutes(10))
    refresh(org)
    org.task(lead, C + minutes(20))
    org.email(C + minutes(15), to=[lead])
    stats = refresh(org)
    assert first(org, lead) == ("Task", task, C + minutes(10))
    assert (stats.leads_recomputed, stats.updated, stats.unchanged) == (1, 0, 1)


def test_a_response_before_the_lead_was_created_is_ignored(org: Org) -> None:
    lead = org.lead(C)
    org.task(lead, C - minutes(5))
    org.email(C - timedelta(seconds=1), to=[lead])
    refresh(org)
    assert first(org, lead) == (None, None, None)
    at_creation = org.task(lead, C)  # at the very moment counts (>=)
    refresh(org)
    assert first(org, lead) == ("Task", at_creation, C)
    assert row(org.con, lead)["ttfr_minutes"] == Decimal("0.00")


def test_deleting_the_first_response_task_does_not_move_the_value_later(org: Org) -> None:
    lead = org.lead(C)
    task1 = org.task(lead, C + minutes(10))
    task2 = org.task(lead, C + minutes(50))
    refresh(org)
    org.delete("Task", task1)
    stats = refresh(org)
    assert first(org, lead) == ("Task", task1, C + minutes(10))
    # A deletion cannot make anything earlier, so the refresh need not even look at the lead.
    assert (stats.leads_recomputed, stats.updated) == (0, 0)
    # A full recompute finds only the later task and keeps the stored one; only an explicit
    # reset lets the value move later.
    full = recompute_all(org.con, POLICY, now=NOW)
    assert (full.leads_recomputed, full.kept_earlier, full.updated) == (1, 1, 0)
    assert first(org, lead) == ("Task", task1, C + minutes(10))
    recompute_all(org.con, POLICY, now=NOW, reset=True)
    assert first(org, lead) == ("Task", task2, C + minutes(50))


def test_a_lead_whose_only_response_is_deleted_keeps_it(org: Org) -> None:
    lead = org.lead(C)
    email = org.email(C + minutes(5), to=[lead])
    refresh(org)
    org.delete("EmailMessage", email)
    refresh(org)
    assert first(org, lead) == ("EmailMessage", email, C + minutes(5))


def test_ties_resolve_task_before_email_then_by_record_id(org: Org) -> None:
    at = C + minutes(20)
    # Same time, the e-mail has the smaller Id: the Task still wins (source before Id).
    lead1 = org.lead(C)
    org.email(at, to=[lead1])
    task = org.task(lead1, at)
    # Two tasks at the same time: the smaller Id.
    lead2 = org.lead(C)
    task_a = org.task(lead2, at)
    org.task(lead2, at, "Email")
    # Two e-mails at the same time: the smaller Id.
    lead3 = org.lead(C)
    email_a = org.email(at, to=[lead3])
    org.email(at, cc=[lead3])
    refresh(org)
    assert first(org, lead1) == ("Task", task, at)
    assert first(org, lead2) == ("Task", task_a, at)
    assert first(org, lead3) == ("EmailMessage", email_a, at)


def test_ties_follow_record_ids_not_the_order_rows_reached_the_warehouse(org: Org) -> None:
    # The refresh carries rowids and fetches Ids for the tied rows only: the row stored first
    # (smaller rowid) must not win when its Id is the larger one, in either source.
    at = C + minutes(20)
    task_lead, email_lead = org.lead(C), org.lead(C)
    task_a = org.task(task_lead, at, owner=OTHER_REP)
    task_b = org.task(task_lead, at, owner=REP)
    email_a = org.email(at, to=[email_lead], from_address="a@example.com")
    email_b = org.email(at, to=[email_lead], from_address="b@example.com")
    assert task_a < task_b and email_a < email_b
    held_back = {"Task": {task_a}, "EmailMessage": {email_a}}
    held_back["EmailMessageRelation"] = {
        r["Id"]
        for r in org.records["EmailMessageRelation"].values()
        if r["EmailMessageId"] == email_a
    }
    for sobject, ids in held_back.items():
        org.pending[sobject] -= ids
    refresh(org)  # only the larger Ids are in the warehouse
    assert first(org, task_lead) == ("Task", task_b, at)
    for sobject, ids in held_back.items():
        org.pending[sobject] |= ids
    refresh(org)

    def the_smaller_ids_win() -> None:
        assert first(org, task_lead) == ("Task", task_a, at)
        assert row(org.con, task_lead)["first_response_user"] == OTHER_REP
        assert first(org, email_lead) == ("EmailMessage", email_a, at)
        assert row(org.con, email_lead)["first_response_user"] == "a@example.com"

    the_smaller_ids_win()  # incremental: the stored larger Id gives way
    recompute_all(org.con, POLICY, now=NOW, reset=True)
    the_smaller_ids_win()  # from scratch: all four rows tie
    rowids = dict(org.con.execute('SELECT "Id", rowid FROM salesforce.task').fetchall())
    assert rowids[task_b] < rowids[task_a]  # the case this test is about


def test_a_tie_arriving_later_still_follows_the_order(org: Org) -> None:
    at = C + minutes(20)
    lead = org.lead(C)
    org.email(at, to=[lead])
    refresh(org)
    task = org.task(lead, at)  # same instant, arrives later: Task before EmailMessage
    refresh(org)
    assert first(org, lead) == ("Task", task, at)


# --- linkage ----------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["to", "cc", "bcc"])
def test_an_email_linked_only_through_a_relation_counts(org: Org, role: str) -> None:
    lead = org.lead(C)
    email = org.email(C + minutes(7), **{role: [lead]})
    refresh(org)
    assert first(org, lead) == ("EmailMessage", email, C + minutes(7))


def test_an_email_linked_only_through_activity_id_counts(org: Org) -> None:
    lead = org.lead(C)
    # The Task is a to-do (not a counted kind): the e-mail counts on its own through it.
    todo = org.task(lead, C + minutes(9), "Task")
    email = org.email(C + minutes(8), activity=todo)
    refresh(org)
    assert first(org, lead) == ("EmailMessage", email, C + minutes(8))


def test_a_deleted_relation_does_not_link(org: Org) -> None:
    lead = org.lead(C)
    email = org.email(C + minutes(8), to=[lead])
    relation = next(
        r["Id"]
        for r in org.records["EmailMessageRelation"].values()
        if r["EmailMessageId"] == email and r["RelationId"] == lead
    )
    org.delete("EmailMessageRelation", relation)
    refresh(org)
    assert first(org, lead) == (None, None, None)


def test_incoming_emails_and_drafts_do_not_count(org: Org) -> None:
    lead = org.lead(C)
    org.email(C + minutes(1), to=[lead], incoming=True, status="1", from_address="lead@x.com")
    org.email(C + minutes(2), to=[lead], status="5")
    sent = org.email(C + minutes(3), to=[lead])
    refresh(org)
    assert first(org, lead) == ("EmailMessage", sent, C + minutes(3))


def test_tasks_and_emails_of_contacts_or_other_leads_do_not_count(org: Org) -> None:
    lead = org.lead(C)
    other = org.lead(C)
    contact = make_id("003", 9, "FR")
    org.task(contact, C + minutes(1))
    org.task(other, C + minutes(2))
    org.email(C + minutes(3), to=[other])
    org.email(C + minutes(4), to=[contact])
    org.task(None, C + minutes(5))
    own = org.task(lead, C + minutes(6))
    refresh(org)
    assert first(org, lead) == ("Task", own, C + minutes(6))
    assert first(org, other)[2] == C + minutes(2)


def test_tasks_of_excluded_users_and_uncounted_kinds_do_not_count(org: Org) -> None:
    lead = org.lead(C)
    org.task(lead, C + minutes(1), "Email", owner=INTEGRATION)  # the auto-response
    org.task(lead, C + minutes(2), "ListEmail")
    org.task(lead, C + minutes(3), "Task")
    org.task(lead, C + minutes(4), "Task", Type="Call")  # TaskSubtype decides, not Type
    typed = org.task(lead, C + minutes(5), None, Type="Call")  # no subtype: Type decides
    refresh(org)
    assert first(org, lead) == ("Task", typed, C + minutes(5))


def test_an_excluded_user_named_by_its_15_character_id_is_excluded(org: Org) -> None:
    from salesops_dagster.devorg.ids import to18

    lead = org.lead(C)
    org.task(lead, C + minutes(1), owner=OTHER_REP)
    call = org.task(lead, C + minutes(2))
    short = POLICY.model_copy(
        update={
            "first_touch": POLICY.first_touch.model_copy(
                update={"excluded_user_ids": [OTHER_REP[:15]]}
            )
        }
    )
    assert to18(OTHER_REP[:15]) == OTHER_REP
    org.sync()
    refresh_first_response(org.con, short, now=NOW)
    assert first(org, lead) == ("Task", call, C + minutes(2))


def test_an_enhanced_email_pair_is_one_response_with_source_task(org: Org) -> None:
    at = C + minutes(12)
    with_relation = org.lead(C)
    task1 = org.task(with_relation, at, "Email", owner=OTHER_REP)
    org.email(at, to=[with_relation], activity=task1)
    activity_only = org.lead(C)
    task2 = org.task(activity_only, at, "Email")
    org.email(at, activity=task2)
    stats = refresh(org)
    assert first(org, with_relation) == ("Task", task1, at)
    assert row(org.con, with_relation)["first_response_user"] == OTHER_REP
    assert first(org, activity_only) == ("Task", task2, at)
    assert stats.rows_total == 2
    assert one_row_per_lead(org.con).passed


def test_deleted_and_converted_leads_are_computed_and_flagged(org: Org) -> None:
    deleted = org.lead(C)
    converted = org.lead(C, IsConverted=True)
    t1 = org.task(deleted, C + minutes(3))
    t2 = org.task(converted, C + minutes(4))
    org.delete("Lead", deleted)
    refresh(org)
    assert first(org, deleted) == ("Task", t1, C + minutes(3))
    assert first(org, converted) == ("Task", t2, C + minutes(4))
    assert row(org.con, deleted)["is_deleted"] and not row(org.con, deleted)["is_converted"]
    assert row(org.con, converted)["is_converted"] and not row(org.con, converted)["is_deleted"]


def test_activities_that_arrive_before_their_lead_are_found_when_it_arrives(org: Org) -> None:
    by_task = org.lead(C)
    task = org.task(by_task, C + minutes(3))
    by_relation = org.lead(C)
    org.task(by_relation, C + minutes(3))
    related = org.email(C + minutes(2), bcc=[by_relation])
    by_activity = org.lead(C)
    todo = org.task(by_activity, C + minutes(3), "Task")
    linked = org.email(C + minutes(1), activity=todo)
    leads = (by_task, by_relation, by_activity)
    for lead in leads:
        org.pending["Lead"].discard(lead)  # the leads' page commits after the activities'
    refresh(org)
    assert org.con.execute("SELECT count(*) FROM salesops.lead_first_response").fetchone() == (0,)
    org.pending["Lead"].update(leads)
    stats = refresh(org)
    assert (stats.mode, stats.inserted) == ("incremental", 3)
    assert first(org, by_task) == ("Task", task, C + minutes(3))
    assert first(org, by_relation) == ("EmailMessage", related, C + minutes(2))
    assert first(org, by_activity) == ("EmailMessage", linked, C + minutes(1))


def test_a_lead_created_earlier_than_first_loaded_finds_older_activity(org: Org) -> None:
    lead = org.lead(C + minutes(30))
    org.task(lead, C + minutes(40))
    early = org.email(C + minutes(10), to=[lead])
    refresh(org)
    assert first(org, lead)[0] == "Task"
    org.update("Lead", lead, CreatedDate="2026-03-02T14:05:00.000+0000")
    refresh(org)
    assert first(org, lead) == ("EmailMessage", early, C + minutes(10))
    assert row(org.con, lead)["ttfr_minutes"] == Decimal("5.00")


def test_synthetic_org_matches_the_reference_and_passes_every_check(tmp_path) -> None:
    end = datetime(2026, 12, 1, tzinfo=UTC)
    data = generate(300, seed=11, end=end)
    con = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    records: dict[str, dict] = {}
    for name in ("User", "Lead", "Task", "EmailMessage", "EmailMessageRelation"):
        spec = OBJECTS_BY_NAME[name]
        rows = [{f: r.get(f) for f in spec.fields} for r in data[name]]
        upsert_records(con, spec, rows, end)
        records[name] = {r["Id"]: r for r in rows}
    stats = refresh_first_response(con, POLICY, now=end)
    assert stats.mode == "full" and stats.rows_total == 300
    expected = reference_first_responses(records, POLICY)
    assert table_responses(con) == expected
    # The traps are all there, and none leaks through.
    sources = {r.source for r in expected.values() if r}
    assert sources == {"Task", "EmailMessage"}
    assert INTEGRATION not in {r.user for r in expected.values() if r}
    for check in (negative_ttfr, response_before_creation, one_row_per_lead):
        assert check(con).passed, check.__name__
    assert unresolvable_responders(con).passed
    con.close()


def test_reference_agrees_on_the_handwritten_cases(org: Org) -> None:
    lead = org.lead(C)
    org.task(lead, C + minutes(2), "Email", owner=INTEGRATION)
    email = org.email(C + minutes(3), cc=[lead])
    refresh(org)
    assert reference_first_responses(org.records, POLICY)[lead] == Response(
        C + minutes(3), "EmailMessage", email, REP_EMAIL
    )
    assert table_responses(org.con)[lead] == Response(
        C + minutes(3), "EmailMessage", email, REP_EMAIL
    )

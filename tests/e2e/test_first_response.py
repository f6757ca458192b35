"""Time to first response end to end (issue 5 acceptance): hand-made scenarios in the dev org over
HTTPS, changes made through the real simple-salesforce client, and real `run_sync` runs (ingest,
then TTFR, its blocking checks and the write-back) on a Dagster instance. What is asserted is what
Salesforce ends up holding and what the writer recorded in `salesops.salesforce_write`."""

from __future__ import annotations

import functools
import itertools
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import dagster as dg
import pytest

from salesops_dagster import definitions, settings
from salesops_dagster.devorg.ids import KEY_PREFIXES, make_id
from salesops_dagster.devorg.synthetic import USERS, generate
from salesops_dagster.salesforce.resource import SalesforceResource
from salesops_dagster.sync import QUIET_LOGS, SyncResult, run_sync
from salesops_dagster.warehouse.connection import connect
from tests.conftest import salesforce_client

POD = "E5"  # Ids of these scenarios never collide with the roster or Ids the dev org creates
ROSTER = generate(0, seed=1)  # the Users and queues the shipped policy names, nothing else
REP, OTHER_REP = USERS[2], USERS[3]  # Avery Johnson, Jordan Miller (NA reps)
_POLICY = json.loads((settings.REPO_ROOT / "policies" / "routing_policy.json").read_text())
EXCLUDED = _POLICY["first_touch"]["excluded_user_ids"][0]  # the integration user
# Every scenario lead is created at C; responses are given in minutes from it.
C = datetime.now(UTC).replace(hour=14, minute=0, second=0, microsecond=0) - timedelta(days=3)

TTFR_KEY = dg.AssetKey(["salesops", "lead_first_response"])
ROUTING_KEY = dg.AssetKey(["salesops", "lead_routing_decision"])
PUBLISH_KEY = dg.AssetKey(["salesforce_publish", "lead_first_response"])
OWNER_PUBLISH_KEY = dg.AssetKey(["salesforce_publish", "lead_owner"])
PUBLISH = PUBLISH_KEY.to_user_string()
PERMANENT_CHECK = f"{PUBLISH}:first_response_writes_without_permanent_failures"
FIELDS = (
    "First_Response_At__c",
    "First_Response_User__c",
    "First_Response_Source__c",
    "Time_to_First_Response__c",
)


def sf_ts(value: datetime) -> str:
    utc = value.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}+0000"


def parse_ts(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%f%z")


def at(minutes: float) -> datetime:
    return C + timedelta(minutes=minutes)


class Scenario:
    """REST-shaped records for the dev org, built one response at a time."""

    def __init__(self) -> None:
        self.records: dict[str, list[dict[str, Any]]] = {
            name: [] for name in ("Lead", "Task", "EmailMessage", "EmailMessageRelation", "Contact")
        }
        self._counter = itertools.count(1)

    def _add(self, sobject: str, fields: dict[str, Any]) -> str:
        record = {"Id": make_id(KEY_PREFIXES[sobject], next(self._counter), POD), **fields}
        self.records[sobject].append(record)
        return record["Id"]

    def lead(self, created: datetime = C, **fields: Any) -> str:
        # Owned by a rep, not an intake queue: routing leaves the lead alone, so every Lead
        # write in these tests is a first-response write.
        n = len(self.records["Lead"]) + 1
        return self._add(
            "Lead",
            {
                "FirstName": "Lead",
                "LastName": f"Number{n:04d}",
                "Company": f"Company {n}",
                "Country": "United States",
                "Status": "Open - Not Contacted",
                "OwnerId": REP.id,
                "IsConverted": False,
                "CreatedDate": sf_ts(created),
                **fields,
            },
        )

    def task(self, who: str, when: datetime, owner: str = REP.id, kind: str = "Call") -> str:
        return self._add(
            "Task",
            {
                "WhoId": who,
                "Subject": f"{kind} touch",
                "Status": "Completed",
                "TaskSubtype": kind,
                "Type": kind if kind in ("Call", "Email") else "Other",
                "OwnerId": owner,
                "CreatedDate": sf_ts(when),
            },
        )

    def email(
        self,
        when: datetime,
        *,
        to: tuple[str, ...] = (),
        cc: tuple[str, ...] = (),
        activity: str | None = None,
        incoming: bool = False,
        status: str = "3",
        sender: str = REP.email,
    ) -> str:
        email_id = self._add(
            "EmailMessage",
            {
                "ActivityId": activity,
                "Subject": "Hello",
                "FromAddress": sender,
                "Incoming": incoming,
                "Status": status,
                "MessageDate": sf_ts(when),
                "CreatedDate": sf_ts(when),
            },
        )
        self._relation(email_id, REP.id, "FromAddress", when)
        for kind, leads in (("ToAddress", to), ("CcAddress", cc)):
            for lead_id in leads:
                self._relation(email_id, lead_id, kind, when)
        return email_id

    def _relation(self, email_id: str, relation_id: str, kind: str, when: datetime) -> None:
        self._add(
            "EmailMessageRelation",
            {
                "EmailMessageId": email_id,
                "RelationId": relation_id,
                "RelationType": kind,
                "RelationObjectType": "User" if relation_id.startswith("005") else "Lead",
                "CreatedDate": sf_ts(when),
            },
        )

    def contact(self) -> str:
        return self._add("Contact", {"LastName": "Contact", "OwnerId": REP.id})


@pytest.fixture
def world(devorg_factory, tmp_path, monkeypatch):
    """`start(scenario)` -> a dev org holding the roster and the scenario, wired through the
    environment to a fresh warehouse; plus the Dagster instance and the warehouse path."""
    warehouse = tmp_path / "warehouse.duckdb"

    def start(scenario: Scenario, **org_kwargs: Any):
        org = devorg_factory(records={**ROSTER, **scenario.records}, **org_kwargs)
        for name, value in org.env().items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("SALESOPS_WAREHOUSE", str(warehouse))
        return org

    with dg.instance_for_test() as instance:
        yield start, instance, warehouse


# --- what Salesforce holds, and what was written ------------------------------------------------


def held(org, lead_id: str) -> tuple:
    record = org.record("Lead", lead_id)
    return tuple(record.get(name) for name in FIELDS)


def expected(when: datetime, user: str, source: str) -> tuple:
    return (sf_ts(when), user, source, round((when - C).total_seconds() / 60, 2))


def assert_four_fields_together(org) -> int:
    """Every Lead holds all four fields, consistent with each other and its CreatedDate, or none.
    Returns how many hold them."""
    count = 0
    for record in org.records("Lead"):
        values = [record.get(name) for name in FIELDS]
        if all(v is None for v in values):
            continue
        assert all(v is not None for v in values), (record["Id"], values)
        when, user, source, minutes = values
        minutes_expected = (parse_ts(when) - parse_ts(record["CreatedDate"])).total_seconds() / 60
        assert minutes == pytest.approx(minutes_expected, abs=0.01), record["Id"]
        assert (source, user.startswith("005")) in (("Task", True), ("EmailMessage", False))
        count += 1
    return count


def write_rows(warehouse) -> list[dict[str, Any]]:
    with connect(warehouse, read_only=True) as con:
        cursor = con.execute(
            "SELECT record_id, source_key, fields, status, error_code, retryable, run_id "
            "FROM salesops.salesforce_write WHERE purpose = 'first_response' "
            "ORDER BY attempted_at, record_id"
        )
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def assert_never_written_with_different_values(warehouse) -> None:
    written: dict[str, set[str]] = {}
    for row in write_rows(warehouse):
        if row["status"] == "written":
            written.setdefault(row["record_id"], set()).add(row["fields"])
    assert written and all(len(values) == 1 for values in written.values()), written


def write_calls(org) -> tuple[int, int, int]:
    """(Collections updates, Bulk ingest jobs, Lead records written) so far."""
    stats = org.stats()
    return (
        stats["requests"].get("collections_update", 0),
        stats["requests"].get("bulk_ingest_create", 0),
        stats["records_written"].get("Lead", 0),
    )


def synced(instance) -> SyncResult:
    result = run_sync(instance)
    assert result.success, result.failure
    return result


# --- ordering -----------------------------------------------------------------------------------


def test_ordering_earlier_wins_later_never_overwrites_and_ties_follow_the_documented_order(world):
    start, instance, warehouse = world
    s = Scenario()
    earlier_email = s.lead()
    published_call = s.task(earlier_email, at(60))
    later_task = s.lead()
    s.task(later_task, at(30))
    before_creation = s.lead()
    s.task(before_creation, at(-120))  # logged before the lead existed
    s.email(at(-60), to=(before_creation,))
    s.task(before_creation, at(90), owner=OTHER_REP.id)
    only_before = s.lead()
    s.task(only_before, at(-5))
    deleted_first = s.lead()
    first_task = s.task(deleted_first, at(20))
    s.task(deleted_first, at(200), owner=OTHER_REP.id)
    task_vs_email = s.lead()
    s.email(at(45), to=(task_vs_email,), sender="camille.laurent@example.com")
    s.task(task_vs_email, at(45), owner=OTHER_REP.id)
    two_tasks = s.lead()
    tie_a = s.task(two_tasks, at(15), owner=OTHER_REP.id)
    tie_b = s.task(two_tasks, at(15), owner=REP.id)
    two_emails = s.lead()
    mail_a = s.email(at(25), to=(two_emails,), sender="first@example.com")
    mail_b = s.email(at(25), to=(two_emails,), sender="second@example.com")
    # Store the higher Id first, so Id order and insertion order disagree.
    for sobject in ("Task", "EmailMessage"):
        s.records[sobject].reverse()
    org = start(s)

    synced(instance)
    assert held(org, earlier_email) == expected(at(60), REP.id, "Task")
    assert held(org, later_task) == expected(at(30), REP.id, "Task")
    assert held(org, before_creation) == expected(at(90), OTHER_REP.id, "Task")
    assert held(org, only_before) == (None, None, None, None)
    assert held(org, deleted_first) == expected(at(20), REP.id, "Task")
    assert held(org, task_vs_email) == expected(at(45), OTHER_REP.id, "Task")
    owner_by_task = {tie_a: OTHER_REP.id, tie_b: REP.id}
    assert held(org, two_tasks) == expected(at(15), owner_by_task[min(tie_a, tie_b)], "Task")
    sender_by_email = {mail_a: "first@example.com", mail_b: "second@example.com"}
    assert held(org, two_emails) == expected(
        at(25), sender_by_email[min(mail_a, mail_b)], "EmailMessage"
    )
    assert assert_four_fields_together(org) == 7

    # A person logs an earlier email, a later call, and deletes the first call of another lead.
    person = salesforce_client(org)
    email = person.EmailMessage.create(
        {
            "Subject": "Re: your enquiry",
            "FromAddress": OTHER_REP.email,
            "Incoming": False,
            "Status": "3",
            "MessageDate": sf_ts(at(10)),
        }
    )["id"]
    person.EmailMessageRelation.create(
        {"EmailMessageId": email, "RelationId": earlier_email, "RelationType": "ToAddress"}
    )
    person.Task.create(
        {
            "WhoId": later_task,
            "Subject": "Call",
            "Status": "Completed",
            "TaskSubtype": "Call",
            "Type": "Call",
            "OwnerId": OTHER_REP.id,
        }
    )
    person.Task.delete(first_task)
    untouched = {
        lead: org.record("Lead", lead)["SystemModstamp"] for lead in (later_task, deleted_first)
    }
    _, _, written_before = write_calls(org)

    synced(instance)
    assert held(org, earlier_email) == expected(at(10), OTHER_REP.email, "EmailMessage")
    assert held(org, later_task) == expected(at(30), REP.id, "Task")
    assert held(org, deleted_first) == expected(at(20), REP.id, "Task")
    for lead, stamp in untouched.items():  # not even rewritten with the same values
        assert org.record("Lead", lead)["SystemModstamp"] == stamp
    assert write_calls(org)[2] == written_before + 1
    rows = [r for r in write_rows(warehouse) if r["record_id"] == earlier_email]
    assert [r["source_key"] for r in rows] == [published_call, email]
    assert assert_four_fields_together(org) == 7


# --- linkage and idempotence --------------------------------------------------------------------


def test_linkage_rules_and_a_second_sync_writes_nothing(world):
    start, instance, warehouse = world
    s = Scenario()
    by_relation = s.lead()
    s.email(at(25), to=(by_relation,), sender="taylor.brooks@example.com")
    by_cc = s.lead()
    s.email(at(26), cc=(by_cc,), sender="morgan.lee@example.com")
    by_activity = s.lead()
    uncounted = s.task(by_activity, at(5), kind="Task")  # a to-do, not a counted kind
    s.email(at(35), activity=uncounted)  # linked only through ActivityId
    inbound_and_draft = s.lead()
    s.email(at(5), to=(inbound_and_draft,), incoming=True, sender="lead@example.org")
    s.email(at(6), to=(inbound_and_draft,), status="5")
    s.task(inbound_and_draft, at(50))
    only_inbound_and_draft = s.lead()
    s.email(at(5), to=(only_inbound_and_draft,), incoming=True, sender="lead@example.org")
    s.email(at(6), to=(only_inbound_and_draft,), status="5")
    own_task = s.lead()
    other_lead = s.lead()
    s.task(s.contact(), at(2))
    s.task(other_lead, at(3), owner=OTHER_REP.id)
    s.task(own_task, at(70))
    excluded = s.lead()
    s.task(excluded, at(2), owner=EXCLUDED)
    s.task(excluded, at(40))
    only_excluded = s.lead()
    s.task(only_excluded, at(2), owner=EXCLUDED)
    enhanced = s.lead()
    pair_task = s.task(enhanced, at(12), kind="Email")
    pair_email = s.email(at(12), to=(enhanced,), activity=pair_task)
    converted = s.lead(IsConverted=True, Status="Closed - Converted")
    s.task(converted, at(8))
    deleted = s.lead(IsDeleted=True)
    s.task(deleted, at(8))
    org = start(s)

    first = synced(instance)
    assert held(org, by_relation) == expected(at(25), "taylor.brooks@example.com", "EmailMessage")
    assert held(org, by_cc) == expected(at(26), "morgan.lee@example.com", "EmailMessage")
    assert held(org, by_activity) == expected(at(35), REP.email, "EmailMessage")
    assert held(org, inbound_and_draft) == expected(at(50), REP.id, "Task")
    assert held(org, own_task) == expected(at(70), REP.id, "Task")
    assert held(org, other_lead) == expected(at(3), OTHER_REP.id, "Task")
    assert held(org, excluded) == expected(at(40), REP.id, "Task")
    assert held(org, enhanced) == expected(at(12), REP.id, "Task")
    for lead in (only_inbound_and_draft, only_excluded, converted, deleted):
        assert held(org, lead) == (None, None, None, None), lead
    assert assert_four_fields_together(org) == 8
    rows = write_rows(warehouse)
    assert len(rows) == 8 and {r["status"] for r in rows} == {"written"}
    assert {r["record_id"]: r["source_key"] for r in rows}[enhanced] == pair_task
    assert pair_email not in {r["source_key"] for r in rows}
    assert first.metadata_of(PUBLISH)["writes_written"] == 8
    assert write_calls(org) == (1, 0, 8)  # one Collections call for the eight leads

    # The first sync after a write reads our own writes back; neither it nor the next writes.
    for _ in range(2):
        again = synced(instance)
        assert again.metadata_of(PUBLISH)["writes_planned"] == 0
        assert write_calls(org) == (1, 0, 8)
    assert len(write_rows(warehouse)) == 8


# --- faults during the publish ------------------------------------------------------------------


def _leads_with_one_response(n: int) -> tuple[Scenario, dict[str, tuple]]:
    """`n` leads, each answered by one call at its own minute: lead -> expected fields."""
    s = Scenario()
    want = {}
    for i in range(n):
        lead = s.lead()
        owner = (REP, OTHER_REP)[i % 2].id
        s.task(lead, at(1 + i * 0.25), owner=owner)
        want[lead] = expected(at(1 + i * 0.25), owner, "Task")
    return s, want


@pytest.mark.slow
def test_per_record_failures_keep_the_others_retry_what_is_retryable_and_surface_the_rest(world):
    start, instance, warehouse = world
    s, want = _leads_with_one_response(6)
    org = start(s)
    locked, invalid, *rest = list(want)
    org.add_fault(match="collections_update", action="record_error", record_ids=[locked])
    org.add_fault(
        match="collections_update",
        action="record_error",
        record_ids=[invalid],
        error_code="FIELD_CUSTOM_VALIDATION_EXCEPTION",
        message="First response needs a qualified lead",
        count=None,
    )

    first = synced(instance)  # per-record failures do not fail the run
    meta = first.metadata_of(PUBLISH)
    assert (meta["writes_written"], meta["writes_failed"], meta["writes_failed_permanent"]) == (
        4,
        2,
        1,
    )
    assert write_calls(org)[:2] == (1, 0)  # one Collections call carried all six
    for lead in rest:
        assert held(org, lead) == want[lead]
    assert held(org, locked) == held(org, invalid) == (None, None, None, None)
    check = next(c for c in first.checks if c.name == PERMANENT_CHECK)
    assert not check.passed and check.severity == "WARN"

    second = synced(instance)
    assert held(org, locked) == want[locked]  # UNABLE_TO_LOCK_ROW: sent again, landed
    assert held(org, invalid) == (None, None, None, None)
    assert second.metadata_of(PUBLISH)["writes_planned"] == 1
    assert not next(c for c in second.checks if c.name == PERMANENT_CHECK).passed
    assert synced(instance).metadata_of(PUBLISH)["writes_planned"] == 0

    attempts = {}
    for row in write_rows(warehouse):
        attempts.setdefault(row["record_id"], []).append(
            (row["status"], row["error_code"], row["retryable"])
        )
    assert attempts[locked] == [("failed", "UNABLE_TO_LOCK_ROW", True), ("written", None, False)]
    # The validation failure was not sent again with the same values.
    assert attempts[invalid] == [("failed", "FIELD_CUSTOM_VALIDATION_EXCEPTION", False)]
    assert all(attempts[lead] == [("written", None, False)] for lead in rest)
    assert assert_four_fields_together(org) == 5
    assert_never_written_with_different_values(warehouse)


FAULTS = {
    # a 503 the client's retries do not outlast
    "outage": (
        {"action": "error", "status": 503, "error_code": "SERVER_UNAVAILABLE"},
        "SERVER_UNAVAILABLE",
        3,  # the faulted call: sent once plus two retries (retries=2 below)
    ),
    # the session is refused again right after the fresh login
    "expired_session": ({"action": "expire_session"}, "INVALID_SESSION_ID", 2),
    # the daily allocation is spent: never retried
    "request_limit": (
        {
            "action": "error",
            "status": 403,
            "error_code": "REQUEST_LIMIT_EXCEEDED",
            "message": "TotalRequests Limit exceeded.",
        },
        "REQUEST_LIMIT_EXCEEDED",
        1,
    ),
}


@pytest.mark.slow
@pytest.mark.parametrize("fault", list(FAULTS))
def test_a_publish_stopped_midway_by_a_fault_completes_on_the_next_sync(world, monkeypatch, fault):
    # Two retries with a short backoff instead of four with half a second: the same behaviour
    # (retry the 503, then give up), seconds faster.
    monkeypatch.setattr(
        definitions,
        "SalesforceResource",
        functools.partial(SalesforceResource, retries=2, backoff_seconds=0.01),
    )
    start, instance, warehouse = world
    s, want = _leads_with_one_response(450)  # three Collections calls: 200, 200, 50
    org = start(s)
    spec, code, faulted_requests = FAULTS[fault]
    org.add_fault(match="collections_update", after=1, count=None, **spec)

    first = run_sync(instance)
    assert not first.success and "lead_first_response" in first.failure
    assert code in first.failure
    assert write_calls(org) == (1 + faulted_requests, 0, 200)
    statuses: dict[tuple, int] = {}
    for row in write_rows(warehouse):
        key = (row["status"], row["error_code"], row["retryable"])
        statuses[key] = statuses.get(key, 0) + 1
    # the first call written, the faulted one failed (retryable), the last one never sent
    assert statuses == {
        ("written", None, False): 200,
        ("failed", code, True): 200,
        ("not_sent", code, True): 50,
    }
    assert assert_four_fields_together(org) == 200
    leads = list(want)  # planned oldest lead first: the first call carried the first 200
    assert all(held(org, lead) == want[lead] for lead in leads[:200])

    org.clear_faults()
    second = synced(instance)
    assert second.metadata_of(PUBLISH)["writes_planned"] == 250
    assert all(held(org, lead) == want[lead] for lead in leads)
    assert write_calls(org)[2] == 450  # nobody written twice
    assert_never_written_with_different_values(warehouse)


# --- automation in `dagster dev` ----------------------------------------------------------------


def _requested(result) -> set[str]:
    return {
        r.key.to_user_string()
        for r in result.results
        if isinstance(r.key, dg.AssetKey) and r.true_subset.size > 0
    }


@pytest.mark.slow
def test_declarative_automation_runs_ttfr_then_its_publish_only_behind_passing_checks(world):
    """The `salesops_automation` sensor's conditions, evaluated tick by tick the way the daemon
    does in `dagster dev`; each requested set is executed as the sensor would launch it."""
    from salesops_dagster.defs.ingest.sensor import incremental_run_tags, read_watermarks

    start, instance, warehouse = world
    s = Scenario()
    lead = s.lead()
    s.task(lead, at(30))
    org = start(s)
    defs = definitions.build_defs()
    transform = defs.resolve_job_def("salesops_transform_publish")

    def ingest() -> None:
        tags = incremental_run_tags(read_watermarks(settings.warehouse_path()))
        job = defs.resolve_job_def("salesops_ingest")
        assert job.execute_in_process(instance=instance, tags=tags, run_config=QUIET_LOGS).success

    def launch(keys: set[str]) -> dg.ExecuteInProcessResult:
        selection = [dg.AssetKey.from_user_string(k) for k in keys]
        return transform.execute_in_process(
            instance=instance,
            asset_selection=selection,
            run_config=QUIET_LOGS,
            raise_on_error=False,
        )

    def tick(cursor=None):
        result = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=cursor)
        return _requested(result), result.cursor

    requested, cursor = tick()
    assert requested == set()
    ingest()
    requested, cursor = tick(cursor)
    assert requested == {TTFR_KEY.to_user_string(), ROUTING_KEY.to_user_string()}
    assert launch(requested).success  # the blocking checks ride along and pass
    requested, cursor = tick(cursor)
    assert requested == {PUBLISH, OWNER_PUBLISH_KEY.to_user_string()}
    assert launch(requested).success
    assert held(org, lead) == expected(at(30), REP.id, "Task")
    assert tick(cursor)[0] == set()  # nothing loops

    # A new lead answered in Salesforce; then a TTFR run whose blocking check fails.
    person = salesforce_client(org)
    new_lead = person.Lead.create(
        {"LastName": "Newcomer", "Company": "Acme", "Country": "United States", "OwnerId": REP.id}
    )["id"]
    # (Owned by the rep: the API user this client logs in as is the excluded integration user.)
    person.Task.create(
        {
            "WhoId": new_lead,
            "Subject": "Call",
            "Status": "Completed",
            "TaskSubtype": "Call",
            "OwnerId": REP.id,
        }
    )
    ingest()
    requested, cursor = tick(cursor)
    assert {TTFR_KEY.to_user_string(), PUBLISH} <= requested  # checks passed last time
    with connect(warehouse) as con:  # a duplicate row: one_row_per_lead must fail
        con.execute(
            "INSERT INTO salesops.lead_first_response "
            "SELECT * FROM salesops.lead_first_response WHERE lead_id = $id",
            {"id": lead},
        )
    failed = launch(requested)
    assert not failed.success
    assert PUBLISH_KEY not in {
        e.asset_key for e in failed.get_asset_materialization_events() if e.asset_key
    }
    assert held(org, new_lead) == (None, None, None, None)
    assert tick(cursor)[0] == set()

    # Rerun from the UI, still failing: the publish is not requested.
    assert not launch({TTFR_KEY.to_user_string()}).success
    requested, cursor = tick(cursor)
    assert PUBLISH not in requested
    # Fixed and rerun: now it is, and the new lead's fields land.
    with connect(warehouse) as con:
        con.execute(
            "CREATE OR REPLACE TABLE salesops.lead_first_response AS "
            "SELECT DISTINCT * FROM salesops.lead_first_response"
        )
    assert launch({TTFR_KEY.to_user_string()}).success
    requested, cursor = tick(cursor)
    assert requested == {PUBLISH}
    assert launch(requested).success
    new_fields = held(org, new_lead)
    assert new_fields[1:3] == (REP.id, "Task") and new_fields[3] is not None
    assert assert_four_fields_together(org) == 2

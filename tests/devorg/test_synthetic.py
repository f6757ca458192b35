"""The dev org's synthetic data set: deterministic, schema-true, referentially sound, and holding
every case the TTFR and routing logic must get right."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from salesops_dagster.devorg import synthetic
from salesops_dagster.devorg.ids import KEY_PREFIXES, is_valid_id
from salesops_dagster.devorg.schema import BOOL, DATE, DATETIME, DOUBLE, ID, INT, REF, OrgSchema

END = datetime(2026, 3, 2, tzinfo=UTC)  # a Monday
END_TS = "2026-03-02T00:00:00.000+0000"
N_LEADS = 3000

DATETIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.000\+0000$")
DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@pytest.fixture(scope="module")
def data() -> dict[str, list[dict]]:
    return synthetic.generate(N_LEADS, seed=42, end=END)


@pytest.fixture(scope="module")
def by_id(data: dict[str, list[dict]]) -> dict[str, dict]:
    return {record["Id"]: record for records in data.values() for record in records}


def _live_leads(data: dict[str, list[dict]]) -> dict[str, dict]:
    return {lead["Id"]: lead for lead in data["Lead"] if not lead["IsDeleted"]}


# -- determinism and the roster --------------------------------------------------------------


def test_same_arguments_give_identical_output() -> None:
    assert synthetic.generate(300, seed=7, end=END) == synthetic.generate(300, seed=7, end=END)


def test_different_seed_gives_different_data() -> None:
    a = synthetic.generate(300, seed=7, end=END)
    b = synthetic.generate(300, seed=8, end=END)
    assert [lead["Email"] for lead in a["Lead"]] != [lead["Email"] for lead in b["Lead"]]
    assert [t["CreatedDate"] for t in a["Task"]] != [t["CreatedDate"] for t in b["Task"]]


def test_roster_is_identical_across_seeds_and_sizes() -> None:
    small = synthetic.generate(0, seed=1, end=END)
    large = synthetic.generate(500, seed=99, end=END)
    assert small["User"] == large["User"]
    assert small["Group"] == large["Group"]
    assert small["Lead"] == [] and small["Task"] == []
    names = synthetic.roster()
    assert {u["Name"]: u["Id"] for u in large["User"]} | {
        g["Name"]: g["Id"] for g in large["Group"]
    } == names


def test_roster_ids_are_pinned() -> None:
    # A shipped routing policy names these Ids: changing them breaks it.
    names = synthetic.roster()
    assert names["Lead Intake"] == synthetic.LEAD_INTAKE_QUEUE_ID == "00G5e000000000GEAQ"
    assert names["Unrouted Fallback"] == synthetic.UNROUTED_FALLBACK_QUEUE_ID
    assert synthetic.UNROUTED_FALLBACK_QUEUE_ID == "00G5e000000000HEAQ"
    assert names["Integration User"] == synthetic.INTEGRATION_USER_ID == "0055e0000000002AAA"
    assert names["Dana Whitfield"] == synthetic.ADMIN_USER_ID == "0055e0000000001AAA"
    assert names["Avery Johnson"] == "0055e0000000003AAA"
    assert names["Riley Carter"] == synthetic.INACTIVE_REP_ID == "0055e000000000FAAQ"
    for name, record_id in names.items():
        assert record_id in synthetic.__doc__, f"{name} missing from the module docstring"


def test_roster_shape() -> None:
    users = synthetic.generate(0, seed=1, end=END)["User"]
    reps = [u for u in users if u["Department"].startswith("Sales - ")]
    active = [u for u in reps if u["IsActive"]]
    assert len(active) == 12
    assert [u["Id"] for u in reps if not u["IsActive"]] == [synthetic.INACTIVE_REP_ID]
    assert {u["Department"] for u in active} == {
        "Sales - NA",
        "Sales - EMEA",
        "Sales - APAC",
        "Sales - LATAM",
    }
    assert all(u["Email"].endswith("@example.com") and u["TimeZoneSidKey"] for u in users)
    assert all(u["UserType"] == "Standard" for u in users)
    groups = synthetic.generate(0, seed=1, end=END)["Group"]
    assert {(g["DeveloperName"], g["Type"]) for g in groups} == {
        ("Lead_Intake", "Queue"),
        ("Unrouted_Fallback", "Queue"),
        ("Sales_Managers", "Regular"),
    }
    by_region = synthetic.REP_IDS_BY_REGION
    assert sum(len(ids) for ids in by_region.values()) == 12
    assert synthetic.INACTIVE_REP_ID not in {i for ids in by_region.values() for i in ids}


# -- shape: Ids, fields, value formats --------------------------------------------------------


def test_ids_are_valid_unique_and_prefixed(data: dict[str, list[dict]]) -> None:
    seen: set[str] = set()
    for sobject, records in data.items():
        for record in records:
            assert is_valid_id(record["Id"], KEY_PREFIXES[sobject]), (sobject, record["Id"])
            assert record["Id"] not in seen
            seen.add(record["Id"])
    assert len(seen) == sum(synthetic.counts(data).values())


def test_lead_ids_follow_created_date(data: dict[str, list[dict]]) -> None:
    created = [lead["CreatedDate"] for lead in data["Lead"]]
    assert created == sorted(created)


def test_every_field_exists_in_the_org_schema(data: dict[str, list[dict]]) -> None:
    schema = OrgSchema.load()
    for sobject, records in data.items():
        fields = schema.fields[sobject]
        keys = set(records[0]) if records else set()
        for record in records:
            # Same columns on every record of an object, and each one known to the org.
            assert set(record) == keys, sobject
        assert keys <= set(fields), (sobject, keys - set(fields))
        if records:
            assert "Id" in keys and "CreatedDate" in keys and "SystemModstamp" in keys
            assert ("IsDeleted" in keys) == ("IsDeleted" in fields)
    # Custom fields stay null until the pipeline writes them: none are generated.
    assert not any(key.endswith("__c") for key in data["Lead"][0])


def _check_value(sobject: str, name: str, kind: str, value: object) -> None:
    where = f"{sobject}.{name}={value!r}"
    if value is None:
        assert name not in ("Id", "CreatedDate", "SystemModstamp", "IsDeleted"), where
    elif kind == DATETIME:
        assert isinstance(value, str) and DATETIME_RE.match(value), where
    elif kind == DATE:
        assert isinstance(value, str) and DATE_RE.match(value), where
    elif kind == BOOL:
        assert isinstance(value, bool), where
    elif kind == INT:
        assert isinstance(value, int) and not isinstance(value, bool), where
    elif kind == DOUBLE:
        assert isinstance(value, float), where
    elif kind in (ID, REF):
        assert is_valid_id(value), where
    else:
        assert isinstance(value, str) and value, where


def test_values_have_the_rest_api_types_and_formats(data: dict[str, list[dict]]) -> None:
    schema = OrgSchema.load()
    for sobject, records in data.items():
        for record in records[:2000]:
            for name, value in record.items():
                _check_value(sobject, name, schema.type_of(sobject, name), value)


def test_audit_fields_are_ordered_and_before_end(data: dict[str, list[dict]]) -> None:
    for sobject, records in data.items():
        for record in records:
            assert record["CreatedDate"] <= record["SystemModstamp"] < END_TS, record
            if "LastModifiedDate" in record:
                assert record["SystemModstamp"] == record["LastModifiedDate"], record
                assert record["LastModifiedById"] and record["CreatedById"]
        if sobject in ("Task", "EmailMessage"):
            assert all(r["CreatedDate"] < END_TS for r in records)


# -- referential integrity ----------------------------------------------------------------------


def test_references_resolve(data: dict[str, list[dict]], by_id: dict[str, dict]) -> None:
    users = {u["Id"] for u in data["User"]}
    queues = {g["Id"] for g in data["Group"] if g["Type"] == "Queue"}
    leads = {lead["Id"] for lead in data["Lead"]}
    contacts = {c["Id"] for c in data["Contact"]}
    tasks = {t["Id"] for t in data["Task"]}
    emails = {e["Id"] for e in data["EmailMessage"]}
    for lead in data["Lead"]:
        assert lead["OwnerId"] in users | queues
        assert lead["CreatedById"] in users
    for task in data["Task"]:
        assert task["WhoId"] in leads | contacts
        assert task["OwnerId"] in users
        if task["WhatId"] is not None:
            assert by_id[task["WhatId"]]["Id"].startswith(KEY_PREFIXES["Account"])
    for email in data["EmailMessage"]:
        assert email["ActivityId"] is None or email["ActivityId"] in tasks
        assert email["CreatedById"] in users
    for rel in data["EmailMessageRelation"]:
        assert rel["EmailMessageId"] in emails
        if rel["RelationId"] is None:
            assert rel["RelationObjectType"] is None
        else:
            assert rel["RelationId"] in leads | users
            assert rel["RelationObjectType"] == ("Lead" if rel["RelationId"] in leads else "User")
            assert rel["RelationAddress"] == by_id[rel["RelationId"]]["Email"]
    for contact in data["Contact"]:
        assert by_id[contact["AccountId"]]["Id"].startswith(KEY_PREFIXES["Account"])


def test_relations_match_their_email(data: dict[str, list[dict]], by_id: dict[str, dict]) -> None:
    for rel in data["EmailMessageRelation"]:
        email = by_id[rel["EmailMessageId"]]
        assert rel["CreatedDate"] == email["CreatedDate"]
        assert rel["IsDeleted"] == email["IsDeleted"]
        if rel["RelationType"] == "FromAddress":
            assert rel["RelationAddress"] == email["FromAddress"]
    per_email = Counter(
        rel["EmailMessageId"]
        for rel in data["EmailMessageRelation"]
        if rel["RelationType"] == "FromAddress"
    )
    assert all(per_email[e["Id"]] == 1 for e in data["EmailMessage"])


def test_converted_leads_point_at_their_contact(
    data: dict[str, list[dict]], by_id: dict[str, dict]
) -> None:
    active = {u["Id"] for u in data["User"] if u["IsActive"]}
    converted = [lead for lead in data["Lead"] if lead["IsConverted"]]
    assert converted
    for lead in converted:
        assert lead["Status"] == "Closed - Converted" and not lead["IsDeleted"]
        assert lead["CreatedDate"][:10] <= lead["ConvertedDate"] < END_TS[:10]
        assert lead["OwnerId"] in active
        contact = by_id[lead["ConvertedContactId"]]
        assert contact["Email"] == lead["Email"]
        assert contact["AccountId"] == lead["ConvertedAccountId"]
    unconverted = [lead for lead in data["Lead"] if not lead["IsConverted"]]
    assert all(lead["ConvertedDate"] is None for lead in unconverted)


def test_deleting_a_lead_deletes_its_activity(data: dict[str, list[dict]]) -> None:
    deleted = {lead["Id"] for lead in data["Lead"] if lead["IsDeleted"]}
    on_deleted = [t for t in data["Task"] if t["WhoId"] in deleted]
    assert on_deleted
    assert all(t["IsDeleted"] for t in on_deleted)


# -- proportions ------------------------------------------------------------------------------


def test_proportions_are_roughly_as_designed(data: dict[str, list[dict]]) -> None:
    leads = data["Lead"]
    n = len(leads)
    assert n == N_LEADS

    def share(pred: Callable[[dict], bool]) -> float:
        return sum(1 for lead in leads if pred(lead)) / n

    assert 0.03 < share(lambda lead: lead["IsConverted"]) < 0.07
    assert 0.01 < share(lambda lead: lead["IsDeleted"]) < 0.035
    assert 0.6 < share(lambda lead: lead["OwnerId"] == synthetic.LEAD_INTAKE_QUEUE_ID) < 0.8
    assert 0.15 < share(lambda lead: lead["OwnerId"].startswith("005")) < 0.35
    assert share(lambda lead: lead["OwnerId"] == synthetic.INACTIVE_REP_ID) > 0
    assert share(lambda lead: lead["OwnerId"] == synthetic.UNROUTED_FALLBACK_QUEUE_ID) > 0

    tasks_per_lead = Counter(t["WhoId"] for t in data["Task"])
    assert 2.0 <= len(data["Task"]) / n <= 3.0
    assert sum(1 for lead in leads if lead["Id"] not in tasks_per_lead) > 0.05 * n

    statuses = Counter(lead["Status"] for lead in leads)
    assert set(statuses) == {
        "Open - Not Contacted",
        "Working - Contacted",
        "Closed - Converted",
        "Closed - Not Converted",
    }
    assert {lead["LeadSource"] for lead in leads} == {
        "Web",
        "Partner Referral",
        "Trade Show",
        "Advertisement",
        "Other",
    }
    subtypes = Counter(t["TaskSubtype"] for t in data["Task"])
    assert set(subtypes) == {"Call", "Email", "Task", "ListEmail"}


def test_companies_are_mostly_small(data: dict[str, list[dict]]) -> None:
    sizes = [lead["NumberOfEmployees"] for lead in data["Lead"] if lead["NumberOfEmployees"]]
    small = sum(1 for s in sizes if s <= 200) / len(sizes)
    enterprise = sum(1 for s in sizes if s > 1000) / len(sizes)
    assert small > 0.6
    assert 0.03 < enterprise < 0.2


def test_leads_come_from_every_region(data: dict[str, list[dict]]) -> None:
    countries = Counter(lead["Country"] for lead in data["Lead"])
    assert set(countries) == {
        "United States",
        "Canada",
        "United Kingdom",
        "Germany",
        "France",
        "Netherlands",
        "Australia",
        "Japan",
        "Singapore",
        "Brazil",
        "Mexico",
    }
    assert countries["United States"] == max(countries.values())


# -- time -------------------------------------------------------------------------------------


def _parse(ts: str) -> datetime:
    return datetime.strptime(ts, "%Y-%m-%dT%H:%M:%S.000+0000").replace(tzinfo=UTC)


def test_leads_spread_over_the_weeks_before_end(data: dict[str, list[dict]]) -> None:
    created = [_parse(lead["CreatedDate"]) for lead in data["Lead"]]
    assert min(created) >= END - timedelta(weeks=6)
    assert max(created) < END
    per_week = Counter((END - c).days // 7 for c in created)
    assert set(per_week) == set(range(6))
    assert min(per_week.values()) > 0.1 * len(created)


def test_leads_skew_to_weekdays(data: dict[str, list[dict]]) -> None:
    # Weekday of the lead's creation in its own region (NA leads: UTC-5 .. UTC-8).
    na = [
        _parse(lead["CreatedDate"]) - timedelta(hours=6)
        for lead in data["Lead"]
        if lead["Country"] == "United States"
    ]
    weekday = Counter(c.weekday() for c in na)
    per_weekday = sum(weekday[d] for d in range(5)) / 5
    per_weekend_day = (weekday[5] + weekday[6]) / 2
    assert per_weekday > 2.5 * per_weekend_day
    hours = Counter(c.hour for c in na)
    office = sum(hours[h] for h in range(9, 17))
    assert office > 0.5 * len(na)


def test_weeks_and_end_bound_the_window() -> None:
    end = datetime(2025, 7, 1, 12, 30, tzinfo=UTC)
    data = synthetic.generate(400, seed=3, end=end, weeks=2)
    created = [_parse(lead["CreatedDate"]) for lead in data["Lead"]]
    assert end - timedelta(weeks=2) <= min(created) and max(created) < end
    latest = max(r["SystemModstamp"] for records in data.values() for r in records)
    assert _parse(latest) < end


def test_default_end_is_today_midnight_utc() -> None:
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    data = synthetic.generate(50, seed=1)
    created = [_parse(lead["CreatedDate"]) for lead in data["Lead"]]
    # Allow for the test straddling midnight.
    assert today - timedelta(weeks=6, days=1) <= min(created)
    assert max(created) < today + timedelta(days=1)


def test_bad_arguments_are_rejected() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        synthetic.generate(1, seed=1, end=datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="weeks"):
        synthetic.generate(1, seed=1, end=END, weeks=0)
    with pytest.raises(ValueError, match="n_leads"):
        synthetic.generate(-1, seed=1, end=END)


# -- the cases TTFR must handle ----------------------------------------------------------------


def test_tasks_before_lead_creation_exist(data: dict[str, list[dict]]) -> None:
    leads = _live_leads(data)
    early = [
        t
        for t in data["Task"]
        if t["WhoId"] in leads and t["CreatedDate"] < leads[t["WhoId"]]["CreatedDate"]
    ]
    assert len(early) > 10
    # The rest are after creation: minutes to days (log-normal), not all at once.
    delays = sorted(
        (_parse(t["CreatedDate"]) - _parse(leads[t["WhoId"]]["CreatedDate"])).total_seconds()
        for t in data["Task"]
        if t["WhoId"] in leads and t["OwnerId"] != synthetic.INTEGRATION_USER_ID
    )
    later = [d for d in delays if d >= 0]
    assert later[len(later) // 10] < 3 * 3600 < 24 * 3600 < later[len(later) // 2]


def test_integration_user_answers_web_leads_first(data: dict[str, list[dict]]) -> None:
    leads = _live_leads(data)
    auto = [t for t in data["Task"] if t["OwnerId"] == synthetic.INTEGRATION_USER_ID]
    assert len(auto) > 0.1 * sum(1 for lead in leads.values() if lead["LeadSource"] == "Web")
    for task in auto:
        assert (
            task["TaskSubtype"] == "Email" and task["CreatedById"] == synthetic.INTEGRATION_USER_ID
        )
        lead = leads.get(task["WhoId"])
        if lead:
            assert lead["LeadSource"] == "Web"
            delay = _parse(task["CreatedDate"]) - _parse(lead["CreatedDate"])
            assert timedelta(0) < delay <= timedelta(minutes=5)


def test_tasks_on_contacts_and_deleted_tasks_exist(data: dict[str, list[dict]]) -> None:
    contact_tasks = [t for t in data["Task"] if t["WhoId"].startswith(KEY_PREFIXES["Contact"])]
    assert contact_tasks
    assert all(t["WhatId"] for t in contact_tasks)
    leads = _live_leads(data)
    deleted_on_live = [t for t in data["Task"] if t["IsDeleted"] and t["WhoId"] in leads]
    assert 0.005 * len(data["Task"]) < len(deleted_on_live) < 0.05 * len(data["Task"])


def test_email_kinds_exist(data: dict[str, list[dict]]) -> None:
    emails = data["EmailMessage"]
    kinds = Counter((e["Incoming"], e["Status"]) for e in emails)
    assert kinds[(False, "3")] > 0.5 * len(emails)  # sent
    assert kinds[(True, "0")] + kinds[(True, "1")] > 0  # inbound
    assert kinds[(False, "5")] > 0  # drafts
    # Deleted on their own, not only with a deleted lead.
    live = _live_leads(data)
    on_live_lead = {
        rel["EmailMessageId"] for rel in data["EmailMessageRelation"] if rel["RelationId"] in live
    }
    assert any(e["IsDeleted"] and e["Id"] in on_live_lead for e in emails)
    assert all(e["MessageDate"] for e in emails)
    for e in emails:
        if not e["Incoming"]:
            assert e["FromAddress"].endswith("@example.com")


def test_inbound_email_names_the_lead_as_sender(
    data: dict[str, list[dict]], by_id: dict[str, dict]
) -> None:
    inbound = {e["Id"] for e in data["EmailMessage"] if e["Incoming"]}
    for rel in data["EmailMessageRelation"]:
        if rel["EmailMessageId"] in inbound and rel["RelationObjectType"] == "Lead":
            assert rel["RelationType"] == "FromAddress"


def test_lead_relations_use_to_cc_and_bcc(data: dict[str, list[dict]]) -> None:
    outbound = {e["Id"] for e in data["EmailMessage"] if not e["Incoming"]}
    types = Counter(
        rel["RelationType"]
        for rel in data["EmailMessageRelation"]
        if rel["EmailMessageId"] in outbound and rel["RelationObjectType"] == "Lead"
    )
    assert set(types) == {"ToAddress", "CcAddress", "BccAddress"}
    assert types["ToAddress"] > types["CcAddress"] + types["BccAddress"]
    unmatched = [r for r in data["EmailMessageRelation"] if r["RelationId"] is None]
    assert unmatched


def test_enhanced_email_pairs_and_activity_only_links(
    data: dict[str, list[dict]], by_id: dict[str, dict]
) -> None:
    related_to_lead = {
        rel["EmailMessageId"]
        for rel in data["EmailMessageRelation"]
        if rel["RelationObjectType"] == "Lead"
    }
    pairs = [e for e in data["EmailMessage"] if e["ActivityId"]]
    assert pairs
    for email in pairs:
        task = by_id[email["ActivityId"]]
        # The same send, described twice: it must count as one response, not two.
        assert task["TaskSubtype"] == "Email"
        assert task["WhoId"].startswith(KEY_PREFIXES["Lead"])
        assert task["CreatedDate"] == email["MessageDate"] == email["CreatedDate"]
        assert task["OwnerId"] == email["CreatedById"]
        assert not email["Incoming"] and email["Status"] == "3"
    activity_only = [e for e in pairs if e["Id"] not in related_to_lead]
    with_relation = [e for e in pairs if e["Id"] in related_to_lead]
    assert activity_only and with_relation


def test_some_drafts_precede_the_first_real_response(data: dict[str, list[dict]]) -> None:
    # A draft must never count: make sure the data would expose a TTFR that counted one.
    first_sent: dict[str, str] = {}
    draft_at: dict[str, str] = {}
    emails = {e["Id"]: e for e in data["EmailMessage"]}
    for rel in data["EmailMessageRelation"]:
        email = emails[rel["EmailMessageId"]]
        if rel["RelationObjectType"] != "Lead" or email["Incoming"]:
            continue
        target = draft_at if email["Status"] == "5" else first_sent
        lead_id = rel["RelationId"]
        target[lead_id] = min(target.get(lead_id, email["MessageDate"]), email["MessageDate"])
    assert any(draft_at[lead] < first_sent.get(lead, END_TS) for lead in draft_at)


def test_counts_summarises_every_object(data: dict[str, list[dict]]) -> None:
    result = synthetic.counts(data)
    assert result == {sobject: len(records) for sobject, records in data.items()}
    assert {"User", "Group", "Lead", "Task", "EmailMessage", "EmailMessageRelation"} <= set(result)
    assert result["User"] == 15 and result["Group"] == 3

"""Shared builders for the TTFR tests.

`Org` keeps raw records the way Salesforce holds them (latest version per Id, REST-shaped dicts
with every field ingest declares) and `sync()` upserts what changed into a real DuckDB warehouse
with `warehouse.raw.upsert_records`, as ingest would. `reference_first_responses` is an
independent, plain-Python reading of DESIGN.md's TTFR semantics over the same records, used as the
oracle for randomised comparisons.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, NamedTuple

import duckdb

from salesops_dagster.devorg.ids import make_id
from salesops_dagster.ingest.objects import OBJECTS_BY_NAME
from salesops_dagster.policy.loader import load_policy
from salesops_dagster.policy.models import RoutingPolicy
from salesops_dagster.warehouse.raw import upsert_records

REPO = Path(__file__).resolve().parents[2]
POLICY_PATH = REPO / "policies" / "routing_policy.json"

# Users named by the shipped policy: a rep, another rep and the excluded integration user.
REP = "0055e0000000003AAA"
OTHER_REP = "0055e0000000004AAA"
INTEGRATION = "0055e0000000002AAA"
REP_EMAIL = "avery.johnson@example.com"

MONDAY = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)  # 09:00 in New York


def shipped_policy() -> RoutingPolicy:
    return load_policy(POLICY_PATH).policy


def sf_ts(value: datetime) -> str:
    """A REST dateTime: `2026-03-02T14:00:00.000+0000`."""
    utc = value.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}+0000"


def parse_ts(text: str | None) -> datetime | None:
    if text is None:
        return None
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%f%z").astimezone(UTC)


_PREFIX = {
    "Lead": "00Q",
    "Task": "00T",
    "EmailMessage": "02s",
    "EmailMessageRelation": "0BR",
    "Contact": "003",
    "User": "005",
}


class Org:
    """Raw records as the org holds them, and the warehouse they are synced into."""

    def __init__(self, con: duckdb.DuckDBPyConnection, start: datetime = MONDAY) -> None:
        self.con = con
        self.records: dict[str, dict[str, dict[str, Any]]] = {
            name: {} for name in ("Lead", "Task", "EmailMessage", "EmailMessageRelation", "User")
        }
        self.pending: dict[str, set[str]] = {name: set() for name in self.records}
        self._ids = itertools.count(1)
        self._stamp = start - timedelta(days=400)
        self.syncs = 0
        self.last_synced_at: datetime | None = None
        self.users([REP, OTHER_REP, INTEGRATION])

    # -- ids and stamps ------------------------------------------------------------------------

    def new_id(self, sobject: str) -> str:
        return make_id(_PREFIX[sobject], next(self._ids), "FR")

    def _modstamp(self) -> str:
        self._stamp += timedelta(seconds=1)
        return sf_ts(self._stamp)

    def _put(self, sobject: str, record: dict[str, Any]) -> str:
        spec = OBJECTS_BY_NAME[sobject]
        full = {name: None for name in spec.fields}
        full.update(record)
        if spec.has_is_deleted:
            full["IsDeleted"] = bool(full.get("IsDeleted"))
        full["SystemModstamp"] = self._modstamp()
        self.records[sobject][full["Id"]] = full
        self.pending[sobject].add(full["Id"])
        return full["Id"]

    # -- records -------------------------------------------------------------------------------

    def users(self, ids: Iterable[str]) -> None:
        for user_id in ids:
            self._put("User", {"Id": user_id, "Name": user_id, "IsActive": True})

    def lead(self, created: datetime, **fields: Any) -> str:
        return self._put(
            "Lead",
            {
                "Id": self.new_id("Lead"),
                "LastName": "Lead",
                "Company": "Acme",
                "Country": "United States",
                "IsConverted": False,
                "CreatedDate": sf_ts(created),
                **fields,
            },
        )

    def task(
        self,
        who: str | None,
        created: datetime,
        subtype: str | None = "Call",
        owner: str = REP,
        **fields: Any,
    ) -> str:
        return self._put(
            "Task",
            {
                "Id": self.new_id("Task"),
                "WhoId": who,
                "Subject": "touch",
                "Status": "Completed",
                "TaskSubtype": subtype,
                "Type": fields.pop("Type", subtype if subtype in ("Call", "Email") else None),
                "OwnerId": owner,
                "CreatedDate": sf_ts(created),
                **fields,
            },
        )

    def email(
        self,
        at: datetime,
        *,
        to: Iterable[str] = (),
        cc: Iterable[str] = (),
        bcc: Iterable[str] = (),
        activity: str | None = None,
        incoming: bool = False,
        status: str = "3",
        from_address: str = REP_EMAIL,
        **fields: Any,
    ) -> str:
        email_id = self._put(
            "EmailMessage",
            {
                "Id": self.new_id("EmailMessage"),
                "ActivityId": activity,
                "Subject": "hello",
                "FromAddress": from_address,
                "Incoming": incoming,
                "Status": status,
                "MessageDate": sf_ts(at),
                "CreatedDate": sf_ts(at),
                **fields,
            },
        )
        self.relation(email_id, None, "FromAddress")
        for kind, leads in (("ToAddress", to), ("CcAddress", cc), ("BccAddress", bcc)):
            for lead_id in leads:
                self.relation(email_id, lead_id, kind)
        return email_id

    def relation(self, email_id: str, relation_id: str | None, kind: str = "ToAddress") -> str:
        return self._put(
            "EmailMessageRelation",
            {
                "Id": self.new_id("EmailMessageRelation"),
                "EmailMessageId": email_id,
                "RelationId": relation_id,
                "RelationType": kind,
                "RelationObjectType": "Lead" if relation_id else None,
                "CreatedDate": self.records["EmailMessage"][email_id]["CreatedDate"],
            },
        )

    def update(self, sobject: str, record_id: str, **fields: Any) -> None:
        record = dict(self.records[sobject][record_id])
        record.update(fields)
        self._put(sobject, record)

    def delete(self, sobject: str, record_id: str) -> None:
        self.update(sobject, record_id, IsDeleted=True)

    # -- warehouse -----------------------------------------------------------------------------

    def sync(self, at: datetime | None = None) -> None:
        """Upsert every record changed since the last sync, stamped `_synced_at` = `at`."""
        self.syncs += 1
        synced_at = at or datetime(2030, 1, 1, tzinfo=UTC) + timedelta(minutes=self.syncs)
        self.last_synced_at = synced_at
        for sobject, ids in self.pending.items():
            if ids:
                records = [self.records[sobject][i] for i in sorted(ids)]
                upsert_records(self.con, OBJECTS_BY_NAME[sobject], records, synced_at)
            ids.clear()


class Response(NamedTuple):
    at: datetime
    source: str
    record_id: str
    user: str | None


def reference_first_responses(
    records: Mapping[str, Mapping[str, Mapping[str, Any]]], policy: RoutingPolicy
) -> dict[str, Response | None]:
    """DESIGN.md's TTFR semantics, read literally, in plain Python: lead Id -> first response."""
    leads = records["Lead"]
    tasks = records["Task"]
    kinds = set(policy.first_touch.counted_task_kinds)
    excluded = set(policy.first_touch.excluded_user_ids)
    found: dict[str, list[tuple[datetime, int, str, str | None]]] = {i: [] for i in leads}

    def created(lead_id: str | None) -> datetime | None:
        lead = leads.get(lead_id) if lead_id else None
        return parse_ts(lead["CreatedDate"]) if lead else None

    for task in tasks.values():
        c = created(task["WhoId"])
        kind = task["TaskSubtype"] if task["TaskSubtype"] is not None else task["Type"]
        at = parse_ts(task["CreatedDate"])
        if (
            c is not None
            and not task["IsDeleted"]
            and at >= c
            and kind in kinds
            and task["OwnerId"] not in excluded
        ):
            found[task["WhoId"]].append((at, 0, task["Id"], task["OwnerId"]))
    links: dict[str, set[str]] = {}
    for rel in records["EmailMessageRelation"].values():
        if (
            not rel["IsDeleted"]
            and rel["RelationId"]
            and rel["RelationType"] in ("ToAddress", "CcAddress", "BccAddress")
        ):
            links.setdefault(rel["EmailMessageId"], set()).add(rel["RelationId"])
    for email in records["EmailMessage"].values():
        if email["IsDeleted"] or email["Incoming"] or email["Status"] == "5":
            continue
        linked = set(links.get(email["Id"], ()))
        activity = tasks.get(email["ActivityId"]) if email["ActivityId"] else None
        if activity is not None and activity["WhoId"]:
            linked.add(activity["WhoId"])
        at = parse_ts(email["MessageDate"])
        for lead_id in linked:
            c = created(lead_id)
            if c is not None and at >= c:
                found[lead_id].append((at, 1, email["Id"], email["FromAddress"]))
    out: dict[str, Response | None] = {}
    for lead_id, candidates in found.items():
        if not candidates:
            out[lead_id] = None
            continue
        at, rank, record_id, user = min(candidates)
        out[lead_id] = Response(at, ("Task", "EmailMessage")[rank], record_id, user)
    return out


def table_responses(con: duckdb.DuckDBPyConnection) -> dict[str, Response | None]:
    """`salesops.lead_first_response` as lead Id -> Response (None when open)."""
    out: dict[str, Response | None] = {}
    for lead_id, at, source, record_id, user in con.execute(
        "SELECT lead_id, first_response_at, first_response_source, first_response_record_id, "
        "first_response_user FROM salesops.lead_first_response"
    ).fetchall():
        out[lead_id] = (
            None if at is None else Response(at.replace(tzinfo=UTC), source, record_id, user)
        )
    return out


def row(con: duckdb.DuckDBPyConnection, lead_id: str) -> dict[str, Any]:
    """One row of the mart as a dict."""
    cursor = con.execute(
        "SELECT * FROM salesops.lead_first_response WHERE lead_id = $id", {"id": lead_id}
    )
    names = [d[0] for d in cursor.description]
    found = cursor.fetchall()
    assert len(found) == 1, f"{lead_id}: {len(found)} rows"
    return dict(zip(names, found[0], strict=True))

"""Deterministic synthetic Salesforce data for the dev org (`salesops devorg serve --demo-leads N`).

`generate(n_leads, seed, end)` returns records per sObject, shaped as the REST API returns them
(`Id` plus fields, dateTimes as `YYYY-MM-DDTHH:MM:SS.000+0000` in UTC, dates as `YYYY-MM-DD`).
The same arguments always give the same output: all randomness comes from one
`random.Random(seed)`, and the clock is read only for the default `end` (today 00:00 UTC).

Roster
------
Users and Groups come first, with fixed Ids that do not depend on the seed, the size or `end`, so a
shipped routing policy can name them (`roster()` returns {name: Id}):

=================  ==================  =========================================================
Id                 Name                Role
=================  ==================  =========================================================
0055e0000000001AAA Dana Whitfield      admin (Revenue Operations)
0055e0000000002AAA Integration User    integration user; creates auto-response tasks (not a
                                       person: TTFR excludes it)
0055e0000000003AAA Avery Johnson       Sales - NA, America/New_York
0055e0000000004AAA Jordan Miller       Sales - NA, America/Chicago
0055e0000000005AAA Taylor Brooks       Sales - NA, America/Denver
0055e0000000006AAA Morgan Lee          Sales - NA, America/Los_Angeles
0055e0000000007AAA Oliver Bennett      Sales - EMEA, Europe/London
0055e0000000008AAA Lena Hoffmann       Sales - EMEA, Europe/Berlin
0055e0000000009AAA Camille Laurent     Sales - EMEA, Europe/Paris
0055e000000000AAAQ Hiroshi Tanaka      Sales - APAC, Asia/Tokyo
0055e000000000BAAQ Chloe Nguyen        Sales - APAC, Australia/Sydney
0055e000000000CAAQ Wei Ling Tan        Sales - APAC, Asia/Singapore
0055e000000000DAAQ Lucas Oliveira      Sales - LATAM, America/Sao_Paulo
0055e000000000EAAQ Sofia Hernandez     Sales - LATAM, America/Mexico_City
0055e000000000FAAQ Riley Carter        Sales - NA, inactive (IsActive false; still owns leads)
00G5e000000000GEAQ Lead Intake         Queue, DeveloperName Lead_Intake (unrouted leads)
00G5e000000000HEAQ Unrouted Fallback   Queue, DeveloperName Unrouted_Fallback
00G5e000000000IEAQ Sales Managers      Regular group, DeveloperName Sales_Managers
=================  ==================  =========================================================

Everything else takes Ids from counter `FIRST_DATA_COUNTER` (1000) upwards: leads first, in
`CreatedDate` order (as Salesforce Ids grow with time), then the other records.

What the data holds (shares are approximate)
--------------------------------------------
- Lead: created over the `weeks` weeks before `end`, skewed to weekdays and local working hours
  of the lead's city; North America ~50 %, EMEA ~28 %, APAC ~14 %, LATAM ~8 % (Country values:
  United States, Canada, United Kingdom, Germany, France, Netherlands, Australia, Japan,
  Singapore, Brazil, Mexico). ~72 % owned by the Lead Intake queue, ~3 % by Unrouted Fallback,
  ~1.5 % by the inactive rep, the rest by active reps. ~5 % converted (with an Account and a
  Contact), ~2 % deleted (their activities are deleted with them, as Salesforce cascades).
  Custom fields (First_Response_At__c, ...) are left out: they are null until the pipeline
  writes them.
- Task (~2.5 per lead; ~15 % of leads have none): Call, Email, Task and ListEmail
  subtypes by reps, log-normal delays after the lead's creation (minutes to days). Traps for
  TTFR: ~2 % of leads have a task dated before the lead was created, ~40 % of web leads get an
  auto-response by the integration user seconds after creation, ~2 % of tasks are deleted, and
  converted leads get follow-up tasks on their Contact (WhoId prefix 003).
- EmailMessage + EmailMessageRelation: outbound sends (Status '3') linked to the lead by a
  ToAddress relation (sometimes Cc/Bcc), Enhanced Email pairs (a Task with TaskSubtype 'Email'
  and an EmailMessage with ActivityId -> that Task, same time; half of them with no lead
  relation, linked only through ActivityId), inbound replies (Incoming true, Status '0'/'1',
  the lead as FromAddress), drafts (Status '5', often before the real first response), ~1.5 %
  deleted (with their relations). Every email has a FromAddress relation; addresses nobody in
  the org owns have RelationId null, as in Salesforce.
- Nothing is dated at or after `end`: activity that would fall later has not happened yet.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import cache
from operator import itemgetter
from typing import TypeVar

from salesops_dagster.devorg.auth import INTEGRATION_USERNAME
from salesops_dagster.devorg.ids import KEY_PREFIXES, make_id
from salesops_dagster.devorg.vocabulary import (
    COMPANY_STEMS,
    COUNTRY,
    EMPLOYEES,
    FIRST_NAMES,
    HOUR,
    INDUSTRIES,
    LAST_NAMES,
    NUMBER_FIRST,
    RATINGS,
    SOURCES,
    STREETS,
    TITLES,
    WEEKDAY_WEIGHT,
    City,
    Country,
    Weighted,
    slug,
)

T = TypeVar("T")

FIRST_DATA_COUNTER = 1000
"""Counter of the first non-roster Id; the roster uses 1..18, so nothing generated clashes."""

OBJECTS = (
    "User",
    "Group",
    "Lead",
    "Task",
    "EmailMessage",
    "EmailMessageRelation",
    "Account",
    "Contact",
)

DAY = 86_400
WEEK = 7 * DAY

# --------------------------------------------------------------------------------------------
# Roster: fixed Ids, created in this order by counter 1, 2, 3, ...
# --------------------------------------------------------------------------------------------

REGIONS = ("NA", "EMEA", "APAC", "LATAM")


@dataclass(frozen=True)
class RosterUser:
    """One User of the fixed roster."""

    id: str
    first_name: str
    last_name: str
    name: str
    email: str
    time_zone: str
    department: str
    region: str | None
    is_active: bool


@dataclass(frozen=True)
class RosterGroup:
    """One Group (queue or regular group) of the fixed roster."""

    id: str
    name: str
    developer_name: str
    type: str
    email: str | None


# (first, last, time zone, department, region, active); the order fixes the Ids.
_USER_SPECS: tuple[tuple[str, str, str, str, str | None, bool], ...] = (
    ("Dana", "Whitfield", "America/New_York", "Revenue Operations", None, True),
    ("Integration", "User", "GMT", "Systems", None, True),
    ("Avery", "Johnson", "America/New_York", "Sales - NA", "NA", True),
    ("Jordan", "Miller", "America/Chicago", "Sales - NA", "NA", True),
    ("Taylor", "Brooks", "America/Denver", "Sales - NA", "NA", True),
    ("Morgan", "Lee", "America/Los_Angeles", "Sales - NA", "NA", True),
    ("Oliver", "Bennett", "Europe/London", "Sales - EMEA", "EMEA", True),
    ("Lena", "Hoffmann", "Europe/Berlin", "Sales - EMEA", "EMEA", True),
    ("Camille", "Laurent", "Europe/Paris", "Sales - EMEA", "EMEA", True),
    ("Hiroshi", "Tanaka", "Asia/Tokyo", "Sales - APAC", "APAC", True),
    ("Chloe", "Nguyen", "Australia/Sydney", "Sales - APAC", "APAC", True),
    ("Wei Ling", "Tan", "Asia/Singapore", "Sales - APAC", "APAC", True),
    ("Lucas", "Oliveira", "America/Sao_Paulo", "Sales - LATAM", "LATAM", True),
    ("Sofia", "Hernandez", "America/Mexico_City", "Sales - LATAM", "LATAM", True),
    ("Riley", "Carter", "America/New_York", "Sales - NA", "NA", False),
)
_GROUP_SPECS: tuple[tuple[str, str, str, str | None], ...] = (
    ("Lead Intake", "Lead_Intake", "Queue", "lead-intake@example.com"),
    ("Unrouted Fallback", "Unrouted_Fallback", "Queue", "unrouted@example.com"),
    ("Sales Managers", "Sales_Managers", "Regular", None),
)

USERS: tuple[RosterUser, ...] = tuple(
    RosterUser(
        id=make_id(KEY_PREFIXES["User"], n),
        first_name=first,
        last_name=last,
        name=f"{first} {last}",
        email=f"{slug(first)}.{slug(last)}@example.com",
        time_zone=tz,
        department=dept,
        region=region,
        is_active=active,
    )
    for n, (first, last, tz, dept, region, active) in enumerate(_USER_SPECS, start=1)
)
GROUPS: tuple[RosterGroup, ...] = tuple(
    RosterGroup(make_id(KEY_PREFIXES["Group"], n), name, dev, typ, email)
    for n, (name, dev, typ, email) in enumerate(_GROUP_SPECS, start=len(USERS) + 1)
)

ADMIN_USER_ID = USERS[0].id
INTEGRATION_USER_ID = USERS[1].id
INACTIVE_REP_ID = USERS[-1].id
LEAD_INTAKE_QUEUE_ID = GROUPS[0].id
UNROUTED_FALLBACK_QUEUE_ID = GROUPS[1].id
SALES_MANAGERS_GROUP_ID = GROUPS[2].id

_INTEGRATION_USER = USERS[1]
ACTIVE_REPS: tuple[RosterUser, ...] = tuple(u for u in USERS if u.region and u.is_active)
_REPS_BY_REGION: dict[str, tuple[RosterUser, ...]] = {
    region: tuple(u for u in ACTIVE_REPS if u.region == region) for region in REGIONS
}
REP_IDS_BY_REGION: dict[str, tuple[str, ...]] = {
    region: tuple(u.id for u in reps) for region, reps in _REPS_BY_REGION.items()
}


def roster() -> dict[str, str]:
    """{name: Id} of every roster User and Group (names are unique)."""
    return {u.name: u.id for u in USERS} | {g.name: g.id for g in GROUPS}


# --------------------------------------------------------------------------------------------
# Small helpers: timestamp formatting (weighted choice lives in vocabulary.py)
# --------------------------------------------------------------------------------------------


@cache
def _time_of_day() -> tuple[str, ...]:
    """'THH:MM:SS.000+0000' for every second of a day; a lookup beats strftime a million times."""
    return tuple(
        f"T{h:02d}:{m:02d}:{s:02d}.000+0000"
        for h in range(24)
        for m in range(60)
        for s in range(60)
    )


class _Clock:
    """Formats epoch seconds as Salesforce REST dateTime and date strings."""

    def __init__(self) -> None:
        self._tod = _time_of_day()
        self._days: dict[int, str] = {}

    def date(self, t: int) -> str:
        day = t // DAY
        text = self._days.get(day)
        if text is None:
            text = (date(1970, 1, 1) + timedelta(days=day)).isoformat()
            self._days[day] = text
        return text

    def ts(self, t: int) -> str:
        return self.date(t) + self._tod[t % DAY]


# --------------------------------------------------------------------------------------------
# Activity shapes
# --------------------------------------------------------------------------------------------

# Outbound touches per lead (their count, then each one's kind).
_TOUCH_COUNT = Weighted(list(enumerate([0.12, 0.09, 0.12, 0.15, 0.16, 0.14, 0.10, 0.07, 0.05])))
_TOUCH_KIND = Weighted(
    [
        ("call", 28),
        ("email_task", 4),  # an e-mail logged as a Task only (BCC-to-Salesforce, older clients)
        ("pair", 22),  # Enhanced Email: Task + EmailMessage(ActivityId) for the same send
        ("email", 28),  # an EmailMessage related to the lead, no Task
        ("list_email", 6),
        ("task", 12),
    ]
)
_EMAIL_KINDS = frozenset({"email_task", "pair", "email"})
_OWNER_KIND = Weighted([("queue", 72), ("rep", 23.5), ("fallback", 3), ("inactive", 1.5)])

P_CONVERTED = 0.05
P_DELETED = 0.02
P_TASK_DELETED = 0.02
P_EMAIL_DELETED = 0.015
P_TASK_BEFORE_LEAD = 0.02
P_WEB_AUTORESPONSE = 0.4
P_DRAFT = 0.08
P_REPLY = 0.35

# Log-normal delays in seconds, as (mu, sigma) of the underlying normal: median = e^mu.
_FIRST_TOUCH = (math.log(3 * 3600), 1.6)  # median 3 h, from minutes to a few days
_NEXT_TOUCH = (math.log(1.5 * DAY), 0.8)
_REPLY_DELAY = (math.log(6 * 3600), 1.2)
_DRAFT_DELAY = (math.log(20 * 60), 1.0)
_BEFORE_LEAD = (math.log(DAY), 1.2)
_CONVERSION_DELAY = (math.log(3 * DAY), 0.8)
_DELETION_DELAY = (math.log(2 * DAY), 1.0)
_CONTACT_TASK_DELAY = (math.log(2 * DAY), 1.0)

_CALL_SUBJECTS = ("Call", "Intro call", "Discovery call", "Left voicemail", "Follow-up call")
_EMAIL_SUBJECTS = (
    "Following up on your inquiry",
    "Thanks for reaching out",
    "Quick question about your team",
    "Resources you asked for",
    "Scheduling a short call",
    "Pricing overview",
)
_EMAIL_TASK_SUBJECTS = tuple(f"Email: {s}" for s in _EMAIL_SUBJECTS)
_REPLY_SUBJECTS = tuple(f"Re: {s}" for s in _EMAIL_SUBJECTS)
_LIST_EMAIL_SUBJECTS = ("List Email: Webinar invitation", "List Email: Product update")
_TASK_SUBJECTS = ("Follow up", "Send pricing", "Research account", "Prepare proposal")
_AUTORESPONSE_SUBJECT = "Email: Thanks for contacting us"
_TASK_TYPE = {"Call": "Call", "Email": "Email", "ListEmail": None, "Task": "Other"}


# --------------------------------------------------------------------------------------------
# The generator
# --------------------------------------------------------------------------------------------


@dataclass(slots=True)
class _LeadContext:
    """What activity generation needs to know about one lead."""

    id: str
    name: str
    email: str
    created: int
    region: str
    rep: RosterUser  # the rep working this lead
    # Every activity record of the lead, so a lead deletion can cascade.
    records: list[dict] = field(default_factory=list)
    last_activity: int = 0
    first_touch: int | None = None


class _Generator:
    def __init__(self, rng: random.Random, start: int, end: int) -> None:
        self.rng = rng
        self.start = start
        self.end = end
        self.clock = _Clock()
        self.out: dict[str, list[dict]] = {name: [] for name in OBJECTS}
        self._counter = FIRST_DATA_COUNTER
        first_day, last_day = start // DAY, (end - 1) // DAY
        # 1970-01-01 was a Thursday, so epoch day d is weekday (d + 3) % 7 with Monday = 0.
        self._day = Weighted(
            [(d, WEEKDAY_WEIGHT[(d + 3) % 7]) for d in range(first_day, last_day + 1)]
        )

    # -- ids and time ------------------------------------------------------------------------

    def new_id(self, sobject: str) -> str:
        n = self._counter
        self._counter += 1
        return make_id(KEY_PREFIXES[sobject], n)

    def delay(self, shape: tuple[float, float]) -> int:
        return int(self.rng.lognormvariate(*shape))

    def lead_created(self, utc_offset: int) -> int:
        """A creation time in [start, end): weekday and local office-hour skew."""
        local = self._day.pick(self.rng) * DAY + HOUR.pick(self.rng) * 3600
        t = local + self.rng.randrange(3600) - utc_offset * 3600
        # Shifting by whole weeks keeps the weekday and hour; the window is at least a week.
        while t < self.start:
            t += WEEK
        while t >= self.end:
            t -= WEEK
        return t

    # -- roster ------------------------------------------------------------------------------

    def emit_roster(self) -> None:
        # Roster records predate the lead window; the date is fixed unless `end` is very early.
        created = min(1_577_865_600, self.start - 90 * DAY)  # 2020-01-01 08:00 UTC
        ts = self.clock.ts(created)
        admin = ADMIN_USER_ID
        for u in USERS:
            self.out["User"].append(
                {
                    "Id": u.id,
                    "Username": INTEGRATION_USERNAME
                    if u.id == INTEGRATION_USER_ID
                    else f"{u.email}.devorg",
                    "Name": u.name,
                    "FirstName": u.first_name,
                    "LastName": u.last_name,
                    "Email": u.email,
                    "IsActive": u.is_active,
                    "UserType": "Standard",
                    "TimeZoneSidKey": u.time_zone,
                    "Department": u.department,
                    **_audit(ts, admin),
                }
            )
        for g in GROUPS:
            self.out["Group"].append(
                {
                    "Id": g.id,
                    "Name": g.name,
                    "DeveloperName": g.developer_name,
                    "Type": g.type,
                    "Email": g.email,
                    **_audit(ts, admin),
                }
            )

    # -- leads -------------------------------------------------------------------------------

    def emit_leads(self, n_leads: int) -> None:
        seeds = []
        for _ in range(n_leads):
            country = COUNTRY.pick(self.rng)
            city = self.rng.choice(country.cities)
            seeds.append((self.lead_created(city.utc_offset), country, city))
        # Salesforce Ids grow with creation time; allocate lead Ids in CreatedDate order.
        seeds.sort(key=itemgetter(0))
        lead_ids = [self.new_id("Lead") for _ in seeds]
        for lead_id, (created, country, city) in zip(lead_ids, seeds, strict=True):
            self.emit_lead(lead_id, created, country, city)

    def emit_lead(self, lead_id: str, created: int, country: Country, city: City) -> None:
        rng = self.rng
        first, first_slug = rng.choice(FIRST_NAMES[country.culture])
        last, last_slug = rng.choice(LAST_NAMES[country.culture])
        stem, stem_slug = rng.choice(COMPANY_STEMS)
        company = f"{stem} {rng.choice(country.suffixes)}"
        local_part = (
            f"{first_slug}.{last_slug}" if rng.random() < 0.7 else f"{first_slug[0]}{last_slug}"
        )
        email = f"{local_part}@{stem_slug}{country.tld}"
        source = SOURCES.pick(rng)
        owner_id, rep = self.pick_owner(country.region)
        fate = rng.random()
        converted = fate < P_CONVERTED
        deleted = not converted and fate < P_CONVERTED + P_DELETED
        if converted:
            owner_id = rep.id  # a converted lead always has a person as owner

        ctx = _LeadContext(lead_id, f"{first} {last}", email, created, country.region, rep)
        self.emit_lead_activity(ctx, source)

        created_by = self.lead_creator(source, rep)
        status, modified, modified_by = self.lead_status(ctx)
        converted_fields = {
            "IsConverted": False,
            "ConvertedDate": None,
            "ConvertedAccountId": None,
            "ConvertedContactId": None,
            "ConvertedOpportunityId": None,
        }
        if converted:
            status, modified = (
                "Closed - Converted",
                self.after(ctx.last_activity, _CONVERSION_DELAY),
            )
            modified_by = rep.id
            account_id, contact_id = self.emit_conversion(ctx, first, last, company, modified)
            converted_fields = {
                "IsConverted": True,
                "ConvertedDate": self.clock.date(modified),
                "ConvertedAccountId": account_id,
                "ConvertedContactId": contact_id,
                "ConvertedOpportunityId": None,  # converted without an opportunity
            }
        if deleted:
            modified = self.after(ctx.last_activity, _DELETION_DELAY)
            modified_by = ADMIN_USER_ID
            self.cascade_delete(ctx, modified)

        created_ts = self.clock.ts(created)
        modified_ts = created_ts if modified == created else self.clock.ts(modified)
        self.out["Lead"].append(
            {
                "Id": lead_id,
                "IsDeleted": deleted,
                "FirstName": first,
                "LastName": last,
                "Name": ctx.name,
                "Company": company,
                "Title": TITLES.pick(rng),
                "Email": email,
                "Phone": self.phone(country, city) if rng.random() < 0.9 else None,
                "Status": status,
                "LeadSource": source,
                "Industry": INDUSTRIES.pick(rng),
                "Rating": RATINGS.pick(rng),
                **self.firmographics(),
                "Street": self.street(country.culture),
                "City": city.name,
                "State": city.state,
                "PostalCode": rng.choice(city.postal_codes),
                "Country": country.name,
                "OwnerId": owner_id,
                **converted_fields,
                "CreatedDate": created_ts,
                "CreatedById": created_by,
                "LastModifiedDate": modified_ts,
                "LastModifiedById": modified_by if modified != created else created_by,
                "SystemModstamp": modified_ts,
            }
        )

    def pick_owner(self, region: str) -> tuple[str, RosterUser]:
        """The lead's OwnerId, and the active rep who works it (its owner when that is a rep)."""
        rng = self.rng
        kind = _OWNER_KIND.pick(rng)
        rep = rng.choice(_REPS_BY_REGION[region])
        if kind == "rep":
            # Mostly the region's reps; a few leads were assigned across regions by hand.
            if rng.random() < 0.08:
                rep = rng.choice(ACTIVE_REPS)
            return rep.id, rep
        owner = {
            "queue": LEAD_INTAKE_QUEUE_ID,
            "fallback": UNROUTED_FALLBACK_QUEUE_ID,
            "inactive": INACTIVE_REP_ID,
        }[kind]
        return owner, rep

    def lead_creator(self, source: str, rep: RosterUser) -> str:
        # Web-to-lead and ad forms arrive through the integration; trade show lists are imported
        # by the admin; referrals are typed in by a rep.
        if source in ("Web", "Advertisement"):
            return INTEGRATION_USER_ID
        if source == "Trade Show":
            return ADMIN_USER_ID
        return rep.id

    def lead_status(self, ctx: _LeadContext) -> tuple[str, int, str]:
        """Status, and when and by whom it was last set (creation time: nobody changed it)."""
        rng = self.rng
        if ctx.first_touch is None:
            if rng.random() < 0.05:  # junk closed without contact
                closed = self.after(ctx.created, _FIRST_TOUCH)
                return "Closed - Not Converted", closed, ctx.rep.id
            return "Open - Not Contacted", ctx.created, ctx.rep.id
        if rng.random() < 0.15:
            return "Closed - Not Converted", ctx.last_activity, ctx.rep.id
        return "Working - Contacted", ctx.first_touch, ctx.rep.id

    def firmographics(self) -> dict:
        rng = self.rng
        band = EMPLOYEES.pick(rng)
        if band is None:
            return {"NumberOfEmployees": None, "AnnualRevenue": None}
        low, high = band
        employees = int(math.exp(rng.uniform(math.log(low), math.log(high + 1))))
        employees = min(max(employees, low), high)
        revenue = None
        if rng.random() < 0.88:
            revenue = float(round(employees * rng.uniform(80_000, 250_000), -3))
        return {"NumberOfEmployees": employees, "AnnualRevenue": revenue}

    def phone(self, country: Country, city: City) -> str:
        digits = country.phone_digits
        n = str(self.rng.randrange(10 ** (digits - 1), 10**digits))
        return country.phone.format(area=city.area, n=n)

    def street(self, culture: str) -> str:
        rng = self.rng
        name = rng.choice(STREETS[culture])
        if culture == "ja":
            return f"{rng.randint(1, 4)}-{rng.randint(1, 12)}-{rng.randint(1, 20)} {name}"
        number = rng.randint(1, 400)
        return f"{number} {name}" if NUMBER_FIRST.get(culture) else f"{name} {number}"

    def after(self, t: int, shape: tuple[float, float]) -> int:
        """A time `shape` after t, clamped before `end` (t itself is before `end`)."""
        return min(t + self.delay(shape), self.end - 1)

    # -- activity ----------------------------------------------------------------------------

    def emit_lead_activity(self, ctx: _LeadContext, source: str) -> None:
        rng = self.rng
        ctx.last_activity = ctx.created
        if source == "Web" and rng.random() < P_WEB_AUTORESPONSE:
            # Auto-response: often the earliest "email" on a lead, and not a human response.
            t = ctx.created + rng.randint(20, 300)
            if t < self.end:
                self.task(ctx, _INTEGRATION_USER, t, "Email", _AUTORESPONSE_SUBJECT)
        if rng.random() < P_TASK_BEFORE_LEAD:
            # Logged against the person before this lead record existed (e.g. a re-created lead).
            t = ctx.created - max(60, self.delay(_BEFORE_LEAD))
            self.task(ctx, ctx.rep, t, "Call", rng.choice(_CALL_SUBJECTS))
        if rng.random() < P_DRAFT:
            t = ctx.created + max(30, self.delay(_DRAFT_DELAY))
            if t < self.end:
                self.outbound_email(ctx, ctx.rep, t, status="5")

        t = ctx.created + max(30, self.delay(_FIRST_TOUCH))
        for _ in range(_TOUCH_COUNT.pick(rng)):
            if t >= self.end:
                break  # later touches have not happened yet
            if ctx.first_touch is None:
                ctx.first_touch = t
            rep = ctx.rep if rng.random() < 0.8 else rng.choice(_REPS_BY_REGION[ctx.region])
            kind = _TOUCH_KIND.pick(rng)
            self.touch(ctx, rep, t, kind)
            if kind in _EMAIL_KINDS and rng.random() < P_REPLY:
                reply = t + max(60, self.delay(_REPLY_DELAY))
                if reply < self.end:
                    self.inbound_email(ctx, rep, reply)
            t += max(600, self.delay(_NEXT_TOUCH))

    def touch(self, ctx: _LeadContext, rep: RosterUser, t: int, kind: str) -> None:
        rng = self.rng
        if kind == "call":
            self.task(ctx, rep, t, "Call", rng.choice(_CALL_SUBJECTS))
        elif kind == "email_task":
            self.task(ctx, rep, t, "Email", rng.choice(_EMAIL_TASK_SUBJECTS))
        elif kind == "pair":
            subject_index = rng.randrange(len(_EMAIL_SUBJECTS))
            task = self.task(ctx, rep, t, "Email", _EMAIL_TASK_SUBJECTS[subject_index])
            # Half the pairs carry no lead relation: only ActivityId links the e-mail to the lead.
            self.outbound_email(
                ctx,
                rep,
                t,
                status="3",
                activity_id=task["Id"],
                subject=_EMAIL_SUBJECTS[subject_index],
                relate_lead=rng.random() < 0.5,
            )
        elif kind == "email":
            self.outbound_email(ctx, rep, t, status="3")
        elif kind == "list_email":
            self.task(ctx, rep, t, "ListEmail", rng.choice(_LIST_EMAIL_SUBJECTS))
        else:
            self.task(ctx, rep, t, "Task", rng.choice(_TASK_SUBJECTS))

    def task(
        self,
        ctx: _LeadContext,
        owner: RosterUser,
        t: int,
        subtype: str,
        subject: str,
        *,
        who_id: str | None = None,
        what_id: str | None = None,
    ) -> dict:
        rng = self.rng
        ts = self.clock.ts(t)
        # Calls and e-mails are logged when done; plain to-dos are mostly still open.
        open_task = subtype == "Task" and rng.random() < 0.6
        due = t + rng.randint(1, 5) * DAY if open_task else t
        record = {
            "Id": self.new_id("Task"),
            "IsDeleted": False,
            "WhoId": who_id or ctx.id,
            "WhatId": what_id,
            "Subject": subject,
            "Status": "Not Started" if open_task else "Completed",
            "Priority": "High" if rng.random() < 0.15 else "Normal",
            "Type": _TASK_TYPE[subtype],
            "TaskSubtype": subtype,
            "OwnerId": owner.id,
            "ActivityDate": self.clock.date(due),
            "CompletedDateTime": None if open_task else ts,
            "IsClosed": not open_task,
            "IsArchived": False,
            **_audit(ts, owner.id),
        }
        self.out["Task"].append(record)
        self.track(ctx, record, t)
        if rng.random() < P_TASK_DELETED:
            _mark_deleted(record, self.clock.ts(self.after(t, _DELETION_DELAY)), owner.id)
        return record

    def outbound_email(
        self,
        ctx: _LeadContext,
        rep: RosterUser,
        t: int,
        *,
        status: str,
        activity_id: str | None = None,
        subject: str | None = None,
        relate_lead: bool = True,
    ) -> None:
        rng = self.rng
        ts = self.clock.ts(t)
        # Most sends go To the lead; some copy it (Cc/Bcc) on a mail to a colleague.
        lead_role = "ToAddress"
        to_address, cc_address, bcc_address = ctx.email, None, None
        colleague = None
        roll = rng.random()
        if roll < 0.06:
            lead_role, colleague = "CcAddress", _colleague(ctx.email)
            to_address, cc_address = colleague, ctx.email
        elif roll < 0.09:
            lead_role, bcc_address = "BccAddress", ctx.email
            to_address = colleague = _colleague(ctx.email)
        record = {
            "Id": self.new_id("EmailMessage"),
            "IsDeleted": False,
            "ParentId": None,
            "ActivityId": activity_id,
            "RelatedToId": None,
            "Subject": subject or rng.choice(_EMAIL_SUBJECTS),
            "FromAddress": rep.email,
            "FromName": rep.name,
            "ToAddress": to_address,
            "CcAddress": cc_address,
            "BccAddress": bcc_address,
            "Incoming": False,
            "Status": status,
            "MessageDate": ts,
            **_audit(ts, rep.id),
        }
        self.add_email(ctx, record, t)
        self.relation(ctx, record, t, "FromAddress", rep.id, rep.email, "User")
        if relate_lead:
            self.relation(ctx, record, t, lead_role, ctx.id, ctx.email, "Lead")
        if colleague:
            # An address no org record owns: Salesforce stores the row with RelationId null.
            self.relation(ctx, record, t, "ToAddress", None, colleague, None)

    def inbound_email(self, ctx: _LeadContext, rep: RosterUser, t: int) -> None:
        ts = self.clock.ts(t)
        record = {
            "Id": self.new_id("EmailMessage"),
            "IsDeleted": False,
            "ParentId": None,
            "ActivityId": None,
            "RelatedToId": None,
            "Subject": self.rng.choice(_REPLY_SUBJECTS),
            "FromAddress": ctx.email,
            "FromName": ctx.name,
            "ToAddress": rep.email,
            "CcAddress": None,
            "BccAddress": None,
            "Incoming": True,
            "Status": "1" if self.rng.random() < 0.7 else "0",  # Read / New
            "MessageDate": ts,
            **_audit(ts, INTEGRATION_USER_ID),  # captured by the mail sync, not typed by a rep
        }
        self.add_email(ctx, record, t)
        self.relation(ctx, record, t, "FromAddress", ctx.id, ctx.email, "Lead")
        self.relation(ctx, record, t, "ToAddress", rep.id, rep.email, "User")

    def add_email(self, ctx: _LeadContext, record: dict, t: int) -> None:
        self.out["EmailMessage"].append(record)
        self.track(ctx, record, t)
        if self.rng.random() < P_EMAIL_DELETED:
            # The relations, emitted next, copy the e-mail's deletion.
            _mark_deleted(
                record, self.clock.ts(self.after(t, _DELETION_DELAY)), record["CreatedById"]
            )

    def relation(
        self,
        ctx: _LeadContext,
        email: dict,
        t: int,
        relation_type: str,
        relation_id: str | None,
        address: str,
        object_type: str | None,
    ) -> None:
        """One address of `email` (created at t), matched to an org record or not (Id None)."""
        record = {
            "Id": self.new_id("EmailMessageRelation"),
            "IsDeleted": email["IsDeleted"],  # deleted with their e-mail
            "EmailMessageId": email["Id"],
            "RelationId": relation_id,
            "RelationType": relation_type,
            "RelationAddress": address,
            "RelationObjectType": object_type,
            "CreatedDate": email["CreatedDate"],
            "CreatedById": email["CreatedById"],
            "SystemModstamp": email["SystemModstamp"],
        }
        self.out["EmailMessageRelation"].append(record)
        self.track(ctx, record, t)

    def track(self, ctx: _LeadContext, record: dict, t: int) -> None:
        ctx.records.append(record)
        if t > ctx.last_activity:
            ctx.last_activity = t

    def cascade_delete(self, ctx: _LeadContext, t: int) -> None:
        """Deleting a lead sends its activities to the recycle bin with it."""
        ts = self.clock.ts(t)
        for record in ctx.records:
            # A record deleted on its own later than the lead went to the bin with the lead.
            if not record["IsDeleted"] or record["SystemModstamp"] > ts:
                _mark_deleted(record, ts, ADMIN_USER_ID)

    # -- conversion --------------------------------------------------------------------------

    def emit_conversion(
        self,
        ctx: _LeadContext,
        first: str,
        last: str,
        company: str,
        t: int,
    ) -> tuple[str, str]:
        """Account and Contact made by converting the lead, and follow-up tasks on the Contact."""
        rng = self.rng
        ts = self.clock.ts(t)
        owner = ctx.rep
        account_id = self.new_id("Account")
        self.out["Account"].append(
            {
                "Id": account_id,
                "IsDeleted": False,
                "Name": company,
                "OwnerId": owner.id,
                **_audit(ts, owner.id),
            }
        )
        contact_id = self.new_id("Contact")
        self.out["Contact"].append(
            {
                "Id": contact_id,
                "IsDeleted": False,
                "FirstName": first,
                "LastName": last,
                "Name": ctx.name,
                "Email": ctx.email,
                "AccountId": account_id,
                "OwnerId": owner.id,
                **_audit(ts, owner.id),
            }
        )
        follow_up = t
        for _ in range(rng.choice((0, 0, 1, 1, 2))):
            follow_up += max(600, self.delay(_CONTACT_TASK_DELAY))
            if follow_up >= self.end:
                break
            subtype = "Call" if rng.random() < 0.5 else "Email"
            subject = rng.choice(_CALL_SUBJECTS if subtype == "Call" else _EMAIL_TASK_SUBJECTS)
            self.task(
                ctx, owner, follow_up, subtype, subject, who_id=contact_id, what_id=account_id
            )
        return account_id, contact_id


def _audit(ts: str, by: str) -> dict:
    """Audit fields of a record created and last modified at the same moment."""
    return {
        "CreatedDate": ts,
        "CreatedById": by,
        "LastModifiedDate": ts,
        "LastModifiedById": by,
        "SystemModstamp": ts,
    }


def _mark_deleted(record: dict, ts: str, by: str) -> None:
    record["IsDeleted"] = True
    record["SystemModstamp"] = ts
    if "LastModifiedDate" in record:
        record["LastModifiedDate"] = ts
        record["LastModifiedById"] = by


def _colleague(lead_email: str) -> str:
    """Another address at the lead's company (nobody the org has a record for)."""
    return "info@" + lead_email.partition("@")[2]


# --------------------------------------------------------------------------------------------
# Public interface
# --------------------------------------------------------------------------------------------


def default_end() -> datetime:
    """Today 00:00 UTC: the only place the clock is read."""
    now = datetime.now(UTC)
    return datetime(now.year, now.month, now.day, tzinfo=UTC)


def generate(
    n_leads: int, seed: int, end: datetime | None = None, weeks: int = 6
) -> dict[str, list[dict]]:
    """Records per sObject (see the module docstring); identical for identical arguments.

    `end` must be timezone-aware; leads are created in the `weeks` weeks before it and nothing is
    dated at or after it.
    """
    if n_leads < 0:
        raise ValueError(f"n_leads must be >= 0, got {n_leads}")
    if weeks < 1:
        raise ValueError(f"weeks must be >= 1, got {weeks}")
    if end is None:
        end = default_end()
    if end.tzinfo is None or end.utcoffset() is None:
        raise ValueError(f"end must be timezone-aware (UTC), got naive {end.isoformat()}")
    end_s = math.floor(end.timestamp())
    generator = _Generator(random.Random(seed), end_s - weeks * WEEK, end_s)
    generator.emit_roster()
    generator.emit_leads(n_leads)
    return generator.out


def counts(data: dict[str, list[dict]]) -> dict[str, int]:
    """Records per sObject, for the CLI summary."""
    return {sobject: len(records) for sobject, records in data.items()}

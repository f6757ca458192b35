"""Typed routing policy: pydantic models mirroring `policies/policy.schema.json`.

The models are built only from documents the JSON Schema accepted (see `validate`), so their job is
to give the engine and TTFR typed, immutable access, not to produce user-facing error messages.
Like the schema they refuse unknown keys.
"""

from __future__ import annotations

from datetime import date, time
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    Tag,
)

WILDCARD_REGION = "*"

Scalar = StrictBool | StrictInt | StrictFloat | StrictStr

ComparisonOp = Literal["=", "!=", "<", "<=", ">", ">="]
ListOp = Literal["in", "not_in"]
TextOp = Literal["contains", "starts_with"]
NullOp = Literal["is_null", "is_not_null"]
Op = Literal[
    "=",
    "!=",
    "<",
    "<=",
    ">",
    ">=",
    "in",
    "not_in",
    "contains",
    "starts_with",
    "is_null",
    "is_not_null",
]
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


# --- conditions -----------------------------------------------------------------------------------


class FieldCondition(_Model):
    """`{"field": F, "op": OP, "value": V}`; no value for is_null / is_not_null."""

    field: StrictStr
    op: Op
    value: Scalar | list[Scalar] | None = None


class AllCondition(_Model):
    all: list[Condition]


class AnyCondition(_Model):
    any: list[Condition]


class NotCondition(_Model):
    not_: Condition = Field(alias="not")


def _condition_kind(value: Any) -> str:
    if isinstance(value, dict):
        keys = value.keys()
    else:
        keys = {
            name
            for name, cls in (
                ("all", AllCondition),
                ("any", AnyCondition),
                ("not", NotCondition),
            )
            if isinstance(value, cls)
        } or {"field"}
    for kind in ("all", "any", "not"):
        if kind in keys:
            return kind
    return "field"


Condition = Annotated[
    Annotated[AllCondition, Tag("all")]
    | Annotated[AnyCondition, Tag("any")]
    | Annotated[NotCondition, Tag("not")]
    | Annotated[FieldCondition, Tag("field")],
    Discriminator(_condition_kind),
]

AllCondition.model_rebuild()
AnyCondition.model_rebuild()
NotCondition.model_rebuild()


class Rule(_Model):
    name: str
    when: Condition


# --- segments, regions, business hours ------------------------------------------------------------


class Segment(_Model):
    name: str
    description: str | None = None
    rules: list[Rule]
    sla_minutes: int | None = None


def parse_hhmm(text: str) -> int:
    """Minutes after local midnight; "24:00" is 1440 (the end of the day)."""
    hours, minutes = text.split(":")
    return int(hours) * 60 + int(minutes)


class Weekly(_Model):
    mon: list[tuple[str, str]] = []
    tue: list[tuple[str, str]] = []
    wed: list[tuple[str, str]] = []
    thu: list[tuple[str, str]] = []
    fri: list[tuple[str, str]] = []
    sat: list[tuple[str, str]] = []
    sun: list[tuple[str, str]] = []

    def minutes(self, weekday: int) -> list[tuple[int, int]]:
        """Open intervals of a weekday (0 = Monday) as [start, end) minutes after midnight."""
        day = getattr(self, WEEKDAYS[weekday])
        return sorted((parse_hhmm(start), parse_hhmm(end)) for start, end in day)


class BusinessHours(_Model):
    time_zone: str
    weekly: Weekly
    holidays: list[date] = []

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)

    def open_intervals(self, day: date) -> list[tuple[time, time | None]]:
        """The open intervals of a local calendar day ([] on holidays); end None means midnight."""
        if day in self.holidays:
            return []
        out: list[tuple[time, time | None]] = []
        for start, end in self.weekly.minutes(day.weekday()):
            end_time = None if end == 1440 else time(end // 60, end % 60)
            out.append((time(start // 60, start % 60), end_time))
        return out


class Region(_Model):
    name: str
    description: str | None = None
    rules: list[Rule]
    business_hours: BusinessHours


# --- pools ----------------------------------------------------------------------------------------


class Fallback(_Model):
    owner_id: str


class PeriodCap(_Model):
    days: int
    max: int


class OutOfOffice(_Model):
    start: AwareDatetime
    end: AwareDatetime
    note: str | None = None


class Member(_Model):
    user_id: str
    weight: StrictInt | StrictFloat
    daily_cap: int | None = None
    period_cap: PeriodCap | None = None
    out_of_office: list[OutOfOffice] = []


class Pool(_Model):
    name: str
    segment: str
    region: str
    members: list[Member]
    fallback: Fallback | None = None


# --- the rest -------------------------------------------------------------------------------------


class EnrichmentWait(_Model):
    required_fields: list[str]
    max_wait_minutes: int


class FirstTouch(_Model):
    counted_task_kinds: list[str]
    excluded_user_ids: list[str]
    default_sla_minutes: int | None = None


class RoutingPolicy(_Model):
    schema_: str | None = Field(default=None, alias="$schema")
    policy_version: str
    name: str
    description: str | None = None
    intake_queues: list[str]
    fallback: Fallback
    segments: list[Segment]
    default_segment: str
    regions: list[Region]
    default_region: str
    pools: list[Pool]
    enrichment_wait: EnrichmentWait | None = None
    first_touch: FirstTouch

    def segment(self, name: str) -> Segment:
        return next(s for s in self.segments if s.name == name)

    def region(self, name: str) -> Region:
        return next(r for r in self.regions if r.name == name)

    def pool_for(self, segment: str, region: str) -> Pool | None:
        """The pool naming (segment, region), else the one naming (segment, "*"), else None."""
        exact = wildcard = None
        for pool in self.pools:
            if pool.segment != segment:
                continue
            if pool.region == region and exact is None:
                exact = pool
            elif pool.region == WILDCARD_REGION and wildcard is None:
                wildcard = pool
        return exact or wildcard

    def fallback_for(self, pool: Pool | None) -> str:
        """The owner a lead of `pool` gets when nobody in it is eligible."""
        if pool is not None and pool.fallback is not None:
            return pool.fallback.owner_id
        return self.fallback.owner_id

    def sla_minutes(self, segment: str) -> int | None:
        """The first-response SLA of a segment (its own, else first_touch.default_sla_minutes)."""
        own = self.segment(segment).sla_minutes
        return own if own is not None else self.first_touch.default_sla_minutes

    def business_hours(self, region: str) -> BusinessHours:
        return self.region(region).business_hours

    def pool_time_zone(self, pool: Pool) -> ZoneInfo:
        """The zone whose calendar days a pool's daily caps count in (UTC for region "*")."""
        if pool.region == WILDCARD_REGION:
            return ZoneInfo("UTC")
        return self.business_hours(pool.region).zone

    def all_owner_ids(self) -> set[str]:
        """Every owner a decision of this policy can name: pool members and fallbacks."""
        owners = {self.fallback.owner_id}
        for pool in self.pools:
            owners.update(m.user_id for m in pool.members)
            if pool.fallback is not None:
                owners.add(pool.fallback.owner_id)
        return owners

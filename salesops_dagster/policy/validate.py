"""Policy validation: JSON syntax, the JSON Schema, then semantic checks, each problem with a path.

`validate_document` runs the three stages in order and returns the typed policy (None when any
problem was found) with the list of problems. Semantic checks need a schema-valid document, so a
document with schema violations reports all of those and stops there; a schema-valid one reports
every semantic problem at once.

Paths are JSONPath-like: `$` is the document, `$.pools[2].members[0].weight` a value inside it.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from functools import cache
from itertools import pairwise
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import jsonschema
from pydantic import ValidationError

from salesops_dagster.policy.models import (
    WEEKDAYS,
    WILDCARD_REGION,
    AllCondition,
    AnyCondition,
    Condition,
    FieldCondition,
    NotCondition,
    RoutingPolicy,
    parse_hhmm,
)
from salesops_dagster.routing import rules as rule_logic

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "policies" / "policy.schema.json"

USER_PREFIX = "005"
QUEUE_PREFIX = "00G"


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a policy: where (`path`) and why (`message`)."""

    path: str
    message: str

    def format(self, file: str | Path | None = None) -> str:
        return f"{file}: {self.path}: {self.message}" if file is not None else str(self)

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


# --- JSON -----------------------------------------------------------------------------------------


class _Object(dict):
    """A parsed JSON object that remembers keys it saw more than once."""

    duplicates: tuple[str, ...] = ()


def _object_hook(pairs: list[tuple[str, Any]]) -> _Object:
    obj = _Object(pairs)
    counts = Counter(key for key, _ in pairs)
    obj.duplicates = tuple(sorted(key for key, n in counts.items() if n > 1))
    return obj


def parse_json(data: bytes | str) -> tuple[Any, list[Problem]]:
    """The document, or the syntax problem with its line and column (also duplicate keys)."""
    if isinstance(data, bytes):
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as error:
            return None, [Problem("$", f"not UTF-8 text (byte {error.start}): {error.reason}")]
    else:
        text = data
    try:
        doc = json.loads(text, object_pairs_hook=_object_hook, parse_constant=_no_constant)
    except json.JSONDecodeError as error:
        return None, [
            Problem(
                "$",
                f"invalid JSON at line {error.lineno}, column {error.colno}: {error.msg}",
            )
        ]
    except ValueError as error:
        return None, [Problem("$", f"invalid JSON: {error}")]
    problems = [
        Problem(
            _join(path, key),
            f"key {key!r} appears more than once in this object (JSON keeps only the last); "
            "remove the duplicate",
        )
        for path, obj in _walk_objects(doc, "$")
        for key in obj.duplicates
    ]
    return doc, problems


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _walk_objects(value: Any, path: str) -> Iterable[tuple[str, _Object]]:
    if isinstance(value, _Object):
        yield path, value
        for key, item in value.items():
            yield from _walk_objects(item, _join(path, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _walk_objects(item, f"{path}[{i}]")


def _join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    if key.isidentifier():
        return f"{path}.{key}"
    return f"{path}[{json.dumps(key)}]"


def json_path(parts: Iterable[str | int]) -> str:
    path = "$"
    for part in parts:
        path = _join(path, part)
    return path


# --- schema ---------------------------------------------------------------------------------------


@cache
def policy_schema() -> dict[str, Any]:
    """The JSON Schema (policies/policy.schema.json)."""
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


@cache
def _validator() -> jsonschema.Draft202012Validator:
    schema = policy_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


_JSON_TYPES = {
    dict: "an object",
    list: "an array",
    str: "a string",
    bool: "a boolean",
    int: "an integer",
    float: "a number",
    type(None): "null",
}


def _describe(value: Any) -> str:
    kind = _JSON_TYPES.get(type(value), type(value).__name__)
    shown = json.dumps(value, default=str)
    if len(shown) > 60:
        shown = shown[:57] + "..."
    return f"{kind} ({shown})" if not isinstance(value, dict | list) else kind


def _schema_message(error: jsonschema.ValidationError) -> tuple[list[str | int], str]:
    """(path parts, message) for one schema error, in words a policy author can act on."""
    parts: list[str | int] = list(error.absolute_path)
    custom = error.schema.get("errorMessage") if isinstance(error.schema, dict) else None
    if isinstance(custom, dict) and error.validator in custom:
        return parts, f"{json.dumps(error.instance)} {custom[error.validator]}".strip()
    validator, expected, instance = error.validator, error.validator_value, error.instance
    if validator == "additionalProperties" and isinstance(instance, dict):
        allowed = sorted(error.schema.get("properties", {}))
        extra = sorted(set(instance) - set(allowed))
        key = extra[0] if extra else "?"
        more = f" (and {', '.join(map(repr, extra[1:]))})" if len(extra) > 1 else ""
        return [*parts, key], f"unknown key{more}; allowed keys: {', '.join(allowed)}"
    if validator == "required":
        missing = [k for k in expected if k not in instance]
        key = missing[0] if missing else "?"
        return [*parts, key], "required key is missing"
    if validator == "type":
        wanted = expected if isinstance(expected, list) else [expected]
        return parts, f"must be {' or '.join(wanted)}, got {_describe(instance)}"
    if validator == "enum":
        options = ", ".join(json.dumps(v) for v in expected)
        return parts, f"{json.dumps(instance)} is not one of {options}"
    if validator == "exclusiveMinimum":
        return parts, f"must be greater than {expected}, got {json.dumps(instance)}"
    if validator == "minimum":
        return parts, f"must be at least {expected}, got {json.dumps(instance)}"
    if validator == "maximum":
        return parts, f"must be at most {expected}, got {json.dumps(instance)}"
    if validator == "minItems":
        return parts, f"must have at least {expected} item(s), got {len(instance)}"
    if validator == "maxItems":
        return parts, f"must have at most {expected} item(s), got {len(instance)}"
    if validator == "uniqueItems":
        return parts, "items must be unique"
    if validator == "minLength":
        return parts, "must not be empty" if expected == 1 else f"must be >= {expected} chars"
    if validator == "maxLength":
        return parts, f"must be at most {expected} characters"
    if validator == "pattern":
        return parts, f"{json.dumps(instance)} does not match {expected}"
    if validator == "false":
        return parts, "no value is allowed here"
    return parts, error.message


def schema_problems(doc: Any) -> list[Problem]:
    """Every JSON Schema violation, sorted by path."""
    problems = []
    for error in _validator().iter_errors(doc):
        parts, message = _schema_message(error)
        problems.append((list(map(str, parts)), Problem(json_path(parts), message)))
    problems.sort(key=lambda item: item[0])
    seen: set[Problem] = set()
    unique = []
    for _, problem in problems:
        if problem not in seen:
            seen.add(problem)
            unique.append(problem)
    return unique


# --- semantic checks ------------------------------------------------------------------------------


def _same_id(a: str, b: str) -> bool:
    """Salesforce Ids compare on their 15-character case-sensitive form."""
    return a[:15] == b[:15]


def _lookup(known: Mapping[str, bool] | set[str] | frozenset[str], record_id: str) -> Any:
    """The known entry for an Id (15- or 18-character), or None."""
    if record_id in known:
        return known[record_id] if isinstance(known, Mapping) else True
    for candidate in known:
        if _same_id(candidate, record_id):
            return known[candidate] if isinstance(known, Mapping) else True
    return None


class _Checker:
    def __init__(
        self,
        policy: RoutingPolicy,
        known_users: Mapping[str, bool] | None,
        known_queues: set[str] | frozenset[str] | None,
    ) -> None:
        self.policy = policy
        self.known_users = known_users
        self.known_queues = known_queues
        self.problems: list[Problem] = []

    def add(self, path: str, message: str) -> None:
        self.problems.append(Problem(path, message))

    def run(self) -> list[Problem]:
        self.check_version()
        self.check_names()
        self.check_rules("segments")
        self.check_rules("regions")
        self.check_regions()
        self.check_pools()
        self.check_coverage()
        self.check_ids()
        self.check_enrichment()
        self.check_first_touch()
        return self.problems

    # -- version and names -------------------------------------------------------------------------

    def check_version(self) -> None:
        version = self.policy.policy_version
        # The schema's pattern already enforces semver; this guards documents built in code.
        core = version.split("+")[0].split("-")[0].split(".")
        if len(core) != 3 or not all(p.isdigit() for p in core):
            self.add("$.policy_version", f"{version!r} is not a semantic version (e.g. 1.0.0)")

    def check_names(self) -> None:
        policy = self.policy
        for dimension, items in (
            ("segments", policy.segments),
            ("regions", policy.regions),
            ("pools", policy.pools),
        ):
            first_seen: dict[str, int] = {}
            for i, item in enumerate(items):
                if item.name in first_seen:
                    self.add(
                        f"$.{dimension}[{i}].name",
                        f"duplicate name {item.name!r} (also {dimension}[{first_seen[item.name]}])",
                    )
                else:
                    first_seen[item.name] = i
        segment_names = {s.name for s in policy.segments}
        region_names = {r.name for r in policy.regions}
        if policy.default_segment not in segment_names:
            self.add(
                "$.default_segment",
                f"{policy.default_segment!r} is not a segment (segments: "
                f"{', '.join(sorted(segment_names))})",
            )
        if policy.default_region not in region_names:
            self.add(
                "$.default_region",
                f"{policy.default_region!r} is not a region (regions: "
                f"{', '.join(sorted(region_names))})",
            )
        for dimension, items in (("segments", policy.segments), ("regions", policy.regions)):
            for i, item in enumerate(items):
                seen: dict[str, int] = {}
                for r, rule in enumerate(item.rules):
                    if rule.name in seen:
                        self.add(
                            f"$.{dimension}[{i}].rules[{r}].name",
                            f"duplicate rule name {rule.name!r} in {item.name!r} "
                            f"(also rules[{seen[rule.name]}])",
                        )
                    seen.setdefault(rule.name, r)

    # -- rules -------------------------------------------------------------------------------------

    def check_rules(self, dimension: str) -> None:
        groups = self.policy.segments if dimension == "segments" else self.policy.regions
        flat = rule_logic.flatten(dimension, groups)
        always: rule_logic.FlatRule | None = None
        earlier: dict[str, rule_logic.FlatRule] = {}
        for item in flat:
            path = f"{item.path}.when"
            before = len(self.problems)
            self.check_condition(item.rule.when, path)
            if len(self.problems) > before:
                continue  # an ill-typed rule cannot be analysed further
            fingerprint = json.dumps(item.rule.when.model_dump(by_alias=True), sort_keys=True)
            if always is not None:
                self.add(
                    item.path,
                    f"rule {item.rule.name!r} can never match: rule {always.rule.name!r} at "
                    f"{always.path} matches every lead and comes first",
                )
            elif fingerprint in earlier:
                twin = earlier[fingerprint]
                self.add(
                    item.path,
                    f"rule {item.rule.name!r} can never match: rule {twin.rule.name!r} at "
                    f"{twin.path} has the same condition and comes first",
                )
            elif rule_logic.always_false(item.rule.when):
                self.add(
                    item.path,
                    f"rule {item.rule.name!r} can never match: {self.why_false(item.rule.when)}",
                )
            earlier.setdefault(fingerprint, item)
            if always is None and rule_logic.always_true(item.rule.when):
                always = item

    def why_false(self, condition: Condition) -> str:
        if isinstance(condition, AllCondition):
            reason = rule_logic.contradiction(condition)
            if reason:
                return reason
        return "its condition is false for every lead"

    def check_condition(self, condition: Condition, path: str) -> None:
        if isinstance(condition, AllCondition):
            for i, part in enumerate(condition.all):
                self.check_condition(part, f"{path}.all[{i}]")
        elif isinstance(condition, AnyCondition):
            for i, part in enumerate(condition.any):
                self.check_condition(part, f"{path}.any[{i}]")
        elif isinstance(condition, NotCondition):
            self.check_condition(condition.not_, f"{path}.not")
        else:
            self.check_leaf(condition, path)

    def check_leaf(self, leaf: FieldCondition, path: str) -> None:
        if rule_logic.field_type(leaf.field) is None:
            self.add(
                f"{path}.field",
                f"unknown Lead field {leaf.field!r}; rules can test: "
                f"{', '.join(sorted(rule_logic.LEAD_FIELD_TYPES))}",
            )
            return
        try:
            rule_logic.coerce_value(leaf.field, leaf.op, leaf.value)
        except rule_logic.RuleTypeError as error:
            self.add(f"{path}.value" if leaf.value is not None else path, str(error))
            return
        if isinstance(leaf.value, list) and len(set(map(repr, leaf.value))) < len(leaf.value):
            self.add(f"{path}.value", "lists the same value more than once")

    # -- regions -----------------------------------------------------------------------------------

    def check_regions(self) -> None:
        for i, region in enumerate(self.policy.regions):
            hours = region.business_hours
            base = f"$.regions[{i}].business_hours"
            try:
                ZoneInfo(hours.time_zone)
            except (ZoneInfoNotFoundError, ValueError):
                self.add(
                    f"{base}.time_zone",
                    f"{hours.time_zone!r} is not an IANA time zone (e.g. America/New_York, "
                    "Europe/Berlin, UTC)",
                )
            for day_index, day in enumerate(WEEKDAYS):
                intervals = hours.weekly.minutes(day_index)
                raw = getattr(hours.weekly, day)
                for n, (start, end) in enumerate(raw):
                    s, e = parse_hhmm(start), parse_hhmm(end)
                    if s >= e:
                        self.add(
                            f"{base}.weekly.{day}[{n}]",
                            f"opening {start} is not before closing {end}",
                        )
                for (_, end_a), (start_b, _) in pairwise(intervals):
                    if start_b < end_a:
                        self.add(f"{base}.weekly.{day}", "opening intervals overlap")
                        break
            if not any(getattr(hours.weekly, day) for day in WEEKDAYS):
                self.add(f"{base}.weekly", "no opening hours on any day")

    # -- pools -------------------------------------------------------------------------------------

    def check_pools(self) -> None:
        policy = self.policy
        segment_names = {s.name for s in policy.segments}
        region_names = {r.name for r in policy.regions}
        covered: dict[tuple[str, str], int] = {}
        for p, pool in enumerate(policy.pools):
            base = f"$.pools[{p}]"
            if pool.segment not in segment_names:
                self.add(f"{base}.segment", f"{pool.segment!r} is not a segment")
            if pool.region != WILDCARD_REGION and pool.region not in region_names:
                self.add(f"{base}.region", f'{pool.region!r} is not a region (nor "*")')
            key = (pool.segment, pool.region)
            if key in covered:
                self.add(
                    base,
                    f"pool {pool.name!r} covers segment {pool.segment!r} and region "
                    f"{pool.region!r}, like pools[{covered[key]}]: only the first would be used",
                )
            covered.setdefault(key, p)
            if not pool.members and pool.fallback is None:
                self.add(
                    f"{base}.members",
                    f"pool {pool.name!r} has no members and no fallback of its own: add members, "
                    "or a `fallback` to send its leads to a queue on purpose",
                )
            seen: dict[str, int] = {}
            for m, member in enumerate(pool.members):
                mpath = f"{base}.members[{m}]"
                if member.user_id in seen:
                    self.add(
                        f"{mpath}.user_id",
                        f"{member.user_id} is already members[{seen[member.user_id]}] of this pool",
                    )
                seen.setdefault(member.user_id, m)
                if not (member.weight > 0 and math.isfinite(member.weight)):
                    self.add(f"{mpath}.weight", f"weight must be > 0, got {member.weight}")
                if member.daily_cap is not None and member.daily_cap < 1:
                    self.add(f"{mpath}.daily_cap", f"must be at least 1, got {member.daily_cap}")
                if member.period_cap is not None:
                    for key_name in ("days", "max"):
                        value = getattr(member.period_cap, key_name)
                        if value < 1:
                            self.add(f"{mpath}.period_cap.{key_name}", f"must be >= 1, got {value}")
                for w, window in enumerate(member.out_of_office):
                    if window.end <= window.start:
                        self.add(
                            f"{mpath}.out_of_office[{w}]",
                            f"end {window.end.isoformat()} is not after start "
                            f"{window.start.isoformat()}",
                        )

    def check_coverage(self) -> None:
        policy = self.policy
        for segment in policy.segments:
            for region in policy.regions:
                if policy.pool_for(segment.name, region.name) is None:
                    self.add(
                        "$.pools",
                        f"no pool for segment {segment.name!r} and region {region.name!r}: add "
                        'one (region "*" covers every region without its own pool), or a pool '
                        "with no members and a `fallback` to send those leads to a queue",
                    )

    # -- Ids ---------------------------------------------------------------------------------------

    def check_ids(self) -> None:
        policy = self.policy
        intake = policy.intake_queues
        for i, queue_id in enumerate(intake):
            path = f"$.intake_queues[{i}]"
            if not queue_id.startswith(QUEUE_PREFIX):
                self.add(path, f"{queue_id} is not a queue Id (queue Ids start with 00G)")
            else:
                self.check_queue(path, queue_id)
        fallbacks = [("$.fallback.owner_id", policy.fallback.owner_id)] + [
            (f"$.pools[{p}].fallback.owner_id", pool.fallback.owner_id)
            for p, pool in enumerate(policy.pools)
            if pool.fallback is not None
        ]
        for path, owner_id in fallbacks:
            if any(_same_id(owner_id, q) for q in intake):
                self.add(
                    path,
                    f"{owner_id} is an intake queue: leads sent there would be routed again "
                    "forever; use a separate queue or a user",
                )
            elif owner_id.startswith(QUEUE_PREFIX):
                self.check_queue(path, owner_id)
            elif owner_id.startswith(USER_PREFIX):
                self.check_user(path, owner_id, must_be_active=True)
            else:
                self.add(path, f"{owner_id} is neither a User (005...) nor a queue (00G...) Id")
        for p, pool in enumerate(policy.pools):
            for m, member in enumerate(pool.members):
                path = f"$.pools[{p}].members[{m}].user_id"
                if not member.user_id.startswith(USER_PREFIX):
                    self.add(path, f"{member.user_id} is not a User Id (User Ids start with 005)")
                else:
                    # An inactive member is allowed: the engine skips them (and says so).
                    self.check_user(path, member.user_id, must_be_active=False)

    def check_queue(self, path: str, queue_id: str) -> None:
        if self.known_queues is not None and _lookup(self.known_queues, queue_id) is None:
            self.add(path, f"unknown queue {queue_id}: no Group of Type 'Queue' has this Id")

    def check_user(self, path: str, user_id: str, *, must_be_active: bool) -> None:
        if self.known_users is None:
            return
        active = _lookup(self.known_users, user_id)
        if active is None:
            self.add(path, f"unknown user {user_id}: no User has this Id")
        elif must_be_active and not active:
            self.add(path, f"user {user_id} is inactive: Salesforce refuses it as an owner")

    # -- enrichment and first touch ----------------------------------------------------------------

    def check_enrichment(self) -> None:
        wait = self.policy.enrichment_wait
        if wait is None:
            return
        for i, field in enumerate(wait.required_fields):
            if rule_logic.field_type(field) is None:
                self.add(f"$.enrichment_wait.required_fields[{i}]", f"unknown Lead field {field!r}")

    def check_first_touch(self) -> None:
        touch = self.policy.first_touch
        for i, user_id in enumerate(touch.excluded_user_ids):
            path = f"$.first_touch.excluded_user_ids[{i}]"
            if not user_id.startswith(USER_PREFIX):
                self.add(path, f"{user_id} is not a User Id (User Ids start with 005)")
            else:
                self.check_user(path, user_id, must_be_active=False)
        if touch.default_sla_minutes is None:
            for i, segment in enumerate(self.policy.segments):
                if segment.sla_minutes is None:
                    self.add(
                        f"$.segments[{i}]",
                        f"segment {segment.name!r} has no sla_minutes and first_touch has no "
                        "default_sla_minutes",
                    )


def _holiday_problems(doc: Any) -> list[Problem]:
    """Holidays that match the YYYY-MM-DD pattern but are not calendar dates (2026-02-30)."""
    problems = []
    for i, region in enumerate(doc.get("regions", [])):
        for h, text in enumerate(region.get("business_hours", {}).get("holidays", [])):
            try:
                date.fromisoformat(text)
            except ValueError:
                problems.append(
                    Problem(
                        f"$.regions[{i}].business_hours.holidays[{h}]",
                        f"{json.dumps(text)} is not a calendar date",
                    )
                )
    return problems


def semantic_problems(
    policy: RoutingPolicy,
    *,
    known_users: Mapping[str, bool] | None = None,
    known_queues: set[str] | frozenset[str] | None = None,
) -> list[Problem]:
    """Problems the schema cannot see: names, rules, coverage, Ids (against the warehouse when
    `known_users` {Id: IsActive} / `known_queues` are given), time zones, hours."""
    return _Checker(policy, known_users, known_queues).run()


def validate_document(
    data: bytes | str,
    *,
    known_users: Mapping[str, bool] | None = None,
    known_queues: set[str] | frozenset[str] | None = None,
) -> tuple[RoutingPolicy | None, list[Problem]]:
    """(policy, problems) for a policy document's text; the policy is None unless problems is
    empty."""
    doc, problems = parse_json(data)
    if doc is None:
        return None, problems
    problems += schema_problems(doc)
    if problems:
        return None, problems
    problems += _holiday_problems(doc)
    if problems:
        return None, problems
    try:
        policy = RoutingPolicy.model_validate(doc)
    except ValidationError as error:  # the schema and the models disagree: say where
        return None, [
            Problem(json_path(e["loc"]), f"{e['msg']} (model)")
            for e in error.errors(include_url=False)
        ]
    problems += semantic_problems(policy, known_users=known_users, known_queues=known_queues)
    return (None if problems else policy), problems

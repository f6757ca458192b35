"""The policy's condition language: evaluated in Python, compiled to DuckDB SQL, and analysed.

A condition is a field test `{"field": F, "op": OP, "value": V}` or `{"all": [...]}`,
`{"any": [...]}`, `{"not": {...}}`. Any Lead field of `ingest/objects.py` may be tested; the value's
type follows the field's (text, number, boolean, date-time as ISO text, date as YYYY-MM-DD).

Null semantics (the same in Python and SQL): a field test on a null field is false, whatever the
op, except `is_null`. So `{"field": "Country", "op": "!=", "value": "Japan"}` does not match a lead
without a Country, while `{"not": {"field": "Country", "op": "=", "value": "Japan"}}` does: `not`
negates a plain true/false, never an "unknown". In SQL every field test is wrapped in
`coalesce(..., false)` to get exactly that two-valued logic. `{"all": []}` is always true.

Segments and regions are chosen by ordered first-match rules: `flatten` lists a dimension's rules in
evaluation order, `first_match` evaluates them in Python and `case_sql` compiles them into one
`CASE WHEN ... THEN <index>` expression so DuckDB evaluates every lead in one query.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from salesops_dagster.ingest.objects import LEAD
from salesops_dagster.policy.models import (
    AllCondition,
    AnyCondition,
    Condition,
    FieldCondition,
    NotCondition,
    Region,
    Rule,
    Segment,
)
from salesops_dagster.warehouse.raw import quote

LEAD_FIELD_TYPES: dict[str, str] = dict(LEAD.fields)
"""Lead field API name -> type (`string`, `int`, `double`, `boolean`, `datetime`, `date`, ...)."""

NEVER_NULL_FIELDS = frozenset({"Id", "SystemModstamp", "IsDeleted", "IsConverted", "OwnerId"})
"""Lead fields Salesforce always fills, so `is_not_null` on them is always true."""

TEXT_TYPES = frozenset({"id", "reference", "string"})
NUMBER_TYPES = frozenset({"int", "double"})
ORDERED_OPS = frozenset({"<", "<=", ">", ">="})
NO_MATCH = -1
"""What `first_match` and the CASE expression give when no rule matches."""


class RuleTypeError(ValueError):
    """A field test whose value does not fit the field (caught by validation before routing)."""


# --- values ---------------------------------------------------------------------------------------


def field_type(field: str) -> str | None:
    return LEAD_FIELD_TYPES.get(field)


def coerce_value(field: str, op: str, value: Any) -> Any:
    """A rule value as the Python value the field holds (datetimes naive UTC, like the warehouse).

    Raises RuleTypeError when the value cannot be the field's type or the op does not apply to it.
    """
    kind = field_type(field)
    if kind is None:
        raise RuleTypeError(f"unknown Lead field {field!r}")
    if op in ("is_null", "is_not_null"):
        return None
    if op in ("in", "not_in"):
        if not isinstance(value, list):
            raise RuleTypeError(f"op {op!r} takes a list of values")
        return tuple(_coerce_scalar(field, kind, op, item) for item in value)
    if isinstance(value, list):
        raise RuleTypeError(f"op {op!r} takes a single value, not a list")
    if op in ("contains", "starts_with") and kind not in TEXT_TYPES:
        raise RuleTypeError(f"op {op!r} applies to text fields; {field} is {kind}")
    if op in ORDERED_OPS and kind == "boolean":
        raise RuleTypeError(f"op {op!r} does not apply to the boolean field {field}")
    return _coerce_scalar(field, kind, op, value)


def _coerce_scalar(field: str, kind: str, op: str, value: Any) -> Any:
    if kind in TEXT_TYPES:
        if not isinstance(value, str):
            raise RuleTypeError(f"{field} is a text field; {value!r} is not text")
        return value
    if kind in NUMBER_TYPES:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise RuleTypeError(f"{field} is a number field; {value!r} is not a number")
        if isinstance(value, float) and not math.isfinite(value):
            raise RuleTypeError(f"{field}: {value!r} is not a finite number")
        return value
    if kind == "boolean":
        if not isinstance(value, bool):
            raise RuleTypeError(f"{field} is a boolean field; {value!r} is not true or false")
        return value
    if kind == "datetime":
        if not isinstance(value, str):
            raise RuleTypeError(f"{field} is a date-time field; give an ISO date-time string")
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise RuleTypeError(
                f"{field} is a date-time field; {value!r} is not an ISO date-time "
                "(e.g. 2026-03-02T09:00:00Z)"
            ) from None
        return _naive_utc(parsed)
    if kind == "date":
        if not isinstance(value, str):
            raise RuleTypeError(f"{field} is a date field; give a YYYY-MM-DD string")
        try:
            return date.fromisoformat(value)
        except ValueError:
            raise RuleTypeError(f"{field} is a date field; {value!r} is not YYYY-MM-DD") from None
    raise RuleTypeError(f"{field}: unsupported field type {kind!r}")


def _naive_utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        return value
    return value.astimezone(UTC).replace(tzinfo=None)


def lead_value(record: Mapping[str, Any], field: str) -> Any:
    """A lead's field value as rules compare it (aware datetimes become naive UTC)."""
    value = record.get(field)
    if isinstance(value, datetime):
        return _naive_utc(value)
    return value


# --- Python evaluation ----------------------------------------------------------------------------

Predicate = Callable[[Mapping[str, Any]], bool]

_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "=": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
    "in": lambda a, b: a in b,
    "not_in": lambda a, b: a not in b,
    "contains": lambda a, b: b in a,
    "starts_with": lambda a, b: a.startswith(b),
}


def compile_python(condition: Condition) -> Predicate:
    """The condition as a Python predicate over a lead record ({field: value})."""
    if isinstance(condition, AllCondition):
        parts = [compile_python(c) for c in condition.all]
        return lambda lead: all(p(lead) for p in parts)
    if isinstance(condition, AnyCondition):
        parts = [compile_python(c) for c in condition.any]
        return lambda lead: any(p(lead) for p in parts)
    if isinstance(condition, NotCondition):
        inner = compile_python(condition.not_)
        return lambda lead: not inner(lead)
    return _leaf_predicate(condition)


def _leaf_predicate(leaf: FieldCondition) -> Predicate:
    field, op = leaf.field, leaf.op
    value = coerce_value(field, op, leaf.value)
    if op == "is_null":
        return lambda lead: lead_value(lead, field) is None
    if op == "is_not_null":
        return lambda lead: lead_value(lead, field) is not None
    compare = _COMPARE[op]

    def predicate(lead: Mapping[str, Any]) -> bool:
        actual = lead_value(lead, field)
        return actual is not None and compare(actual, value)

    return predicate


def evaluate(condition: Condition, lead: Mapping[str, Any]) -> bool:
    """Whether `lead` ({field: value}) satisfies `condition` (see the module's null semantics)."""
    return compile_python(condition)(lead)


# --- ordered first-match rules --------------------------------------------------------------------


@dataclass(frozen=True)
class FlatRule:
    """One rule of a dimension (segments or regions) in evaluation order."""

    index: int  # position in the dimension's evaluation order
    target: str  # the segment or region the rule selects
    rule: Rule
    path: str  # JSON path, e.g. $.segments[0].rules[1]


def flatten(dimension: str, groups: Sequence[Segment] | Sequence[Region]) -> list[FlatRule]:
    """The rules of `segments` or `regions` in the order they are tried."""
    out: list[FlatRule] = []
    for g, group in enumerate(groups):
        for r, rule in enumerate(group.rules):
            out.append(FlatRule(len(out), group.name, rule, f"$.{dimension}[{g}].rules[{r}]"))
    return out


def first_match_python(rules: Sequence[FlatRule]) -> Callable[[Mapping[str, Any]], int]:
    """A function giving the index of the first rule `lead` matches, or NO_MATCH."""
    compiled = [compile_python(flat.rule.when) for flat in rules]

    def first(lead: Mapping[str, Any]) -> int:
        for index, predicate in enumerate(compiled):
            if predicate(lead):
                return index
        return NO_MATCH

    return first


# --- SQL compilation ------------------------------------------------------------------------------


class SqlParams:
    """Collects bound parameters ($r0, $r1, ...) while conditions compile; values never enter SQL
    text."""

    def __init__(self, prefix: str = "r") -> None:
        self.prefix = prefix
        self.values: dict[str, Any] = {}

    def add(self, value: Any) -> str:
        name = f"{self.prefix}{len(self.values)}"
        self.values[name] = value
        return f"${name}"


_SQL_OPS = {"=": "=", "!=": "<>", "<": "<", "<=": "<=", ">": ">", ">=": ">="}


def condition_sql(condition: Condition, params: SqlParams, alias: str = "lead") -> str:
    """A boolean SQL expression (never NULL) over `alias`'s columns, equal to the Python
    evaluation."""
    if isinstance(condition, AllCondition):
        if not condition.all:
            return "true"
        return "(" + " AND ".join(condition_sql(c, params, alias) for c in condition.all) + ")"
    if isinstance(condition, AnyCondition):
        return "(" + " OR ".join(condition_sql(c, params, alias) for c in condition.any) + ")"
    if isinstance(condition, NotCondition):
        return f"(NOT {condition_sql(condition.not_, params, alias)})"
    return _leaf_sql(condition, params, alias)


def _leaf_sql(leaf: FieldCondition, params: SqlParams, alias: str) -> str:
    value = coerce_value(leaf.field, leaf.op, leaf.value)
    column = f"{alias}.{quote(leaf.field)}"
    op = leaf.op
    if op == "is_null":
        return f"({column} IS NULL)"
    if op == "is_not_null":
        return f"({column} IS NOT NULL)"
    if op in ("in", "not_in"):
        items = ", ".join(params.add(item) for item in value)
        negate = "NOT " if op == "not_in" else ""
        test = f"{column} {negate}IN ({items})"
    elif op == "contains":
        test = f"contains({column}, {params.add(value)})"
    elif op == "starts_with":
        test = f"starts_with({column}, {params.add(value)})"
    else:
        test = f"{column} {_SQL_OPS[op]} {params.add(value)}"
    # A NULL column makes the test NULL; the module's semantics want false.
    return f"coalesce({test}, false)"


def case_sql(rules: Sequence[FlatRule], params: SqlParams, alias: str = "lead") -> str:
    """`CASE WHEN <rule 0> THEN 0 WHEN <rule 1> THEN 1 ... ELSE -1 END`."""
    if not rules:
        return str(NO_MATCH)
    whens = "\n".join(
        f"    WHEN {condition_sql(flat.rule.when, params, alias)} THEN {flat.index}"
        for flat in rules
    )
    return f"CASE\n{whens}\n    ELSE {NO_MATCH}\nEND"


def referenced_fields(condition: Condition) -> set[str]:
    """The Lead fields a condition reads."""
    if isinstance(condition, AllCondition):
        return set().union(*(referenced_fields(c) for c in condition.all))
    if isinstance(condition, AnyCondition):
        return set().union(*(referenced_fields(c) for c in condition.any))
    if isinstance(condition, NotCondition):
        return referenced_fields(condition.not_)
    return {condition.field}


# --- static analysis (used by validation) ---------------------------------------------------------


def always_true(condition: Condition) -> bool:
    """True when the condition matches every lead (only shapes that are easy to prove)."""
    if isinstance(condition, AllCondition):
        return all(always_true(c) for c in condition.all)
    if isinstance(condition, AnyCondition):
        if any(always_true(c) for c in condition.any):
            return True
        # X or not X
        dumped = [c.model_dump(by_alias=True) for c in condition.any]
        return any({"not": d} in dumped for d in dumped)
    if isinstance(condition, NotCondition):
        return always_false(condition.not_)
    return condition.op == "is_not_null" and condition.field in NEVER_NULL_FIELDS


def always_false(condition: Condition) -> bool:
    """True when the condition can match no lead (only shapes that are easy to prove)."""
    if isinstance(condition, AllCondition):
        return any(always_false(c) for c in condition.all) or contradiction(condition) is not None
    if isinstance(condition, AnyCondition):
        return all(always_false(c) for c in condition.any)
    if isinstance(condition, NotCondition):
        return always_true(condition.not_)
    return condition.op == "is_null" and condition.field in NEVER_NULL_FIELDS


def _leaves_of_all(condition: AllCondition) -> list[FieldCondition]:
    """The field tests an `all` requires, nested `all`s included."""
    out: list[FieldCondition] = []
    for part in condition.all:
        if isinstance(part, AllCondition):
            out.extend(_leaves_of_all(part))
        elif isinstance(part, FieldCondition):
            out.append(part)
    return out


def contradiction(condition: AllCondition) -> str | None:
    """Why the field tests an `all` requires cannot hold together, or None.

    Covers a null test against a value test, and the value sets of =, in and the ordered
    comparisons on one field (e.g. NumberOfEmployees > 10 and NumberOfEmployees < 5).
    """
    by_field: dict[str, list[FieldCondition]] = {}
    for leaf in _leaves_of_all(condition):
        by_field.setdefault(leaf.field, []).append(leaf)
    for field, leaves in by_field.items():
        ops = {leaf.op for leaf in leaves}
        if "is_null" in ops and ops - {"is_null"}:
            other = next(leaf.op for leaf in leaves if leaf.op != "is_null")
            return f"{field} is_null and {field} {other} cannot both hold"
        try:
            reason = _range_contradiction(field, leaves)
        except (RuleTypeError, TypeError):
            continue  # mixed or ill-typed values: reported elsewhere
        if reason:
            return reason
    return None


def _range_contradiction(field: str, leaves: list[FieldCondition]) -> str | None:
    allowed: set[Any] | None = None  # from = and in
    lower: tuple[Any, bool] | None = None  # (bound, inclusive)
    upper: tuple[Any, bool] | None = None
    excluded: set[Any] = set()
    for leaf in leaves:
        value = coerce_value(field, leaf.op, leaf.value)
        if leaf.op in ("=", "in"):
            values = {value} if leaf.op == "=" else set(value)
            allowed = values if allowed is None else allowed & values
        elif leaf.op in ("!=", "not_in"):
            excluded |= {value} if leaf.op == "!=" else set(value)
        elif leaf.op in (">", ">="):
            bound = (value, leaf.op == ">=")
            if lower is None or bound[0] > lower[0] or (bound[0] == lower[0] and not bound[1]):
                lower = bound
        elif leaf.op in ("<", "<="):
            bound = (value, leaf.op == "<=")
            if upper is None or bound[0] < upper[0] or (bound[0] == upper[0] and not bound[1]):
                upper = bound

    def in_range(v: Any) -> bool:
        if lower is not None and (v < lower[0] or (v == lower[0] and not lower[1])):
            return False
        return not (upper is not None and (v > upper[0] or (v == upper[0] and not upper[1])))

    if allowed is not None:
        if not {v for v in allowed if v not in excluded and in_range(v)}:
            return f"no value of {field} satisfies every =, in, != and range test together"
        return None
    if lower is not None and upper is not None:
        (lo, lo_inclusive), (hi, hi_inclusive) = lower, upper
        if lo > hi or (lo == hi and not (lo_inclusive and hi_inclusive)):
            return f"{field} cannot be both {'>=' if lo_inclusive else '>'} {lo!r} and " + (
                f"{'<=' if hi_inclusive else '<'} {hi!r}"
            )
    return None

"""The condition language: every op, null semantics, combinators; SQL agrees with Python."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter

from salesops_dagster.policy.models import Condition
from salesops_dagster.routing import rules

CONDITION = TypeAdapter(Condition)

LEAD = {
    "Id": "00Q000000000001AAA",
    "Country": "United States",
    "State": None,
    "NumberOfEmployees": 1200,
    "AnnualRevenue": 2.5e7,
    "IsConverted": False,
    "CreatedDate": datetime(2026, 11, 2, 9, 30),
    "ConvertedDate": None,
}


def cond(value: dict[str, Any]) -> Condition:
    return CONDITION.validate_python(value)


def leaf(field: str, op: str, value: Any = None) -> dict[str, Any]:
    out: dict[str, Any] = {"field": field, "op": op}
    if op not in ("is_null", "is_not_null"):
        out["value"] = value
    return out


CASES = [
    # (condition, expected on LEAD)
    (leaf("Country", "=", "United States"), True),
    (leaf("Country", "=", "united states"), False),  # case-sensitive, like DuckDB
    (leaf("Country", "!=", "Canada"), True),
    (leaf("NumberOfEmployees", "<", 1200), False),
    (leaf("NumberOfEmployees", "<=", 1200), True),
    (leaf("NumberOfEmployees", ">", 1199.5), True),
    (leaf("NumberOfEmployees", ">=", 1201), False),
    (leaf("AnnualRevenue", ">=", 25_000_000), True),
    (leaf("Country", "in", ["Canada", "United States"]), True),
    (leaf("Country", "not_in", ["Canada", "United States"]), False),
    (leaf("Country", "contains", "State"), True),
    (leaf("Country", "starts_with", "United"), True),
    (leaf("Country", "starts_with", "States"), False),
    (leaf("IsConverted", "=", False), True),
    (leaf("CreatedDate", ">=", "2026-11-02T09:30:00Z"), True),
    (leaf("CreatedDate", "<", "2026-11-02T10:00:00+01:00"), False),  # 09:00 UTC
    (leaf("Country", "is_not_null"), True),
    (leaf("Country", "is_null"), False),
    # null semantics: any value test on a null field is false, `not` makes it true
    (leaf("State", "=", "NY"), False),
    (leaf("State", "!=", "NY"), False),
    (leaf("State", "not_in", ["NY"]), False),
    (leaf("State", "contains", ""), False),
    (leaf("State", "is_null"), True),
    (leaf("ConvertedDate", "<", "2030-01-01"), False),
    ({"not": leaf("State", "=", "NY")}, True),
    ({"not": leaf("State", "!=", "NY")}, True),
    # combinators
    ({"all": []}, True),
    ({"all": [leaf("Country", "=", "United States"), leaf("State", "is_null")]}, True),
    ({"all": [leaf("Country", "=", "United States"), leaf("State", "=", "NY")]}, False),
    ({"any": [leaf("State", "=", "NY"), leaf("NumberOfEmployees", ">", 1000)]}, True),
    ({"any": [leaf("State", "=", "NY"), leaf("NumberOfEmployees", ">", 5000)]}, False),
    ({"not": {"any": [leaf("State", "=", "NY"), leaf("IsConverted", "=", True)]}}, True),
]


@pytest.fixture(scope="module")
def con() -> duckdb.DuckDBPyConnection:
    connection = duckdb.connect()
    yield connection
    connection.close()


def sql_eval(con: duckdb.DuckDBPyConnection, condition: Condition, lead: dict[str, Any]) -> Any:
    params = rules.SqlParams()
    expression = rules.condition_sql(condition, params, alias="lead")
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE lead (
            "Id" VARCHAR, "Country" VARCHAR, "State" VARCHAR, "NumberOfEmployees" BIGINT,
            "AnnualRevenue" DOUBLE, "IsConverted" BOOLEAN, "CreatedDate" TIMESTAMP,
            "ConvertedDate" DATE
        )
        """
    )
    con.execute(
        "INSERT INTO lead VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [lead.get(k) for k in COLUMNS],
    )
    return con.execute(f"SELECT {expression} FROM lead", params.values).fetchone()[0]  # noqa: S608


COLUMNS = (
    "Id",
    "Country",
    "State",
    "NumberOfEmployees",
    "AnnualRevenue",
    "IsConverted",
    "CreatedDate",
    "ConvertedDate",
)


@pytest.mark.parametrize(("condition", "expected"), CASES)
def test_ops_and_null_semantics(con, condition: dict[str, Any], expected: bool) -> None:
    parsed = cond(condition)
    assert rules.evaluate(parsed, LEAD) is expected
    assert sql_eval(con, parsed, LEAD) is expected  # never NULL: always a plain boolean


def test_aware_lead_datetimes_compare_as_utc() -> None:
    from datetime import UTC, timedelta, timezone

    aware = {
        **LEAD,
        "CreatedDate": datetime(2026, 11, 2, 10, 30, tzinfo=timezone(timedelta(hours=1))),
    }
    assert rules.evaluate(cond(leaf("CreatedDate", "=", "2026-11-02T09:30:00Z")), aware)
    assert aware["CreatedDate"].astimezone(UTC).hour == 9


def test_first_match_order_and_case_sql(con) -> None:
    from salesops_dagster.policy.models import Segment

    segments = [
        Segment(
            name="big", rules=[{"name": "1000+", "when": leaf("NumberOfEmployees", ">=", 1000)}]
        ),
        Segment(
            name="us",
            rules=[
                {"name": "us", "when": leaf("Country", "=", "United States")},
                {"name": "ny", "when": leaf("State", "=", "NY")},
            ],
        ),
        Segment(name="default", rules=[]),
    ]
    flat = rules.flatten("segments", segments)
    assert [(f.index, f.target, f.path) for f in flat] == [
        (0, "big", "$.segments[0].rules[0]"),
        (1, "us", "$.segments[1].rules[0]"),
        (2, "us", "$.segments[1].rules[1]"),
    ]
    first = rules.first_match_python(flat)
    leads = [
        LEAD,
        {**LEAD, "NumberOfEmployees": 10},
        {**LEAD, "NumberOfEmployees": None, "Country": None, "State": "NY"},
        {**LEAD, "NumberOfEmployees": None, "Country": "Japan"},
    ]
    assert [first(lead) for lead in leads] == [0, 1, 2, rules.NO_MATCH]
    params = rules.SqlParams()
    case = rules.case_sql(flat, params)
    for lead in leads:
        sql_eval(con, cond({"all": []}), lead)  # (re)creates the one-row table
        got = con.execute(f"SELECT {case} FROM lead", params.values).fetchone()[0]  # noqa: S608
        assert got == first(lead)
    assert rules.case_sql([], rules.SqlParams()) == "-1"


def test_values_never_enter_the_sql_text() -> None:
    params = rules.SqlParams()
    sql = rules.condition_sql(cond(leaf("Country", "=", "x'); DROP TABLE lead; --")), params)
    assert "DROP" not in sql
    assert list(params.values.values()) == ["x'); DROP TABLE lead; --"]


def test_static_analysis() -> None:
    assert rules.always_true(cond({"all": []}))
    assert rules.always_true(cond(leaf("Id", "is_not_null")))
    assert rules.always_true(
        cond({"any": [leaf("Country", "=", "a"), {"not": leaf("Country", "=", "a")}]})
    )
    assert not rules.always_true(cond(leaf("Country", "is_not_null")))
    assert rules.always_false(cond({"not": {"all": []}}))
    assert rules.always_false(cond(leaf("OwnerId", "is_null")))
    contradictory = cond(
        {
            "all": [
                leaf("NumberOfEmployees", ">=", 10),
                {"all": [leaf("NumberOfEmployees", "<", 10)]},
            ]
        }
    )
    assert rules.always_false(contradictory)
    assert rules.contradiction(
        cond({"all": [leaf("Country", "=", "a"), leaf("Country", "=", "b")]})
    )
    assert rules.contradiction(
        cond({"all": [leaf("Country", "in", ["a", "b"]), leaf("Country", "not_in", ["a", "b"])]})
    )
    assert (
        rules.contradiction(
            cond(
                {"all": [leaf("NumberOfEmployees", ">=", 10), leaf("NumberOfEmployees", "<=", 10)]}
            )
        )
        is None
    )
    assert rules.contradiction(
        cond({"all": [leaf("NumberOfEmployees", ">", 10), leaf("NumberOfEmployees", "<=", 10)]})
    )


# --- SQL == Python on random conditions and leads -------------------------------------------------

TEXTS = st.sampled_from(["", "a", "ab", "b", "Ab", "é", "a b", "zz", "United States"])
INTS = st.integers(min_value=-5, max_value=5)
FLOATS = st.one_of(INTS.map(float), st.sampled_from([-0.0, 0.5, 2.5, -1.25]))
DATETIMES = st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2026, 1, 3)).map(
    lambda d: d.replace(second=0, microsecond=0, minute=d.minute - d.minute % 30)
)
DATES = st.dates(min_value=date(2026, 1, 1), max_value=date(2026, 1, 5))

FIELD_VALUES: dict[str, st.SearchStrategy] = {
    "Country": TEXTS,
    "State": TEXTS,
    "NumberOfEmployees": INTS,
    "AnnualRevenue": FLOATS,
    "IsConverted": st.booleans(),
    "CreatedDate": DATETIMES,
    "ConvertedDate": DATES,
}
NUMBER_VALUES = st.one_of(INTS, FLOATS)


def _rule_value(field: str) -> st.SearchStrategy:
    """A JSON rule value for a field (numbers may be int or float for either numeric field)."""
    if field in ("NumberOfEmployees", "AnnualRevenue"):
        return NUMBER_VALUES
    if field == "CreatedDate":
        return DATETIMES.map(lambda d: d.isoformat() + "Z")
    if field == "ConvertedDate":
        return DATES.map(date.isoformat)
    return FIELD_VALUES[field]


@st.composite
def leaves(draw) -> dict[str, Any]:
    field = draw(st.sampled_from(sorted(FIELD_VALUES)))
    kind = rules.field_type(field)
    ops = ["=", "!=", "in", "not_in", "is_null", "is_not_null"]
    if kind != "boolean":
        ops += ["<", "<=", ">", ">="]
    if kind == "string":
        ops += ["contains", "starts_with"]
    op = draw(st.sampled_from(ops))
    if op in ("is_null", "is_not_null"):
        return leaf(field, op)
    if op in ("in", "not_in"):
        return leaf(field, op, draw(st.lists(_rule_value(field), min_size=1, max_size=3)))
    return leaf(field, op, draw(_rule_value(field)))


CONDITIONS = st.recursive(
    leaves(),
    lambda children: st.one_of(
        st.lists(children, max_size=3).map(lambda xs: {"all": xs}),
        st.lists(children, min_size=1, max_size=3).map(lambda xs: {"any": xs}),
        children.map(lambda x: {"not": x}),
    ),
    max_leaves=6,
)


@st.composite
def leads(draw) -> dict[str, Any]:
    lead = {"Id": "00Q000000000001AAA"}
    for field, values in FIELD_VALUES.items():
        lead[field] = draw(st.one_of(st.none(), values))
    return lead


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(condition=CONDITIONS, lead=leads())
def test_sql_agrees_with_python(con, condition: dict[str, Any], lead: dict[str, Any]) -> None:
    parsed = cond(condition)
    expected = rules.evaluate(parsed, lead)
    assert sql_eval(con, parsed, lead) is expected, (condition, lead)

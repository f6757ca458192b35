"""The dev org's SOQL engine, checked against DuckDB as an independent oracle.

The same handmade Lead records are loaded into DuckDB and every SOQL query is paired with SQL
written to mean the same thing. SOQL's null rules differ from SQL's, so the SQL spells them out:
every leaf is made two-valued with COALESCE (`!=` and NOT IN true for null, ordering comparisons
and LIKE false), text compares through upper(), empty text is loaded as NULL, a null boolean is
false, Ids compare on their first 15 characters, and dateTime literals are handed to DuckDB
verbatim so it does the time zone arithmetic itself.
"""

# The SQL here is the oracle's, built from this file's own literals (S608 would flag each query).
# ruff: noqa: S608

from __future__ import annotations

import gc
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from salesops_dagster.devorg.ids import make_id
from salesops_dagster.devorg.schema import OrgSchema
from salesops_dagster.devorg.soql import (
    INVALID_FIELD,
    INVALID_TYPE,
    MALFORMED_QUERY,
    Query,
    SoqlError,
    execute,
    match,
    parse,
    project,
    query_fields_used,
)

SCHEMA = OrgSchema.load()

# Lead columns mirrored in DuckDB, with the SQL expression that loads each value.
COLUMNS = {
    "Id": ("VARCHAR", "?"),
    "IsDeleted": ("BOOLEAN", "?"),
    "FirstName": ("VARCHAR", "NULLIF(?, '')"),
    "LastName": ("VARCHAR", "NULLIF(?, '')"),
    "Company": ("VARCHAR", "NULLIF(?, '')"),
    "Email": ("VARCHAR", "NULLIF(?, '')"),
    "Status": ("VARCHAR", "NULLIF(?, '')"),
    "Industry": ("VARCHAR", "NULLIF(?, '')"),
    "NumberOfEmployees": ("BIGINT", "?"),
    "AnnualRevenue": ("DOUBLE", "?"),
    "OwnerId": ("VARCHAR", "?"),
    "IsConverted": ("BOOLEAN", "?"),
    "ConvertedDate": ("DATE", "CAST(? AS DATE)"),
    "CreatedDate": ("TIMESTAMPTZ", "CAST(? AS TIMESTAMPTZ)"),
    "SystemModstamp": ("TIMESTAMPTZ", "CAST(? AS TIMESTAMPTZ)"),
}

NAMES = [
    "O'Brien",
    "back\\slash",
    "100% sure",
    "under_score",
    "underXscore",
    "Émile",
    "smith",
    "SMITH",
    "Smith",
    "Smithers",
    "tab\there",
    'quote"d',
    "line\nbreak",
    "",
    None,
]
COMPANIES = ["Acme", "acme", "Globex", "Initech", "Umbrella", "Zeta", "", None]
STATUSES = ["Open", "Working", "Nurturing", "Closed", None]
EMPLOYEES = [None, 0, 1, 50, 100, 101, 999, 1000, 5000, -3]
REVENUES = [None, 0.0, 0.5, 1000.5, 250000.0, 1e6, 12345.25]
OWNERS = [make_id("005", n) for n in range(1, 5)] + [None]
BASE = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
TIMESTAMP_OFFSETS_MS = [0, 1, -1, 3_600_000, -3_600_000, 60_000, 86_400_000, -86_400_000 * 40]


def stored_datetime(moment: datetime) -> str:
    return (
        moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.")
        + f"{moment.microsecond // 1000:03d}+0000"
    )


def build_records() -> list[dict[str, Any]]:
    rng = random.Random(20261102)
    records = []
    for i in range(320):
        modstamp = BASE + timedelta(milliseconds=rng.choice(TIMESTAMP_OFFSETS_MS))
        modstamp += timedelta(minutes=rng.randint(-3, 3) * 37)
        record = {
            "Id": make_id("00Q", 5000 + i * 7919),
            "IsDeleted": i % 13 == 0,
            "FirstName": rng.choice(NAMES),
            "LastName": NAMES[i % len(NAMES)],
            "Company": rng.choice(COMPANIES),
            "Email": None if i % 5 == 0 else f"person{i}@example.com",
            "Status": rng.choice(STATUSES),
            "Industry": rng.choice(["Tech", "Retail", None]),
            "NumberOfEmployees": rng.choice(EMPLOYEES),
            "AnnualRevenue": rng.choice(REVENUES),
            "OwnerId": rng.choice(OWNERS),
            "IsConverted": rng.choice([True, False, None]),
            "ConvertedDate": rng.choice([None, "2026-03-01", "2026-02-28", "2025-12-31"]),
            "CreatedDate": None if i % 7 == 0 else stored_datetime(modstamp - timedelta(days=3)),
            "SystemModstamp": stored_datetime(modstamp),
        }
        if i % 11 == 0:
            del record["Industry"]  # a missing key is null
        records.append(record)
    return records


RECORDS = build_records()
BY_ID = {r["Id"]: r for r in RECORDS}
ALIVE = [r for r in RECORDS if not r["IsDeleted"]]
ID0 = RECORDS[1]["Id"]
OWNER0 = OWNERS[0]


@pytest.fixture(scope="module")
def db() -> Iterator[duckdb.DuckDBPyConnection]:
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    columns = ", ".join(f"{name} {sql_type}" for name, (sql_type, _) in COLUMNS.items())
    con.execute(f"CREATE TABLE lead ({columns}, ord INTEGER)")
    loaders = ", ".join(loader for _, loader in COLUMNS.values())
    rows = [[r.get(name) for name in COLUMNS] + [i] for i, r in enumerate(RECORDS)]
    con.executemany(f"INSERT INTO lead VALUES ({loaders}, ?)", rows)
    yield con
    con.close()


def soql_ids(text: str, include_deleted: bool = False) -> list[str]:
    return [r["Id"] for r in execute(parse(text, SCHEMA), RECORDS, include_deleted)]


def sql_ids(
    con: duckdb.DuckDBPyConnection,
    where: str = "TRUE",
    order: str = "",
    limit: int | None = None,
    include_deleted: bool = False,
) -> list[str]:
    alive = "" if include_deleted else "AND NOT IsDeleted"
    order_by = f"{order}, ord" if order else "ord"
    limit_clause = "" if limit is None else f"LIMIT {limit}"
    sql = f"SELECT Id FROM lead WHERE ({where}) {alive} ORDER BY {order_by} {limit_clause}"
    return [row[0] for row in con.execute(sql).fetchall()]


def soql_error(text: str) -> SoqlError:
    with pytest.raises(SoqlError) as caught:
        parse(text, SCHEMA)
    return caught.value


# --- WHERE: every operator and type against DuckDB --------------------------------------------

WHERE_CASES = [
    # text: case-insensitive, != and NOT IN include nulls, ordering and LIKE never match null
    ("LastName = 'smith'", "upper(LastName) = 'SMITH'"),
    ("LastName != 'smith'", "LastName IS NULL OR upper(LastName) <> 'SMITH'"),
    ("LastName <> 'SMITH'", "LastName IS NULL OR upper(LastName) <> 'SMITH'"),
    ("Company < 'h'", "upper(Company) < 'H'"),
    ("Company <= 'Globex'", "upper(Company) <= 'GLOBEX'"),
    ("Company > 'globex'", "upper(Company) > 'GLOBEX'"),
    ("Company >= 'INITECH'", "upper(Company) >= 'INITECH'"),
    ("Status IN ('open', 'WORKING')", "upper(Status) IN ('OPEN', 'WORKING')"),
    (
        "Status NOT IN ('open', 'closed')",
        "Status IS NULL OR upper(Status) NOT IN ('OPEN', 'CLOSED')",
    ),
    ("Status IN ('Open', null)", "Status IS NULL OR upper(Status) = 'OPEN'"),
    ("Status NOT IN (null, 'Open')", "Status IS NOT NULL AND upper(Status) <> 'OPEN'"),
    ("Email = null", "Email IS NULL"),
    ("Email != null", "Email IS NOT NULL"),
    ("Company = ''", "Company IS NULL"),
    ("Company != ''", "Company IS NOT NULL"),
    ("Industry = null", "Industry IS NULL"),
    # string literals and escapes
    (r"LastName = 'O\'Brien'", "LastName = 'O''Brien'"),
    (r"LastName = 'back\\slash'", "LastName = 'back\\slash'"),
    (r"LastName = 'tab\there'", "LastName = 'tab' || chr(9) || 'here'"),
    (r"LastName = 'line\nbreak'", "LastName = 'line' || chr(10) || 'break'"),
    (r"LastName = 'quote\"d'", "LastName = 'quote\"d'"),
    (r"LastName = '\u00c9MILE'", "LastName = 'Émile'"),
    ("LastName = 'émile'", "LastName = 'Émile'"),
    # LIKE: % and _ wildcards, \% and \_ escapes, case-insensitive
    ("LastName LIKE 'sm%'", "LastName ILIKE 'sm%'"),
    ("LastName LIKE '%TH'", "LastName ILIKE '%th'"),
    ("LastName LIKE '_mith'", "LastName ILIKE '_mith'"),
    ("LastName LIKE 'under_score'", "LastName ILIKE 'under_score'"),
    (r"LastName LIKE 'under\_score'", r"LastName ILIKE 'under\_score' ESCAPE '\'"),
    (r"LastName LIKE '%\%%'", r"LastName ILIKE '%\%%' ESCAPE '\'"),
    (r"LastName LIKE '%\\%'", r"LastName ILIKE '%\\%' ESCAPE '\'"),
    (r"LastName LIKE 'o\'%'", "LastName ILIKE 'o''%'"),
    ("LastName LIKE 'line%'", "LastName ILIKE 'line%'"),
    ("LastName LIKE '%'", "LastName IS NOT NULL"),
    # numbers
    ("NumberOfEmployees = 50", "NumberOfEmployees = 50"),
    ("NumberOfEmployees != 50", "NumberOfEmployees IS NULL OR NumberOfEmployees <> 50"),
    ("NumberOfEmployees < 100", "NumberOfEmployees < 100"),
    ("NumberOfEmployees <= 100", "NumberOfEmployees <= 100"),
    ("NumberOfEmployees > 999", "NumberOfEmployees > 999"),
    ("NumberOfEmployees >= 999", "NumberOfEmployees >= 999"),
    ("NumberOfEmployees > -1", "NumberOfEmployees > -1"),
    ("NumberOfEmployees < -2.5", "NumberOfEmployees < -2.5"),
    ("NumberOfEmployees >= +100", "NumberOfEmployees >= 100"),
    ("NumberOfEmployees = 100.0", "NumberOfEmployees = 100"),
    ("NumberOfEmployees IN (0, 1, 5000)", "NumberOfEmployees IN (0, 1, 5000)"),
    (
        "NumberOfEmployees NOT IN (0, 1)",
        "NumberOfEmployees IS NULL OR NumberOfEmployees NOT IN (0, 1)",
    ),
    ("NumberOfEmployees = null", "NumberOfEmployees IS NULL"),
    ("AnnualRevenue = 1000.5", "AnnualRevenue = 1000.5"),
    ("AnnualRevenue > 0.5", "AnnualRevenue > 0.5"),
    ("AnnualRevenue <= 12345.25", "AnnualRevenue <= 12345.25"),
    ("AnnualRevenue != 0", "AnnualRevenue IS NULL OR AnnualRevenue <> 0"),
    ("AnnualRevenue = 1000000", "AnnualRevenue = 1000000"),
    # booleans: null is false
    ("IsConverted = true", "COALESCE(IsConverted, FALSE)"),
    ("IsConverted = FALSE", "NOT COALESCE(IsConverted, FALSE)"),
    ("IsConverted = null", "NOT COALESCE(IsConverted, FALSE)"),
    ("IsConverted != null", "COALESCE(IsConverted, FALSE)"),
    ("IsConverted != True", "NOT COALESCE(IsConverted, FALSE)"),
    ("IsConverted IN (false)", "NOT COALESCE(IsConverted, FALSE)"),
    ("IsConverted NOT IN (FALSE)", "COALESCE(IsConverted, FALSE)"),
    # dates
    ("ConvertedDate = 2026-03-01", "ConvertedDate = DATE '2026-03-01'"),
    ("ConvertedDate != 2026-03-01", "ConvertedDate IS NULL OR ConvertedDate <> DATE '2026-03-01'"),
    ("ConvertedDate < 2026-03-01", "ConvertedDate < DATE '2026-03-01'"),
    ("ConvertedDate >= 2026-02-28", "ConvertedDate >= DATE '2026-02-28'"),
    ("ConvertedDate IN (2025-12-31, 2026-02-28)", "ConvertedDate IN ('2025-12-31', '2026-02-28')"),
    ("ConvertedDate = null", "ConvertedDate IS NULL"),
    # dateTimes in every literal form, compared across time zones
    (
        "SystemModstamp = 2026-11-02T09:00:00Z",
        "SystemModstamp = TIMESTAMPTZ '2026-11-02 09:00:00+00'",
    ),
    (
        "SystemModstamp = 2026-11-02T10:00:00+01:00",
        "SystemModstamp = TIMESTAMPTZ '2026-11-02T10:00:00+01:00'",
    ),
    (
        "SystemModstamp = 2026-11-02T01:00:00-08:00",
        "SystemModstamp = TIMESTAMPTZ '2026-11-02T01:00:00-08:00'",
    ),
    (
        "SystemModstamp = 2026-11-02T09:00:00.001Z",
        "SystemModstamp = TIMESTAMPTZ '2026-11-02T09:00:00.001Z'",
    ),
    (
        "SystemModstamp > 2026-11-02T09:00:00.000Z",
        "SystemModstamp > TIMESTAMPTZ '2026-11-02T09:00:00Z'",
    ),
    (
        "SystemModstamp >= 2026-11-02T10:00:00+01:00",
        "SystemModstamp >= TIMESTAMPTZ '2026-11-02T09:00:00Z'",
    ),
    (
        "SystemModstamp < 2026-11-01T23:00:00-10:00",
        "SystemModstamp < TIMESTAMPTZ '2026-11-02T09:00:00Z'",
    ),
    (
        "SystemModstamp <= 2026-11-02T14:30:00.5+05:30",
        "SystemModstamp <= TIMESTAMPTZ '2026-11-02T09:00:00.5Z'",
    ),
    (
        "CreatedDate != 2026-10-30T09:00:00Z",
        "CreatedDate IS NULL OR CreatedDate <> TIMESTAMPTZ '2026-10-30T09:00:00Z'",
    ),
    ("CreatedDate = null", "CreatedDate IS NULL"),
    (
        "SystemModstamp IN (2026-11-02T09:00:00Z, 2026-11-02T11:00:00.001+01:00)",
        "SystemModstamp IN ('2026-11-02 09:00:00+00', '2026-11-02 10:00:00.001+00')",
    ),
    (
        "SystemModstamp >= 2026-11-02T10:00:00+01:00"
        " AND SystemModstamp < 2026-11-02T02:00:00-08:00",
        "SystemModstamp >= '2026-11-02 09:00:00+00' AND SystemModstamp < '2026-11-02 10:00:00+00'",
    ),
    # Ids: 15 or 18 characters; an 18-character literal in the wrong case still finds the record
    (f"Id = '{ID0[:15]}'", f"Id = '{ID0}'"),
    (f"Id = '{ID0}'", f"Id = '{ID0}'"),
    (f"Id = '{ID0.lower()}'", f"Id = '{ID0}'"),
    (f"Id = '{ID0.upper()}'", f"Id = '{ID0}'"),
    (f"Id != '{ID0[:15]}'", f"Id <> '{ID0}'"),
    (f"Id IN ('{ID0[:15]}', '{RECORDS[2]['Id']}')", f"Id IN ('{ID0}', '{RECORDS[2]['Id']}')"),
    (f"OwnerId = '{OWNER0[:15]}'", f"OwnerId = '{OWNER0}'"),
    (f"OwnerId != '{OWNER0}'", f"OwnerId IS NULL OR OwnerId <> '{OWNER0}'"),
    (f"OwnerId NOT IN ('{OWNER0[:15]}')", f"OwnerId IS NULL OR OwnerId <> '{OWNER0}'"),
    ("OwnerId = null", "OwnerId IS NULL"),
    (f"Id < '{RECORDS[100]['Id'][:15]}'", f"Id < '{RECORDS[100]['Id']}'"),
    (f"Id >= '{RECORDS[100]['Id']}'", f"Id >= '{RECORDS[100]['Id']}'"),
    # AND / OR / NOT nesting, two-valued as in SOQL
    (
        "Status = 'Open' AND NumberOfEmployees > 50",
        "upper(Status) = 'OPEN' AND NumberOfEmployees > 50",
    ),
    (
        "Status = 'Open' OR NumberOfEmployees > 999",
        "upper(Status) = 'OPEN' OR NumberOfEmployees > 999",
    ),
    (
        "Status = 'Open' AND IsConverted = false AND Company LIKE 'a%'",
        "upper(Status) = 'OPEN' AND NOT COALESCE(IsConverted, FALSE) AND Company ILIKE 'a%'",
    ),
    ("NOT Status = 'Open'", "Status IS NULL OR upper(Status) <> 'OPEN'"),
    ("NOT NumberOfEmployees < 100", "NOT COALESCE(NumberOfEmployees < 100, FALSE)"),
    ("NOT Email = null", "Email IS NOT NULL"),
    ("NOT LastName LIKE 'sm%'", "NOT COALESCE(LastName ILIKE 'sm%', FALSE)"),
    (
        "NOT (Status = 'Open' OR Status = 'Working')",
        "NOT COALESCE(upper(Status) IN ('OPEN', 'WORKING'), FALSE)",
    ),
    (
        "(Status = 'Open' OR Status = 'Closed') AND NumberOfEmployees >= 100",
        "upper(Status) IN ('OPEN', 'CLOSED') AND NumberOfEmployees >= 100",
    ),
    (
        "Company = 'acme'"
        " OR (NumberOfEmployees > 100 AND NOT (IsConverted = true OR Email = null))",
        "upper(Company) = 'ACME' OR (NumberOfEmployees > 100"
        " AND NOT (COALESCE(IsConverted, FALSE) OR Email IS NULL))",
    ),
    (
        "((((LastName = 'smith'))))",
        "upper(LastName) = 'SMITH'",
    ),
    (
        "NOT (NOT (AnnualRevenue > 1000.5)) AND (NOT Status != 'open')",
        "AnnualRevenue > 1000.5 AND upper(Status) = 'OPEN'",
    ),
    # keywords and names in any case, any whitespace
    (
        "status = 'OPEN' and NOT isconverted = TRUE",
        "upper(Status) = 'OPEN' AND NOT COALESCE(IsConverted, FALSE)",
    ),
    ("\n\tSTATUS\tin\n('open')  oR  email = NULL", "upper(Status) = 'OPEN' OR Email IS NULL"),
]


@pytest.mark.parametrize(("soql_where", "sql_where"), WHERE_CASES)
def test_where_matches_duckdb(
    db: duckdb.DuckDBPyConnection, soql_where: str, sql_where: str
) -> None:
    expected = sql_ids(db, sql_where)
    assert expected, "every case must select something"
    assert soql_ids(f"SELECT Id FROM Lead WHERE {soql_where}") == expected


@pytest.mark.parametrize(("soql_where", "sql_where"), WHERE_CASES[:12])
def test_query_all_keeps_deleted_records(
    db: duckdb.DuckDBPyConnection, soql_where: str, sql_where: str
) -> None:
    text = f"SELECT Id FROM Lead WHERE {soql_where}"
    assert soql_ids(text, include_deleted=True) == sql_ids(db, sql_where, include_deleted=True)


def test_include_deleted() -> None:
    everything = soql_ids("SELECT Id FROM Lead", include_deleted=True)
    alive = soql_ids("SELECT Id FROM Lead")
    assert everything == [r["Id"] for r in RECORDS]
    assert alive == [r["Id"] for r in ALIVE]
    assert 0 < len(alive) < len(everything)
    deleted = soql_ids("SELECT Id FROM Lead WHERE IsDeleted = true", include_deleted=True)
    assert deleted == [r["Id"] for r in RECORDS if r["IsDeleted"]]
    assert soql_ids("SELECT Id FROM Lead WHERE IsDeleted = true") == []


def test_objects_without_is_deleted_are_never_dropped() -> None:
    users = [{"Id": make_id("005", n), "Name": f"User {n}"} for n in range(1, 4)]
    assert execute(parse("SELECT Name FROM User", SCHEMA), users) == [
        {"Name": "User 1"},
        {"Name": "User 2"},
        {"Name": "User 3"},
    ]


def test_text_edge_cases_by_hand() -> None:
    records = [
        {"Id": make_id("00Q", 1), "LastName": "Ter%"},
        {"Id": make_id("00Q", 2), "LastName": "Terry"},
        {"Id": make_id("00Q", 3), "LastName": "Ter%ance"},
        {"Id": make_id("00Q", 4), "LastName": ""},
        {"Id": make_id("00Q", 5)},
    ]

    def names(where: str) -> list[object]:
        rows = execute(parse(f"SELECT LastName FROM Lead WHERE {where}", SCHEMA), records)
        return [r["LastName"] for r in rows]

    assert names("LastName LIKE 'Ter%'") == ["Ter%", "Terry", "Ter%ance"]
    assert names(r"LastName LIKE 'Ter\%'") == ["Ter%"]
    assert names(r"LastName LIKE 'ter\%%'") == ["Ter%", "Ter%ance"]
    assert names("LastName = null") == ["", None]
    assert names("LastName = ''") == ["", None]
    assert names("LastName != null") == ["Ter%", "Terry", "Ter%ance"]
    assert names("LastName LIKE '%'") == ["Ter%", "Terry", "Ter%ance"]
    assert names("LastName != 'terry'") == ["Ter%", "Ter%ance", "", None]
    assert names("LastName < 'TERRY'") == ["Ter%", "Ter%ance"]


def test_datetime_literals_normalise_to_the_stored_form() -> None:
    at_nine = {"Id": make_id("00Q", 1), "SystemModstamp": "2026-11-02T09:00:00.000+0000"}
    a_ms_later = {"Id": make_id("00Q", 2), "SystemModstamp": "2026-11-02T09:00:00.001+0000"}
    next_day = {"Id": make_id("00Q", 3), "SystemModstamp": "2026-11-03T00:30:00.000+0000"}
    records = [at_nine, a_ms_later, next_day]

    def matching(where: str) -> list[object]:
        return [
            r["Id"] for r in execute(parse(f"SELECT Id FROM Lead WHERE {where}", SCHEMA), records)
        ]

    nine, later, tomorrow = (r["Id"] for r in records)
    assert matching("SystemModstamp = 2026-11-02T09:00:00Z") == [nine]
    assert matching("SystemModstamp = 2026-11-02T09:00:00.000Z") == [nine]
    assert matching("SystemModstamp = 2026-11-02T09:00:00.001Z") == [later]
    assert matching("SystemModstamp = 2026-11-02T10:00:00+01:00") == [nine]
    assert matching("SystemModstamp = 2026-11-02T01:00:00-08:00") == [nine]
    assert matching("SystemModstamp = 2026-11-02T20:30:00-04:00") == [tomorrow]
    assert matching("SystemModstamp = 2026-11-03T05:30:00.000+05:00") == [tomorrow]
    assert matching("SystemModstamp > 2026-11-02T10:00:00+01:00") == [later, tomorrow]
    assert matching("SystemModstamp < 2026-11-02T01:00:00.001-08:00") == [nine]


# --- SELECT, projection, COUNT(), LIMIT --------------------------------------------------------


def test_projection_is_new_dicts_in_select_order_with_stored_values() -> None:
    query = parse("select lastname, ID, email, industry, annualrevenue from LEAD", SCHEMA)
    assert query.sobject == "Lead"
    assert query.fields == ["LastName", "Id", "Email", "Industry", "AnnualRevenue"]
    rows = execute(query, RECORDS)
    assert len(rows) == len(ALIVE)
    for row, record in zip(rows, ALIVE, strict=True):
        assert list(row) == query.fields
        assert row == {name: record.get(name) for name in query.fields}
        assert row is not record
    rows[0]["LastName"] = "changed"
    assert ALIVE[0]["LastName"] != "changed"


def test_execute_accepts_any_iterable() -> None:
    query = parse("SELECT Id FROM Lead WHERE NumberOfEmployees > 100", SCHEMA)
    assert execute(query, iter(RECORDS)) == execute(query, RECORDS)
    assert execute(query, (r for r in RECORDS), include_deleted=True) == execute(
        query, RECORDS, True
    )


def test_match_and_project_compose_to_execute() -> None:
    query = parse("SELECT Id, LastName FROM Lead ORDER BY LastName DESC LIMIT 40", SCHEMA)
    matched = match(query, RECORDS)
    assert all(any(r is original for original in RECORDS) for r in matched)
    assert project(query, matched) == execute(query, RECORDS)


def test_large_results_leave_the_garbage_collector_as_it_was() -> None:
    records = [{"Id": make_id("00Q", n), "LastName": f"n{n % 7}"} for n in range(1, 60_001)]
    query = parse("SELECT LastName, Id FROM Lead ORDER BY LastName DESC", SCHEMA)
    assert gc.isenabled()
    rows = execute(query, records)
    assert gc.isenabled()
    assert len(rows) == 60_000
    assert rows[0] == {"LastName": "n6", "Id": make_id("00Q", 6)}
    gc.disable()
    try:
        execute(query, records)
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_count(db: duckdb.DuckDBPyConnection) -> None:
    query = parse("SELECT COUNT() FROM Lead WHERE Status = 'open'", SCHEMA)
    assert query.count_only and query.fields == []
    expected = sql_ids(db, "upper(Status) = 'OPEN'")
    rows = execute(query, RECORDS)
    assert len(rows) == len(expected)
    assert [r["Id"] for r in rows] == expected
    assert rows[0] is BY_ID[expected[0]]  # unprojected
    assert len(execute(parse("select count() from lead", SCHEMA), RECORDS)) == len(ALIVE)
    assert len(execute(parse("SELECT COUNT() FROM Lead", SCHEMA), RECORDS, True)) == len(RECORDS)
    assert len(execute(parse("SELECT COUNT() FROM Lead LIMIT 7", SCHEMA), RECORDS)) == 7


def test_limit(db: duckdb.DuckDBPyConnection) -> None:
    assert parse("SELECT Id FROM Lead LIMIT 5", SCHEMA).limit == 5
    assert parse("SELECT Id FROM Lead", SCHEMA).limit is None
    assert soql_ids("SELECT Id FROM Lead LIMIT 5") == sql_ids(db, limit=5)
    assert soql_ids("SELECT Id FROM Lead LIMIT 0") == []
    assert soql_ids("SELECT Id FROM Lead LIMIT 100000") == sql_ids(db)
    where = "NumberOfEmployees > 100"
    assert soql_ids(f"SELECT Id FROM Lead WHERE {where} LIMIT 3") == sql_ids(db, where, limit=3)


# --- ORDER BY ---------------------------------------------------------------------------------

ORDER_CASES = [
    ("LastName", "upper(LastName) ASC NULLS FIRST"),
    ("LastName ASC", "upper(LastName) ASC NULLS FIRST"),
    ("LastName DESC", "upper(LastName) DESC NULLS LAST"),
    ("LastName DESC NULLS FIRST", "upper(LastName) DESC NULLS FIRST"),
    ("LastName NULLS LAST", "upper(LastName) ASC NULLS LAST"),
    (
        "NumberOfEmployees DESC NULLS FIRST, LastName ASC NULLS LAST",
        "NumberOfEmployees DESC NULLS FIRST, upper(LastName) ASC NULLS LAST",
    ),
    (
        "IsConverted, SystemModstamp DESC",
        "COALESCE(IsConverted, FALSE) ASC, SystemModstamp DESC NULLS LAST",
    ),
    (
        "IsConverted DESC, Company, AnnualRevenue DESC",
        "COALESCE(IsConverted, FALSE) DESC, upper(Company) ASC NULLS FIRST,"
        " AnnualRevenue DESC NULLS LAST",
    ),
    ("ConvertedDate NULLS LAST, Id", "ConvertedDate ASC NULLS LAST, Id"),
    (
        "ConvertedDate DESC, OwnerId DESC NULLS FIRST",
        "ConvertedDate DESC NULLS LAST, OwnerId DESC NULLS FIRST",
    ),
    ("CreatedDate", "CreatedDate ASC NULLS FIRST"),
    ("SystemModstamp, Id", "SystemModstamp, Id"),
    ("Id DESC", "Id DESC"),
    (
        "status asc nulls last, companY desc nulls first",
        "upper(Status) ASC NULLS LAST, upper(Company) DESC NULLS FIRST",
    ),
]


@pytest.mark.parametrize(("soql_order", "sql_order"), ORDER_CASES)
@pytest.mark.parametrize("limit", [None, 1, 25])
def test_order_by_matches_duckdb(
    db: duckdb.DuckDBPyConnection, soql_order: str, sql_order: str, limit: int | None
) -> None:
    limit_clause = "" if limit is None else f" LIMIT {limit}"
    got = soql_ids(f"SELECT Id FROM Lead ORDER BY {soql_order}{limit_clause}")
    assert got == sql_ids(db, order=sql_order, limit=limit)


def test_order_by_with_where_and_projection(db: duckdb.DuckDBPyConnection) -> None:
    text = (
        "SELECT LastName, NumberOfEmployees FROM Lead WHERE NumberOfEmployees != null "
        "ORDER BY NumberOfEmployees DESC, LastName LIMIT 30"
    )
    rows = execute(parse(text, SCHEMA), RECORDS)
    expected = sql_ids(
        db,
        "NumberOfEmployees IS NOT NULL",
        "NumberOfEmployees DESC NULLS LAST, upper(LastName) ASC NULLS FIRST",
        30,
    )
    assert rows == [
        {"LastName": BY_ID[i]["LastName"], "NumberOfEmployees": BY_ID[i]["NumberOfEmployees"]}
        for i in expected
    ]


def test_order_by_is_stable_and_case_insensitive_by_hand() -> None:
    records = [
        {"Id": make_id("00Q", 1), "LastName": "b"},
        {"Id": make_id("00Q", 2), "LastName": None},
        {"Id": make_id("00Q", 3), "LastName": "B"},
        {"Id": make_id("00Q", 4), "LastName": "a"},
        {"Id": make_id("00Q", 5), "LastName": ""},
        {"Id": make_id("00Q", 6), "LastName": "C"},
    ]

    def order(clause: str) -> list[object]:
        rows = execute(parse(f"SELECT LastName FROM Lead ORDER BY {clause}", SCHEMA), records)
        return [r["LastName"] for r in rows]

    assert order("LastName") == [None, "", "a", "b", "B", "C"]
    assert order("LastName DESC") == ["C", "b", "B", "a", None, ""]
    assert order("LastName DESC NULLS FIRST") == [None, "", "C", "b", "B", "a"]
    assert order("LastName ASC NULLS LAST") == ["a", "b", "B", "C", None, ""]


# --- errors -----------------------------------------------------------------------------------


def test_error_messages_follow_salesforce() -> None:
    error = soql_error("SELECT Id FRM Lead")
    assert error.error_code == MALFORMED_QUERY
    assert (
        error.message
        == "\nSELECT Id FRM Lead\n          ^\nERROR at Row:1:Column:11\nunexpected token: 'FRM'"
    )

    error = soql_error("SELECT Foo__c FROM Lead")
    assert error.error_code == INVALID_FIELD
    assert error.message == (
        "\nSELECT Foo__c FROM Lead\n       ^\nERROR at Row:1:Column:8\n"
        "No such column 'Foo__c' on entity 'Lead'. If you are attempting to use a custom field, "
        "be sure to append the '__c' after the custom field name. Please reference your WSDL or "
        "the describe call for the appropriate names."
    )

    error = soql_error("SELECT Id FROM Leed")
    assert error.error_code == INVALID_TYPE
    assert error.message.endswith(
        "\nsObject type 'Leed' is not supported. If you are attempting to use a custom object, be"
        " sure to append the '__c' after the entity name. Please reference your WSDL or the"
        " describe call for the appropriate names."
    )
    assert "ERROR at Row:1:Column:16" in error.message

    for empty in ["", "   ", "\n"]:
        error = soql_error(empty)
        assert (error.error_code, error.message) == (
            MALFORMED_QUERY,
            "SOQL statements cannot be empty or null",
        )

    error = soql_error("SELECT Id, LastName, id FROM Lead")
    assert (error.error_code, error.message) == (MALFORMED_QUERY, "duplicate field selected: Id")

    error = soql_error("SELECT Id\nFROM Lead\nWHERE Bogus = 1")
    assert error.error_code == INVALID_FIELD
    assert error.message.startswith(
        "\nWHERE Bogus = 1\n      ^\nERROR at Row:3:Column:7\nNo such column 'Bogus'"
    )


def test_unencoded_plus_in_a_datetime_is_malformed() -> None:
    error = soql_error("SELECT Id FROM Lead WHERE SystemModstamp > 2026-11-02T09:00:00 01:00")
    assert error.error_code == MALFORMED_QUERY
    assert error.message.endswith("no viable alternative at character ' '")


def test_mixing_and_or_without_parentheses_is_malformed() -> None:
    for where in [
        "Status = 'Open' AND Email = null OR IsConverted = true",
        "Status = 'Open' OR Email = null AND IsConverted = true",
        "(Status = 'Open' OR Email = null) AND IsConverted = true OR LastName = 'x'",
        "NOT Status = 'Open' AND Email = null OR IsConverted = true",
    ]:
        assert soql_error(f"SELECT Id FROM Lead WHERE {where}").error_code == MALFORMED_QUERY
    parse(
        "SELECT Id FROM Lead WHERE (Status = 'Open' AND Email = null) OR IsConverted = true", SCHEMA
    )
    parse(
        "SELECT Id FROM Lead WHERE Status = 'Open' AND (Email = null OR IsConverted = true)", SCHEMA
    )


UNSUPPORTED = [
    "SELECT Owner.Name FROM Lead",
    "SELECT Id FROM Lead WHERE Owner.Name = 'x'",
    "SELECT Id FROM Lead ORDER BY Owner.Name",
    "SELECT Id, (SELECT Id FROM Tasks) FROM Lead",
    "SELECT Id FROM Lead WHERE Id IN (SELECT WhoId FROM Task)",
    "SELECT Status, COUNT(Id) FROM Lead GROUP BY Status",
    "SELECT Status FROM Lead GROUP BY Status",
    "SELECT COUNT() FROM Lead GROUP BY Status HAVING COUNT() > 1",
    "SELECT Id FROM Lead LIMIT 10 OFFSET 5",
    "SELECT Id FROM Lead OFFSET 5",
    "SELECT FIELDS(ALL) FROM Lead LIMIT 200",
    "SELECT FIELDS(STANDARD) FROM Lead",
    "SELECT TYPEOF What WHEN Account THEN Name END FROM Task",
    "SELECT MAX(NumberOfEmployees) FROM Lead",
    "SELECT COUNT(Id) FROM Lead",
    "SELECT COUNT(), Id FROM Lead",
    "SELECT Id, COUNT() FROM Lead",
    "SELECT COUNT() FROM Lead ORDER BY LastName",
    "SELECT toLabel(Status) FROM Lead",
    "SELECT Id FROM Lead FOR UPDATE",
    "SELECT Id FROM Lead FOR VIEW",
    "SELECT Id FROM Lead WITH SECURITY_ENFORCED",
    "SELECT Id FROM Lead USING SCOPE mine",
    "SELECT Id FROM Lead UPDATE TRACKING",
    "SELECT Id FROM Lead l",
    "SELECT Id x FROM Lead",
    "SELECT Id FROM Lead WHERE CreatedDate = TODAY",
    "SELECT Id FROM Lead WHERE CreatedDate > LAST_N_DAYS:30",
    "SELECT Id FROM Lead WHERE CALENDAR_YEAR(CreatedDate) = 2026",
    "SELECT Id FROM Lead WHERE LastName = FirstName",
    "SELECT Id FROM Lead WHERE LastName = :name",
    "SELECT Id FROM Lead WHERE LastName INCLUDES ('a')",
    "SELECT Id FROM Lead WHERE LastName NOT LIKE 'a%'",
    'SELECT Id FROM Lead WHERE LastName = "x"',
    "SELECT Id FROM Lead WHERE LastName = 'unterminated",
    "SELECT Id FROM Lead WHERE LastName = 'bad \\q escape'",
    "SELECT Id FROM Lead WHERE LastName = 'bad \\u12 escape'",
    "SELECT Id FROM Lead WHERE LastName = 'a\\%'",
    "SELECT Id FROM Lead WHERE LastName IN ('a\\_b')",
    "SELECT Id FROM Lead WHERE NumberOfEmployees < null",
    "SELECT Id FROM Lead WHERE LastName LIKE null",
    "SELECT Id FROM Lead WHERE NumberOfEmployees = 1e3",
    "SELECT Id FROM Lead WHERE NumberOfEmployees = .5",
    "SELECT Id FROM Lead WHERE Id = 'abc'",
    "SELECT Id FROM Lead WHERE Id = ''",
    "SELECT Id FROM Lead WHERE OwnerId = '005000000000001AAX'",
    "SELECT Id FROM Lead WHERE ConvertedDate = 2026-02-30",
    "SELECT Id FROM Lead WHERE SystemModstamp > 2026-11-02T25:00:00Z",
    "SELECT Id FROM Lead WHERE SystemModstamp > 2026-11-02T09:00:00",
    "SELECT Id FROM Lead WHERE SystemModstamp > 2026-11-02T09:00Z",
    "SELECT Id FROM Lead WHERE SystemModstamp > 2026-11-02T09:00:00.1234Z",
    "SELECT Id FROM Lead WHERE SystemModstamp > 2026-11-02T09:00:00+0100",
    "SELECT Id FROM Lead WHERE SystemModstamp > 2026-11-02T09:00:00+1:00",
    "SELECT Id FROM Lead WHERE SystemModstamp > 2026-11-02T09:00:00+19:00",
    "SELECT Id FROM Lead WHERE SystemModstamp > 0001-01-01T00:00:00+01:00",
    "SELECT Id FROM Lead WHERE SystemModstamp > 2026-11-02t09:00:00z",
    "SELECT Id FROM Lead WHERE",
    "SELECT Id FROM Lead WHERE ()",
    "SELECT Id FROM Lead WHERE (LastName = 'a'",
    "SELECT Id FROM Lead WHERE LastName = 'a')",
    "SELECT Id FROM Lead WHERE LastName IN ()",
    "SELECT Id FROM Lead WHERE LastName IN ('a',)",
    "SELECT Id FROM Lead WHERE LastName IN 'a'",
    "SELECT Id FROM Lead WHERE LastName = 'a' 'b'",
    "SELECT Id FROM Lead WHERE 'a' = LastName",
    "SELECT Id FROM Lead WHERE NOT",
    "SELECT Id FROM Lead ORDER LastName",
    "SELECT Id FROM Lead ORDER BY LastName NULLS",
    "SELECT Id FROM Lead ORDER BY",
    "SELECT Id FROM Lead LIMIT -1",
    "SELECT Id FROM Lead LIMIT 1.5",
    "SELECT Id FROM Lead LIMIT +1",
    "SELECT Id FROM Lead LIMIT",
    "SELECT Id FROM Lead LIMIT 5 ORDER BY Id",
    "SELECT Id FROM Lead WHERE LastName = 'a' WHERE LastName = 'b'",
    "SELECT Id FROM Lead;",
    "SELECT FROM Lead",
    "SELECT Id, FROM Lead",
    "SELECT Id Lead",
    "SELECT * FROM Lead",
    "SELECT Id FROM",
    "Id FROM Lead",
    "UPDATE Lead SET LastName = 'x'",
    "SELECT Id FROM Lead WHERE " + "(" * 150 + "LastName = 'a'" + ")" * 150,
    "SELECT Id FROM Lead WHERE " + "NOT " * 150 + "LastName = 'a'",
]


@pytest.mark.parametrize("text", UNSUPPORTED)
def test_unsupported_forms_are_malformed(text: str) -> None:
    error = soql_error(text)
    assert error.error_code == MALFORMED_QUERY, error.message
    assert error.message


INVALID_FIELDS = [
    "SELECT Foo__c FROM Lead",
    "SELECT Id, Nmae FROM Lead",
    "SELECT Id FROM Lead WHERE Bogus = 'x'",
    "SELECT Id FROM Lead ORDER BY Bogus",
    "SELECT Id, WhoId FROM Lead",
    # a literal of the wrong type, or an operator the field's type does not allow
    "SELECT Id FROM Lead WHERE LastName = 5",
    "SELECT Id FROM Lead WHERE LastName = true",
    "SELECT Id FROM Lead WHERE LastName = 2026-11-02",
    "SELECT Id FROM Lead WHERE NumberOfEmployees = '5'",
    "SELECT Id FROM Lead WHERE NumberOfEmployees IN (1, '2')",
    "SELECT Id FROM Lead WHERE AnnualRevenue > true",
    "SELECT Id FROM Lead WHERE IsConverted = 'true'",
    "SELECT Id FROM Lead WHERE IsConverted = 1",
    "SELECT Id FROM Lead WHERE IsConverted < true",
    "SELECT Id FROM Lead WHERE SystemModstamp > 2026-11-02",
    "SELECT Id FROM Lead WHERE SystemModstamp > '2026-11-02T09:00:00Z'",
    "SELECT Id FROM Lead WHERE ConvertedDate > 2026-11-02T09:00:00Z",
    "SELECT Id FROM Lead WHERE ConvertedDate = '2026-11-02'",
    "SELECT Id FROM Lead WHERE Id = 5",
    "SELECT Id FROM Lead WHERE Id LIKE '00Q%'",
    "SELECT Id FROM Lead WHERE NumberOfEmployees LIKE '5%'",
    "SELECT Id FROM Lead WHERE LastName LIKE 5",
]


@pytest.mark.parametrize("text", INVALID_FIELDS)
def test_invalid_fields(text: str) -> None:
    error = soql_error(text)
    assert error.error_code == INVALID_FIELD, error.message
    assert "ERROR at Row:1:Column:" in error.message


def test_type_mismatch_messages() -> None:
    assert soql_error("SELECT Id FROM Lead WHERE LastName = 5").message.endswith(
        "value of filter criterion for field 'LastName' must be of type string"
        " and should be enclosed in quotes"
    )
    assert soql_error("SELECT Id FROM Lead WHERE SystemModstamp > 2026-11-02").message.endswith(
        "value of filter criterion for field 'SystemModstamp' must be of type dateTime"
        " and should not be enclosed in quotes"
    )


@pytest.mark.parametrize(
    "text",
    [
        "SELECT Id FROM Leed",
        "SELECT Id FROM Lead__c",
        "select id from opportunity",
        "SELECT COUNT() FROM Nope",
    ],
)
def test_invalid_types(text: str) -> None:
    assert soql_error(text).error_code == INVALID_TYPE


def test_unknown_object_is_reported_before_unknown_fields() -> None:
    assert soql_error("SELECT Bogus FROM Leed WHERE Nope = 1").error_code == INVALID_TYPE


def test_names_are_case_insensitive_and_canonicalised() -> None:
    query = parse(
        "sElEcT iD, systemmodstamp FrOm lEaD wHeRe LASTNAME = 'x' OrDeR bY LastName DeSc LiMiT 3",
        SCHEMA,
    )
    assert query == Query(
        sobject="Lead",
        fields=["Id", "SystemModstamp"],
        count_only=False,
        limit=3,
        order_by=query.order_by,
        where_fields=frozenset({"LastName"}),
    )
    assert [(k.field, k.descending, k.nulls_first) for k in query.order_by] == [
        ("LastName", True, False)
    ]
    assert query_fields_used(query) == {"Id", "SystemModstamp", "LastName"}
    assert parse("SELECT Id FROM emailmessage", SCHEMA).sobject == "EmailMessage"


def test_queries_are_compiled_once_and_reusable() -> None:
    query = parse("SELECT Id FROM Lead WHERE NumberOfEmployees > 100", SCHEMA)
    first = execute(query, RECORDS)
    assert execute(query, RECORDS) == first
    assert execute(query, RECORDS[:10]) == [
        row for row in first if row["Id"] in {r["Id"] for r in RECORDS[:10]}
    ]


# --- property test: random WHERE trees and ORDER BY against DuckDB -----------------------------

LIKE_ALPHABET = ["s", "m", "i", "t", "h", "a", "c", "e", "%", "_", "'", "\\", " ", "o", "r"]
TEXT_VALUES = [n for n in NAMES if n] + [c for c in COMPANIES if c] + [s for s in STATUSES if s]
TEXT_VALUES += ["smit", "zzz", "A", "o'brien", "OPEN", "acme corp"]


def soql_string(value: str) -> str:
    escaped = (
        value.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n").replace("\t", "\\t")
    )
    return f"'{escaped}'"


def sql_string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def sql_leaf(column: str, kind: str, op: str, literals: list[str | None]) -> str:
    """One SOQL comparison as two-valued SQL (never NULL)."""
    expr = {
        "text": f"upper({column})",
        "id": f"substr({column}, 1, 15)",
        "bool": f"COALESCE({column}, FALSE)",
    }.get(kind, column)
    if kind == "bool":  # a boolean is never null: null means false
        literals = ["FALSE" if v is None else v for v in literals]
    values = [v if v is None or kind != "text" else f"upper({v})" for v in literals]
    if op in ("IN", "NOT IN"):
        known = [v for v in values if v is not None]
        hit = f"COALESCE({expr} IN ({', '.join(known)}), FALSE)" if known else "FALSE"
        if None in values:
            hit = f"({hit} OR {expr} IS NULL)"
        return hit if op == "IN" else f"NOT {hit}"
    literal = values[0]
    if literal is None:
        return f"{expr} IS NULL" if op == "=" else f"{expr} IS NOT NULL"
    if op == "=":
        return f"COALESCE({expr} = {literal}, FALSE)"
    if op == "!=":
        return f"COALESCE({expr} <> {literal}, TRUE)"
    return f"COALESCE({expr} {op} {literal}, FALSE)"


@st.composite
def text_leaves(draw: st.DrawFn) -> tuple[str, str]:
    column = draw(st.sampled_from(["LastName", "FirstName", "Company", "Status"]))
    op = draw(st.sampled_from(["=", "!=", "<", "<=", ">", ">=", "IN", "NOT IN", "LIKE"]))
    if op == "LIKE":
        pattern = draw(st.lists(st.sampled_from(LIKE_ALPHABET), max_size=6))
        soql = "".join({"'": "\\'", "\\": "\\\\"}.get(c, c) for c in pattern)
        sql = "".join({"'": "''", "\\": "\\\\"}.get(c, c) for c in pattern)
        if draw(st.booleans()):  # escape the wildcards instead
            soql = soql.replace("%", "\\%").replace("_", "\\_")
            sql = sql.replace("%", "\\%").replace("_", "\\_")
        return (
            f"{column} LIKE '{soql}'",
            f"COALESCE({column} ILIKE '{sql}' ESCAPE '\\', FALSE)",
        )

    def value() -> st.SearchStrategy[str | None]:
        cased = st.sampled_from(TEXT_VALUES).flatmap(
            lambda v: st.sampled_from([v, v.upper(), v.lower()])
        )
        nullable = op in ("=", "!=", "IN", "NOT IN")
        return st.one_of(cased, st.just(None)) if nullable else cased

    count = draw(st.integers(1, 3)) if op in ("IN", "NOT IN") else 1
    values = [draw(value()) for _ in range(count)]
    soql_values = ["null" if v is None else soql_string(v) for v in values]
    sql_values = [None if v is None else sql_string(v) for v in values]
    rhs = f"({', '.join(soql_values)})" if op in ("IN", "NOT IN") else soql_values[0]
    return f"{column} {op} {rhs}", sql_leaf(column, "text", op, sql_values)


def scalar_leaves(
    column: str, kind: str, values: st.SearchStrategy[tuple[str, str]], ordered: bool = True
) -> st.SearchStrategy[tuple[str, str]]:
    ops = ["=", "!=", "IN", "NOT IN"] + (["<", "<=", ">", ">="] if ordered else [])

    @st.composite
    def leaf(draw: st.DrawFn) -> tuple[str, str]:
        op = draw(st.sampled_from(ops))
        nullable = op in ("=", "!=", "IN", "NOT IN")
        pick = st.one_of(values, st.just(("null", None))) if nullable else values
        count = draw(st.integers(1, 3)) if op in ("IN", "NOT IN") else 1
        chosen = [draw(pick) for _ in range(count)]
        soql_values = [soql for soql, _ in chosen]
        rhs = f"({', '.join(soql_values)})" if op in ("IN", "NOT IN") else soql_values[0]
        return f"{column} {op} {rhs}", sql_leaf(column, kind, op, [sql for _, sql in chosen])

    return leaf()


def number_literals(values: list[Any]) -> st.SearchStrategy[tuple[str, str]]:
    known = [v for v in values if v is not None]
    return st.one_of(st.sampled_from(known), st.integers(-10, 6000)).map(lambda v: (str(v), str(v)))


def datetime_literals() -> st.SearchStrategy[tuple[str, str]]:
    stored = sorted(
        {r["SystemModstamp"] for r in RECORDS}
        | {r["CreatedDate"] for r in RECORDS if r["CreatedDate"]}
    )

    @st.composite
    def literal(draw: st.DrawFn) -> tuple[str, str]:
        moment = datetime.strptime(draw(st.sampled_from(stored)), "%Y-%m-%dT%H:%M:%S.%f%z")
        moment += timedelta(milliseconds=draw(st.sampled_from([0, 0, 1, -1, 1000, 60_000])))
        offset_minutes = draw(st.sampled_from([0, 60, -480, 330, -600, 840]))
        local = moment.astimezone(UTC) + timedelta(minutes=offset_minutes)
        text = local.strftime("%Y-%m-%dT%H:%M:%S")
        if moment.microsecond or draw(st.booleans()):
            text += f".{moment.microsecond // 1000:03d}"
        if offset_minutes == 0 and draw(st.booleans()):
            text += "Z"
        else:
            sign = "+" if offset_minutes >= 0 else "-"
            text += f"{sign}{abs(offset_minutes) // 60:02d}:{abs(offset_minutes) % 60:02d}"
        return text, f"TIMESTAMPTZ '{text}'"

    return literal()


def id_literals(column: str) -> st.SearchStrategy[tuple[str, str]]:
    ids = sorted({r[column] for r in RECORDS if r[column]})

    @st.composite
    def literal(draw: st.DrawFn) -> tuple[str, str]:
        stored = draw(st.sampled_from(ids))
        form = draw(st.sampled_from([stored, stored[:15], stored.lower(), stored.upper()]))
        return f"'{form}'", f"'{stored[:15]}'"

    return literal()


LEAVES = st.one_of(
    text_leaves(),
    scalar_leaves("NumberOfEmployees", "number", number_literals(EMPLOYEES)),
    scalar_leaves("AnnualRevenue", "number", number_literals(REVENUES)),
    scalar_leaves(
        "IsConverted",
        "bool",
        st.sampled_from([("TRUE", "TRUE"), ("false", "FALSE")]),
        ordered=False,
    ),
    scalar_leaves(
        "ConvertedDate",
        "date",
        st.sampled_from(["2025-12-31", "2026-02-28", "2026-03-01", "2026-03-02"]).map(
            lambda d: (d, f"DATE '{d}'")
        ),
    ),
    scalar_leaves("SystemModstamp", "datetime", datetime_literals()),
    scalar_leaves("CreatedDate", "datetime", datetime_literals()),
    scalar_leaves("Id", "id", id_literals("Id")),
    scalar_leaves("OwnerId", "id", id_literals("OwnerId")),
)


def leaf_nodes() -> st.SearchStrategy[tuple[str, str, bool]]:
    return LEAVES.map(lambda pair: (pair[0], pair[1], False))


def extend(
    children: st.SearchStrategy[tuple[str, str, bool]],
) -> st.SearchStrategy[tuple[str, str, bool]]:
    def junction(args: tuple[str, list[tuple[str, str, bool]]]) -> tuple[str, str, bool]:
        connective, operands = args
        soql = f" {connective} ".join(f"({s})" if nested else s for s, _, nested in operands)
        sql = f" {connective} ".join(f"({q})" for _, q, _ in operands)
        return soql, sql, True

    def negation(child: tuple[str, str, bool]) -> tuple[str, str, bool]:
        soql, sql, nested = child
        return (
            (f"NOT ({soql})" if nested or soql.startswith("NOT") else f"NOT {soql}"),
            f"NOT ({sql})",
            False,
        )

    junctions = st.tuples(
        st.sampled_from(["AND", "OR"]), st.lists(children, min_size=2, max_size=3)
    )
    return st.one_of(junctions.map(junction), children.map(negation))


WHERE_TREES = st.recursive(leaf_nodes(), extend, max_leaves=6)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tree=WHERE_TREES, include_deleted=st.booleans())
def test_random_where_trees_match_duckdb(
    db: duckdb.DuckDBPyConnection, tree: tuple[str, str, bool], include_deleted: bool
) -> None:
    soql_where, sql_where, _ = tree
    got = soql_ids(f"SELECT Id FROM Lead WHERE {soql_where}", include_deleted)
    assert got == sql_ids(db, sql_where, include_deleted=include_deleted), soql_where


ORDER_FIELDS = {
    "LastName": "upper(LastName)",
    "Company": "upper(Company)",
    "NumberOfEmployees": "NumberOfEmployees",
    "AnnualRevenue": "AnnualRevenue",
    "IsConverted": "COALESCE(IsConverted, FALSE)",
    "ConvertedDate": "ConvertedDate",
    "CreatedDate": "CreatedDate",
    "OwnerId": "OwnerId",
    "Id": "Id",
}


@st.composite
def order_keys(draw: st.DrawFn) -> tuple[str, str]:
    name = draw(st.sampled_from(sorted(ORDER_FIELDS)))
    direction = draw(st.sampled_from(["", " ASC", " DESC"]))
    nulls = draw(st.sampled_from(["", " NULLS FIRST", " NULLS LAST"]))
    default_nulls = " NULLS LAST" if direction == " DESC" else " NULLS FIRST"
    sql = f"{ORDER_FIELDS[name]}{direction or ' ASC'}{nulls or default_nulls}"
    return f"{name}{direction}{nulls}", sql


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    keys=st.lists(order_keys(), min_size=1, max_size=3, unique_by=lambda k: k[0].split()[0]),
    limit=st.one_of(st.none(), st.integers(0, 400)),
    tree=st.one_of(st.none(), WHERE_TREES),
)
def test_random_order_by_matches_duckdb(
    db: duckdb.DuckDBPyConnection,
    keys: list[tuple[str, str]],
    limit: int | None,
    tree: tuple[str, str, bool] | None,
) -> None:
    where = "" if tree is None else f" WHERE {tree[0]}"
    limit_clause = "" if limit is None else f" LIMIT {limit}"
    text = f"SELECT Id FROM Lead{where} ORDER BY {', '.join(k for k, _ in keys)}{limit_clause}"
    expected = sql_ids(
        db, "TRUE" if tree is None else tree[1], ", ".join(s for _, s in keys), limit
    )
    assert soql_ids(text) == expected, text


def test_group_is_an_object_name_after_from() -> None:
    """`Group` (queues) is an sObject and a keyword: FROM Group parses, GROUP BY still fails."""
    groups = [
        {"Id": "00G5e000000000GEAQ", "Name": "Lead Intake", "Type": "Queue"},
        {"Id": "00G5e000000000IEAQ", "Name": "Sales Managers", "Type": "Regular"},
    ]
    query = parse("SELECT Id, Name FROM Group WHERE Type = 'Queue' ORDER BY Name", SCHEMA)
    assert query.sobject == "Group"
    assert execute(query, groups) == [{"Id": "00G5e000000000GEAQ", "Name": "Lead Intake"}]
    with pytest.raises(SoqlError) as excinfo:
        parse("SELECT Id FROM Lead GROUP BY Status", SCHEMA)
    assert excinfo.value.error_code == "MALFORMED_QUERY"

"""Policy loading and validation: the shipped policy; bad policies, each with file, path, reason."""

from __future__ import annotations

import hashlib
import io
import json
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest

from salesops_dagster.devorg import synthetic
from salesops_dagster.policy import PolicyError, known_ids, load_policy
from salesops_dagster.policy.cli import validate_command
from salesops_dagster.policy.validate import policy_schema
from tests.routing import (
    FALLBACK_QUEUE,
    INTAKE_QUEUE,
    POLICY_PATH,
    REPS,
    load_records,
    shipped_doc,
    simple_policy,
    write_policy,
)

END = datetime(2026, 11, 30, tzinfo=UTC)


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A warehouse file holding the synthetic org's Users, Groups and Leads."""
    path = tmp_path_factory.mktemp("wh") / "warehouse.duckdb"
    con = duckdb.connect(str(path))
    load_records(con, synthetic.generate(200, seed=3, end=END), END)
    con.close()
    return path


def problems_of(path: Path, **known) -> list[str]:
    with pytest.raises(PolicyError) as caught:
        load_policy(path, **known)
    error = caught.value
    assert error.file == str(path)
    lines = str(error).splitlines()
    assert len(lines) == len(error.problems)
    for line in lines:
        assert line.startswith(f"{path}: $"), line
    return lines


def one_problem(path: Path, **known) -> str:
    lines = problems_of(path, **known)
    assert len(lines) == 1, lines
    return lines[0]


def pool(name: str = "p", members: list | None = None, **extra) -> dict:
    return {
        "name": name,
        "segment": "all",
        "region": "world",
        "members": [{"user_id": REPS[0], "weight": 1}] if members is None else members,
        **extra,
    }


# --- the shipped policy ---------------------------------------------------------------------------


def test_shipped_policy_loads_with_its_sha256() -> None:
    loaded = load_policy(POLICY_PATH)
    assert loaded.version == "1.0.0"
    assert loaded.sha256 == hashlib.sha256(POLICY_PATH.read_bytes()).hexdigest()
    policy = loaded.policy
    assert [s.name for s in policy.segments] == ["enterprise", "mid_market", "smb"]
    assert [r.name for r in policy.regions] == ["NA", "EMEA", "APAC", "LATAM"]
    assert policy.intake_queues == [synthetic.LEAD_INTAKE_QUEUE_ID]
    assert policy.fallback.owner_id == synthetic.UNROUTED_FALLBACK_QUEUE_ID
    assert policy.first_touch.excluded_user_ids == [synthetic.INTEGRATION_USER_ID]
    assert policy.sla_minutes("enterprise") == 30
    members = {m.user_id for p in policy.pools for m in p.members}
    assert synthetic.INACTIVE_REP_ID in members
    assert any(m.out_of_office for p in policy.pools for m in p.members)
    assert all(policy.business_hours(r.name).zone for r in policy.regions)


def test_shipped_policy_validates_against_a_synthetic_warehouse(warehouse: Path) -> None:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        known = known_ids(con)
    assert known["known_users"][synthetic.INACTIVE_REP_ID] is False
    assert synthetic.LEAD_INTAKE_QUEUE_ID in known["known_queues"]
    assert synthetic.SALES_MANAGERS_GROUP_ID not in known["known_queues"]  # a regular group
    assert load_policy(POLICY_PATH, **known).version == "1.0.0"
    out = io.StringIO()
    assert validate_command(POLICY_PATH, warehouse, out=out) == 0
    assert "valid (Ids checked against the warehouse)" in out.getvalue()


def test_the_schema_is_valid_2020_12() -> None:
    import jsonschema

    schema = policy_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(schema)


# --- syntax and schema ----------------------------------------------------------------------------


def test_invalid_json_names_line_and_column(tmp_path: Path) -> None:
    path = write_policy(tmp_path, '{\n  "policy_version": "1.0.0",\n  "name": "x",,\n}')
    line = one_problem(path)
    assert line.startswith(f"{path}: $: invalid JSON at line 3, column 15: Expecting property name")


def test_duplicate_json_keys_are_reported(tmp_path: Path) -> None:
    text = json.dumps(simple_policy([pool()]), indent=2)
    text = text.replace('"name": "test policy",', '"name": "test policy", "name": "again",')
    line = one_problem(write_policy(tmp_path, text))
    assert "$.name: key 'name' appears more than once" in line


def test_wrong_type_and_unknown_key_and_missing_key(tmp_path: Path) -> None:
    doc = simple_policy([pool(members=[{"user_id": REPS[0], "weight": "two", "colour": "red"}])])
    del doc["first_touch"]
    lines = problems_of(write_policy(tmp_path, doc))
    text = "\n".join(lines)
    assert "$.first_touch: required key is missing" in text
    assert '$.pools[0].members[0].weight: must be number, got a string ("two")' in text
    assert "$.pools[0].members[0].colour: unknown key; allowed keys: daily_cap" in text
    assert len(lines) == 3


def test_unknown_key_in_a_condition(tmp_path: Path) -> None:
    rule = {"name": "big", "when": {"field": "NumberOfEmployees", "op": ">=", "value": 5, "x": 1}}
    doc = simple_policy([pool()], segments=[{"name": "all", "rules": [rule]}])
    line = one_problem(write_policy(tmp_path, doc))
    assert "$.segments[0].rules[0].when.x: unknown key; allowed keys: field, op, value" in line


def test_bad_op_and_null_test_with_a_value(tmp_path: Path) -> None:
    rules = [
        {"name": "a", "when": {"field": "Country", "op": "like", "value": "x"}},
        {"name": "b", "when": {"field": "Country", "op": "is_null", "value": "x"}},
        {"name": "c", "when": {"field": "Country", "op": "in", "value": []}},
    ]
    doc = simple_policy([pool()], segments=[{"name": "all", "rules": rules}])
    text = "\n".join(problems_of(write_policy(tmp_path, doc)))
    assert '$.segments[0].rules[0].when.op: "like" is not one of "=", "!="' in text
    assert "$.segments[0].rules[1].when: " in text and "take no value" in text
    assert "$.segments[0].rules[2].when.value: must have at least 1 item(s), got 0" in text


@pytest.mark.parametrize("weight", [0, -1, -0.5])
def test_non_positive_weight(tmp_path: Path, weight: float) -> None:
    doc = simple_policy([pool(members=[{"user_id": REPS[0], "weight": weight}])])
    line = one_problem(write_policy(tmp_path, doc))
    assert line.endswith(f"$.pools[0].members[0].weight: must be greater than 0, got {weight}")


@pytest.mark.parametrize("version", ["1.0", "v1.0.0", "1.0.0.0", "01.0.0", ""])
def test_malformed_semver(tmp_path: Path, version: str) -> None:
    doc = simple_policy([pool()], policy_version=version)
    line = one_problem(write_policy(tmp_path, doc))
    assert "$.policy_version: " in line
    assert "is not a semantic version" in line


def test_non_positive_caps(tmp_path: Path) -> None:
    member = {"user_id": REPS[0], "weight": 1, "daily_cap": 0, "period_cap": {"days": 0, "max": 3}}
    text = "\n".join(problems_of(write_policy(tmp_path, simple_policy([pool(members=[member])]))))
    assert "$.pools[0].members[0].daily_cap: must be at least 1, got 0" in text
    assert "$.pools[0].members[0].period_cap.days: must be at least 1, got 0" in text


# --- semantic checks ------------------------------------------------------------------------------


def test_unknown_user_against_the_warehouse(tmp_path: Path, warehouse: Path) -> None:
    ghost = "0055e00000000ZZAAA"
    doc = simple_policy([pool(members=[{"user_id": REPS[0], "weight": 1}])])
    doc["pools"][0]["members"].append({"user_id": ghost, "weight": 2})
    path = write_policy(tmp_path, doc)
    assert load_policy(path).version == "1.0.0"  # no warehouse: Ids are not checked
    with duckdb.connect(str(warehouse), read_only=True) as con:
        line = one_problem(path, **known_ids(con))
    assert (
        line == f"{path}: $.pools[0].members[1].user_id: unknown user {ghost}: no User has this Id"
    )


def test_unknown_queue_and_inactive_fallback_user(tmp_path: Path, warehouse: Path) -> None:
    doc = simple_policy([pool()])
    doc["intake_queues"] = ["00G5e00000000ZZEAQ"]
    doc["fallback"] = {"owner_id": synthetic.INACTIVE_REP_ID}
    with duckdb.connect(str(warehouse), read_only=True) as con:
        text = "\n".join(problems_of(write_policy(tmp_path, doc), **known_ids(con)))
    assert "$.intake_queues[0]: unknown queue 00G5e00000000ZZEAQ" in text
    assert f"$.fallback.owner_id: user {synthetic.INACTIVE_REP_ID} is inactive" in text


def test_duplicate_segment_region_and_pool_names(tmp_path: Path) -> None:
    doc = simple_policy(
        [pool(), pool(name="p")],
        segments=[{"name": "all", "rules": []}, {"name": "all", "rules": []}],
        first_touch={
            "counted_task_kinds": ["Call"],
            "excluded_user_ids": [],
            "default_sla_minutes": 5,
        },
    )
    doc["regions"].append(dict(doc["regions"][0]))
    text = "\n".join(problems_of(write_policy(tmp_path, doc)))
    assert "$.segments[1].name: duplicate name 'all' (also segments[0])" in text
    assert "$.regions[1].name: duplicate name 'world' (also regions[0])" in text
    assert "$.pools[1].name: duplicate name 'p' (also pools[0])" in text


def test_empty_pool_without_fallback(tmp_path: Path) -> None:
    line = one_problem(write_policy(tmp_path, simple_policy([pool(members=[])])))
    assert "$.pools[0].members: pool 'p' has no members and no fallback of its own" in line
    # With its own fallback an empty pool is a deliberate "send these to a queue".
    ok = simple_policy([pool(members=[], fallback={"owner_id": FALLBACK_QUEUE})])
    assert load_policy(write_policy(tmp_path, ok, "ok.json")).policy.pools[0].members == []


def test_combination_without_a_pool(tmp_path: Path) -> None:
    regions = [
        {"name": "world", "rules": [], "business_hours": {"time_zone": "UTC", "weekly": {}}},
        {
            "name": "mars",
            "rules": [{"name": "red", "when": {"field": "Country", "op": "=", "value": "Mars"}}],
            "business_hours": {"time_zone": "UTC", "weekly": {"mon": [["00:00", "24:00"]]}},
        },
    ]
    doc = simple_policy([pool()], regions=regions)
    text = "\n".join(problems_of(write_policy(tmp_path, doc)))
    assert "$.pools: no pool for segment 'all' and region 'mars'" in text
    assert "$.regions[0].business_hours.weekly: no opening hours on any day" in text
    doc["pools"].append({**pool(name="any"), "region": "*"})
    doc["regions"][0]["business_hours"]["weekly"] = {"tue": [["09:00", "12:00"]]}
    assert load_policy(write_policy(tmp_path, doc, "ok.json")).policy.pool_for("all", "mars")


def test_unknown_lead_field_and_ill_typed_values(tmp_path: Path) -> None:
    rules = [
        {"name": "a", "when": {"field": "Employees", "op": ">", "value": 5}},
        {"name": "b", "when": {"field": "NumberOfEmployees", "op": ">", "value": "5"}},
        {"name": "c", "when": {"field": "NumberOfEmployees", "op": "contains", "value": "5"}},
        {"name": "d", "when": {"field": "IsConverted", "op": "<", "value": True}},
        {"name": "e", "when": {"field": "CreatedDate", "op": ">", "value": "yesterday"}},
    ]
    doc = simple_policy([pool()], segments=[{"name": "all", "rules": rules}])
    doc["enrichment_wait"] = {"required_fields": ["Revenue"], "max_wait_minutes": 10}
    text = "\n".join(problems_of(write_policy(tmp_path, doc)))
    assert "$.segments[0].rules[0].when.field: unknown Lead field 'Employees'" in text
    assert "rules[1].when.value: NumberOfEmployees is a number field; '5' is not a number" in text
    assert "rules[2].when.value: op 'contains' applies to text fields" in text
    assert "rules[3].when.value: op '<' does not apply to the boolean field IsConverted" in text
    assert "rules[4].when.value: CreatedDate is a date-time field; 'yesterday'" in text
    assert "$.enrichment_wait.required_fields[0]: unknown Lead field 'Revenue'" in text


def test_bad_time_zone_and_hours(tmp_path: Path) -> None:
    doc = simple_policy([pool()])
    hours = doc["regions"][0]["business_hours"]
    hours["time_zone"] = "Mars/Olympus_Mons"
    hours["weekly"]["mon"] = [["17:00", "09:00"]]
    hours["weekly"]["tue"] = [["09:00", "13:00"], ["12:00", "17:00"]]
    hours["holidays"] = ["2026-02-30"]
    text = "\n".join(problems_of(write_policy(tmp_path, doc)))
    assert '$.regions[0].business_hours.holidays[0]: "2026-02-30" is not a calendar date' in text
    doc["regions"][0]["business_hours"]["holidays"] = ["2026-12-25"]
    text = "\n".join(problems_of(write_policy(tmp_path, doc)))
    assert (
        "$.regions[0].business_hours.time_zone: 'Mars/Olympus_Mons' is not an IANA time zone"
        in text
    )
    assert (
        "$.regions[0].business_hours.weekly.mon[0]: opening 17:00 is not before closing 09:00"
        in text
    )
    assert "$.regions[0].business_hours.weekly.tue: opening intervals overlap" in text


def test_rules_that_can_never_match(tmp_path: Path) -> None:
    big = {"field": "NumberOfEmployees", "op": ">=", "value": 1000}
    rules = [
        {
            "name": "impossible",
            "when": {
                "all": [
                    {"field": "NumberOfEmployees", "op": ">", "value": 10},
                    {"field": "NumberOfEmployees", "op": "<", "value": 5},
                ]
            },
        },
        {
            "name": "null and equal",
            "when": {
                "all": [
                    {"field": "Country", "op": "is_null"},
                    {"field": "Country", "op": "=", "value": "Japan"},
                ]
            },
        },
        {"name": "big", "when": big},
        {"name": "big again", "when": big},
        {"name": "everything", "when": {"all": []}},
        {"name": "after everything", "when": {"field": "Country", "op": "=", "value": "Japan"}},
    ]
    doc = simple_policy(
        [pool()],
        segments=[
            {"name": "all", "rules": rules[:4], "sla_minutes": 9},
            {"name": "rest", "rules": rules[4:], "sla_minutes": 9},
        ],
    )
    doc["pools"].append({**pool(name="rest"), "segment": "rest"})
    lines = problems_of(write_policy(tmp_path, doc))
    text = "\n".join(lines)
    assert (
        "$.segments[0].rules[0]: rule 'impossible' can never match: NumberOfEmployees cannot be "
        "both > 10 and < 5" in text
    )
    assert "$.segments[0].rules[1]: rule 'null and equal' can never match: Country is_null" in text
    assert "$.segments[0].rules[3]: rule 'big again' can never match: rule 'big' at " in text
    assert (
        "$.segments[1].rules[1]: rule 'after everything' can never match: rule 'everything' at "
        "$.segments[1].rules[0] matches every lead and comes first" in text
    )
    assert len(lines) == 4


def test_fallback_must_not_be_an_intake_queue(tmp_path: Path) -> None:
    doc = simple_policy([pool()])
    doc["fallback"] = {"owner_id": INTAKE_QUEUE}
    line = one_problem(write_policy(tmp_path, doc))
    assert "$.fallback.owner_id: " in line and "is an intake queue" in line


def test_every_semantic_problem_is_listed_at_once(tmp_path: Path) -> None:
    doc = simple_policy(
        [pool(), pool(name="empty", members=[]) | {"region": "*"}],
        segments=[{"name": "all", "rules": []}, {"name": "all", "rules": []}],
        first_touch={
            "counted_task_kinds": ["Call"],
            "excluded_user_ids": [],
            "default_sla_minutes": 5,
        },
    )
    doc["regions"][0]["business_hours"]["time_zone"] = "Nowhere/City"
    doc["regions"][0]["rules"] = [{"name": "f", "when": {"field": "Planet", "op": "is_null"}}]
    doc["default_region"] = "moon"
    text = "\n".join(problems_of(write_policy(tmp_path, doc)))
    for expected in (
        "$.default_region: 'moon' is not a region",
        "$.segments[1].name: duplicate name 'all'",
        "$.regions[0].rules[0].when.field: unknown Lead field 'Planet'",
        "$.regions[0].business_hours.time_zone: 'Nowhere/City' is not an IANA time zone",
        "$.pools[1].members: pool 'empty' has no members and no fallback",
    ):
        assert expected in text


def test_unreadable_file(tmp_path: Path) -> None:
    line = one_problem(tmp_path / "missing.json")
    assert "$: cannot read the file" in line


# --- the command ----------------------------------------------------------------------------------


def test_validate_command_prints_every_problem_and_fails(tmp_path: Path) -> None:
    doc = simple_policy([pool(members=[{"user_id": REPS[0], "weight": 0}])], policy_version="one")
    path = write_policy(tmp_path, doc)
    out = io.StringIO()
    assert validate_command(path, out=out) == 1
    printed = out.getvalue().splitlines()
    assert f'{path}: $.policy_version: "one" is not a semantic version' in printed[0]
    assert printed[1] == f"{path}: $.pools[0].members[0].weight: must be greater than 0, got 0"
    assert printed[2] == f"{path}: 2 problems; the policy was not loaded"


def test_validate_command_accepts_a_good_policy(tmp_path: Path) -> None:
    out = io.StringIO()
    assert validate_command(POLICY_PATH, out=out) == 0
    assert "valid: policy_version 1.0.0, sha256 " in out.getvalue()
    assert validate_command(POLICY_PATH, tmp_path / "nope.duckdb", out=io.StringIO()) == 2


def test_models_mirror_the_schema_for_the_shipped_policy() -> None:
    policy = load_policy(POLICY_PATH).policy
    dumped = policy.model_dump(by_alias=True, exclude_unset=True, mode="json")
    original = shipped_doc()
    for pool_dump in (*dumped["pools"], *original["pools"]):
        for member in pool_dump["members"]:
            for window in member.get("out_of_office", []):
                window["start"] = datetime.fromisoformat(window["start"])
                window["end"] = datetime.fromisoformat(window["end"])
    assert dumped == original

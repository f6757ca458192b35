"""Compare the warehouse with the dev org field by field, independently of the code under test."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

from salesops_dagster.devorg.server import DevOrg
from salesops_dagster.ingest.objects import OBJECTS, ObjectSpec
from salesops_dagster.salesforce.client import SalesforceClient
from salesops_dagster.salesforce.config import SalesforceConfig
from salesops_dagster.warehouse.connection import connect
from salesops_dagster.warehouse.sync_state import get_watermark


def client_for(org: DevOrg, **kwargs) -> SalesforceClient:
    kwargs.setdefault("backoff", 0.01)
    kwargs.setdefault("bulk_poll_seconds", 0.05)
    return SalesforceClient(SalesforceConfig.from_env(org.env()), **kwargs)


def _org_value(value, kind: str):
    """The value the warehouse should hold for an org value, parsed by hand (not by raw.py)."""
    if value is None or value == "":
        return None
    if kind == "datetime":
        return (
            datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%f%z").astimezone(UTC).replace(tzinfo=None)
        )
    if kind == "date":
        return date.fromisoformat(value)
    if kind == "double":
        return float(value)
    return value


def org_rows(org: DevOrg, spec: ObjectSpec) -> dict[str, dict]:
    return {
        r["Id"]: {f: _org_value(r.get(f), kind) for f, kind in spec.fields.items()}
        for r in org.records(spec.sobject)
    }


def warehouse_rows(path: Path | str, spec: ObjectSpec) -> dict[str, dict]:
    columns = ", ".join(f'"{f}"' for f in spec.fields)
    with connect(path, read_only=True) as con:
        cursor = con.execute(f'SELECT {columns} FROM salesforce."{spec.table}"')  # noqa: S608
        names = [d[0] for d in cursor.description]
        rows = cursor.fetchall()
    out = {}
    for row in rows:
        record = dict(zip(names, row, strict=True))
        for f, kind in spec.fields.items():
            if kind == "double" and record[f] is not None:
                record[f] = float(record[f])
        out[record["Id"]] = record
    return out


def assert_warehouse_equals_org(org: DevOrg, path: Path | str) -> None:
    for spec in OBJECTS:
        expected, actual = org_rows(org, spec), warehouse_rows(path, spec)
        assert set(actual) == set(expected), f"{spec.sobject}: Ids differ"
        for record_id, fields in expected.items():
            assert actual[record_id] == fields, f"{spec.sobject} {record_id} differs"


def watermarks(path: Path | str) -> dict[str, datetime | None]:
    with connect(path, read_only=True) as con:
        return {spec.sobject: get_watermark(con, spec.sobject) for spec in OBJECTS}


def assert_no_gap(org: DevOrg, path: Path | str) -> None:
    """No watermark passed a row that is not stored: every org row stamped before its object's
    watermark is in the warehouse, at that version."""
    marks = watermarks(path) if Path(path).exists() else {}
    for spec in OBJECTS:
        mark = marks.get(spec.sobject)
        if mark is None:
            continue
        cutoff = mark.astimezone(UTC).replace(tzinfo=None)
        stored = warehouse_rows(path, spec)
        for record_id, fields in org_rows(org, spec).items():
            if fields["SystemModstamp"] < cutoff:
                assert stored.get(record_id) == fields, (
                    f"{spec.sobject} {record_id} is behind the watermark {mark} but not stored"
                )

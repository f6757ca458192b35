"""Helpers shared by the routing and policy tests: policies built in code, synthetic warehouses."""

from __future__ import annotations

import copy
import hashlib
import json
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

import duckdb

from salesops_dagster.devorg import synthetic
from salesops_dagster.ingest.objects import OBJECTS_BY_NAME
from salesops_dagster.policy import LoadedPolicy, validate_document
from salesops_dagster.warehouse import raw

POLICY_PATH = Path(__file__).resolve().parents[2] / "policies" / "routing_policy.json"

INTAKE_QUEUE = synthetic.LEAD_INTAKE_QUEUE_ID
FALLBACK_QUEUE = synthetic.UNROUTED_FALLBACK_QUEUE_ID
REPS = [u.id for u in synthetic.ACTIVE_REPS]


@cache
def _shipped_text() -> str:
    return POLICY_PATH.read_text(encoding="utf-8")


def shipped_doc() -> dict[str, Any]:
    """A fresh copy of policies/routing_policy.json as a dict."""
    return json.loads(_shipped_text())


def loaded(doc: dict[str, Any], **known: Any) -> LoadedPolicy:
    """A policy document validated and loaded in memory (sha256 of its canonical JSON text)."""
    text = json.dumps(doc, indent=2)
    policy, problems = validate_document(text, **known)
    assert not problems, "\n".join(map(str, problems))
    assert policy is not None
    return LoadedPolicy(policy, hashlib.sha256(text.encode()).hexdigest(), Path("<memory>"))


def write_policy(directory: Path, doc: dict[str, Any] | str, name: str = "policy.json") -> Path:
    path = directory / name
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc, indent=2), encoding="utf-8")
    return path


def business_hours(time_zone: str = "UTC") -> dict[str, Any]:
    return {
        "time_zone": time_zone,
        "weekly": {d: [["09:00", "17:00"]] for d in ("mon", "tue", "wed", "thu", "fri")},
    }


def simple_policy(
    pools: list[dict[str, Any]],
    *,
    segments: list[dict[str, Any]] | None = None,
    regions: list[dict[str, Any]] | None = None,
    default_segment: str = "all",
    default_region: str = "world",
    **extra: Any,
) -> dict[str, Any]:
    """A small valid policy: one segment `all`, one region `world` unless given."""
    doc: dict[str, Any] = {
        "policy_version": "1.0.0",
        "name": "test policy",
        "intake_queues": [INTAKE_QUEUE],
        "fallback": {"owner_id": FALLBACK_QUEUE},
        "segments": segments or [{"name": "all", "rules": [], "sla_minutes": 60}],
        "default_segment": default_segment,
        "regions": regions or [{"name": "world", "rules": [], "business_hours": business_hours()}],
        "default_region": default_region,
        "pools": pools,
        "first_touch": {"counted_task_kinds": ["Call", "Email"], "excluded_user_ids": []},
    }
    doc.update(extra)
    return copy.deepcopy(doc)


def full_record(spec_name: str, record: dict[str, Any]) -> dict[str, Any]:
    """A record with every declared field of its ObjectSpec (missing ones null)."""
    spec = OBJECTS_BY_NAME[spec_name]
    return {name: record.get(name) for name in spec.fields}


def load_records(
    con: duckdb.DuckDBPyConnection,
    data: dict[str, list[dict[str, Any]]],
    synced_at: datetime,
    objects: tuple[str, ...] = ("User", "Group", "Lead"),
) -> None:
    """Upsert synthetic (REST-shaped) records into the raw tables."""
    for name in objects:
        records = [full_record(name, r) for r in data.get(name, [])]
        raw.upsert_records(con, OBJECTS_BY_NAME[name], records, synced_at)


def record_owner_write(con, decision_id: str, lead_id: str, at, ok: bool = True) -> None:
    """What the writer records after sending a routing decision's owner, through the writer's own
    table code (so a change to `salesops.salesforce_write` reaches these tests)."""
    import uuid

    from salesops_dagster.warehouse.writes import WriteAttempt, record_attempts

    record_attempts(
        con,
        [
            WriteAttempt(
                write_id=uuid.uuid4().hex,
                run_id="test",
                purpose="routing",
                sobject="Lead",
                record_id=lead_id,
                source_key=decision_id,
                fields="{}",
                method="collections",
                attempted_at=at,
                success=ok,
                error_code=None if ok else "UNABLE_TO_LOCK_ROW",
                message=None,
                retryable=not ok,
                status="written" if ok else "failed",
            )
        ],
    )

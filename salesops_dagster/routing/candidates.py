"""Which leads to decide now, with their rule matches, computed in one DuckDB query.

A lead is a candidate when it is not deleted, not converted, owned by one of the policy's intake
queues, and:

- it has no decision yet: attempt 1; or
- its latest decision was written to Salesforce (a successful `routing` row in
  `salesops.salesforce_write` whose source_key is that decision_id) and the lead changed after that
  write (SystemModstamp later than the write) while back in an intake queue: someone handed it
  back, so attempt n + 1, never to any owner of its earlier decisions.

A lead whose latest decision is not written yet gets no new decision: publishing retries it.
Missing `salesops` tables count as empty.

The segment and region rules compile to two `CASE WHEN ... THEN <rule index>` expressions
(`rules.case_sql`) evaluated in the same query, so the Python side only does the round robin.
`candidates_from_records` builds the same candidates from in-memory lead dicts with the Python
rule evaluator (tests, and a cross-check of the SQL).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import duckdb

from salesops_dagster.policy.models import RoutingPolicy
from salesops_dagster.routing import rules as rule_logic
from salesops_dagster.warehouse.connection import table_exists
from salesops_dagster.warehouse.raw import quote

_NO_DECISIONS = (
    "SELECT NULL::VARCHAR AS decision_id, NULL::VARCHAR AS lead_id, NULL::INTEGER AS attempt, "
    "NULL::VARCHAR AS owner_id WHERE false"
)
_NO_WRITES = "SELECT NULL::VARCHAR AS decision_id, NULL::TIMESTAMP AS written_at WHERE false"


@dataclass(frozen=True, slots=True)
class Candidate:
    """A lead to decide for one attempt, with its rule matches already computed."""

    lead_id: str
    created_at: datetime  # aware UTC
    segment_rule: int  # index into the policy's flattened segment rules, or rules.NO_MATCH
    region_rule: int  # likewise for regions
    attempt: int = 1
    previous_owners: frozenset[str] = frozenset()
    enrichment_complete: bool = True  # every enrichment_wait.required_fields present
    modified_at: datetime | None = None  # LastModifiedDate (aware UTC)
    fields: Mapping[str, Any] = field(default_factory=dict)  # snapshot of the fields rules read
    decided_at: datetime | None = None  # fixed decision time (backtest replays), else derived


def snapshot_fields(policy: RoutingPolicy) -> list[str]:
    """The Lead fields the policy's rules and enrichment wait read, in a stable order."""
    names: set[str] = set()
    for group in (*policy.segments, *policy.regions):
        for rule in group.rules:
            names |= rule_logic.referenced_fields(rule.when)
    if policy.enrichment_wait is not None:
        names |= set(policy.enrichment_wait.required_fields)
    return sorted(name for name in names if name in rule_logic.LEAD_FIELD_TYPES)


def jsonable(value: Any) -> Any:
    """A field value as it is kept in the decision's reasons."""
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return value


def from_jsonable(field: str, value: Any) -> Any:
    """A reasons snapshot value back as the warehouse holds it (datetimes naive UTC)."""
    if value is None:
        return None
    kind = rule_logic.field_type(field)
    if kind == "datetime" and isinstance(value, str):
        return datetime.fromisoformat(value)
    if kind == "date" and isinstance(value, str):
        return date.fromisoformat(value)
    return value


def candidates_sql(policy: RoutingPolicy, con: duckdb.DuckDBPyConnection) -> tuple[str, dict]:
    """The candidate query and its parameters (see the module docstring)."""
    params = rule_logic.SqlParams()
    segment_case = rule_logic.case_sql(rule_logic.flatten("segments", policy.segments), params)
    region_case = rule_logic.case_sql(rule_logic.flatten("regions", policy.regions), params)
    wait = policy.enrichment_wait
    complete = (
        " AND ".join(f"lead.{quote(f)} IS NOT NULL" for f in wait.required_fields)
        if wait is not None
        else "true"
    )
    intake = ", ".join(params.add(queue_id) for queue_id in policy.intake_queues)
    snapshot = "".join(f",\n    lead.{quote(f)}" for f in snapshot_fields(policy))
    decisions = (
        "SELECT decision_id, lead_id, attempt, owner_id FROM salesops.lead_routing_decision"
        if table_exists(con, "salesops", "lead_routing_decision")
        else _NO_DECISIONS
    )
    writes = (
        "SELECT source_key AS decision_id, max(attempted_at) AS written_at "
        "FROM salesops.salesforce_write WHERE purpose = 'routing' AND success "
        "GROUP BY source_key"
        if table_exists(con, "salesops", "salesforce_write")
        else _NO_WRITES
    )
    sql = f"""
WITH decisions AS ({decisions}),
latest AS (
    SELECT lead_id, attempt, decision_id
    FROM decisions
    QUALIFY row_number() OVER (PARTITION BY lead_id ORDER BY attempt DESC) = 1
),
owners AS (
    SELECT lead_id, list(DISTINCT owner_id) AS previous_owners
    FROM decisions
    GROUP BY lead_id
),
written AS ({writes})
SELECT
    lead."Id" AS lead_id,
    lead."CreatedDate" AS created_at,
    -- For a lead handed back: when that happened (never before our write of its last owner).
    greatest(coalesce(lead."LastModifiedDate", lead."SystemModstamp"), written.written_at)
        AS modified_at,
    coalesce(latest.attempt, 0) + 1 AS attempt,
    owners.previous_owners,
    {segment_case} AS segment_rule,
    {region_case} AS region_rule,
    ({complete}) AS enrichment_complete{snapshot}
FROM salesforce.lead AS lead
LEFT JOIN latest ON latest.lead_id = lead."Id"
LEFT JOIN owners ON owners.lead_id = lead."Id"
LEFT JOIN written ON written.decision_id = latest.decision_id
WHERE NOT lead._is_deleted
  AND NOT coalesce(lead."IsConverted", false)
  AND lead."OwnerId" IN ({intake})
  AND (
      latest.lead_id IS NULL
      -- handed back after the previous decision was applied
      OR (written.written_at IS NOT NULL AND lead."SystemModstamp" > written.written_at)
  )
ORDER BY lead."CreatedDate", lead."Id"
"""  # noqa: S608 - names are quoted identifiers, values are bound parameters
    return sql, params.values


def _aware(value: datetime | None) -> datetime | None:
    return None if value is None else value.replace(tzinfo=UTC)


def load_candidates(con: duckdb.DuckDBPyConnection, policy: RoutingPolicy) -> list[Candidate]:
    """Every lead to decide now (one query), in (CreatedDate, Id) order."""
    sql, params = candidates_sql(policy, con)
    cursor = con.execute(sql, params)
    names = [d[0] for d in cursor.description][8:]
    temporal = [n for n in names if rule_logic.field_type(n) in ("datetime", "date")]
    out = []
    for row in cursor.fetchall():
        lead_id, created, modified, attempt, owners, segment_rule, region_rule, complete = row[:8]
        fields = dict(zip(names, row[8:], strict=True))
        for name in temporal:
            fields[name] = jsonable(fields[name])
        out.append(
            Candidate(
                lead_id=lead_id,
                created_at=created.replace(tzinfo=UTC),
                segment_rule=segment_rule,
                region_rule=region_rule,
                attempt=attempt,
                previous_owners=frozenset(owners or ()),
                enrichment_complete=bool(complete),
                modified_at=_aware(modified),
                fields=fields,
            )
        )
    return out


def candidates_from_records(
    policy: RoutingPolicy,
    leads: Iterable[Mapping[str, Any]],
    *,
    attempts: Mapping[str, tuple[int, Iterable[str]]] | None = None,
) -> list[Candidate]:
    """Candidates from lead dicts ({field: value}, CreatedDate an aware or naive-UTC datetime),
    matched with the Python evaluator. `attempts` maps a lead Id to (attempt, previous owners).

    No eligibility filtering: every lead given is a candidate."""
    segment_first = rule_logic.first_match_python(rule_logic.flatten("segments", policy.segments))
    region_first = rule_logic.first_match_python(rule_logic.flatten("regions", policy.regions))
    wait = policy.enrichment_wait
    snapshot = snapshot_fields(policy)
    attempts = attempts or {}
    out = []
    for lead in leads:
        lead_id = lead["Id"]
        attempt, owners = attempts.get(lead_id, (1, ()))
        modified = lead.get("LastModifiedDate")
        out.append(
            Candidate(
                lead_id=lead_id,
                created_at=_as_utc(lead["CreatedDate"]),
                segment_rule=segment_first(lead),
                region_rule=region_first(lead),
                attempt=attempt,
                previous_owners=frozenset(owners),
                enrichment_complete=wait is None
                or all(lead.get(f) is not None for f in wait.required_fields),
                modified_at=_as_utc(modified) if modified is not None else None,
                fields={name: jsonable(lead.get(name)) for name in snapshot},
            )
        )
    return out


def _as_utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

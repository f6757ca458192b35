"""Backtest: replay a policy over the decisions actually made, without writing, and compare.

What is replayed: every decision in `salesops.lead_routing_decision` (with `since`, those of leads
created on or after it; the older decisions then seed the round-robin and cap state as they are).
Each is replayed in a fresh in-memory engine as the live runs made it:

- run by run (`computed_at`), each run's leads in (CreatedDate, Id) order, the state carried from
  one run to the next, so the policy that made the decisions reproduces them exactly;
- at the same logical time (`decided_at`) and for the same attempt: timing is held fixed, so the
  differences come from rules, pools, weights, caps and out-of-office windows (a change of
  `enrichment_wait` alone shows no difference);
- with the field values the decision saw (kept in its reasons), overlaid on the lead's current row
  for fields the old policy did not read;
- never giving a re-routed lead to an owner it had, actually or in the replay.

Users' IsActive is today's. The report counts decisions, fallbacks and cap hits (members skipped
at a daily or period cap) per segment, region and owner, before (actual) and after (replayed).
"""

from __future__ import annotations

import csv
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from itertools import groupby
from pathlib import Path
from typing import Any

import duckdb

from salesops_dagster.policy.loader import LoadedPolicy, known_ids
from salesops_dagster.routing import rules as rule_logic
from salesops_dagster.routing.candidates import Candidate, from_jsonable, jsonable, snapshot_fields
from salesops_dagster.routing.decisions import RoutingDecision, history_of, read_decisions
from salesops_dagster.routing.engine import Engine
from salesops_dagster.warehouse.connection import table_exists
from salesops_dagster.warehouse.raw import quote

CAP_REASONS = frozenset({"daily_cap", "period_cap"})
DIMENSIONS = ("total", "segment", "region", "owner")


@dataclass(frozen=True)
class BacktestRow:
    """Before (actual) and after (replayed) for one segment, region or owner (or the total)."""

    dimension: str  # total | segment | region | owner
    key: str
    label: str  # the owner's name when known, else the key
    count_before: int
    count_after: int
    fallback_before: int
    fallback_after: int
    cap_hits_before: int
    cap_hits_after: int

    @property
    def delta(self) -> int:
        return self.count_after - self.count_before

    @property
    def fallback_rate_before(self) -> float | None:
        return self.fallback_before / self.count_before if self.count_before else None

    @property
    def fallback_rate_after(self) -> float | None:
        return self.fallback_after / self.count_after if self.count_after else None

    @property
    def changed(self) -> bool:
        return (
            self.count_before != self.count_after
            or self.fallback_before != self.fallback_after
            or self.cap_hits_before != self.cap_hits_after
        )


@dataclass
class BacktestReport:
    policy_path: str
    policy_version: str
    policy_sha256: str
    since: datetime | None
    decisions: int
    owner_changed: int
    segment_changed: int
    region_changed: int
    rows: list[BacktestRow]
    replayed: list[RoutingDecision] = field(repr=False, default_factory=list)

    @property
    def has_changes(self) -> bool:
        return bool(
            self.owner_changed
            or self.segment_changed
            or self.region_changed
            or any(row.changed for row in self.rows)
        )

    def row(self, dimension: str, key: str) -> BacktestRow:
        return next(r for r in self.rows if r.dimension == dimension and r.key == key)

    def to_markdown(self) -> str:
        """A summary line and one table (rows: total, segments, regions, owners)."""
        window = f" for leads created since {self.since.date().isoformat()}" if self.since else ""
        lines = [
            f"Backtest of `{self.policy_path}` (version {self.policy_version}, sha256 "
            f"{self.policy_sha256[:12]}) over {self.decisions} decision(s){window}: "
            f"{self.owner_changed} would change owner, {self.segment_changed} segment, "
            f"{self.region_changed} region.",
            "",
            "| dimension | key | before | after | change | fallback before | fallback after "
            "| cap hits before | cap hits after |",
            "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        for row in self.rows:
            lines.append(
                f"| {row.dimension} | {_md(row.label)} | {row.count_before} | {row.count_after} "
                f"| {row.delta:+d} | {_rate(row.fallback_rate_before)} "
                f"| {_rate(row.fallback_rate_after)} | {row.cap_hits_before} "
                f"| {row.cap_hits_after} |"
            )
        return "\n".join(lines) + "\n"

    def to_csv(self, path: str | Path) -> Path:
        """The rows as CSV (rates as fractions, empty when there is no decision)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", newline="", encoding="utf-8") as out:
            writer = csv.writer(out)
            writer.writerow(
                [
                    "dimension",
                    "key",
                    "label",
                    "count_before",
                    "count_after",
                    "delta",
                    "fallback_before",
                    "fallback_after",
                    "fallback_rate_before",
                    "fallback_rate_after",
                    "cap_hits_before",
                    "cap_hits_after",
                ]
            )
            for row in self.rows:
                writer.writerow(
                    [
                        row.dimension,
                        row.key,
                        row.label,
                        row.count_before,
                        row.count_after,
                        row.delta,
                        row.fallback_before,
                        row.fallback_after,
                        ""
                        if row.fallback_rate_before is None
                        else f"{row.fallback_rate_before:.4f}",
                        "" if row.fallback_rate_after is None else f"{row.fallback_rate_after:.4f}",
                        row.cap_hits_before,
                        row.cap_hits_after,
                    ]
                )
        return path


def _md(text: str) -> str:
    return text.replace("|", "\\|")


def _rate(value: float | None) -> str:
    return "" if value is None else f"{value:.1%}"


def _as_datetime(since: date | datetime | None) -> datetime | None:
    if since is None:
        return None
    if not isinstance(since, datetime):
        since = datetime.combine(since, time(0), tzinfo=UTC)
    if since.tzinfo is None:
        raise ValueError(f"since must be a date or an aware datetime, got naive {since!r}")
    return since


def _lead_rows(
    con: duckdb.DuckDBPyConnection, lead_ids: Iterable[str], fields: Sequence[str]
) -> dict[str, dict[str, Any]]:
    """The current values of `fields` for the given leads."""
    ids = sorted(set(lead_ids))
    if not ids or not fields or not table_exists(con, "salesforce", "lead"):
        return {}
    columns = ", ".join(quote(f) for f in fields)
    rows = con.execute(
        f'SELECT "Id", {columns} FROM salesforce.lead WHERE "Id" IN (SELECT unnest($ids))',  # noqa: S608
        {"ids": ids},
    ).fetchall()
    return {row[0]: dict(zip(fields, row[1:], strict=True)) for row in rows}


def _owner_labels(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    labels: dict[str, str] = {}
    for schema_table, sql in (
        ("user", 'SELECT "Id", "Name" FROM salesforce."user"'),
        ("group", 'SELECT "Id", "Name" FROM salesforce."group"'),
    ):
        if table_exists(con, "salesforce", schema_table):
            labels.update({i: n for i, n in con.execute(sql).fetchall() if n})
    return labels


def _cap_hits(decision: RoutingDecision) -> list[str]:
    """The members a decision skipped at a cap."""
    return [
        s["user_id"]
        for s in decision.reasons.get("skipped", [])
        if isinstance(s, dict) and s.get("why") in CAP_REASONS
    ]


def replay(
    con: duckdb.DuckDBPyConnection,
    loaded: LoadedPolicy,
    actual: Sequence[RoutingDecision],
    seed: Sequence[RoutingDecision] = (),
) -> list[RoutingDecision]:
    """`actual` decided again under `loaded`, run by run, in memory (see the module docstring)."""
    policy = loaded.policy
    engine = Engine(loaded, history=history_of(seed), active_users=known_ids(con)["known_users"])
    segment_first = rule_logic.first_match_python(rule_logic.flatten("segments", policy.segments))
    region_first = rule_logic.first_match_python(rule_logic.flatten("regions", policy.regions))
    read_fields = snapshot_fields(policy)
    current = _lead_rows(con, (d.lead_id for d in actual), read_fields)
    owners: dict[str, set[str]] = defaultdict(set)
    for decision in seed:
        owners[decision.lead_id].add(decision.owner_id)
    replayed: list[RoutingDecision] = []
    for computed_at, run in groupby(actual, key=lambda d: d.computed_at):
        run = list(run)
        candidates = []
        for decision in run:
            lead = dict(current.get(decision.lead_id, {}))
            snapshot = decision.reasons.get("fields", {})
            for name, value in snapshot.items():
                if name in rule_logic.LEAD_FIELD_TYPES:
                    lead[name] = from_jsonable(name, value)
            candidates.append(
                Candidate(
                    lead_id=decision.lead_id,
                    created_at=decision.lead_created_at,
                    segment_rule=segment_first(lead),
                    region_rule=region_first(lead),
                    attempt=decision.attempt,
                    previous_owners=frozenset(owners[decision.lead_id]),
                    fields={name: jsonable(lead.get(name)) for name in read_fields},
                    decided_at=decision.decided_at,
                )
            )
        result = engine.decide(candidates, computed_at=computed_at)
        replayed.extend(result.decisions)
        for before in run:
            owners[before.lead_id].add(before.owner_id)
        for after in result.decisions:
            owners[after.lead_id].add(after.owner_id)
    return replayed


def compare(
    before: Sequence[RoutingDecision],
    after: Sequence[RoutingDecision],
    *,
    segment_order: Sequence[str] = (),
    region_order: Sequence[str] = (),
    owners: Iterable[str] = (),
    labels: dict[str, str] | None = None,
) -> list[BacktestRow]:
    """Rows of counts, fallbacks and cap hits per dimension, before vs after (`owners` are listed
    even when they got nothing on either side)."""
    labels = labels or {}
    counts: dict[str, Counter] = {}
    for side, decisions in (("before", before), ("after", after)):
        count: Counter = Counter()
        for d in decisions:
            hits = _cap_hits(d)
            for dimension, key in (
                ("total", "all"),
                ("segment", d.segment),
                ("region", d.region),
                ("owner", d.owner_id),
            ):
                count[(dimension, key, "n")] += 1
                count[(dimension, key, "fallback")] += d.is_fallback
                if dimension != "owner":
                    count[(dimension, key, "caps")] += len(hits)
            for user_id in hits:
                count[("owner", user_id, "caps")] += 1
                count[("owner", user_id, "n")] += 0
        counts[side] = count

    keys: dict[str, set[str]] = defaultdict(set)
    keys["owner"].update(owners)
    for count in counts.values():
        for dimension, key, _ in count:
            keys[dimension].add(key)

    def order(dimension: str, key: str) -> tuple:
        preferred = {"segment": segment_order, "region": region_order}.get(dimension, ())
        rank = list(preferred).index(key) if key in preferred else len(preferred)
        return (rank, key)

    rows = []
    for dimension in DIMENSIONS:
        for key in sorted(keys[dimension], key=lambda k, d=dimension: order(d, k)):
            b, a = counts["before"], counts["after"]
            label = f"{labels[key]} ({key})" if dimension == "owner" and key in labels else key
            rows.append(
                BacktestRow(
                    dimension=dimension,
                    key=key,
                    label=label,
                    count_before=b[(dimension, key, "n")],
                    count_after=a[(dimension, key, "n")],
                    fallback_before=b[(dimension, key, "fallback")],
                    fallback_after=a[(dimension, key, "fallback")],
                    cap_hits_before=b[(dimension, key, "caps")],
                    cap_hits_after=a[(dimension, key, "caps")],
                )
            )
    return rows


def backtest(
    con: duckdb.DuckDBPyConnection,
    policy_a: LoadedPolicy,
    since: date | datetime | None = None,
) -> BacktestReport:
    """Replay `policy_a` over the decisions made (of leads created since `since`), compare, and
    report. Reads the warehouse only."""
    since_dt = _as_datetime(since)
    everything = read_decisions(con)
    if since_dt is None:
        actual, seed = everything, []
    else:
        actual = [d for d in everything if d.lead_created_at >= since_dt]
        seed = [d for d in everything if d.lead_created_at < since_dt]
    replayed = replay(con, policy_a, actual, seed)
    by_id = {d.decision_id: d for d in replayed}
    owner_changed = segment_changed = region_changed = 0
    for before in actual:
        after = by_id[before.decision_id]
        owner_changed += before.owner_id != after.owner_id
        segment_changed += before.segment != after.segment
        region_changed += before.region != after.region
    policy = policy_a.policy
    return BacktestReport(
        policy_path=str(policy_a.path),
        policy_version=policy.policy_version,
        policy_sha256=policy_a.sha256,
        since=since_dt,
        decisions=len(actual),
        owner_changed=owner_changed,
        segment_changed=segment_changed,
        region_changed=region_changed,
        rows=compare(
            actual,
            replayed,
            segment_order=[s.name for s in policy.segments],
            region_order=[r.name for r in policy.regions],
            owners=policy.all_owner_ids(),
            labels=_owner_labels(con),
        ),
        replayed=replayed,
    )

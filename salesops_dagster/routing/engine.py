"""The routing engine: segment, region, pool, then owner by weighted round robin; deterministic.

Inputs are `Candidate`s (a lead with its matched segment and region rules, its attempt number and
the owners it already had; `candidates.py` builds them with one DuckDB query) and the decision
history. Output is one `RoutingDecision` per candidate that is ready, in (CreatedDate, Id) order.

Determinism. Nothing depends on the wall clock or on process memory:

- Decision time (`decided_at`) is logical: the lead's CreatedDate; with `enrichment_wait`, the time
  the required fields were present (approximated by the lead's LastModifiedDate, clamped to
  [CreatedDate, CreatedDate + max wait]) or CreatedDate + max wait when they never came; for a
  lead handed back to intake (attempt > 1), the time it was handed back (its LastModifiedDate).
  Out-of-office windows and caps are judged at that time. `as_of` (the run's "now") only decides
  whether a lead still waiting for enrichment is skipped this run.
- Round-robin state is derived from the decision history: per pool, how many leads each member
  got (`assigned`) and their total `N`. The next lead goes to the eligible member with the largest
  deficit `(N + 1) * weight / W - assigned` (W: the sum of the pool's weights; ties by User Id), a
  smooth weighted round robin: each member stays within about one lead of its exact share
  `N * weight / W` at every point of the stream. Since the state is a set of counts, deciding a
  stream in one batch or in any split (feeding each batch the decisions of the earlier ones) gives
  identical decisions. A member who was away catches up on return (bounded by their caps).
- Caps are per pool membership. `daily_cap`: decisions for that member in that pool on the
  calendar day of `decided_at` in the time zone of the pool's region (UTC for region "*").
  `period_cap` {days, max}: at most `max` in any `days` x 24 h window: a member is eligible when
  fewer than `max` of their decisions lie within `days` of `decided_at` on either side (exactly the
  rolling window ending at `decided_at` when decisions arrive in time order; conservative, never
  exceeded, when a re-routed or late-enriched lead is decided out of time order).
- Skipped: previous owners of the lead (re-routing never returns a lead to someone who had it),
  inactive or unknown users (when the User table is known), members out of office at `decided_at`,
  members at a cap. When nobody is eligible: the pool's fallback, else the policy's, with
  `is_fallback` true. The fallback is the last resort and is used even if it had the lead before.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right, insort
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import duckdb

from salesops_dagster.policy.loader import LoadedPolicy, known_ids
from salesops_dagster.policy.models import Member, Pool, RoutingPolicy
from salesops_dagster.routing import rules as rule_logic
from salesops_dagster.routing.candidates import Candidate, load_candidates
from salesops_dagster.routing.decisions import (
    HistoryRow,
    RoutingDecision,
    decision_id,
    read_history,
)


@dataclass(frozen=True)
class Waiting:
    """A lead skipped this run: its enrichment fields are missing and the wait is not over."""

    lead_id: str
    attempt: int
    route_by: datetime  # when it will be routed even if the fields never come


@dataclass
class RoutingResult:
    decisions: list[RoutingDecision]
    waiting: list[Waiting]


# --- state ----------------------------------------------------------------------------------------


class _MemberState:
    __slots__ = ("assigned", "by_day", "times")

    def __init__(self) -> None:
        self.assigned = 0
        self.by_day: dict[date, int] = {}
        self.times: list[datetime] = []  # decided_at of each assignment, sorted


class _PoolState:
    def __init__(self, pool: Pool, policy: RoutingPolicy) -> None:
        self.pool = pool
        self.zone = policy.pool_time_zone(pool)
        # Sorted by User Id: the round robin's tie-break, and a stable order for the reasons.
        self.members: list[Member] = sorted(pool.members, key=lambda m: m.user_id)
        self.state: dict[str, _MemberState] = {m.user_id: _MemberState() for m in pool.members}
        self.fallback = policy.fallback_for(pool)
        self.has_daily_cap = any(m.daily_cap is not None for m in pool.members)
        self.total_weight = sum(m.weight for m in pool.members)
        self.total = 0  # leads assigned to current members

    def day(self, at: datetime) -> date:
        return at.astimezone(self.zone).date()

    def record(self, owner_id: str, at: datetime, day: date | None = None) -> None:
        member = self.state.get(owner_id)
        if member is None:
            return  # no longer a member under this policy
        member.assigned += 1
        self.total += 1
        if self.has_daily_cap:
            day = day if day is not None else self.day(at)
            member.by_day[day] = member.by_day.get(day, 0) + 1
        insort(member.times, at)


class RoutingState:
    """Round-robin counts and cap usage per pool member, derived from decision history."""

    def __init__(self, policy: RoutingPolicy, history: Iterable[HistoryRow] = ()) -> None:
        self.policy = policy
        self.pools: dict[str, _PoolState] = {p.name: _PoolState(p, policy) for p in policy.pools}
        self.add_history(history)

    def add_history(self, history: Iterable[HistoryRow]) -> None:
        for row in history:
            if row.is_fallback or row.pool is None:
                continue
            pool = self.pools.get(row.pool)
            if pool is not None:
                pool.record(row.owner_id, row.decided_at)


# --- the engine -----------------------------------------------------------------------------------


def _ooo(member: Member, at: datetime) -> Any:
    for window in member.out_of_office:
        if window.start <= at < window.end:
            return window
    return None


def _choose(
    pool: _PoolState,
    at: datetime,
    previous_owners: frozenset[str],
    active_users: Mapping[str, bool] | None,
) -> tuple[Member | None, list[dict[str, Any]], date | None]:
    """(chosen member or None, skipped members with why, the cap day) for one lead."""
    skipped: list[dict[str, Any]] = []
    best: Member | None = None
    best_score = 0.0
    share_of_next = (pool.total + 1) / pool.total_weight if pool.members else 0.0
    day = pool.day(at) if pool.has_daily_cap else None
    for member in pool.members:
        user_id = member.user_id
        state = pool.state[user_id]
        why = detail = None
        if user_id in previous_owners:
            why = "previous_owner"
        elif active_users is not None and not active_users.get(user_id, False):
            why = "inactive" if user_id in active_users else "unknown_user"
        elif (window := _ooo(member, at)) is not None:
            why = "out_of_office"
            detail = f"{window.start.isoformat()} to {window.end.isoformat()}"
        elif (
            member.daily_cap is not None and (used := state.by_day.get(day, 0)) >= member.daily_cap
        ):
            why = "daily_cap"
            detail = f"{used} of {member.daily_cap} on {day}"
        elif member.period_cap is not None:
            span = timedelta(days=member.period_cap.days)
            times = state.times
            near = bisect_left(times, at + span) - bisect_right(times, at - span)
            if near >= member.period_cap.max:
                why = "period_cap"
                detail = (
                    f"{near} within {member.period_cap.days} day(s), max {member.period_cap.max}"
                )
        if why is not None:
            entry = {"user_id": user_id, "why": why}
            if detail:
                entry["detail"] = detail
            skipped.append(entry)
            continue
        score = share_of_next * member.weight - state.assigned
        if best is None or score > best_score:  # members are in User Id order: ties keep first
            best, best_score = member, score
    return best, skipped, day


def _decision_time(
    policy: RoutingPolicy, candidate: Candidate, as_of: datetime | None
) -> tuple[datetime | None, str]:
    """(logical decision time, or None when the lead must wait; what the time is based on)."""
    if candidate.decided_at is not None:
        return candidate.decided_at, "replayed"
    created = candidate.created_at
    if candidate.attempt > 1:
        back = candidate.modified_at or created
        return max(back, created), "handed_back"
    wait = policy.enrichment_wait
    if wait is None:
        return created, "created"
    deadline = created + timedelta(minutes=wait.max_wait_minutes)
    if candidate.enrichment_complete:
        modified = candidate.modified_at or created
        return min(max(modified, created), deadline), "enrichment_complete"
    if as_of is not None and as_of < deadline:
        return None, "waiting"
    return deadline, "enrichment_timeout"


class Engine:
    """Decides candidates against one policy, keeping the state between calls."""

    def __init__(
        self,
        loaded: LoadedPolicy,
        *,
        history: Iterable[HistoryRow] = (),
        active_users: Mapping[str, bool] | None = None,
    ) -> None:
        self.loaded = loaded
        policy = loaded.policy
        self.policy = policy
        self.state = RoutingState(policy, history)
        self.active_users = active_users
        self.segment_rules = rule_logic.flatten("segments", policy.segments)
        self.region_rules = rule_logic.flatten("regions", policy.regions)
        self._pool_by_key: dict[tuple[str, str], _PoolState | None] = {}

    def _pool(self, segment: str, region: str) -> _PoolState | None:
        key = (segment, region)
        if key not in self._pool_by_key:
            pool = self.policy.pool_for(segment, region)
            self._pool_by_key[key] = self.state.pools[pool.name] if pool else None
        return self._pool_by_key[key]

    def _match(self, flat: list[rule_logic.FlatRule], index: int, default: str) -> dict[str, Any]:
        if index == rule_logic.NO_MATCH:
            return {"name": default, "default": True}
        rule = flat[index]
        return {"name": rule.target, "rule": rule.rule.name, "path": rule.path}

    def decide(
        self,
        candidates: Iterable[Candidate],
        *,
        as_of: datetime | None = None,
        computed_at: datetime | None = None,
    ) -> RoutingResult:
        """Decide every ready candidate in (CreatedDate, Id, attempt) order; record them in the
        state, so a later call continues the same round robin."""
        computed_at = computed_at or as_of or datetime.now(UTC)
        ordered = sorted(candidates, key=lambda c: (c.created_at, c.lead_id, c.attempt))
        policy, loaded = self.policy, self.loaded
        decisions: list[RoutingDecision] = []
        waiting: list[Waiting] = []
        for candidate in ordered:
            at, basis = _decision_time(policy, candidate, as_of)
            if at is None:
                deadline = candidate.created_at + timedelta(
                    minutes=policy.enrichment_wait.max_wait_minutes  # type: ignore[union-attr]
                )
                waiting.append(Waiting(candidate.lead_id, candidate.attempt, deadline))
                continue
            segment = self._match(
                self.segment_rules, candidate.segment_rule, policy.default_segment
            )
            region = self._match(self.region_rules, candidate.region_rule, policy.default_region)
            reasons: dict[str, Any] = {
                "segment": segment,
                "region": region,
                "decided_at_basis": basis,
                "fields": dict(candidate.fields),
            }
            if candidate.previous_owners:
                reasons["previous_owners"] = sorted(candidate.previous_owners)
            pool = self._pool(segment["name"], region["name"])
            if pool is None:
                owner_id, is_fallback = policy.fallback.owner_id, True
                reasons["fallback"] = "no pool covers this segment and region"
            else:
                reasons["pool"] = pool.pool.name
                chosen, skipped, day = _choose(
                    pool, at, candidate.previous_owners, self.active_users
                )
                if skipped:
                    reasons["skipped"] = skipped
                if chosen is None:
                    owner_id, is_fallback = pool.fallback, True
                    reasons["fallback"] = (
                        "the pool has no members" if not pool.members else "no member is eligible"
                    )
                else:
                    state = pool.state[chosen.user_id]
                    reasons["owner"] = {
                        "user_id": chosen.user_id,
                        "weight": chosen.weight,
                        "assigned_before": state.assigned,
                    }
                    owner_id, is_fallback = chosen.user_id, False
                    pool.record(chosen.user_id, at, day)
            decisions.append(
                RoutingDecision(
                    decision_id=decision_id(candidate.lead_id, candidate.attempt),
                    lead_id=candidate.lead_id,
                    attempt=candidate.attempt,
                    policy_version=policy.policy_version,
                    policy_sha256=loaded.sha256,
                    segment=segment["name"],
                    region=region["name"],
                    pool=pool.pool.name if pool is not None else None,
                    owner_id=owner_id,
                    is_fallback=is_fallback,
                    reasons=reasons,
                    decided_at=at,
                    lead_created_at=candidate.created_at,
                    computed_at=computed_at,
                )
            )
        return RoutingResult(decisions, waiting)


def decide(
    loaded: LoadedPolicy,
    candidates: Sequence[Candidate],
    *,
    history: Iterable[HistoryRow] = (),
    active_users: Mapping[str, bool] | None = None,
    as_of: datetime | None = None,
    computed_at: datetime | None = None,
) -> RoutingResult:
    """Decide `candidates` given the decision history (one-shot form of `Engine`)."""
    engine = Engine(loaded, history=history, active_users=active_users)
    return engine.decide(candidates, as_of=as_of, computed_at=computed_at)


def route_pending(
    con: duckdb.DuckDBPyConnection,
    loaded: LoadedPolicy,
    *,
    as_of: datetime,
    computed_at: datetime | None = None,
) -> RoutingResult:
    """Decide every lead waiting in an intake queue (nothing is written).

    Candidates come from one DuckDB query (`candidates.load_candidates`), the round-robin state
    from `salesops.lead_routing_decision`, active users from `salesforce."user"`. Store the result
    with `decisions.insert_decisions`; a rerun over the same warehouse decides the same leads the
    same way and inserts nothing.
    """
    engine = Engine(loaded, history=read_history(con), active_users=known_ids(con)["known_users"])
    return engine.decide(load_candidates(con, loaded.policy), as_of=as_of, computed_at=computed_at)

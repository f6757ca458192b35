"""What the routing checks verify, computed from the warehouse independently of the engine.

Each function returns a `Finding`: how many rows break the rule and a sample a person can look up.
The Dagster asset checks in `defs/routing` are thin wrappers around these.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import datetime, timedelta

import duckdb

from salesops_dagster.findings import Finding
from salesops_dagster.policy.loader import LoadedPolicy, known_ids
from salesops_dagster.routing.candidates import load_candidates
from salesops_dagster.routing.decisions import RoutingDecision, read_decisions
from salesops_dagster.warehouse.connection import table_exists


def current_decisions(
    con: duckdb.DuckDBPyConnection, loaded: LoadedPolicy
) -> list[RoutingDecision]:
    """Decisions made under exactly this policy file (its sha256)."""
    if not table_exists(con, "salesops", "lead_routing_decision"):
        return []
    return [d for d in read_decisions(con) if d.policy_sha256 == loaded.sha256]


def undecided_leads(
    con: duckdb.DuckDBPyConnection, loaded: LoadedPolicy, as_of: datetime
) -> Finding:
    """Leads in an intake queue still owed a decision for their current attempt, except those
    the policy lets wait for enrichment until after `as_of`."""
    finding = Finding()
    wait = loaded.policy.enrichment_wait
    for candidate in load_candidates(con, loaded.policy):
        waiting = (
            wait is not None
            and not candidate.enrichment_complete
            and as_of < candidate.created_at + timedelta(minutes=wait.max_wait_minutes)
        )
        if waiting:
            continue
        finding.add(candidate.lead_id, f"attempt {candidate.attempt} has no decision")
    return finding


def attempt_gaps(con: duckdb.DuckDBPyConnection) -> Finding:
    """Every lead's attempts are 1..n, one decision each (the key makes two impossible; a gap
    would mean an attempt was skipped)."""
    finding = Finding()
    if not table_exists(con, "salesops", "lead_routing_decision"):
        return finding
    rows = con.execute(
        """
        SELECT lead_id, count(*) AS decisions, count(DISTINCT attempt) AS attempts,
               max(attempt) AS last
        FROM salesops.lead_routing_decision
        GROUP BY lead_id
        HAVING count(*) <> max(attempt) OR count(DISTINCT attempt) <> count(*)
        """
    ).fetchall()
    for lead_id, decisions, _attempts, last in rows:
        finding.add(lead_id, f"{decisions} decision(s) for attempts up to {last}")
    return finding


def invalid_owners(con: duckdb.DuckDBPyConnection, loaded: LoadedPolicy) -> Finding:
    """Every owner is an active member of the decision's pool, or that pool's fallback."""
    policy = loaded.policy
    active = known_ids(con)["known_users"] or {}
    pools = {p.name: p for p in policy.pools}
    finding = Finding()
    for d in current_decisions(con, loaded):
        pool = pools.get(d.pool) if d.pool else None
        if d.is_fallback:
            if d.owner_id != policy.fallback_for(pool):
                finding.add(d.lead_id, f"fallback owner {d.owner_id} is not the policy's")
            continue
        members = {m.user_id for m in pool.members} if pool else set()
        if d.owner_id not in members:
            finding.add(d.lead_id, f"owner {d.owner_id} is not in pool {d.pool}")
        elif not active.get(d.owner_id, False):
            finding.add(d.lead_id, f"owner {d.owner_id} is not an active user")
    return finding


def cap_violations(con: duckdb.DuckDBPyConnection, loaded: LoadedPolicy) -> Finding:
    """No member gets more than their daily cap (a calendar day in the pool's time zone) or
    period cap (any trailing window of `days` days)."""
    policy = loaded.policy
    by_member: dict[tuple[str, str], list[datetime]] = defaultdict(list)
    for d in current_decisions(con, loaded):
        if not d.is_fallback and d.pool:
            by_member[(d.pool, d.owner_id)].append(d.decided_at)
    finding = Finding()
    for pool in policy.pools:
        zone = policy.pool_time_zone(pool)
        for member in pool.members:
            times = sorted(by_member.get((pool.name, member.user_id), []))
            if member.daily_cap is not None:
                per_day = Counter(t.astimezone(zone).date() for t in times)
                for day, n in sorted(per_day.items()):
                    if n > member.daily_cap:
                        finding.add(
                            f"{member.user_id} in {pool.name} on {day}",
                            f"{n} leads, daily cap {member.daily_cap}",
                        )
            if member.period_cap is not None:
                span = timedelta(days=member.period_cap.days)
                start = 0
                for end, t in enumerate(times):
                    while times[start] <= t - span:
                        start += 1
                    if end - start + 1 > member.period_cap.max:
                        finding.add(
                            f"{member.user_id} in {pool.name} up to {t.isoformat()}",
                            f"{end - start + 1} leads within {member.period_cap.days} day(s), "
                            f"max {member.period_cap.max}",
                        )
                        break
    return finding


def unstamped(con: duckdb.DuckDBPyConnection) -> Finding:
    """Every decision carries the policy version (semver) and the file's sha256."""
    finding = Finding()
    if not table_exists(con, "salesops", "lead_routing_decision"):
        return finding
    rows = con.execute(
        """
        SELECT decision_id FROM salesops.lead_routing_decision
        WHERE NOT regexp_full_match(coalesce(policy_version, ''), '\\d+\\.\\d+\\.\\d+.*')
           OR NOT regexp_full_match(coalesce(policy_sha256, ''), '[0-9a-f]{64}')
        """
    ).fetchall()
    for (decision_id,) in rows:
        finding.add(decision_id, "no semver policy_version or sha256")
    return finding


def fallback_share(decisions: list[RoutingDecision]) -> float:
    return sum(d.is_fallback for d in decisions) / len(decisions) if decisions else 0.0


def distribution_skew(
    decisions: list[RoutingDecision],
    loaded: LoadedPolicy,
    *,
    active: dict[str, bool] | None = None,
    min_leads: int = 50,
) -> dict[str, dict[str, float]]:
    """Per pool with at least `min_leads` non-fallback decisions: each active member's share
    minus the share its weight asks for among the active members (inactive members are expected
    to get nothing; caps and leave make some skew legitimate)."""
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    for d in decisions:
        if not d.is_fallback and d.pool:
            counts[d.pool][d.owner_id] += 1
    skew: dict[str, dict[str, float]] = {}
    for pool in loaded.policy.pools:
        total = sum(counts[pool.name].values())
        members = [m for m in pool.members if active is None or active.get(m.user_id, False)]
        weight = sum(m.weight for m in members)
        if total < min_leads or not weight:
            continue
        skew[pool.name] = {
            m.user_id: counts[pool.name][m.user_id] / total - m.weight / weight for m in members
        }
    return skew

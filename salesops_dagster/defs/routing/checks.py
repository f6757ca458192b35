"""Checks on the routing decisions; the blocking ones stop the owner write-back."""

from datetime import UTC, datetime

import dagster as dg

from salesops_dagster import settings
from salesops_dagster.policy.loader import known_ids
from salesops_dagster.routing import checks
from salesops_dagster.warehouse.resource import WarehouseResource

from ..results import check_result, markdown_table
from .assets import lead_routing_decision, load_current_policy

# No automation_condition on these checks: without one they ride along with every run of their
# asset (sensor, UI, `salesops sync`), so each materialisation is checked in its own run. With
# their own `any_deps_updated()` they were re-requested on the tick after any in-process run
# (those record no check selection), and as "will be requested" they satisfied the publish's
# `all_deps_blocking_checks_passed`: a failed check still got the publish requested.


@dg.asset_check(asset=lead_routing_decision, blocking=True)
def every_eligible_lead_decided_once(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    """Every lead in an intake queue has exactly one decision for its current attempt (leads
    waiting for enrichment excepted), and every lead's attempts run 1..n without a gap."""
    with warehouse.get_connection() as con:
        loaded = load_current_policy(con)
        undecided = checks.undecided_leads(con, loaded, datetime.now(UTC))
        gaps = checks.attempt_gaps(con)
    return check_result(
        undecided.merged(gaps), "leads without exactly one decision for their attempt"
    )


@dg.asset_check(asset=lead_routing_decision, blocking=True)
def owners_are_active_pool_members_or_fallback(
    warehouse: WarehouseResource,
) -> dg.AssetCheckResult:
    """Every owner decided under the current policy is an active user in the lead's pool, or
    that pool's fallback (flagged is_fallback)."""
    with warehouse.get_connection() as con:
        finding = checks.invalid_owners(con, load_current_policy(con))
    return check_result(finding, "decisions name an owner outside their pool or inactive")


@dg.asset_check(asset=lead_routing_decision, blocking=True)
def caps_never_exceeded(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    """No member holds more decisions than their daily cap (calendar day in the pool's time
    zone) or period cap (any trailing window)."""
    with warehouse.get_connection() as con:
        finding = checks.cap_violations(con, load_current_policy(con))
    return check_result(finding, "cap violations")


@dg.asset_check(asset=lead_routing_decision, blocking=True)
def policy_version_stamped(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    """Every decision carries a semver policy version and the policy file's sha256."""
    with warehouse.get_connection() as con:
        finding = checks.unstamped(con)
    return check_result(finding, "decisions without a policy version or sha256")


@dg.asset_check(asset=lead_routing_decision)
def fallback_share(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    """Warns when more than SALESOPS_FALLBACK_SHARE_WARN of the current policy's decisions went
    to the fallback: pools too small, members away or capped, rules missing a segment."""
    with warehouse.get_connection() as con:
        decisions = checks.current_decisions(con, load_current_policy(con))
    share = checks.fallback_share(decisions)
    limit = settings.fallback_share_warning()
    return dg.AssetCheckResult(
        passed=share <= limit,
        severity=dg.AssetCheckSeverity.WARN,
        description=f"{share:.1%} of decisions went to the fallback (warning above {limit:.0%})",
        metadata={"fallback_share": round(share, 4), "limit": limit, "decisions": len(decisions)},
    )


@dg.asset_check(asset=lead_routing_decision)
def distribution_follows_weights(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    """Warns when an active member's share of a pool (50+ leads) is more than 10 points off the
    share their weight asks for among the active members; caps and leave can explain it, so it
    never blocks."""
    with warehouse.get_connection() as con:
        loaded = load_current_policy(con)
        skew = checks.distribution_skew(
            checks.current_decisions(con, loaded), loaded, active=known_ids(con)["known_users"]
        )
    worst = max(
        ((pool, user, s) for pool, members in skew.items() for user, s in members.items()),
        key=lambda item: abs(item[2]),
        default=None,
    )
    table = markdown_table(
        ["pool", "member", "share minus weight share"],
        [
            [pool, user, f"{s:+.1%}"]
            for pool, members in sorted(skew.items())
            for user, s in sorted(members.items())
        ],
    )
    return dg.AssetCheckResult(
        passed=worst is None or abs(worst[2]) <= 0.10,
        severity=dg.AssetCheckSeverity.WARN,
        description=None
        if worst is None
        else f"{worst[1]} in {worst[0]} is {worst[2]:+.1%} off the share its weight asks for",
        metadata={
            "worst_skew": round(worst[2], 4) if worst else 0.0,
            "skew": dg.MetadataValue.md(table),
        },
    )

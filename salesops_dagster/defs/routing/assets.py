"""Lead routing decisions and the policy backtest."""

from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
from pydantic import Field

from salesops_dagster import settings
from salesops_dagster.policy.loader import LoadedPolicy, PolicyError, known_ids, load_policy
from salesops_dagster.routing.backtest import backtest
from salesops_dagster.routing.decisions import ensure_decision_table, insert_decisions
from salesops_dagster.routing.engine import route_pending
from salesops_dagster.warehouse.resource import WAREHOUSE_POOL, WarehouseResource

from ..results import markdown_table

RAW_DEPS = [dg.AssetKey(["salesforce", name]) for name in ("lead", "user", "group")]

# Runs after each ingest that changed its inputs, once no upstream run is in flight.
AFTER_INGEST = (
    dg.AutomationCondition.any_deps_updated()
    & ~dg.AutomationCondition.any_deps_in_progress()
    & ~dg.AutomationCondition.in_progress()
)


def load_current_policy(con, path: str | None = None) -> LoadedPolicy:
    """The routing policy, validated against the warehouse's users and queues; a bad policy
    fails here, naming the file and every problem, before anything is routed."""
    path = path or settings.policy_path()
    try:
        return load_policy(path, **known_ids(con))
    except PolicyError as error:
        raise dg.Failure(
            description=f"the routing policy is invalid; nothing was routed.\n{error}",
            metadata={"policy": path, "problems": len(error.problems)},
        ) from error


def _owner_table(decisions) -> str:
    counts: dict[tuple[str, str], int] = {}
    for d in decisions:
        key = (d.pool or "(none)", d.owner_id + (" (fallback)" if d.is_fallback else ""))
        counts[key] = counts.get(key, 0) + 1
    rows = [[pool, owner, n] for (pool, owner), n in sorted(counts.items())]
    return markdown_table(["pool", "owner", "leads"], rows)


@dg.asset(
    key=["salesops", "lead_routing_decision"],
    group_name="routing",
    kinds={"duckdb"},
    deps=RAW_DEPS,
    pool=WAREHOUSE_POOL,
    automation_condition=AFTER_INGEST,
    metadata={"dagster/table_name": "salesops.lead_routing_decision"},
)
def lead_routing_decision(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
    """Who owns each new lead, decided by the versioned JSON policy (`SALESOPS_POLICY`).

    Leads in an intake queue are decided in (CreatedDate, Id) order: segment and region by
    first-match rules compiled to DuckDB SQL, owner by weighted round robin over the pool (state
    derived from the decision history), skipping inactive, out-of-office and capped members,
    else the fallback. One row per lead and attempt, stamped with the policy version, its sha256
    and the reasons. Reruns and replays decide the same leads the same way and insert nothing.
    """
    now = datetime.now(UTC)
    with warehouse.get_connection() as con:
        loaded = load_current_policy(con)
        ensure_decision_table(con)
        result = route_pending(con, loaded, as_of=now, computed_at=now)
        inserted = insert_decisions(con, result.decisions)
        [(total,)] = con.execute("SELECT count(*) FROM salesops.lead_routing_decision").fetchall()
    fallback = sum(d.is_fallback for d in result.decisions)
    context.log.info(
        f"policy {loaded.version}: {inserted} new decisions ({fallback} to the fallback), "
        f"{len(result.waiting)} leads waiting for enrichment"
    )
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": total,
            "decisions_made": inserted,
            "fallback_decisions": fallback,
            "waiting_for_enrichment": len(result.waiting),
            "policy_version": loaded.version,
            "policy_sha256": loaded.sha256,
            "owners": dg.MetadataValue.md(_owner_table(result.decisions)),
        }
    )


class BacktestConfig(dg.Config):
    policy_path: str = Field(
        default_factory=settings.policy_path, description="The policy file to replay."
    )
    since: str | None = Field(default=None, description="Only leads created on/after YYYY-MM-DD.")


@dg.asset(
    key=["salesops", "routing_backtest"],
    group_name="routing",
    kinds={"duckdb"},
    deps=[lead_routing_decision],
)
def routing_backtest(
    context: dg.AssetExecutionContext, config: BacktestConfig, warehouse: WarehouseResource
):
    """What a policy file would have decided over the leads already routed, without writing:
    per segment, region and owner, assignments, fallback rate and cap hits before and after.
    Launch it from the UI with another policy path in the config to see a change before
    shipping it. The table is in the metadata and as CSV next to the warehouse."""
    with warehouse.get_connection() as con:
        loaded = load_current_policy(con, config.policy_path)
        report = backtest(con, loaded, since=config.since)
    out = Path(warehouse.database).parent / "backtest" / f"{loaded.sha256[:12]}.csv"
    report.to_csv(out)
    context.log.info(
        f"{report.owner_changed} of {report.decisions} decisions would change owner under "
        f"{loaded.path}"
    )
    return dg.MaterializeResult(
        metadata={
            "policy": str(loaded.path),
            "policy_version": loaded.version,
            "decisions_replayed": report.decisions,
            "owner_changed": report.owner_changed,
            "segment_changed": report.segment_changed,
            "region_changed": report.region_changed,
            "csv": str(out),
            "report": dg.MetadataValue.md(report.to_markdown()),
        }
    )

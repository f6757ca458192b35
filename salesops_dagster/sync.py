"""`salesops sync`: one incremental pass of the whole graph as a run on the Dagster instance."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg

from salesops_dagster import settings

REPO_ROOT = Path(__file__).resolve().parents[1]


def ensure_dagster_home() -> Path:
    """DAGSTER_HOME (default `./.dagster_home`), created with the project's dagster.yaml so the
    DuckDB pool limit and the one-ingest-run limit apply."""
    home = Path(os.environ.get("DAGSTER_HOME") or ".dagster_home").resolve()
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        shutil.copyfile(REPO_ROOT / "dagster.yaml", config)
    os.environ["DAGSTER_HOME"] = str(home)
    return home


@dataclass
class AssetOutcome:
    key: str
    metadata: dict[str, object]


@dataclass
class SyncResult:
    run_id: str
    success: bool
    assets: list[AssetOutcome] = field(default_factory=list)
    failure: str | None = None

    def metadata_total(self, name: str) -> int:
        return sum(int(a.metadata.get(name, 0) or 0) for a in self.assets)


def _value(entry: object) -> object:
    return getattr(entry, "value", entry)


QUIET_LOGS = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


def run_sync(instance: dg.DagsterInstance | None = None, *, quiet: bool = True) -> SyncResult:
    """Execute the `salesops_sync` job in-process on the instance and collect what it did.
    The run's full event log is on the instance (the UI shows it); `quiet` keeps the console to
    warnings."""
    from salesops_dagster.definitions import build_defs
    from salesops_dagster.defs.ingest.sensor import incremental_run_tags, read_watermarks

    instance = instance or dg.DagsterInstance.get()
    job = build_defs().resolve_job_def("salesops_sync")
    tags = incremental_run_tags(read_watermarks(settings.warehouse_path()))
    result = job.execute_in_process(
        instance=instance, tags=tags, raise_on_error=False, run_config=QUIET_LOGS if quiet else None
    )
    outcome = SyncResult(run_id=result.run_id, success=result.success)
    seen: set[str] = set()
    for event in result.get_asset_materialization_events():
        materialization = event.step_materialization_data.materialization
        key = materialization.asset_key.to_user_string()
        if key in seen:  # a ranged run reports each partition; the metadata is the same
            continue
        seen.add(key)
        meta = {k: _value(v) for k, v in materialization.metadata.items()}
        outcome.assets.append(AssetOutcome(key, meta))
    if not result.success:
        failures = [e for e in result.all_events if e.is_failure]
        outcome.failure = failures[0].message if failures else "the run failed"
    return outcome


def format_summary(result: SyncResult) -> str:
    lines = [f"run {result.run_id}: {'succeeded' if result.success else 'FAILED'}"]
    for asset in result.assets:
        m = asset.metadata
        if "rows_read" in m:
            lines.append(
                f"  {asset.key:<38} read {m['rows_read']:>7}  new {m['rows_inserted']:>7}  "
                f"updated {m['rows_updated']:>6}  deleted {m['rows_deleted']:>5}  "
                f"API calls {m['api_calls']:>4}  ({m['read_method']})"
            )
        else:
            lines.append(f"  {asset.key}")
    lines.append(f"  API calls used: {result.metadata_total('api_calls')}")
    if result.failure:
        lines.append(f"  failure: {result.failure}")
    return "\n".join(lines)

"""`salesops sync`: one incremental pass of the whole graph as runs on the Dagster instance."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg

from salesops_dagster import settings

QUIET_LOGS = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


def ensure_dagster_home() -> Path:
    """DAGSTER_HOME (default `./.dagster_home`), created with the project's dagster.yaml so the
    DuckDB pool limit and the one-ingest-run limit apply."""
    home = Path(os.environ.get("DAGSTER_HOME") or ".dagster_home").resolve()
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        shutil.copyfile(settings.REPO_ROOT / "dagster.yaml", config)
    os.environ["DAGSTER_HOME"] = str(home)
    return home


@dataclass
class AssetOutcome:
    key: str
    metadata: dict[str, object]


@dataclass
class CheckOutcome:
    name: str
    passed: bool
    blocking: bool
    severity: str
    description: str | None


@dataclass
class SyncResult:
    run_ids: list[str] = field(default_factory=list)
    success: bool = True
    assets: list[AssetOutcome] = field(default_factory=list)
    checks: list[CheckOutcome] = field(default_factory=list)
    failure: str | None = None

    def metadata_total(self, name: str) -> int:
        return sum(int(a.metadata.get(name, 0) or 0) for a in self.assets)

    def metadata_of(self, key: str) -> dict[str, object]:
        return next((a.metadata for a in self.assets if a.key == key), {})

    @property
    def blocked(self) -> list[CheckOutcome]:
        return [c for c in self.checks if c.blocking and not c.passed and c.severity == "ERROR"]


def _value(entry: object) -> object:
    return getattr(entry, "value", entry)


def _collect(result: dg.ExecuteInProcessResult, outcome: SyncResult, blocking: set) -> None:
    outcome.run_ids.append(result.run_id)
    seen = {a.key for a in outcome.assets}
    for event in result.get_asset_materialization_events():
        materialization = event.step_materialization_data.materialization
        key = materialization.asset_key.to_user_string()
        if key in seen:  # a ranged run reports each partition with the same metadata
            continue
        seen.add(key)
        meta = {k: _value(v) for k, v in materialization.metadata.items()}
        outcome.assets.append(AssetOutcome(key, meta))
    for evaluation in result.get_asset_check_evaluations():
        outcome.checks.append(
            CheckOutcome(
                name=f"{evaluation.asset_key.to_user_string()}:{evaluation.check_name}",
                passed=evaluation.passed,
                blocking=evaluation.asset_check_key in blocking,
                severity=evaluation.severity.value,
                description=evaluation.description,
            )
        )
    if not result.success:
        outcome.success = False
        outcome.failure = _failure_text(result)


def _failure_text(result: dg.ExecuteInProcessResult) -> str:
    """What went wrong, in the words of the step that failed (a dg.Failure's description, or
    the exception's message), not Dagster's generic "step failed"."""
    for event in result.all_events:
        if not event.is_step_failure:
            continue
        data = event.step_failure_data
        if data.user_failure_data is not None and data.user_failure_data.description:
            return f"{event.step_key}: {data.user_failure_data.description}"
        error = data.error.cause or data.error if data.error else None
        return f"{event.step_key}: {error.message.strip() if error else event.message}"
    return f"run {result.run_id} failed"


def run_sync(instance: dg.DagsterInstance | None = None, *, quiet: bool = True) -> SyncResult:
    """Ingest since the watermarks, then the marts, their checks and the write-back, as two
    in-process runs on the instance (the UI shows both). The second runs only if the first
    succeeded; a failed blocking check leaves its publish unexecuted and the sync unsuccessful."""
    from salesops_dagster.definitions import build_defs
    from salesops_dagster.defs.ingest.sensor import incremental_run_tags, read_watermarks

    instance = instance or dg.DagsterInstance.get()
    defs = build_defs()
    config = QUIET_LOGS if quiet else None
    outcome = SyncResult()
    blocking = {
        key
        for checks_def in defs.asset_checks or []
        for key in checks_def.check_keys
        if checks_def.get_spec_for_check_key(key).blocking
    }
    ingest = defs.resolve_job_def("salesops_ingest").execute_in_process(
        instance=instance,
        tags=incremental_run_tags(read_watermarks(settings.warehouse_path())),
        raise_on_error=False,
        run_config=config,
    )
    _collect(ingest, outcome, blocking)
    if not outcome.success:
        return outcome
    publish = defs.resolve_job_def("salesops_transform_publish").execute_in_process(
        instance=instance, raise_on_error=False, run_config=config
    )
    _collect(publish, outcome, blocking)
    if outcome.blocked:
        outcome.success = False
        outcome.failure = "blocking check(s) failed, publish skipped: " + ", ".join(
            c.name for c in outcome.blocked
        )
    return outcome


def format_summary(result: SyncResult) -> str:
    lines = [f"runs {', '.join(result.run_ids)}: {'succeeded' if result.success else 'FAILED'}"]
    for asset in result.assets:
        m = asset.metadata
        if "rows_read" in m:
            lines.append(
                f"  {asset.key:<38} read {m['rows_read']:>7}  new {m['rows_inserted']:>7}  "
                f"updated {m['rows_updated']:>6}  deleted {m['rows_deleted']:>5}  "
                f"API calls {m['api_calls']:>4}  ({m['read_method']})"
            )
        elif "decisions_made" in m:
            lines.append(
                f"  {asset.key:<38} {m['decisions_made']} new decisions "
                f"({m['fallback_decisions']} fallback), policy {m['policy_version']}"
            )
        elif "leads_recomputed" in m:
            p50 = m.get("ttfr_p50_minutes")
            lines.append(
                f"  {asset.key:<38} {m['leads_recomputed']} leads recomputed "
                f"({m['refresh_mode']}), {m.get('leads_responded', 0)} responded, p50 TTFR "
                f"{'-' if p50 is None else f'{p50:.0f} min'}, open breaches "
                f"{m.get('open_breaches', 0)}"
            )
        elif "writes_planned" in m:
            lines.append(
                f"  {asset.key:<38} planned {m['writes_planned']}, written "
                f"{m['writes_written']}, failed {m['writes_failed']}, not sent "
                f"{m['writes_not_sent']}, API calls {m['write_api_calls']}"
            )
        else:
            lines.append(f"  {asset.key}")
    failed = [c for c in result.checks if not c.passed]
    lines.append(f"  checks: {len(result.checks) - len(failed)} passed, {len(failed)} not passed")
    for check in failed:
        kind = "BLOCKING" if check.blocking and check.severity == "ERROR" else check.severity
        lines.append(f"    {kind} {check.name}: {check.description or ''}".rstrip())
    calls = result.metadata_total("api_calls") + result.metadata_total("write_api_calls")
    lines.append(f"  API calls used: {calls}")
    if result.failure:
        lines.append(f"  failure: {result.failure}")
    return "\n".join(lines)

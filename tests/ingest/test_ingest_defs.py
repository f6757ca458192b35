"""Ingest as Dagster runs it: definitions, incremental and backfill runs, sensor, concurrency."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.test_utils import create_run_for_test

from salesops_dagster.definitions import build_defs
from salesops_dagster.defs.ingest.assets import RAW_ASSET_KEYS
from salesops_dagster.defs.ingest.sensor import salesforce_change_sensor
from salesops_dagster.ingest.objects import TASK
from salesops_dagster.salesforce.resource import SalesforceResource
from salesops_dagster.sync import run_sync
from salesops_dagster.warehouse.connection import connect
from salesops_dagster.warehouse.resource import WarehouseResource

from .helpers import assert_warehouse_equals_org, client_for, org_rows, warehouse_rows, watermarks

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def env(devorg, tmp_path, monkeypatch):
    """The process environment a user would have: the dev org's SALESFORCE_* and a warehouse."""
    for name, value in devorg.env().items():
        monkeypatch.setenv(name, value)
    warehouse = tmp_path / "warehouse.duckdb"
    monkeypatch.setenv("SALESOPS_WAREHOUSE", str(warehouse))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    return warehouse


def test_definitions_load_with_every_raw_asset_and_the_sensor():
    defs = build_defs()
    dg.Definitions.validate_loadable(defs)
    graph = defs.resolve_asset_graph()
    assert set(RAW_ASSET_KEYS) <= set(graph.get_all_asset_keys())
    assert defs.resolve_sensor_def("salesforce_change_sensor") is not None
    for key in RAW_ASSET_KEYS:
        spec = graph.get(key)
        assert spec.description and spec.group_name == "ingest"


def test_workspace_loads_in_the_dagster_cli(tmp_path):
    """What `dagster dev -w workspace.yaml` loads, checked by Dagster's own validator."""
    result = subprocess.run(
        [
            str(Path(sys.executable).with_name("dagster")),
            "definitions",
            "validate",
            "-w",
            "workspace.yaml",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=180,
        env={**os.environ, "DAGSTER_HOME": str(tmp_path)},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "salesops_dagster" in result.stdout + result.stderr


def test_sync_runs_on_the_instance_and_is_idempotent(env, devorg):
    with dg.instance_for_test() as instance:
        first = run_sync(instance)
        assert first.success, first.failure
        with connect(env, read_only=True) as con:
            [(written,)] = con.execute(
                "SELECT count(DISTINCT record_id) FROM salesops.salesforce_write "
                "WHERE status = 'written'"
            ).fetchall()
        assert written > 0  # owners and first responses written back return with the next pull
        second = run_sync(instance)
        assert second.success, second.failure
        assert second.metadata_of("salesforce/lead")["rows_updated"] == written
        assert_warehouse_equals_org(devorg, env)
        third = run_sync(instance)
        assert third.success
        assert third.metadata_total("rows_inserted") == third.metadata_total("rows_updated") == 0
        assert third.metadata_total("writes_planned") == 0
        assert len(instance.get_run_records()) == 6  # ingest + transform/publish, three times
        lead = instance.get_latest_materialization_event(dg.AssetKey(["salesforce", "lead"]))
        meta = lead.asset_materialization.metadata
        assert meta["api_calls"].value == 1
        assert "lag_seconds" in meta and "watermark" in meta


def test_backfill_of_a_partition_range_rereads_those_days_only(env, devorg):
    with dg.instance_for_test() as instance:
        assert run_sync(instance).success
        marks = watermarks(env)
        stamps = sorted(r["SystemModstamp"] for r in org_rows(devorg, TASK).values())
        day = stamps[len(stamps) // 2].date()
        start, end = day.isoformat(), (day + timedelta(days=1)).isoformat()
        expected = sum(
            datetime.combine(day, datetime.min.time())
            <= s
            < datetime.combine(day + timedelta(days=2), datetime.min.time())
            for s in stamps
        )
        job = build_defs().resolve_job_def("salesops_ingest")
        tags = {
            "dagster/asset_partition_range_start": start,
            "dagster/asset_partition_range_end": end,
        }
        for attempt in range(2):
            result = job.execute_in_process(
                instance=instance, tags=tags, asset_selection=[dg.AssetKey(["salesforce", "task"])]
            )
            task = [
                e.step_materialization_data.materialization
                for e in result.get_asset_materialization_events()
            ]
            assert {m.partition for m in task} == {start, end}
            meta = task[0].metadata
            assert meta["rows_read"].value == expected
            assert meta["rows_inserted"].value == meta["rows_updated"].value == 0, attempt
        assert watermarks(env) == marks


def _tick(instance, cursor=None):
    context = dg.build_sensor_context(
        instance=instance,
        cursor=cursor,
        resources={
            "salesforce": SalesforceResource(),
            "warehouse": WarehouseResource(database=os.environ["SALESOPS_WAREHOUSE"]),
        },
    )
    result = salesforce_change_sensor(context)
    return result, context.cursor


def test_sensor_launches_only_on_change_and_costs_one_call_per_tick(env, devorg):
    with dg.instance_for_test() as instance:
        first, cursor = _tick(instance)
        assert isinstance(first, dg.RunRequest), "a warehouse never synced counts as changed"
        assert first.tags["salesops/ingest_mode"] == "incremental"
        assert run_sync(instance).success
        assert run_sync(instance).success  # reads back the owners routing wrote

        before = devorg.stats()
        quiet, cursor = _tick(instance, cursor)
        again, cursor = _tick(instance, cursor)
        after = devorg.stats()
        assert isinstance(quiet, dg.SkipReason) and isinstance(again, dg.SkipReason)
        assert after["api_calls"] - before["api_calls"] == 2  # exactly one call per tick
        assert after["requests"]["composite"] - before["requests"]["composite"] == 2

        lead = next(
            r for r in devorg.records("Lead") if not r["IsDeleted"] and not r["IsConverted"]
        )
        client_for(devorg).update_records("Lead", [{"Id": lead["Id"], "Title": "Head of Sales"}])
        changed, cursor = _tick(instance, cursor)
        assert isinstance(changed, dg.RunRequest)
        assert changed.tags["salesops/changed"] == "Lead"
        assert set(changed.asset_selection) == set(RAW_ASSET_KEYS)


def test_sensor_never_overlaps_an_ingest_run_in_flight(env, devorg):
    with dg.instance_for_test() as instance:
        create_run_for_test(
            instance,
            job_name="salesops_ingest",
            status=dg.DagsterRunStatus.STARTED,
            tags={"salesops/ingest": "true"},
        )
        before = devorg.stats()["api_calls"]
        result, _ = _tick(instance)
        assert isinstance(result, dg.SkipReason) and "in progress" in result.skip_message
        assert devorg.stats()["api_calls"] == before  # not even a probe


@pytest.mark.slow
def test_two_syncs_started_together_both_succeed_and_agree_with_the_org(env, devorg, tmp_path):
    """Two processes ingest into one DuckDB file at once: neither fails on the file lock and the
    result is exactly the org."""
    dagster_home = Path(os.environ["DAGSTER_HOME"])
    dagster_home.mkdir(parents=True, exist_ok=True)
    (dagster_home / "dagster.yaml").write_text((REPO / "dagster.yaml").read_text())
    # An existing instance, as in production: two processes creating its SQLite storage at the
    # same moment race on CREATE TABLE, which says nothing about our warehouse.
    dg.DagsterInstance.get().dispose()
    salesops = str(Path(sys.executable).with_name("salesops"))
    # Output goes to files: a child blocked on a full pipe while holding the warehouse's pool
    # slot would stall the other child, which the parent may be waiting on.
    logs = [tmp_path / f"sync-{i}.log" for i in range(2)]
    children = []
    for log in logs:
        with log.open("w") as out:
            children.append(
                subprocess.Popen(
                    [salesops, "sync"],
                    env=dict(os.environ),
                    cwd=tmp_path,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
            )
    for child in children:
        child.wait(timeout=240)
    outputs = [log.read_text()[-3000:] for log in logs]
    assert [c.returncode for c in children] == [0, 0], outputs
    # Each routing decision and each first response was written once, by one of the two runs.
    with connect(env, read_only=True) as con:
        [(decisions, owners, written, distinct)] = con.execute(
            """
            SELECT (SELECT count(*) FROM salesops.lead_routing_decision),
                   (SELECT count(*) FROM salesops.salesforce_write
                    WHERE status = 'written' AND purpose = 'routing'),
                   (SELECT count(*) FROM salesops.salesforce_write WHERE status = 'written'),
                   (SELECT count(DISTINCT (purpose, record_id)) FROM salesops.salesforce_write
                    WHERE status = 'written')
            """
        ).fetchall()
    assert decisions > 0 and owners == decisions
    assert written == distinct == devorg.stats()["records_written"]["Lead"]
    # The owners written come back with the next pull; then the warehouse is the org.
    assert subprocess.run([salesops, "sync"], env=dict(os.environ), cwd=tmp_path).returncode == 0
    assert_warehouse_equals_org(devorg, env)
    assert len(warehouse_rows(env, TASK)) == len(devorg.records("Task"))

"""Backtest: the shipped policy against its own decisions reports no change; a weight change
reports the expected shift; the report's Markdown and CSV; the command."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from salesops_dagster.devorg import synthetic
from salesops_dagster.policy import known_ids, load_policy
from salesops_dagster.policy.cli import backtest_command
from salesops_dagster.routing.backtest import backtest
from salesops_dagster.routing.decisions import insert_decisions, read_decisions
from salesops_dagster.routing.engine import route_pending
from salesops_dagster.warehouse.connection import to_warehouse_ts
from tests.routing import (
    INTAKE_QUEUE,
    POLICY_PATH,
    load_records,
    record_owner_write,
    shipped_doc,
    write_policy,
)

END = datetime(2026, 11, 30, tzinfo=UTC)
MID = END - timedelta(weeks=3)
AVERY, JORDAN = "0055e0000000003AAA", "0055e0000000004AAA"


def route_in_runs(con: duckdb.DuckDBPyConnection) -> None:
    """Decide the synthetic leads as live runs would: the first half, then the rest, then one
    lead handed back to the intake queue (attempt 2)."""
    loaded = load_policy(POLICY_PATH, **known_ids(con))
    later = [
        row[0]
        for row in con.execute(
            'SELECT "Id" FROM salesforce.lead WHERE "OwnerId" = ? AND "CreatedDate" >= ?',
            [INTAKE_QUEUE, to_warehouse_ts(MID)],
        ).fetchall()
    ]
    # Run 1 sees only the leads created before MID (the others are not in the queue yet).
    con.execute(
        'UPDATE salesforce.lead SET "OwnerId" = \'hidden\' WHERE "Id" IN (SELECT unnest(?))',
        [later],
    )
    insert_decisions(con, route_pending(con, loaded, as_of=MID, computed_at=MID).decisions)
    con.execute(
        'UPDATE salesforce.lead SET "OwnerId" = ? WHERE "Id" IN (SELECT unnest(?))',
        [INTAKE_QUEUE, later],
    )
    run2 = route_pending(con, loaded, as_of=END, computed_at=END).decisions
    insert_decisions(con, run2)
    # One lead's owner was written, then a person handed it back.
    first = next(d for d in run2 if not d.is_fallback)
    written_at = END + timedelta(minutes=5)
    record_owner_write(con, first.decision_id, first.lead_id, written_at)
    back = written_at + timedelta(hours=2)
    con.execute(
        'UPDATE salesforce.lead SET "SystemModstamp" = ?, "LastModifiedDate" = ? WHERE "Id" = ?',
        [to_warehouse_ts(back), to_warehouse_ts(back), first.lead_id],
    )
    run3 = route_pending(con, loaded, as_of=back, computed_at=back).decisions
    assert [(d.lead_id, d.attempt) for d in run3] == [(first.lead_id, 2)]
    insert_decisions(con, run3)


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("backtest") / "warehouse.duckdb"
    con = duckdb.connect(str(path))
    load_records(con, synthetic.generate(1500, seed=5, end=END), END)
    route_in_runs(con)
    con.close()
    return path


@pytest.fixture
def con(warehouse: Path) -> duckdb.DuckDBPyConnection:
    connection = duckdb.connect(str(warehouse), read_only=True)
    yield connection
    connection.close()


def test_the_policy_against_its_own_decisions_reports_no_change(con) -> None:
    actual = read_decisions(con)
    assert len({d.computed_at for d in actual}) == 3  # three runs
    assert any(d.attempt == 2 for d in actual)
    report = backtest(con, load_policy(POLICY_PATH, **known_ids(con)))
    assert report.decisions == len(actual)
    assert (report.owner_changed, report.segment_changed, report.region_changed) == (0, 0, 0)
    assert not report.has_changes
    assert [d.key() for d in report.replayed] == [d.key() for d in actual]
    assert all(row.count_before == row.count_after for row in report.rows)
    total = report.row("total", "all")
    assert total.count_before == len(actual)


def test_one_weight_changed_shifts_that_members_share(con, tmp_path: Path) -> None:
    doc = shipped_doc()
    pool = doc["pools"][0]
    assert pool["name"] == "na-enterprise"
    assert [(m["user_id"], m["weight"]) for m in pool["members"]] == [(AVERY, 3), (JORDAN, 2)]
    pool["members"][0]["weight"] = 1  # Avery 3:2 -> 1:2
    doc["policy_version"] = "1.1.0"
    report = backtest(con, load_policy(write_policy(tmp_path, doc)))

    in_pool = [d for d in read_decisions(con) if d.pool == "na-enterprise" and not d.is_fallback]
    n = len(in_pool)
    assert n > 30
    avery, jordan = report.row("owner", AVERY), report.row("owner", JORDAN)
    assert abs(sum(d.owner_id == AVERY for d in in_pool) - n * 3 / 5) < 1.5  # before: 3/5
    # After: Avery gets 1/3 of the pool, Jordan the leads Avery loses; nobody else changes.
    avery_after_in_pool = avery.count_after - (
        avery.count_before - sum(d.owner_id == AVERY for d in in_pool)
    )
    assert abs(avery_after_in_pool - n / 3) < 1.5
    assert avery.delta < 0 and jordan.delta == -avery.delta
    # Leads trade places inside the pool, so more leads change owner than the net shift.
    before = {d.decision_id: d for d in read_decisions(con)}
    moved = [d for d in report.replayed if d.owner_id != before[d.decision_id].owner_id]
    assert len(moved) == report.owner_changed >= -avery.delta
    assert {d.pool for d in moved} == {"na-enterprise"}
    changed = [r for r in report.rows if r.changed]
    assert {(r.dimension, r.key) for r in changed} == {("owner", AVERY), ("owner", JORDAN)}
    assert report.policy_version == "1.1.0"


def test_since_limits_the_replay_and_seeds_the_state(con) -> None:
    report = backtest(con, load_policy(POLICY_PATH), since=MID.date())
    expected = [d for d in read_decisions(con) if d.lead_created_at >= MID]
    assert report.decisions == len(expected) > 0
    assert not report.has_changes
    assert report.since == datetime.combine(MID.date(), datetime.min.time(), tzinfo=UTC)


def test_markdown_and_csv(con, tmp_path: Path) -> None:
    report = backtest(con, load_policy(POLICY_PATH))
    markdown = report.to_markdown()
    assert markdown.startswith(f"Backtest of `{POLICY_PATH}` (version 1.0.0")
    assert "| dimension | key | before | after | change | fallback before |" in markdown
    assert "| segment | enterprise |" in markdown and "| region | LATAM |" in markdown
    assert f"| owner | Avery Johnson ({AVERY}) |" in markdown
    # The inactive rep is listed (a policy member) with nothing on either side.
    assert f"| owner | Riley Carter ({synthetic.INACTIVE_REP_ID}) | 0 | 0 | +0 |" in markdown
    path = report.to_csv(tmp_path / "out" / "backtest.csv")
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == len(report.rows)
    assert rows[0]["dimension"] == "total" and int(rows[0]["count_before"]) == report.decisions
    assert {r["dimension"] for r in rows} == {"total", "segment", "region", "owner"}


def test_backtest_command(warehouse: Path, tmp_path: Path) -> None:
    out = io.StringIO()
    csv_path = tmp_path / "bt.csv"
    assert (
        backtest_command(POLICY_PATH, warehouse, since="2026-11-09", csv_out=csv_path, out=out) == 0
    )
    printed = out.getvalue()
    assert "would change owner" in printed and "| total | all |" in printed
    assert csv_path.exists() and f"CSV written to {csv_path}" in printed
    assert backtest_command(POLICY_PATH, warehouse, since="last week", out=io.StringIO()) == 2
    assert backtest_command(POLICY_PATH, tmp_path / "none.duckdb", out=io.StringIO()) == 2
    bad = write_policy(tmp_path, json.dumps({"policy_version": "x"}), "bad.json")
    out = io.StringIO()
    assert backtest_command(bad, warehouse, out=out) == 1
    assert f"{bad}: $.name: required key is missing" in out.getvalue()


def test_backtest_writes_nothing(warehouse: Path) -> None:
    def snapshot() -> list:
        with duckdb.connect(str(warehouse), read_only=True) as c:
            return c.execute(
                "SELECT count(*), max(computed_at) FROM salesops.lead_routing_decision"
            ).fetchall()

    before = snapshot()
    assert backtest_command(POLICY_PATH, warehouse, out=io.StringIO()) == 0
    assert snapshot() == before


def test_since_accepts_dates_and_datetimes(con) -> None:
    a = backtest(con, load_policy(POLICY_PATH), since=date(2026, 11, 9))
    b = backtest(con, load_policy(POLICY_PATH), since=datetime(2026, 11, 9, tzinfo=UTC))
    assert a.decisions == b.decisions
    with pytest.raises(ValueError, match="naive"):
        backtest(con, load_policy(POLICY_PATH), since=datetime(2026, 11, 9))

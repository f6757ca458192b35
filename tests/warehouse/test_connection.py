"""`connect` against real DuckDB files and real second processes holding the lock."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest

from salesops_dagster.ingest.objects import LEAD
from salesops_dagster.warehouse import raw, sync_state
from salesops_dagster.warehouse.connection import WarehouseLockTimeout, connect

REPO = Path(__file__).parents[2]

HOLD_LOCK = """
import sys, time, duckdb
con = duckdb.connect(sys.argv[1])
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
print(f"releasing {time.time()!r}", flush=True)
con.close()
"""


@contextmanager
def lock_held_by_another_process(path: Path, seconds: float) -> Iterator[subprocess.Popen]:
    """A separate Python process holding a write connection to `path` for `seconds`."""
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(path), str(seconds)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "locked"
        yield holder
    finally:
        holder.kill()
        holder.wait(timeout=30)


def test_connect_creates_the_directory_and_uses_utc(tmp_path):
    path = tmp_path / "nested" / "dir" / "warehouse.duckdb"
    with connect(path) as con:
        con.execute("CREATE TABLE t AS SELECT 1 AS x")
        assert con.execute("SELECT current_setting('TimeZone')").fetchone() == ("UTC",)
    assert path.exists()
    with connect(path, read_only=True) as con:
        assert con.execute("SELECT x FROM t").fetchall() == [(1,)]
        with pytest.raises(duckdb.Error):
            con.execute("INSERT INTO t VALUES (2)")


def test_connect_closes_the_connection_on_exit(tmp_path):
    with connect(tmp_path / "w.duckdb") as con:
        pass
    with pytest.raises(duckdb.ConnectionException):
        con.execute("SELECT 1")


@pytest.mark.parametrize("read_only", [False, True])
def test_connect_waits_for_a_lock_held_by_another_process(tmp_path, read_only):
    path = tmp_path / "warehouse.duckdb"
    with connect(path) as con:
        con.execute("CREATE TABLE t AS SELECT 1 AS x")

    with lock_held_by_another_process(path, seconds=1.0) as holder:
        started = time.monotonic()
        with connect(path, read_only=read_only, timeout_s=30) as con:
            got_in = time.time()
            waited = time.monotonic() - started
            assert con.execute("SELECT x FROM t").fetchall() == [(1,)]
        # We only got in once the other process had started to let go (it says so just before
        # closing; waiting for it to exit would race with its own shutdown).
        assert holder.stdout is not None
        said, at = holder.stdout.readline().split()
        assert said == "releasing" and got_in >= float(at)
        assert waited >= 0.5


def test_connect_times_out_with_a_message_naming_the_file_and_holder(tmp_path):
    path = tmp_path / "warehouse.duckdb"
    with connect(path):
        pass

    with lock_held_by_another_process(path, seconds=30) as holder:
        started = time.monotonic()
        with pytest.raises(WarehouseLockTimeout) as caught, connect(path, timeout_s=0.5):
            pass
        assert time.monotonic() - started < 5

    message = str(caught.value)
    assert str(path) in message
    assert f"PID {holder.pid}" in message
    assert caught.value.path == path
    assert isinstance(caught.value, TimeoutError)


def test_other_errors_are_not_retried(tmp_path):
    started = time.monotonic()
    missing = tmp_path / "missing.duckdb"
    with pytest.raises(duckdb.Error), connect(missing, read_only=True, timeout_s=30):
        pass
    assert time.monotonic() - started < 5


WRITER = """
import sys
from datetime import UTC, datetime, timedelta
from salesops_dagster.ingest.objects import LEAD
from salesops_dagster.warehouse import raw
from salesops_dagster.warehouse.connection import connect

path, prefix, batches = sys.argv[1], sys.argv[2], int(sys.argv[3])
t0 = datetime(2026, 11, 2, tzinfo=UTC)
for b in range(batches):
    records = []
    for i in range(20):
        record = dict.fromkeys(LEAD.fields)
        stamp = (t0 + timedelta(seconds=b)).strftime("%Y-%m-%dT%H:%M:%S.000+0000")
        record.update(Id=f"00Q{prefix}{b:05d}{i:05d}", SystemModstamp=stamp, IsDeleted=False)
        records.append(record)
    # Short-lived connections, as the ingest assets use them.
    with connect(path, timeout_s=60) as con:
        raw.load_batch(con, LEAD, records, t0 + timedelta(seconds=b), datetime.now(UTC))
print("done", flush=True)
"""


def test_two_processes_writing_at_once_both_land_and_the_file_stays_sound(tmp_path):
    path = tmp_path / "warehouse.duckdb"
    batches = 15
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent(WRITER), str(path), prefix, str(batches)],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for prefix in ("AAAAA", "BBBBB")
    ]
    for writer in writers:
        out, err = writer.communicate(timeout=240)
        assert writer.returncode == 0, err
        assert out.strip() == "done"

    with connect(path, read_only=True) as con:
        counts = dict(
            con.execute(
                'SELECT substr("Id", 4, 5), count(*) FROM salesforce.lead GROUP BY ALL'
            ).fetchall()
        )
        assert counts == {"AAAAA": batches * 20, "BBBBB": batches * 20}
        [state] = sync_state.sync_states(con)
        assert state["rows_total"] == 2 * batches * 20
        assert state["watermark"] == datetime(2026, 11, 2, 0, 0, batches - 1, tzinfo=UTC)
    # The file still takes writes after both processes are gone.
    with connect(path) as con:
        con.execute("CHECKPOINT")
        assert raw.row_count(con, LEAD) == 2 * batches * 20

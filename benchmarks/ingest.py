"""Raw ingest against a large dev org: REST, Bulk 2.0, the wire floor, a naive baseline, and
an incremental pass; a measurement, not a timed test.

Run: `python benchmarks/ingest.py [--leads 100000] [--activities 1000000] [--seed 7] [--data DIR]
[--phases rest,bulk,floor,naive,incremental]` (smoke: `--leads 2000 --activities 20000`).

Data: `synthetic.generate(leads, seed)` (~9.3 activities per lead: Task, EmailMessage,
EmailMessageRelation), topped up with copies of its Tasks (fresh Ids, distinct SystemModstamps)
to reach `--activities`, written as `<SObject>.jsonl`. With `--data DIR` the generated org is
kept in `DIR/org-<leads>l-<activities>a-seed<seed>/` and reused by later runs; without it
everything lives in a temporary directory. The dev org runs in its own process (`salesops devorg
serve --quiet`), so it does not share the GIL with the measured client; Lead.jsonl is copied per
run (the incremental phase writes to it), the other files are symlinked.

Each phase runs in a fresh subprocess (`--phase NAME`, internal) so its peak RSS is its own, and
writes into its own DuckDB file:

- rest: `pull_object` for every object with Bulk switched off: rows/s and API calls against the
  floor ceil(rows / 2000).
- bulk: the same with `bulk_threshold=0`: Bulk API 2.0 query jobs (the first REST page that
  decides the switch, create, polls, result pages).
- floor: the same REST pages read and discarded: what the wire alone costs.
- naive: simple-salesforce `query_all` of Lead (the whole result in memory) and a row-by-row
  DuckDB `INSERT OR REPLACE` (`executemany`); capped at `--naive-budget` seconds and extrapolated
  (labelled) beyond it.
- incremental: on a copy of the rest phase's warehouse, 1,000 leads updated through sObject
  Collections, then one incremental pull of every object.

Output: a table per phase and a summary of the ratios on stdout; progress on stderr.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import json
import logging
import os
import platform
import queue
import re
import resource
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import requests

from salesops_dagster.devorg.ids import make_id

PHASES = ("rest", "bulk", "floor", "naive", "incremental")
ACTIVITY_OBJECTS = ("Task", "EmailMessage", "EmailMessageRelation")
EXPORT_KEYS = (
    "SALESFORCE_LOGIN_URL",
    "SALESFORCE_CA_BUNDLE",
    "SALESFORCE_CLIENT_ID",
    "SALESFORCE_CLIENT_SECRET",
    "SALESFORCE_USERNAME",
    "SALESFORCE_PASSWORD",
    "SALESFORCE_PRIVATE_KEY_FILE",
    "SALESFORCE_API_VERSION",
)
HUGE = 10**12  # bulk_threshold that never switches to Bulk
INCREMENTAL_UPDATES = 1_000
TOP_UP_POD = "BM"  # Id pod of the extra Tasks: synthetic data uses "5e", dev org writes "DV"
BULK_KINDS = ("query_all", "query_more", "bulk_query_create", "bulk_query_poll")
BULK_KINDS += ("bulk_query_results",)
SERVER_START_TIMEOUT_S = 600.0
NUMERIC = re.compile(r"[-+\d.,x ]*")


def progress(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def peak_rss_mb() -> float:
    """This process's peak RSS in MB. VmHWM (Linux) starts afresh at exec; ru_maxrss does not:
    Linux keeps it across fork + exec, so a phase would report its parent's peak."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def file_size_mb(path: Path) -> float:
    total = 0
    for candidate in (path, path.with_name(path.name + ".wal")):
        if candidate.exists():
            total += candidate.stat().st_size
    return total / 1e6


# ---------------------------------------------------------------------------------- data set


def _ts(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}+0000"


def _top_up_tasks(tasks: list[dict], extra: int, end: datetime, weeks: int = 6) -> list[dict]:
    """`extra` copies of generated Tasks with fresh Ids and distinct SystemModstamps spread over
    the data set's weeks (all before `end`, so no later incremental window sees them)."""
    start = end - timedelta(weeks=weeks)
    step_ms = max(1, int((end - start).total_seconds() * 1000) // (extra + 1))
    out = []
    for i in range(extra):
        source = tasks[i % len(tasks)]
        stamp = _ts(start + timedelta(milliseconds=step_ms * (i + 1)))
        copy = dict(source)
        copy["Id"] = make_id("00T", i + 1, TOP_UP_POD)
        copy["SystemModstamp"] = copy["LastModifiedDate"] = stamp
        copy["CreatedDate"] = min(source["CreatedDate"], stamp)
        out.append(copy)
    return out


def ensure_dataset(directory: Path, args: argparse.Namespace) -> dict[str, Any]:
    """The generated org in `directory`: reused when complete, else generated by a subprocess
    (so this process stays small and its children's memory figures stay their own)."""
    manifest_path = directory / "manifest.json"
    if manifest_path.exists():
        progress(f"reusing generated org {directory}")
    else:
        command = [sys.executable, str(Path(__file__).resolve()), "--phase", "generate"]
        command += ["--leads", str(args.leads), "--activities", str(args.activities)]
        command += ["--seed", str(args.seed), "--out", str(directory)]
        proc = subprocess.Popen(command)
        _CHILDREN.append(proc)
        if proc.wait() != 0:
            raise RuntimeError(f"generating the org failed with exit code {proc.returncode}")
    return json.loads(manifest_path.read_text())


def build_dataset(directory: Path, leads: int, activities: int, seed: int) -> dict[str, Any]:
    """Generate the org into `directory` atomically: a complete directory has manifest.json."""
    from salesops_dagster.devorg.synthetic import counts, default_end, generate

    progress(f"generating {leads:,} leads (seed {seed}) ...")
    started = time.perf_counter()
    end = default_end()
    data = generate(leads, seed, end=end)
    generated = sum(len(data[name]) for name in ACTIVITY_OBJECTS)
    extra = max(0, activities - generated)
    data["Task"] = data["Task"] + _top_up_tasks(data["Task"], extra, end)
    progress(
        f"generated in {time.perf_counter() - started:.1f} s: {generated:,} activities "
        f"+ {extra:,} extra Tasks; writing JSONL ..."
    )
    staging = directory.with_name(directory.name + f".tmp{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    for sobject, records in data.items():
        with (staging / f"{sobject}.jsonl").open("w", encoding="utf-8") as fh:
            for record in records:
                fh.write(json.dumps(record, separators=(",", ":"), ensure_ascii=False) + "\n")
    manifest = {
        "leads": leads,
        "activities_requested": activities,
        "activities": generated + extra,
        "extra_tasks": extra,
        "seed": seed,
        "end": end.isoformat(),
        "counts": counts(data),
        "bytes": sum(p.stat().st_size for p in staging.glob("*.jsonl")),
        "generate_seconds": round(time.perf_counter() - started, 1),
    }
    (staging / "manifest.json").write_text(json.dumps(manifest, indent=2))
    shutil.rmtree(directory, ignore_errors=True)
    staging.rename(directory)
    progress(f"wrote {manifest['bytes'] / 1e6:,.0f} MB in {manifest['generate_seconds']} s")
    return manifest


def serve_dir(dataset: Path, run_dir: Path) -> Path:
    """A data dir for this run: Lead.jsonl copied (the incremental phase appends to it), the rest
    symlinked, the keys shared with the cached data set (generated once)."""
    target = run_dir / "org"
    target.mkdir()
    (dataset / ".devorg").mkdir(exist_ok=True)
    (target / ".devorg").symlink_to(dataset / ".devorg")
    for path in dataset.glob("*.jsonl"):
        if path.name == "Lead.jsonl":
            shutil.copyfile(path, target / path.name)
        else:
            (target / path.name).symlink_to(path)
    return target


# ---------------------------------------------------------------------------------- processes

_CHILDREN: list[subprocess.Popen] = []


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=15)


def _stop_children() -> None:
    for proc in reversed(_CHILDREN):
        with contextlib.suppress(Exception):
            _stop(proc)


def start_devorg(data_dir: Path, log_path: Path) -> tuple[subprocess.Popen, dict[str, str], float]:
    """`salesops devorg serve` on a free port; returns (process, exported env, load seconds)."""
    salesops = Path(sys.executable).with_name("salesops")
    command = [str(salesops), "devorg", "serve", "--data", str(data_dir), "--port", "0"]
    command += ["--quiet", "--api-max", str(10**9)]
    started = time.perf_counter()
    log_file = log_path.open("w")
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log_file, text=True)
    _CHILDREN.append(proc)
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    env: dict[str, str] = {}
    deadline = time.monotonic() + SERVER_START_TIMEOUT_S
    while not all(key in env for key in EXPORT_KEYS):
        try:
            line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
        except queue.Empty:
            line = None
        if line is None:
            _stop(proc)
            tail = log_path.read_text()[-3000:]
            raise RuntimeError(f"the dev org did not start (see {log_path}):\n{tail}")
        words = shlex.split(line)
        if len(words) == 2 and words[0] == "export" and "=" in words[1]:
            name, _, value = words[1].partition("=")
            env[name] = value
    return proc, env, time.perf_counter() - started


def server_stats(env: dict[str, str]) -> dict[str, Any]:
    """The dev org's counters (an admin endpoint: not an API call, not seen by the client)."""
    with requests.Session() as session:
        session.trust_env = False
        answer = session.get(
            f"{env['SALESFORCE_LOGIN_URL']}/devorg/stats",
            verify=env["SALESFORCE_CA_BUNDLE"],
            timeout=30,
        )
        answer.raise_for_status()
        return answer.json()


def proc_memory_mb(pid: int) -> dict[str, float]:
    """VmRSS / VmHWM of another process (Linux), in MB."""
    out: dict[str, float] = {}
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(value.split()[0]) / 1024
    return out


def run_phase(name: str, args: argparse.Namespace, env_file: Path, run_dir: Path) -> dict:
    out = run_dir / f"{name}.json"
    command = [sys.executable, str(Path(__file__).resolve()), "--phase", name]
    command += ["--env-file", str(env_file), "--run-dir", str(run_dir), "--out", str(out)]
    command += ["--naive-budget", str(args.naive_budget)]
    progress(f"phase {name}: starting")
    started = time.perf_counter()
    proc = subprocess.Popen(command)
    _CHILDREN.append(proc)
    code = proc.wait()
    _CHILDREN.remove(proc)
    if code != 0:
        raise RuntimeError(f"phase {name} failed with exit code {code}")
    result = json.loads(out.read_text())
    result["wall_seconds"] = time.perf_counter() - started
    progress(f"phase {name}: done in {result['wall_seconds']:.1f} s")
    return result


# ---------------------------------------------------------------------------------- phases
# Everything below runs inside a phase subprocess.


def _client(env: dict[str, str]):
    from salesops_dagster.salesforce.client import SalesforceClient
    from salesops_dagster.salesforce.config import SalesforceConfig

    client = SalesforceClient(SalesforceConfig.from_env(env))
    client.login()  # the token endpoint is not an API call; keep it out of the timings
    return client


class PageClock(logging.Handler):
    """Times each committed page from pull_object's per-page log line."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.marks: list[float] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.marks.append(time.perf_counter())


def _page_drift(start: float, marks: list[float]) -> dict[str, float] | None:
    """Mean seconds per page in the first and last tenth of an object's pages."""
    if len(marks) < 20:
        return None
    durations = [b - a for a, b in zip([start, *marks[:-1]], marks, strict=True)]
    tenth = len(durations) // 10
    return {
        "pages": len(durations),
        "first_tenth_s": sum(durations[:tenth]) / tenth,
        "last_tenth_s": sum(durations[-tenth:]) / tenth,
    }


def _pull_all(client, env: dict[str, str], warehouse: Path, bulk_threshold: int, **kw) -> list:
    from salesops_dagster.ingest.objects import OBJECTS
    from salesops_dagster.ingest.pull import pull_object
    from salesops_dagster.salesforce.client import read_calls_floor

    clock = PageClock()
    logger = logging.getLogger("salesops_dagster.ingest.pull")
    logger.setLevel(logging.INFO)
    logger.addHandler(clock)
    until = datetime.now(UTC)
    rows = []
    for spec in OBJECTS:
        before = server_stats(env)
        clock.marks = []
        started = time.perf_counter()
        result = pull_object(
            client, warehouse, spec, until=until, bulk_threshold=bulk_threshold, **kw
        )
        seconds = time.perf_counter() - started
        after = server_stats(env)
        kinds = {
            kind: after["requests"].get(kind, 0) - before["requests"].get(kind, 0)
            for kind in BULK_KINDS
        }
        rows.append(
            {
                "object": spec.sobject,
                "method": result.method,
                "rows": result.rows,
                "pages": result.pages,
                "seconds": seconds,
                "calls": result.api_calls,
                "server_calls": after["api_calls"] - before["api_calls"],
                "floor": read_calls_floor(result.rows),
                "kinds": kinds,
                "inserted": result.stats.inserted,
                "updated": result.stats.updated,
                "unchanged": result.stats.unchanged,
                "drift": _page_drift(started, clock.marks),
            }
        )
        progress(
            f"  {spec.sobject}: {result.rows:,} rows ({result.method}) in {seconds:.1f} s, "
            f"{result.api_calls} calls"
        )
    logger.removeHandler(clock)
    return rows


def phase_rest(env: dict[str, str], run_dir: Path, args: argparse.Namespace) -> dict:
    warehouse = run_dir / "rest.duckdb"
    warehouse.unlink(missing_ok=True)
    objects = _pull_all(_client(env), env, warehouse, HUGE)
    return {"objects": objects, "duckdb_mb": file_size_mb(warehouse)}


def phase_bulk(env: dict[str, str], run_dir: Path, args: argparse.Namespace) -> dict:
    warehouse = run_dir / "bulk.duckdb"
    warehouse.unlink(missing_ok=True)
    client = _client(env)
    objects = _pull_all(client, env, warehouse, 0)
    return {
        "objects": objects,
        "duckdb_mb": file_size_mb(warehouse),
        "poll_wait_s": client.bulk_poll_seconds,
    }


def phase_floor(env: dict[str, str], run_dir: Path, args: argparse.Namespace) -> dict:
    from salesops_dagster.ingest.objects import OBJECTS

    client = _client(env)
    until = datetime.now(UTC)
    objects = []
    for spec in OBJECTS:
        calls_before = client.usage.calls
        started = time.perf_counter()
        rows = 0
        for page in client.query_changes(spec.sobject, spec.field_names, None, until):
            rows += len(page.records)
        seconds = time.perf_counter() - started
        calls = client.usage.calls - calls_before
        objects.append({"object": spec.sobject, "rows": rows, "seconds": seconds, "calls": calls})
        progress(f"  {spec.sobject}: {rows:,} rows read in {seconds:.1f} s")
    return {"objects": objects}


def phase_naive(env: dict[str, str], run_dir: Path, args: argparse.Namespace) -> dict:
    """What a first attempt looks like: query_all into memory, then INSERT OR REPLACE per row."""
    import duckdb

    from salesops_dagster.ingest.objects import LEAD
    from salesops_dagster.salesforce.client import changes_soql
    from salesops_dagster.warehouse.raw import DUCKDB_TYPES

    client = _client(env)
    soql = changes_soql("Lead", LEAD.field_names, None, datetime.now(UTC))
    calls_before = client.usage.calls
    started = time.perf_counter()
    result = client.sf.query_all(soql, include_deleted=True)
    records = result["records"]
    fetch_s = time.perf_counter() - started
    calls = client.usage.calls - calls_before
    fetch_rss = peak_rss_mb()
    progress(f"  query_all: {len(records):,} leads in memory after {fetch_s:.1f} s")

    warehouse = run_dir / "naive.duckdb"
    warehouse.unlink(missing_ok=True)
    names = LEAD.field_names
    columns = ", ".join(f'"{n}" {DUCKDB_TYPES[t]}' for n, t in LEAD.fields.items())
    placeholders = ", ".join("?" for _ in names)
    con = duckdb.connect(str(warehouse))
    con.execute(f'CREATE TABLE lead ({columns}, PRIMARY KEY ("Id"))')
    insert = f"INSERT OR REPLACE INTO lead VALUES ({placeholders})"  # noqa: S608
    chunk = 500
    done = 0
    started = time.perf_counter()
    next_report = started + 10
    while done < len(records):
        if time.perf_counter() - started > args.naive_budget:
            break
        rows = [tuple(r[n] for n in names) for r in records[done : done + chunk]]
        con.executemany(insert, rows)
        done += len(rows)
        if time.perf_counter() > next_report:
            next_report += 10
            rate = done / (time.perf_counter() - started)
            progress(f"  INSERT OR REPLACE: {done:,} rows, {rate:,.0f} rows/s")
    insert_s = time.perf_counter() - started
    stored = con.execute("SELECT count(*) FROM lead").fetchone()[0]
    con.close()
    progress(f"  inserted {done:,} of {len(records):,} rows in {insert_s:.1f} s")
    return {
        "rows": len(records),
        "fetch_s": fetch_s,
        "calls": calls,
        "inserted": done,
        "stored": stored,
        "insert_s": insert_s,
        "extrapolated": done < len(records),
        "insert_s_full": insert_s * len(records) / max(done, 1),
        "fetch_rss_mb": fetch_rss,
        "duckdb_mb": file_size_mb(warehouse),
    }


def phase_incremental(env: dict[str, str], run_dir: Path, args: argparse.Namespace) -> dict:
    import duckdb

    from salesops_dagster.salesforce.client import write_calls_floor

    client = _client(env)
    warehouse = run_dir / "incremental.duckdb"
    warehouse.unlink(missing_ok=True)
    source = run_dir / "rest.duckdb"
    full_load = None
    if source.exists():
        shutil.copyfile(source, warehouse)
    else:  # the rest phase was not run: do the full load here, untimed in the summary
        progress("  no rest.duckdb from this run: full REST load first")
        started = time.perf_counter()
        _pull_all(client, env, warehouse, HUGE)
        full_load = time.perf_counter() - started
    with duckdb.connect(str(warehouse), read_only=True) as con:
        ids = [
            row[0]
            for row in con.execute(
                'SELECT "Id" FROM salesforce.lead WHERE NOT _is_deleted AND NOT "IsConverted" '
                'ORDER BY "Id" LIMIT $n',
                {"n": INCREMENTAL_UPDATES},
            ).fetchall()
        ]
    title = f"Benchmark {datetime.now(UTC):%H:%M:%S}"
    calls_before = client.usage.calls
    started = time.perf_counter()
    saved = client.update_records("Lead", [{"Id": i, "Title": title} for i in ids])
    update_s = time.perf_counter() - started
    update_calls = client.usage.calls - calls_before
    failed = [s for s in saved if not s.success]
    if failed:
        raise RuntimeError(f"{len(failed)} lead updates failed, first: {failed[0]}")
    progress(f"  updated {len(ids):,} leads in {update_s:.1f} s ({update_calls} calls)")
    # The dev org never gives two writes one SystemModstamp: a burst of N writes is stamped up to
    # N ms ahead of the wall clock. Wait until the last stamp is in the past, so this one pull
    # (SystemModstamp < now) sees every update instead of leaving the tail for the next run.
    time.sleep(len(ids) / 1000 + 0.05)
    started = time.perf_counter()
    objects = _pull_all(client, env, warehouse, 50_000)
    total_s = time.perf_counter() - started
    return {
        "updated": len(ids),
        "update_s": update_s,
        "update_calls": update_calls,
        "update_floor": write_calls_floor(len(ids)),
        "objects": objects,
        "seconds": total_s,
        "full_load_s": full_load,
        "duckdb_mb": file_size_mb(warehouse),
    }


PHASE_FUNCTIONS = {
    "rest": phase_rest,
    "bulk": phase_bulk,
    "floor": phase_floor,
    "naive": phase_naive,
    "incremental": phase_incremental,
}


def phase_main(args: argparse.Namespace) -> None:
    env = json.loads(Path(args.env_file).read_text())
    result = PHASE_FUNCTIONS[args.phase](env, Path(args.run_dir), args)
    result["peak_rss_mb"] = peak_rss_mb()
    Path(args.out).write_text(json.dumps(result, indent=2))


# ---------------------------------------------------------------------------------- report


def table(headers: list[str], rows: list[list[Any]]) -> str:
    def cell(value: Any) -> str:
        if isinstance(value, float):
            return f"{value:,.2f}"
        if isinstance(value, int):
            return f"{value:,}"
        return str(value)

    text = [[cell(v) for v in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in text)) for i, h in enumerate(headers)]
    # Text columns (names, labels) read left to right; numbers line up on the right.
    left = {i for i in range(len(headers)) if not all(NUMERIC.fullmatch(row[i]) for row in text)}

    def line(cells: list[str]) -> str:
        return "  ".join(
            c.ljust(w) if i in left else c.rjust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    out = [line(headers), line(["-" * w for w in widths])] + [line(row) for row in text]
    return "\n".join("  " + row for row in out)


def rate(rows: int, seconds: float) -> float:
    return rows / seconds if seconds > 0 else float("nan")


def _totals(objects: list[dict]) -> dict[str, float]:
    return {
        "rows": sum(o["rows"] for o in objects),
        "seconds": sum(o["seconds"] for o in objects),
        "calls": sum(o["calls"] for o in objects),
        "floor": sum(o.get("floor", 0) for o in objects),
    }


def _object_table(objects: list[dict]) -> str:
    rows = []
    for o in objects:
        rows.append(
            [
                o["object"],
                o["rows"],
                o["seconds"],
                int(rate(o["rows"], o["seconds"])),
                o["calls"],
                o["floor"],
                o["calls"] / o["floor"],
            ]
        )
    t = _totals(objects)
    rows.append(
        [
            "total",
            int(t["rows"]),
            t["seconds"],
            int(rate(t["rows"], t["seconds"])),
            int(t["calls"]),
            int(t["floor"]),
            t["calls"] / t["floor"],
        ]
    )
    return table(["object", "rows", "seconds", "rows/s", "API calls", "floor", "calls/floor"], rows)


def machine_info() -> list[str]:
    from importlib.metadata import version

    cpu = "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory = "?"
    with contextlib.suppress(OSError, ValueError):
        kib = int(Path("/proc/meminfo").read_text().split()[1])
        memory = f"{kib / 1024**2:.1f} GB"
    return [
        f"cores: {os.cpu_count()} ({cpu}), memory {memory}, {platform.platform()}",
        f"Python {platform.python_version()}, duckdb {version('duckdb')}, "
        f"pandas {version('pandas')}, simple-salesforce {version('simple-salesforce')}",
    ]


def report(manifest: dict, server: dict, results: dict[str, dict]) -> None:
    print("=" * 100)
    print("salesops raw ingest benchmark")
    for line in machine_info():
        print("  " + line)
    c = manifest["counts"]
    print(
        f"  dev org: {c['Lead']:,} leads, {manifest['activities']:,} activities "
        f"(Task {c['Task']:,} incl. {manifest['extra_tasks']:,} top-up copies, EmailMessage "
        f"{c['EmailMessage']:,}, EmailMessageRelation {c['EmailMessageRelation']:,}), "
        f"seed {manifest['seed']}, {manifest['bytes'] / 1e6:,.0f} MB JSONL"
    )
    print(
        f"  dev org process: loaded in {server['load_s']:.1f} s, RSS {server['rss_mb']:,.0f} MB "
        f"after load, peak {server.get('hwm_mb', 0):,.0f} MB; HTTPS on 127.0.0.1, separate "
        f"process"
    )

    if "rest" in results:
        r = results["rest"]
        print("\n[1] REST ingest (pull_object, bulk off): fresh DuckDB, every object from empty")
        print(_object_table(r["objects"]))
        _print_drift(r["objects"])
        print(f"  peak RSS {r['peak_rss_mb']:,.0f} MB; DuckDB file {r['duckdb_mb']:,.1f} MB")
        _check_server_calls(r["objects"])

    if "bulk" in results:
        b = results["bulk"]
        print(f"\n[2] Bulk API 2.0 ingest (bulk_threshold=0, poll wait {b['poll_wait_s']:g} s)")
        rows = []
        for o in b["objects"]:
            k = o["kinds"]
            rest_s = _seconds(results, "rest", o["object"])
            rows.append(
                [
                    o["object"],
                    o["method"],
                    o["rows"],
                    o["seconds"],
                    int(rate(o["rows"], o["seconds"])),
                    o["calls"],
                    f"{k['query_all'] + k['query_more']}+{k['bulk_query_create']}"
                    f"+{k['bulk_query_poll']}+{k['bulk_query_results']}",
                    o["floor"],
                    f"{o['seconds'] / rest_s:.2f}" if rest_s else "-",
                ]
            )
        t = _totals(b["objects"])
        rest_total = _totals(results["rest"]["objects"])["seconds"] if "rest" in results else 0
        rows.append(
            [
                "total",
                "",
                int(t["rows"]),
                t["seconds"],
                int(rate(t["rows"], t["seconds"])),
                int(t["calls"]),
                "",
                int(t["floor"]),
                f"{t['seconds'] / rest_total:.2f}" if rest_total else "-",
            ]
        )
        headers = ["object", "method", "rows", "seconds", "rows/s", "API calls"]
        headers += ["rest+create+poll+pages", "REST floor", "time/REST"]
        print(table(headers, rows))
        bulk_jobs = sum(1 for o in b["objects"] if o["method"] == "bulk")
        print(
            f"  {bulk_jobs} bulk jobs; each waits >= {b['poll_wait_s']:g} s before its first "
            f"poll ({bulk_jobs * b['poll_wait_s']:g} s of the total is that fixed wait)"
        )
        print(f"  peak RSS {b['peak_rss_mb']:,.0f} MB; DuckDB file {b['duckdb_mb']:,.1f} MB")
        _check_server_calls(b["objects"])

    if "floor" in results:
        f = results["floor"]
        print("\n[3] Read-only floor: the same REST pages (query_changes), read and discarded")
        rows = []
        for o in f["objects"]:
            ingest_s = _seconds(results, "rest", o["object"])
            rows.append(
                [
                    o["object"],
                    o["rows"],
                    o["seconds"],
                    int(rate(o["rows"], o["seconds"])),
                    o["calls"],
                    f"{ingest_s - o['seconds']:.2f}" if ingest_s else "-",
                    f"{ingest_s / o['seconds']:.2f}" if ingest_s else "-",
                ]
            )
        t = _totals(f["objects"])
        rest_total = _totals(results["rest"]["objects"])["seconds"] if "rest" in results else 0
        rows.append(
            [
                "total",
                int(t["rows"]),
                t["seconds"],
                int(rate(t["rows"], t["seconds"])),
                int(t["calls"]),
                f"{rest_total - t['seconds']:.2f}" if rest_total else "-",
                f"{rest_total / t['seconds']:.2f}" if rest_total else "-",
            ]
        )
        headers = ["object", "rows", "seconds", "rows/s", "API calls", "storage s", "ingest/read"]
        print(table(headers, rows))
        print("  storage s = REST ingest time minus this read time: what committing pages costs")
        print(f"  peak RSS {f['peak_rss_mb']:,.0f} MB")

    if "naive" in results:
        n = results["naive"]
        print("\n[4] Naive baseline, Lead only: sf.query_all + DuckDB INSERT OR REPLACE per row")
        label = (
            f"extrapolated from {n['inserted']:,} rows in {n['insert_s']:.1f} s"
            if n["extrapolated"]
            else "measured"
        )
        total = n["fetch_s"] + n["insert_s_full"]
        ours = _seconds(results, "rest", "Lead")
        rows = [
            ["query_all (whole result in memory)", n["rows"], n["fetch_s"],
             int(rate(n["rows"], n["fetch_s"])), "measured"],
            ["INSERT OR REPLACE (executemany)", n["rows"], n["insert_s_full"],
             int(rate(n["rows"], n["insert_s_full"])), label],
            ["naive total", n["rows"], total, int(rate(n["rows"], total)), ""],
        ]  # fmt: skip
        if ours:
            rows.append(["ours: pull_object REST", n["rows"], ours, int(rate(n["rows"], ours)), ""])
        print(table(["step", "rows", "seconds", "rows/s", ""], rows))
        print(
            f"  API calls {n['calls']}; peak RSS {n['peak_rss_mb']:,.0f} MB "
            f"({n['fetch_rss_mb']:,.0f} MB after query_all); DuckDB file {n['duckdb_mb']:,.1f} MB "
            f"({n['stored']:,} rows stored)"
        )

    if "incremental" in results:
        i = results["incremental"]
        print(
            f"\n[5] Incremental: {i['updated']:,} leads updated through Collections in "
            f"{i['update_s']:.2f} s ({i['update_calls']} calls, floor {i['update_floor']}), then "
            f"one incremental pull of every object"
        )
        rows = [
            [o["object"], o["rows"], o["inserted"], o["updated"], o["unchanged"], o["seconds"],
             o["calls"]]
            for o in i["objects"]
        ]  # fmt: skip
        t = _totals(i["objects"])
        rows.append(["total", int(t["rows"]), "", "", "", t["seconds"], int(t["calls"])])
        print(
            table(["object", "rows", "inserted", "updated", "unchanged", "seconds", "calls"], rows)
        )
        if i["full_load_s"] is not None:
            print(f"  (full REST load done first in this phase: {i['full_load_s']:.1f} s)")
        print(f"  peak RSS {i['peak_rss_mb']:,.0f} MB; DuckDB file {i['duckdb_mb']:,.1f} MB")

    summary(results)


def _seconds(results: dict, phase: str, sobject: str) -> float | None:
    for o in results.get(phase, {}).get("objects", []):
        if o["object"] == sobject:
            return o["seconds"]
    return None


def _print_drift(objects: list[dict]) -> None:
    for o in objects:
        d = o.get("drift")
        if d and o["rows"] == max(x["rows"] for x in objects if x.get("drift")):
            print(
                f"  {o['object']} page time (fetch + commit), first vs last tenth of "
                f"{d['pages']} pages: {d['first_tenth_s'] * 1000:.0f} ms vs "
                f"{d['last_tenth_s'] * 1000:.0f} ms"
            )


def _check_server_calls(objects: list[dict]) -> None:
    client = sum(o["calls"] for o in objects)
    server = sum(o["server_calls"] for o in objects)
    verdict = "agree" if client == server else "DISAGREE"
    print(f"  API calls counted by the client {client}, charged by the dev org {server}: {verdict}")


def summary(results: dict[str, dict]) -> None:
    print("\nSummary")
    lines = []
    rest = _totals(results["rest"]["objects"]) if "rest" in results else None
    if rest:
        lines.append(
            f"REST ingest: {int(rest['rows']):,} rows in {rest['seconds']:.1f} s = "
            f"{rate(rest['rows'], rest['seconds']):,.0f} rows/s; API calls {int(rest['calls'])} "
            f"vs floor {int(rest['floor'])} (calls/floor {rest['calls'] / rest['floor']:.3f})"
        )
    if "bulk" in results:
        bulk = _totals(results["bulk"]["objects"])
        ratio = f"; Bulk/REST time {bulk['seconds'] / rest['seconds']:.2f}" if rest else ""
        lines.append(
            f"Bulk 2.0 ingest: {int(bulk['rows']):,} rows in {bulk['seconds']:.1f} s = "
            f"{rate(bulk['rows'], bulk['seconds']):,.0f} rows/s; API calls {int(bulk['calls'])} "
            f"(REST floor {int(bulk['floor'])}){ratio}"
        )
    if "floor" in results:
        floor = _totals(results["floor"]["objects"])
        ratio = f"; ingest/read-only {rest['seconds'] / floor['seconds']:.2f}" if rest else ""
        lines.append(
            f"Read-only floor: {rate(floor['rows'], floor['seconds']):,.0f} rows/s "
            f"({floor['seconds']:.1f} s){ratio}"
        )
    if "naive" in results:
        n = results["naive"]
        naive_s = n["fetch_s"] + n["insert_s_full"]
        ours = _seconds(results, "rest", "Lead")
        tag = " (insert extrapolated)" if n["extrapolated"] else ""
        ratio = f"; naive/ours {naive_s / ours:.1f}x" if ours else ""
        lines.append(f"Naive Lead load: {naive_s:.1f} s{tag}{ratio}")
    if "incremental" in results:
        i = results["incremental"]
        t = _totals(i["objects"])
        lines.append(
            f"Incremental after {i['updated']:,} updates: {int(t['rows']):,} rows, "
            f"{t['seconds']:.2f} s, {int(t['calls'])} API calls for "
            f"{len(i['objects'])} objects"
        )
    memory = ", ".join(f"{name} {r['peak_rss_mb']:,.0f} MB" for name, r in results.items())
    lines.append(f"Peak RSS per phase: {memory}")
    sizes = ", ".join(
        f"{name} {r['duckdb_mb']:,.1f} MB" for name, r in results.items() if "duckdb_mb" in r
    )
    lines.append(f"DuckDB file: {sizes}")
    for line in lines:
        print("  " + line)


# ---------------------------------------------------------------------------------- main


def orchestrate(args: argparse.Namespace) -> None:
    phases = [p for p in PHASES if p in set(args.phases.split(","))]
    unknown = set(args.phases.split(",")) - set(PHASES)
    if unknown:
        raise SystemExit(f"unknown phase(s): {', '.join(sorted(unknown))}")
    atexit.register(_stop_children)
    # SIGTERM unwinds like Ctrl-C does: the dev org and any phase process are stopped on the way.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    with contextlib.ExitStack() as stack:
        if args.data is None:
            root = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="ingest-bench-")))
        else:
            root = args.data.resolve()
            root.mkdir(parents=True, exist_ok=True)
        org_dir = root / f"org-{args.leads}l-{args.activities}a-seed{args.seed}"
        manifest = ensure_dataset(org_dir, args)
        run_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="ingest-run-")))
        progress(f"starting the dev org on {org_dir.name} ...")
        proc, env, load_s = start_devorg(serve_dir(org_dir, run_dir), run_dir / "devorg.log")
        stack.callback(_stop, proc)
        memory = proc_memory_mb(proc.pid)
        server = {"load_s": load_s, "rss_mb": memory.get("VmRSS", 0.0)}
        progress(f"dev org up at {env['SALESFORCE_LOGIN_URL']} after {load_s:.1f} s")
        env_file = run_dir / "devorg.env.json"
        env_file.write_text(json.dumps(env))
        results: dict[str, dict] = {}
        for name in phases:
            results[name] = run_phase(name, args, env_file, run_dir)
        server["hwm_mb"] = proc_memory_mb(proc.pid).get("VmHWM", 0.0)
        report(manifest, server, results)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--leads", type=int, default=100_000)
    parser.add_argument("--activities", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--data", type=Path, help="cache folder for the generated org (kept)")
    parser.add_argument("--phases", default=",".join(PHASES))
    parser.add_argument(
        "--naive-budget",
        type=float,
        default=120.0,
        help="seconds the naive row-by-row insert may run before it is extrapolated",
    )
    # internal: one phase in a subprocess
    parser.add_argument("--phase", choices=(*PHASES, "generate"), help=argparse.SUPPRESS)
    parser.add_argument("--env-file", help=argparse.SUPPRESS)
    parser.add_argument("--run-dir", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase == "generate":
        build_dataset(Path(args.out), args.leads, args.activities, args.seed)
    elif args.phase:
        phase_main(args)
    else:
        orchestrate(args)


if __name__ == "__main__":
    main()

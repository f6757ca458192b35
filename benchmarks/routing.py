"""Lead routing at scale: 100,000 new leads across 50 owners; a measurement, not a timed test.

Run: `python benchmarks/routing.py [--leads 100000] [--owners 50]`.

A DuckDB file is prepared with the owners (Users), the queues and the leads (realistic countries,
company sizes and revenues, all in the intake queue, created over six weeks), and a policy shaped
like the shipped one (3 segments x 4 regions, 12 pools sharing the owners, daily caps on some,
one inactive owner, one out-of-office window). The routing itself then runs in a fresh process
so its peak RSS is its own:

- candidates: the one DuckDB query (eligibility + CASE WHEN segment/region matching),
- engine: the sequential weighted round robin in Python,
- insert: the decisions into `salesops.lead_routing_decision`,
- a rerun (nothing new to decide, nothing inserted),
- side by side: the same rule matching with the Python evaluator, and the backtest.

Write-back, measured against a dev org (`salesops devorg serve`, its own process, holding the same
Users, queues and leads as JSONL; Lead custom fields from sf/): for each write path, a fresh copy
of the routed warehouse and a fresh dev org on a fresh copy of the data, then, in a fresh process
(its own peak RSS), `routing.publish.plan_owner_writes` and `salesforce.writer.SalesforceWriter`
(`api_reserve=0`):

- collections: `bulk_threshold` above the lead count, sObject Collections of 200: seconds,
  records/s, API calls (client count and the dev org's `/devorg/stats`) against the floor
  ceil(writes / 200); the one `limits` call the writer makes to learn the budget is shown apart,
- bulk: `bulk_threshold=0`, one Bulk API 2.0 ingest job: seconds, API calls by kind,
- then planning again (the `held_values` overlay of what was just written): 0 writes, 0 calls;
  and the org's leads are checked against the decisions (owner and both assignment fields).

Progress goes to stderr, the figures to stdout.
"""

from __future__ import annotations

import argparse
import atexit
import json
import math
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import requests
from _devorg import CHILDREN, proc_memory_mb, server_stats, start_devorg, stop, stop_children
from _report import peak_rss_mb, progress

from salesops_dagster.devorg.ids import make_id

END = datetime(2026, 11, 30, tzinfo=UTC)
INTAKE = make_id("00G", 1)
FALLBACK = make_id("00G", 2)
HUGE = 10**12  # bulk_threshold that never switches to Bulk
WRITE_PATHS = ("collections", "bulk")
COUNTRIES = [
    ("United States", 42, ["NY", "CA", "TX", "WA", "IL"]),
    ("Canada", 8, ["ON", "QC", "BC"]),
    ("United Kingdom", 10, ["England", "Scotland"]),
    ("Germany", 8, ["Berlin", "Bavaria"]),
    ("France", 5, ["Île-de-France"]),
    ("Netherlands", 5, ["North Holland"]),
    ("Australia", 6, ["NSW", "VIC"]),
    ("Japan", 4, ["Tokyo", "Osaka"]),
    ("Singapore", 4, [None]),
    ("Brazil", 5, ["SP", "RJ"]),
    ("Mexico", 3, ["CDMX", "JAL"]),
    (None, 2, ["NY", "SP", None]),
]

# Company sizes as the dev org's synthetic data draws them: many small, few enterprises.
EMPLOYEE_BANDS = [
    ((1, 10), 24),
    ((11, 50), 29),
    ((51, 200), 22),
    ((201, 1000), 12),
    ((1001, 5000), 6),
    ((5001, 100_000), 3),
    (None, 4),
]


def owner_ids(n: int) -> list[str]:
    return [make_id("005", 100 + i) for i in range(n)]


def policy_doc(owners: list[str]) -> dict:
    shipped = json.loads(Path("policies/routing_policy.json").read_text(encoding="utf-8"))
    pools = []
    per_pool = math.ceil(len(owners) / 12)
    combos = [
        (s, r) for s in ("enterprise", "mid_market", "smb") for r in ("NA", "EMEA", "APAC", "LATAM")
    ]
    for index, (segment, region) in enumerate(combos):
        chunk = owners[index * per_pool : (index + 1) * per_pool] or owners[:2]
        members = []
        for j, user_id in enumerate(chunk):
            member: dict = {"user_id": user_id, "weight": 1 + j % 3}
            if segment == "enterprise":
                member["daily_cap"] = 40
            members.append(member)
        pools.append(
            {
                "name": f"{segment}-{region}",
                "segment": segment,
                "region": region,
                "members": members,
            }
        )
    pools[5]["members"][0]["out_of_office"] = [
        {
            "start": (END - timedelta(days=20)).isoformat(),
            "end": (END - timedelta(days=10)).isoformat(),
        }
    ]
    return {
        **shipped,
        "intake_queues": [INTAKE],
        "fallback": {"owner_id": FALLBACK},
        "pools": pools,
        "first_touch": {**shipped["first_touch"], "excluded_user_ids": []},
    }


def prepare(directory: Path, n_leads: int, n_owners: int) -> tuple[Path, Path, Path]:
    from salesops_dagster.ingest.objects import OBJECTS_BY_NAME
    from salesops_dagster.warehouse import raw
    from salesops_dagster.warehouse.connection import connect

    rng = random.Random(7)
    owners = owner_ids(n_owners)
    stamp = "2026-01-01T00:00:00.000+0000"
    users = [
        {
            "Id": u,
            "SystemModstamp": stamp,
            "Username": f"owner{i}@routing-bench.invalid",
            "FirstName": "Owner",
            "LastName": str(i),
            "Name": f"Owner {i}",
            "Email": f"owner{i}@routing-bench.invalid",
            "IsActive": i != 3,
        }
        for i, u in enumerate(owners)
    ]
    groups = [
        {"Id": INTAKE, "SystemModstamp": stamp, "Name": "Intake", "Type": "Queue"},
        {"Id": FALLBACK, "SystemModstamp": stamp, "Name": "Fallback", "Type": "Queue"},
    ]
    weights = [w for _, w, _ in COUNTRIES]
    start = END - timedelta(weeks=6)
    span = int((END - start).total_seconds())
    leads = []
    for i, offset in enumerate(sorted(rng.randrange(span) for _ in range(n_leads))):
        country, _, states = rng.choices(COUNTRIES, weights)[0]
        band = rng.choices(EMPLOYEE_BANDS, [w for _, w in EMPLOYEE_BANDS])[0][0]
        employees = None if band is None else int(math.exp(rng.uniform(*map(math.log, band))))
        revenue = (
            None
            if employees is None or rng.random() < 0.12
            else employees * rng.uniform(8e4, 2.5e5)
        )
        created = (start + timedelta(seconds=offset)).strftime("%Y-%m-%dT%H:%M:%S.000+0000")
        leads.append(
            {
                "Id": make_id("00Q", 1000 + i),
                "SystemModstamp": created,
                "CreatedDate": created,
                "LastModifiedDate": created,
                "IsDeleted": False,
                "IsConverted": False,
                "LastName": f"Lead {i}",
                "Company": f"Company {i % 5000}",
                "Country": country,
                "State": rng.choice(states),
                "NumberOfEmployees": employees,
                "AnnualRevenue": None if revenue is None else round(revenue, -3),
                "Rating": rng.choice(["Hot", "Warm", "Cold", None]),
                "OwnerId": INTAKE,
            }
        )
    path = directory / "warehouse.duckdb"
    with connect(path) as con:
        for name, records in (("User", users), ("Group", groups), ("Lead", leads)):
            spec = OBJECTS_BY_NAME[name]
            full = [{f: r.get(f) for f in spec.fields} for r in records]
            raw.upsert_records(con, spec, full, END)
    policy = directory / "policy.json"
    policy.write_text(json.dumps(policy_doc(owners), indent=2), encoding="utf-8")
    # The same records for the dev org: OwnerId writes must name a User or a queue it holds.
    org = directory / "org"
    org.mkdir()
    for name, records in (("User", users), ("Group", groups), ("Lead", leads)):
        with (org / f"{name}.jsonl").open("w", encoding="utf-8") as fh:
            for record in records:
                fh.write(json.dumps(record, separators=(",", ":"), ensure_ascii=False) + "\n")
    return path, policy, org


def reset_peak_rss() -> bool:
    """Restart this process's VmHWM at its current RSS (Linux: `5` into clear_refs), so a later
    `peak_rss_mb` is the peak of what ran since. False where that is not possible."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def measure(warehouse: Path, policy_path: Path) -> dict:
    """Runs in its own process: every number here is about routing only."""
    from salesops_dagster.policy import known_ids, load_policy
    from salesops_dagster.routing import rules
    from salesops_dagster.routing.backtest import backtest
    from salesops_dagster.routing.candidates import candidates_from_records, load_candidates
    from salesops_dagster.routing.decisions import insert_decisions, read_history
    from salesops_dagster.routing.engine import Engine, route_pending
    from salesops_dagster.warehouse.connection import connect

    out: dict = {"rss_start_mb": peak_rss_mb()}
    with connect(warehouse) as con:
        t0 = time.perf_counter()
        loaded = load_policy(policy_path, **known_ids(con))
        t1 = time.perf_counter()
        candidates = load_candidates(con, loaded.policy)
        t2 = time.perf_counter()
        engine = Engine(
            loaded, history=read_history(con), active_users=known_ids(con)["known_users"]
        )
        result = engine.decide(candidates, as_of=END, computed_at=END)
        t3 = time.perf_counter()
        inserted = insert_decisions(con, result.decisions)
        t4 = time.perf_counter()
        out.update(
            leads=len(candidates),
            decisions=len(result.decisions),
            inserted=inserted,
            fallback=sum(d.is_fallback for d in result.decisions),
            owners=len({d.owner_id for d in result.decisions if not d.is_fallback}),
            load_policy_s=t1 - t0,
            candidates_s=t2 - t1,
            engine_s=t3 - t2,
            insert_s=t4 - t3,
            total_s=t4 - t0,
        )
        out["rss_peak_mb"] = peak_rss_mb()

        t5 = time.perf_counter()
        rerun = route_pending(con, loaded, as_of=END)
        out["rerun_s"] = time.perf_counter() - t5
        out["rerun_decisions"] = len(rerun.decisions)
        out["rerun_inserted"] = insert_decisions(con, rerun.decisions)

        # Side by side: the same matching with the Python evaluator over fetched rows.
        t6 = time.perf_counter()
        cursor = con.execute("SELECT * FROM salesforce.lead")
        names = [d[0] for d in cursor.description]
        rows = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
        python = candidates_from_records(loaded.policy, rows)
        out["python_matching_s"] = time.perf_counter() - t6
        by_id = {c.lead_id: (c.segment_rule, c.region_rule) for c in python}
        out["sql_python_agree"] = all(
            by_id[c.lead_id] == (c.segment_rule, c.region_rule) for c in candidates
        )
        assert rules.NO_MATCH == -1

        t7 = time.perf_counter()
        report = backtest(con, loaded)
        out["backtest_s"] = time.perf_counter() - t7
        out["backtest_changes"] = report.has_changes
        current = dict(con.execute('SELECT "Id", "OwnerId" FROM salesforce.lead').fetchall())
        out["owner_changes"] = sum(d.owner_id != current[d.lead_id] for d in result.decisions)
    return out


def _delta(before: dict[str, Any], after: dict[str, Any], key: str) -> dict[str, int]:
    """Per-name increase of one of the dev org's counters between two `/devorg/stats`."""
    old, new = before.get(key, {}), after.get(key, {})
    return {name: new[name] - old.get(name, 0) for name in new if new[name] != old.get(name, 0)}


def measure_writes(method: str, warehouse: Path, policy_path: Path, env_file: Path) -> dict:
    """Runs in its own process against the dev org: plan the owner writes, send them through
    one write path, then plan again."""
    from salesops_dagster.policy import known_ids, load_policy
    from salesops_dagster.routing.publish import WRITTEN_FIELDS, plan_owner_writes
    from salesops_dagster.salesforce.client import SalesforceClient
    from salesops_dagster.salesforce.config import SalesforceConfig
    from salesops_dagster.salesforce.writer import SalesforceWriter, only_changed
    from salesops_dagster.warehouse.connection import connect
    from salesops_dagster.warehouse.writes import held_values

    env = json.loads(env_file.read_text())
    out: dict = {"method": method, "rss_start_mb": peak_rss_mb()}
    client = SalesforceClient(SalesforceConfig.from_env(env))
    client.login()  # the token endpoint is not an API call; keep it out of the timings
    out["bulk_poll_s"] = client.bulk_poll_seconds
    now = datetime.now(UTC)
    with connect(warehouse) as con:
        loaded = load_policy(policy_path, **known_ids(con))
        t0 = time.perf_counter()
        planned = plan_owner_writes(con, loaded, now=now)
        out["plan_s"] = time.perf_counter() - t0
    out["planned"] = len(planned)
    out["rss_plan_mb"] = peak_rss_mb()
    # From here the peak is the write's own (when the kernel lets us reset it).
    out["peak_reset"] = reset_peak_rss()
    out["rss_before_write_mb"] = peak_rss_mb()

    writer = SalesforceWriter(
        client,
        warehouse,
        bulk_threshold=HUGE if method == "collections" else 0,
        api_reserve=0,
        run_id=f"routing-benchmark-{method}",
    )
    # The time inside the client's write methods (the wire and the dev org); the rest of the
    # write is the writer's own work, mostly recording each batch in salesforce_write.
    sending = {"s": 0.0}

    def timed(fn):
        def call(*args, **kwargs):
            started = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                sending["s"] += time.perf_counter() - started

        return call

    client.update_records = timed(client.update_records)
    client.bulk_update = timed(client.bulk_update)
    before = server_stats(env)
    calls = client.usage.calls
    t1 = time.perf_counter()
    report = writer.write(planned)
    out["write_s"] = time.perf_counter() - t1
    out["send_s"] = sending["s"]
    out["calls"] = client.usage.calls - calls
    after = server_stats(env)
    out["rss_peak_mb"] = peak_rss_mb()
    out.update(
        written=report.written,
        failed=report.failed,
        not_sent=report.not_sent,
        stopped=report.stopped_reason,
        report_calls=report.api_calls,
        server_calls=after["api_calls"] - before["api_calls"],
        kinds=_delta(before, after, "requests"),
        lead_writes=_delta(before, after, "lead_writes_by_auto_assign"),
        records_written=_delta(before, after, "records_written").get("Lead", 0),
        first_failure=None if not report.failures else repr(report.failures[0]),
    )

    # Planning again after the writes: the decisions just written are not planned again, and
    # what was sent is what the warehouse now believes Salesforce holds (the held_values overlay
    # of successful writes on the raw copy, which predates them).
    t2 = time.perf_counter()
    with connect(warehouse) as con:
        rerun = plan_owner_writes(con, loaded, now=datetime.now(UTC))
        ids = [p.record_id for p in planned]
        out["still_differ_overlay"] = len(
            only_changed(planned, held_values(con, "Lead", list(WRITTEN_FIELDS), ids))
        )
        columns = ", ".join(f'"{name}"' for name in ("Id", *WRITTEN_FIELDS))
        raw = {
            row[0]: dict(zip(WRITTEN_FIELDS, row[1:], strict=True))
            for row in con.execute(f"SELECT {columns} FROM salesforce.lead").fetchall()  # noqa: S608
        }
        out["still_differ_raw"] = len(only_changed(planned, raw))
        out["attempts"] = {
            f"{m} {s}": n
            for m, s, n in con.execute(
                "SELECT method, status, count(*) FROM salesops.salesforce_write "
                "GROUP BY ALL ORDER BY ALL"
            ).fetchall()
        }
    out["rerun_plan_s"] = time.perf_counter() - t2
    out["rerun_planned"] = len(rerun)
    before = server_stats(env)
    calls = client.usage.calls
    rerun_report = writer.write(rerun)
    out["rerun_calls"] = client.usage.calls - calls
    out["rerun_server_calls"] = server_stats(env)["api_calls"] - before["api_calls"]
    out["rerun_written"] = rerun_report.written
    return out


def run_child(command: list[str]) -> dict:
    """A measurement in a fresh process (its own peak RSS); its last stdout line is JSON."""
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    CHILDREN.append(proc)
    stdout, _ = proc.communicate()
    CHILDREN.remove(proc)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(command[1:4])} failed with exit code {proc.returncode}")
    return json.loads(stdout.strip().splitlines()[-1])


def org_leads(env: dict[str, str]) -> list[dict[str, Any]]:
    """Every Lead the dev org holds (an admin endpoint: no API call)."""
    with requests.Session() as session:
        session.trust_env = False
        answer = session.get(
            f"{env['SALESFORCE_LOGIN_URL']}/devorg/records/Lead",
            verify=env["SALESFORCE_CA_BUNDLE"],
            timeout=300,
        )
        answer.raise_for_status()
        return answer.json()["records"]


def check_org(env: dict[str, str], warehouse: Path) -> dict[str, int]:
    """How many decided leads the org now holds with the decided owner and both fields."""
    from salesops_dagster.warehouse.connection import connect

    with connect(warehouse, read_only=True) as con:
        decided = dict(
            con.execute(
                "SELECT lead_id, owner_id FROM salesops.lead_routing_decision "
                "QUALIFY row_number() OVER (PARTITION BY lead_id ORDER BY attempt DESC) = 1"
            ).fetchall()
        )
    leads = {lead["Id"]: lead for lead in org_leads(env)}
    done = sum(
        leads[lead_id]["OwnerId"] == owner_id
        and leads[lead_id].get("Owner_Assigned_At__c") is not None
        and leads[lead_id].get("Assignment_Latency_Minutes__c") is not None
        for lead_id, owner_id in decided.items()
    )
    return {"decided": len(decided), "in_org": done}


def write_path(method: str, tmp: Path, warehouse: Path, policy: Path, org_seed: Path) -> dict:
    """One write path on its own copy of the routed warehouse and of the org's data."""
    run = tmp / method
    (run / "org").mkdir(parents=True)
    copy = run / "warehouse.duckdb"
    shutil.copyfile(warehouse, copy)
    for path in org_seed.glob("*.jsonl"):  # the dev org appends every write to its JSONL
        shutil.copyfile(path, run / "org" / path.name)
    keys = tmp / "devorg-keys"  # certificates and credentials made once, shared
    keys.mkdir(exist_ok=True)
    (run / "org" / ".devorg").symlink_to(keys)
    progress(f"{method}: starting a dev org on a fresh copy of the data ...")
    proc, env, load_s = start_devorg(run / "org", run / "devorg.log")
    try:
        org = {"load_s": load_s, "rss_mb": proc_memory_mb(proc.pid).get("VmRSS", 0.0)}
        env_file = run / "env.json"
        env_file.write_text(json.dumps(env))
        progress(f"{method}: dev org up after {load_s:.1f} s; planning and writing ...")
        command = [sys.executable, str(Path(__file__).resolve()), "--write", method]
        w = run_child([*command, str(copy), str(policy), str(env_file)])
        progress(f"{method}: {w['written']:,} written in {w['write_s']:.1f} s; checking the org")
        w["org"] = org | check_org(env, copy)
        w["org"]["hwm_mb"] = proc_memory_mb(proc.pid).get("VmHWM", 0.0)
    finally:
        stop(proc)
        CHILDREN.remove(proc)
    return w


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=100_000)
    parser.add_argument("--owners", type=int, default=50)
    parser.add_argument(
        "--measure", nargs=2, metavar=("WAREHOUSE", "POLICY"), help=argparse.SUPPRESS
    )
    parser.add_argument("--write", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(Path(args.measure[0]), Path(args.measure[1]))))
        return
    if args.write:
        method, *paths = args.write
        print(json.dumps(measure_writes(method, *map(Path, paths))))
        return
    atexit.register(stop_children)
    # SIGTERM unwinds like Ctrl-C does: the dev org and any measuring process are stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    with tempfile.TemporaryDirectory(prefix="routing-bench-") as tmp:
        t = time.perf_counter()
        warehouse, policy, org_seed = prepare(Path(tmp), args.leads, args.owners)
        elapsed = time.perf_counter() - t
        print(f"prepared {args.leads:,} leads and {args.owners} owners in {elapsed:.1f} s")
        sys.stdout.flush()
        progress("routing in a fresh process ...")
        command = [sys.executable, str(Path(__file__).resolve()), "--measure"]
        r = run_child([*command, str(warehouse), str(policy)])
        writes = {m: write_path(m, Path(tmp), warehouse, policy, org_seed) for m in WRITE_PATHS}
    report(r, writes)


def report(r: dict, writes: dict[str, dict]) -> None:
    per_lead_us = r["total_s"] / max(r["decisions"], 1) * 1e6
    floor = math.ceil(r["owner_changes"] / 200)
    ratio = r["python_matching_s"] / r["candidates_s"]
    lines = [
        "",
        f"routing {r['decisions']:,} leads across {r['owners']} owners "
        f"(fallback {r['fallback']:,}, still waiting for enrichment {r['leads'] - r['decisions']})",
        f"  load + validate policy   {r['load_policy_s']:8.3f} s",
        f"  candidates (DuckDB SQL)  {r['candidates_s']:8.3f} s   eligibility + rule matching, "
        f"{r['leads']:,} rows",
        f"  engine (round robin)     {r['engine_s']:8.3f} s",
        f"  insert decisions         {r['insert_s']:8.3f} s   {r['inserted']:,} rows",
        f"  total                    {r['total_s']:8.3f} s   {per_lead_us:.1f} us per lead",
        f"  peak memory              {r['rss_peak_mb']:8.0f} MB RSS "
        f"({r['rss_start_mb']:.0f} MB before routing)",
        f"  rerun                    {r['rerun_s']:8.3f} s   {r['rerun_decisions']} decisions, "
        f"{r['rerun_inserted']} inserted",
        "",
        "side by side",
        f"  rule matching: Python evaluator {r['python_matching_s']:.3f} s vs candidates query "
        f"{r['candidates_s']:.3f} s ({ratio:.1f}x); same matches: {r['sql_python_agree']}",
        f"  backtest of the same policy over the {r['decisions']:,} decisions: "
        f"{r['backtest_s']:.3f} s; changes: {r['backtest_changes']}",
        "",
        f"write calls: {r['owner_changes']:,} owners to publish; floor "
        f"ceil({r['owner_changes']:,} / 200) = {floor:,} sObject Collections calls",
    ]
    c, b = writes["collections"], writes["bulk"]
    org = c["org"]
    lines += [
        "",
        "write-back to a dev org (separate process, HTTPS on 127.0.0.1; fresh org and warehouse "
        "copy per path; api_reserve=0)",
        f"  dev org: loaded in {org['load_s']:.1f} s, RSS {org['rss_mb']:,.0f} MB after load, "
        f"peak {org['hwm_mb']:,.0f} MB (collections run), {b['org']['hwm_mb']:,.0f} MB (bulk run)",
        f"  plan_owner_writes        {c['plan_s']:8.3f} s   {c['planned']:,} writes planned "
        f"(OwnerId, Owner_Assigned_At__c, Assignment_Latency_Minutes__c)",
    ]
    for w in (c, b):
        n = w["written"]
        k = Counter(w["kinds"])
        limits = k.pop("limits", 0)
        write_calls = w["calls"] - limits
        w_floor = math.ceil(w["planned"] / 200)
        agree = "agree" if w["calls"] == w["server_calls"] == w["report_calls"] else "DISAGREE"
        name = "sObject Collections" if w["method"] == "collections" else "Bulk API 2.0"
        lines += [
            "",
            f"  ({'a' if w['method'] == 'collections' else 'b'}) {name} "
            f"(bulk_threshold={'10**12' if w['method'] == 'collections' else 0})",
            f"    seconds                {w['write_s']:8.3f} s   "
            f"{n / w['write_s']:,.0f} records/s; written {n:,}, failed {w['failed']}, "
            f"not sent {w['not_sent']}" + (f"; stopped: {w['stopped']}" if w["stopped"] else ""),
            f"      in client calls      {w['send_s']:8.3f} s   (wire + dev org); the writer's own "
            f"work {w['write_s'] - w['send_s']:.3f} s (recording each batch in salesforce_write)",
            f"    API calls              {w['calls']:8,}     = {write_calls:,} write calls + "
            f"{limits} limits call (the writer learning the budget)",
            f"    floor ceil({w['planned']:,} / 200) = {w_floor:,}; write calls / floor "
            f"{write_calls / max(w_floor, 1):.3f}",
            f"    dev org counted        {w['server_calls']:8,}     API calls: "
            + ", ".join(f"{kind} {count:,}" for kind, count in sorted(w["kinds"].items()))
            + f"; client {w['calls']:,}, writer report {w['report_calls']:,}: {agree}",
            f"    Lead records written   {w['records_written']:8,}     by Sforce-Auto-Assign: "
            + ", ".join(f"{bucket} {count:,}" for bucket, count in w["lead_writes"].items()),
            "    salesforce_write rows  "
            + ", ".join(f"{key} {count:,}" for key, count in w["attempts"].items()),
            f"    org check              {w['org']['in_org']:8,}     of {w['org']['decided']:,} "
            "decided leads hold the decided owner and both assignment fields",
            f"    peak memory            {w['rss_peak_mb']:8.0f} MB RSS during the write "
            + (
                f"(peak reset before it; {w['rss_before_write_mb']:.0f} MB when it began)"
                if w["peak_reset"]
                else "(peak since the process started: no reset possible here)"
            )
            + f"; planning peak {w['rss_plan_mb']:.0f} MB, {w['rss_start_mb']:.0f} MB with the "
            "imports loaded",
        ]
        if w["method"] == "bulk":
            ratio_c = w["write_s"] / c["write_s"]
            lines.append(
                f"    vs Collections         {ratio_c:8.2f}x time, {w['calls']} vs {c['calls']} "
                f"API calls; includes the client's {w['bulk_poll_s']:g} s wait before the first "
                "poll"
            )
        if w["first_failure"]:
            lines.append(f"    first failure: {w['first_failure']}")
        lines.append(
            f"    rerun: plan {w['rerun_plan_s']:.3f} s, {w['rerun_planned']} writes planned, "
            f"{w['rerun_calls']} API calls (dev org {w['rerun_server_calls']}); of the "
            f"{w['planned']:,} writes sent, {w['still_differ_overlay']} still differ from "
            f"held_values (raw copy + overlay), {w['still_differ_raw']:,} from the raw copy alone"
        )
    print("\n".join(lines))


if __name__ == "__main__":
    main()

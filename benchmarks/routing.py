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

Write calls: publishing the decided owners needs at least ceil(changed / 200) sObject Collections
calls; the script prints that floor for the owners that differ from the lead's current owner.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from salesops_dagster.devorg.ids import make_id

END = datetime(2026, 11, 30, tzinfo=UTC)
INTAKE = make_id("00G", 1)
FALLBACK = make_id("00G", 2)
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


def prepare(directory: Path, n_leads: int, n_owners: int) -> tuple[Path, Path]:
    from salesops_dagster.ingest.objects import OBJECTS_BY_NAME
    from salesops_dagster.warehouse import raw
    from salesops_dagster.warehouse.connection import connect

    rng = random.Random(7)
    owners = owner_ids(n_owners)
    stamp = "2026-01-01T00:00:00.000+0000"
    users = [
        {"Id": u, "SystemModstamp": stamp, "Name": f"Owner {i}", "IsActive": i != 3}
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
    return path, policy


def peak_rss_mb() -> float:
    """This process's peak resident set (VmHWM; unlike ru_maxrss it does not inherit the parent's
    peak across fork + exec). Falls back to ru_maxrss where /proc is missing."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=100_000)
    parser.add_argument("--owners", type=int, default=50)
    parser.add_argument(
        "--measure", nargs=2, metavar=("WAREHOUSE", "POLICY"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(Path(args.measure[0]), Path(args.measure[1]))))
        return
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        warehouse, policy = prepare(Path(tmp), args.leads, args.owners)
        elapsed = time.perf_counter() - t
        print(f"prepared {args.leads:,} leads and {args.owners} owners in {elapsed:.1f} s")
        child = subprocess.run(
            [sys.executable, __file__, "--measure", str(warehouse), str(policy)],
            check=True,
            capture_output=True,
            text=True,
        )
        r = json.loads(child.stdout.strip().splitlines()[-1])
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
    print("\n".join(lines))


if __name__ == "__main__":
    main()

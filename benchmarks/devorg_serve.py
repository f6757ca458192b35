"""How fast the dev org loads and serves a large org; a measurement, not a timed test.

Run: `python benchmarks/devorg_serve.py [--leads 1000000] [--keep DIR]`.

Writes N Lead records as `Lead.jsonl` (REST shape, ~16 fields each), starts a `DevOrg` on that
directory, then reads every record back with the real simple-salesforce client over HTTPS: REST
`query_all_iter` (pages of 2000) and Bulk API 2.0 `query` (pages of 100,000). Prints load time,
peak memory, rows per second for each read path and their ratio.
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time
from pathlib import Path

import requests
import simple_salesforce

from salesops_dagster.devorg.ids import make_id
from salesops_dagster.devorg.server import DevOrg

QUEUE = {
    "Id": make_id("00G", 1, "BM"),
    "Name": "Intake",
    "DeveloperName": "Intake",
    "Type": "Queue",
}
STAMP = "2026-11-02T09:00:00.000+0000"


def write_leads(path: Path, n: int) -> None:
    with path.open("w", encoding="utf-8") as fh:
        for i in range(n):
            record = {
                "Id": make_id("00Q", i + 1, "BM"),
                "FirstName": "Lead",
                "LastName": f"Number{i}",
                "Name": f"Lead Number{i}",
                "Company": f"Company {i % 5000}",
                "Email": f"lead{i}@example.com",
                "Status": "Open - Not Contacted",
                "LeadSource": "Web",
                "Country": "United States",
                "OwnerId": QUEUE["Id"],
                "IsDeleted": False,
                "IsConverted": False,
                "CreatedDate": STAMP,
                "LastModifiedDate": STAMP,
                "SystemModstamp": STAMP,
                "CreatedById": QUEUE["Id"],
                "LastModifiedById": QUEUE["Id"],
            }
            fh.write(json.dumps(record) + "\n")


def client(org: DevOrg) -> simple_salesforce.Salesforce:
    session = requests.Session()
    session.trust_env = False
    session.verify = org.ca_bundle
    creds = org.credentials
    token = session.post(
        f"{org.url}/services/oauth2/token",
        data={
            "grant_type": "password",
            "client_id": creds["client_id"],
            "client_secret": creds["client_secret"],
            "username": creds["username"],
            "password": creds["password"],
        },
        timeout=30,
    ).json()
    return simple_salesforce.Salesforce(
        instance_url=token["instance_url"], session_id=token["access_token"], session=session
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--leads", type=int, default=1_000_000)
    parser.add_argument("--keep", type=Path, help="data directory to reuse (kept afterwards)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = args.keep or Path(tmp)
        data.mkdir(parents=True, exist_ok=True)
        if not (data / "Lead.jsonl").exists():
            started = time.perf_counter()
            write_leads(data / "Lead.jsonl", args.leads)
            print(f"wrote {args.leads:,} leads in {time.perf_counter() - started:.1f} s")

        started = time.perf_counter()
        org = DevOrg(data_dir=data, records={"Group": [QUEUE]})
        load = time.perf_counter() - started
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"load: {load:.1f} s ({args.leads / load:,.0f} records/s), peak RSS {peak:,.0f} MB")
        with org:
            sf = client(org)
            soql = "SELECT Id, Email, OwnerId, SystemModstamp FROM Lead WHERE IsConverted = false"

            started = time.perf_counter()
            rest_rows = sum(1 for _ in sf.query_all_iter(soql))
            rest = time.perf_counter() - started
            print(
                f"REST query: {rest_rows:,} rows in {rest:.1f} s ({rest_rows / rest:,.0f} rows/s)"
            )

            started = time.perf_counter()
            pages = sf.bulk2.Lead.query(soql, max_records=100_000, wait=0)
            bulk_rows = sum(page.count("\n") - 1 for page in pages)
            bulk = time.perf_counter() - started
            print(
                f"Bulk query: {bulk_rows:,} rows in {bulk:.1f} s ({bulk_rows / bulk:,.0f} rows/s)"
            )
            print(f"Bulk / REST throughput: {rest / bulk:.1f}x")
            stats = org.stats()
            print(f"API calls: {stats['api_calls']}, requests: {stats['requests']}")


if __name__ == "__main__":
    main()

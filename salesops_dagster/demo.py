"""`salesops demo`: a dev org with synthetic data, the full sync twice, and what it did.

The demo is self-contained under one folder (default `data/demo`, recreated each time): the dev
org's data and certificate, the warehouse, and the Dagster instance, so the UI can be opened on
exactly what the demo computed.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from salesops_dagster.devorg.server import DevOrg
from salesops_dagster.devorg.synthetic import counts, generate
from salesops_dagster.sync import ensure_dagster_home, format_summary, run_sync


def run_demo(folder: Path, *, n_leads: int, seed: int) -> int:
    folder = folder.resolve()
    if folder.exists():
        shutil.rmtree(folder)
    devorg_dir = folder / "devorg"
    devorg_dir.mkdir(parents=True)
    print(f"Generating a dev org with {n_leads} synthetic leads (seed {seed}) ...")
    data = generate(n_leads, seed)
    with DevOrg(data_dir=devorg_dir, records=data) as org:
        print(f"Dev org serving at {org.url}")
        for sobject, n in sorted(counts(data).items()):
            print(f"  {sobject:<22} {n:>8} records")
        os.environ.update(org.env())
        os.environ["SALESOPS_WAREHOUSE"] = str(folder / "warehouse.duckdb")
        os.environ["DAGSTER_HOME"] = str(folder / "dagster_home")
        ensure_dagster_home()

        status = 0
        for attempt in ("first", "second"):
            print(f"\nSync, {attempt} pass:")
            result = run_sync()
            print(format_summary(result))
            status = status or (0 if result.success else 1)
        stats = org.stats()
    print(
        f"\nDev org API calls served: {stats['api_calls']}; records written to Salesforce: "
        f"{stats['records_written']['total']}"
    )
    print(
        "\nOpen the UI on the same data:\n"
        f"  salesops devorg serve --data {devorg_dir}   # then paste its export lines\n"
        f"  export SALESOPS_WAREHOUSE={folder / 'warehouse.duckdb'}\n"
        f"  export DAGSTER_HOME={folder / 'dagster_home'}\n"
        "  dagster dev -w workspace.yaml"
    )
    return status

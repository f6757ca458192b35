"""Upsert throughput of the raw warehouse layer; a measurement, not a timed test.

Run: `python benchmarks/warehouse_upsert.py [--sizes 100000 1000000]`.

Synthetic Lead records in the REST shape (typed JSON values) and the Bulk API 2.0 CSV shape (all
text), upserted into a fresh DuckDB file: a first load (all inserts), a replay (all unchanged), and
a reload where every record is one version newer (all updates). Prints rows per second per step and
how the time splits between converting records (Python/pandas) and the SQL (stage + MERGE).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from salesops_dagster.ingest.objects import LEAD
from salesops_dagster.warehouse import raw
from salesops_dagster.warehouse.connection import connect

BASE = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def _ts(value: datetime, bulk: bool) -> str:
    text = value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}"
    return text + ("Z" if bulk else "+0000")


def leads(n: int, *, version: int = 0, bulk: bool = False) -> list[dict]:
    """n Lead records; `version` shifts SystemModstamp and Status so every row changes."""
    records = []
    for i in range(n):
        created = BASE + timedelta(seconds=i)
        record = {
            "attributes": {"type": "Lead"},
            "Id": f"00Q{i:015d}",
            "SystemModstamp": created + timedelta(hours=version),
            "IsDeleted": i % 50 == 0,
            "FirstName": f"First{i}",
            "LastName": f"Last{i}",
            "Company": f"Company {i % 5000}",
            "Title": "VP Sales" if i % 3 else None,
            "Email": f"lead{i}@example.com",
            "Phone": f"+1 555 {i % 10000:04d}",
            "Status": f"Open v{version}",
            "LeadSource": "Web",
            "Industry": "Software",
            "Rating": None,
            "NumberOfEmployees": i % 10000,
            "AnnualRevenue": i * 1000.5,
            "City": "Springfield",
            "State": "IL",
            "PostalCode": "62701",
            "Country": "US",
            "OwnerId": f"00G{i % 7:015d}",
            "IsConverted": False,
            "ConvertedDate": None,
            "CreatedDate": created,
            "CreatedById": "005000000000000001",
            "LastModifiedDate": created + timedelta(hours=version),
        }
        for field in LEAD.fields:
            record.setdefault(field, None)
        for key, value in record.items():
            if isinstance(value, datetime):
                record[key] = _ts(value, bulk)
            elif bulk and key != "attributes":
                # Bulk API 2.0 CSV: every value is text, null is ''.
                if value is None:
                    record[key] = ""
                elif isinstance(value, bool):
                    record[key] = "true" if value else "false"
                else:
                    record[key] = str(value)
        records.append(record)
    return records


def _step(con, label: str, records: list[dict]) -> None:
    started = time.perf_counter()
    raw._frame(LEAD, records)  # conversion alone, for the split
    converted = time.perf_counter() - started
    started = time.perf_counter()
    stats = raw.load_batch(con, LEAD, records, BASE, datetime.now(UTC))
    total = time.perf_counter() - started
    print(
        f"  {label:<22} {total:6.2f} s  {len(records) / total:>10,.0f} rows/s"
        f"  (convert {converted:5.2f} s, SQL ~{max(total - converted, 0):5.2f} s)  {stats}"
    )


def run(n: int, bulk: bool, directory: Path) -> None:
    shape = "Bulk CSV" if bulk else "REST"
    print(f"{n:,} leads, {shape} shape")
    first, newer = leads(n, bulk=bulk), leads(n, version=1, bulk=bulk)
    with connect(directory / f"bench-{n}-{shape[:4]}.duckdb") as con:
        raw.ensure_all(con)
        _step(con, "first load (insert)", first)
        _step(con, "replay (unchanged)", first)
        _step(con, "newer versions (update)", newer)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        for n in args.sizes:
            for bulk in (False, True):
                run(n, bulk, Path(directory))


if __name__ == "__main__":
    main()

"""Non-secret settings with their defaults, read from the environment in one place."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

# The repository (the package is installed editable from it): shipped policy, dagster.yaml, sf/.
REPO_ROOT = Path(__file__).resolve().parents[1]


def warehouse_path() -> str:
    """`SALESOPS_WAREHOUSE`: the DuckDB file (default `data/warehouse.duckdb`)."""
    return os.environ.get("SALESOPS_WAREHOUSE") or "data/warehouse.duckdb"


def policy_path() -> str:
    """`SALESOPS_POLICY`: the routing policy file (default: the shipped
    `policies/routing_policy.json`, wherever the command runs from)."""
    return os.environ.get("SALESOPS_POLICY") or str(REPO_ROOT / "policies" / "routing_policy.json")


def partitions_start() -> str:
    """`SALESOPS_PARTITIONS_START`: the first daily partition of the raw assets (YYYY-MM-DD)."""
    return os.environ.get("SALESOPS_PARTITIONS_START") or "2025-01-01"


def sensor_interval_seconds() -> int:
    """`SALESOPS_SENSOR_INTERVAL`: seconds between change probes (one API call each)."""
    return int(os.environ.get("SALESOPS_SENSOR_INTERVAL") or 60)


def ingest_overlap() -> timedelta:
    """`SALESOPS_INGEST_OVERLAP_SECONDS`: how far before the watermark each pull starts again, so
    rows committed late by long Salesforce transactions are not missed (default 300)."""
    return timedelta(seconds=int(os.environ.get("SALESOPS_INGEST_OVERLAP_SECONDS") or 300))


def bulk_threshold() -> int:
    """`SALESOPS_BULK_THRESHOLD`: above this many rows in a window, ingest uses Bulk API 2.0."""
    return int(os.environ.get("SALESOPS_BULK_THRESHOLD") or 50_000)


def api_reserve() -> int:
    """`SALESOPS_API_RESERVE`: daily API calls left untouched for other integrations; publishes
    stop before the org's remaining allocation would fall under it (default 1000)."""
    return int(os.environ.get("SALESOPS_API_RESERVE") or 1000)


def write_bulk_threshold() -> int:
    """`SALESOPS_WRITE_BULK_THRESHOLD`: above this many records a publish uses Bulk API 2.0."""
    return int(os.environ.get("SALESOPS_WRITE_BULK_THRESHOLD") or 10_000)


def fallback_share_warning() -> float:
    """`SALESOPS_FALLBACK_SHARE_WARN`: share of fallback decisions that raises a warning."""
    return float(os.environ.get("SALESOPS_FALLBACK_SHARE_WARN") or 0.2)

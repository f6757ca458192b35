"""Non-secret settings with their defaults, read from the environment in one place."""

from __future__ import annotations

import os
from datetime import timedelta


def warehouse_path() -> str:
    """`SALESOPS_WAREHOUSE`: the DuckDB file (default `data/warehouse.duckdb`)."""
    return os.environ.get("SALESOPS_WAREHOUSE") or "data/warehouse.duckdb"


def policy_path() -> str:
    """`SALESOPS_POLICY`: the routing policy file."""
    return os.environ.get("SALESOPS_POLICY") or "policies/routing_policy.json"


def flywheel_dir() -> str:
    """`SALESOPS_FLYWHEEL_DIR`: where the JSONL exports go."""
    return os.environ.get("SALESOPS_FLYWHEEL_DIR") or "data/flywheel"


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

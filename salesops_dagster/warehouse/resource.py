"""The Dagster resource for the embedded DuckDB warehouse."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import duckdb
from dagster_duckdb import DuckDBResource
from pydantic import Field

from salesops_dagster.warehouse.connection import connect

WAREHOUSE_POOL = "duckdb_warehouse"  # every asset that writes the file runs in this pool (limit 1)


class WarehouseResource(DuckDBResource):
    """The DuckDB file (`SALESOPS_WAREHOUSE`). Connections are short-lived and wait, up to
    `lock_timeout_seconds`, for another process that holds the file's write lock."""

    lock_timeout_seconds: float = Field(default=120.0, description="Wait for the file lock.")

    @contextmanager
    def get_connection(self) -> Iterator[duckdb.DuckDBPyConnection]:
        with connect(self.database, timeout_s=self.lock_timeout_seconds) as con:
            yield con

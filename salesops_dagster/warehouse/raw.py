"""Raw Salesforce objects in schema `salesforce`: one table per ObjectSpec, upserted by Id.

Each table holds one row per Id, the latest version seen, with the Salesforce field names as column
names (case kept, always quoted) plus two bookkeeping columns:

- `_is_deleted`: Salesforce's IsDeleted (false for objects without it, User and Group); a deleted
  record stays in the table, flagged, so it can be undeleted and so marts can tell "gone" from
  "never seen".
- `_synced_at`: when the load that last changed the row ran (UTC).

Every TIMESTAMP column is naive UTC (see `connection`). Loads never regress a row: an incoming
version replaces the stored one only when its SystemModstamp is not older, and a version identical
to the stored one writes nothing (not even `_synced_at`), so replaying any window changes nothing.
"""

from __future__ import annotations

import gc
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import duckdb
import pandas as pd

from salesops_dagster.ingest.objects import OBJECTS, ObjectSpec
from salesops_dagster.warehouse.connection import fetch_one, to_warehouse_ts
from salesops_dagster.warehouse.sync_state import ensure_sync_state, record_load, set_watermark

SCHEMA = "salesforce"

DUCKDB_TYPES = {
    "id": "VARCHAR",
    "reference": "VARCHAR",
    "string": "VARCHAR",
    "boolean": "BOOLEAN",
    "int": "BIGINT",
    "double": "DOUBLE",
    "datetime": "TIMESTAMP",  # naive, UTC
    "date": "DATE",
}
BOOKKEEPING_COLUMNS = {"_is_deleted": "BOOLEAN", "_synced_at": "TIMESTAMP"}
# Every version has these; the upsert's ordering and change detection rely on them.
_NOT_NULL = {"SystemModstamp", "_is_deleted", "_synced_at"}

# Connection-local names for one upsert's input and staging table.
_INCOMING_VIEW = "_raw_upsert_incoming"
_STAGE_TABLE = "_raw_upsert_stage"

_BOOLEANS = {True: True, False: False, "true": True, "false": False, "True": True, "False": False}


class RecordError(ValueError):
    """A record that cannot be stored as its ObjectSpec declares (missing field, bad value)."""


class SchemaMismatch(RuntimeError):
    """A warehouse column whose type differs from what the ObjectSpec now declares."""


@dataclass(frozen=True)
class UpsertStats:
    """What one upsert did, counted per distinct Id in the batch.

    inserted + updated + unchanged = distinct Ids. `deleted` (rows now flagged `_is_deleted` that
    were not, or were inserted already deleted) and `undeleted` overlap with inserted/updated;
    `stale` (versions older than the stored row, ignored) is part of `unchanged`.
    """

    inserted: int
    updated: int
    deleted: int
    unchanged: int
    stale: int = 0
    undeleted: int = 0

    @property
    def written(self) -> int:
        return self.inserted + self.updated


def quote(identifier: str) -> str:
    """A SQL identifier, quoted: Salesforce names keep their case, and user/group are keywords."""
    return '"' + identifier.replace('"', '""') + '"'


def table_name(spec: ObjectSpec) -> str:
    """The qualified, quoted table of an object, e.g. `salesforce."user"`."""
    return f"{SCHEMA}.{quote(spec.table)}"


def column_types(spec: ObjectSpec) -> dict[str, str]:
    """Every column of the object's table with its DuckDB type, in table order."""
    fields = {name: DUCKDB_TYPES[sf_type] for name, sf_type in spec.fields.items()}
    return {**fields, **BOOKKEEPING_COLUMNS}


# --- schema ---------------------------------------------------------------------------------------
# SQL here is built from ObjectSpec names (declared in code, always quoted by `quote`), never from
# record values, which only ever travel as a registered DataFrame or as bound parameters.


def ensure_table(con: duckdb.DuckDBPyConnection, spec: ObjectSpec) -> None:
    """Create the object's table, or add the columns the spec gained since; never drop any.

    Raises SchemaMismatch when an existing column's type differs from the declared one: changing a
    type rewrites history, so it is left to a person (and a migration).
    """
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
    wanted = column_types(spec)
    columns_sql = ",\n    ".join(
        f"{quote(name)} {sql_type}{' NOT NULL' if name in _NOT_NULL else ''}"
        for name, sql_type in wanted.items()
    )
    con.execute(
        f"CREATE TABLE IF NOT EXISTS {table_name(spec)} (\n"
        f"    {columns_sql},\n"
        f'    PRIMARY KEY ("Id")\n'
        ")"
    )
    # DuckDB matches identifiers case-insensitively, so compare names that way too.
    existing = {
        name.lower(): (name, data_type)
        for name, data_type in con.execute(
            "SELECT column_name, data_type FROM duckdb_columns() "
            "WHERE schema_name = $schema AND table_name = $table "
            "AND database_name = current_database()",
            {"schema": SCHEMA, "table": spec.table},
        ).fetchall()
    }
    for name, sql_type in wanted.items():
        if name.lower() not in existing:
            con.execute(f"ALTER TABLE {table_name(spec)} ADD COLUMN {quote(name)} {sql_type}")
            continue
        stored_name, stored_type = existing[name.lower()]
        if stored_type != sql_type:
            raise SchemaMismatch(
                f"{table_name(spec)}.{quote(stored_name)} is {stored_type} but {spec.sobject}."
                f"{name} is now declared {sql_type}; migrate the column by hand (the warehouse "
                "never changes a column's type)."
            )


def ensure_all(con: duckdb.DuckDBPyConnection, specs: Iterable[ObjectSpec] = OBJECTS) -> None:
    """Schema `salesforce`, every object's table and the sync-state table."""
    ensure_sync_state(con)
    for spec in specs:
        ensure_table(con, spec)


# --- records to a typed frame ---------------------------------------------------------------------


def _missing_field(spec: ObjectSpec, records: Sequence[dict[str, Any]]) -> RecordError:
    """The error for the first record that lacks a declared field."""
    declared = spec.fields.keys()
    for record in records:
        if not declared <= record.keys():
            missing = [name for name in spec.fields if name not in record]
            return RecordError(
                f"{spec.sobject} record {record.get('Id')!r} lacks declared field(s) "
                f"{', '.join(missing)}: the query must select every field of the ObjectSpec."
            )
    raise AssertionError("a KeyError with every declared field present")


def _bad_value(spec: ObjectSpec, ids: pd.Series, name: str, raw: pd.Series, bad: pd.Series) -> None:
    if not bad.any():
        return
    first = bad.to_numpy().nonzero()[0][0]
    raise RecordError(
        f"{spec.sobject} record {ids.iloc[first]!r}: field {name} = {raw.iloc[first]!r} is not a "
        f"valid {spec.fields[name]} ({int(bad.sum())} record(s) in this batch have bad {name} "
        "values)."
    )


def _as_text(value: object) -> str | None:
    """A non-text value in a text field, as Bulk CSV would spell it."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _convert(spec: ObjectSpec, ids: pd.Series, name: str, raw: pd.Series) -> pd.Series:
    """One field's values, REST-typed or Bulk-CSV text, as the declared type.

    Bulk API CSV sends every value as text and null as the empty string; Salesforce never stores
    an empty text value (it stores null), so '' is null for every type and both shapes agree.
    Text columns pass through untouched: the staging SQL turns their '' into null, far faster
    than pandas can on Python objects.
    """
    sf_type = spec.fields[name]
    if sf_type in ("id", "reference", "string"):
        # DuckDB infers an object column's type from a sample, so one stray number among strings
        # would fail the whole scan; the check is C-speed, the fix-up runs only when needed.
        if pd.api.types.infer_dtype(raw, skipna=True) in ("string", "empty"):
            return raw
        return raw.map(_as_text)
    present = raw.notna() & raw.ne("")
    values = raw.where(present, None)
    if sf_type == "boolean":
        converted = values.map(_BOOLEANS).astype("boolean")
    elif sf_type in ("int", "double"):
        converted = pd.to_numeric(values, errors="coerce", dtype_backend="numpy_nullable")
        if sf_type == "int":
            not_integral = converted.notna() & (converted % 1 != 0).fillna(False)
            _bad_value(spec, ids, name, raw, not_integral)
            converted = converted.astype("Int64")
        else:
            converted = converted.astype("Float64")
    elif sf_type == "datetime":
        parsed = pd.to_datetime(values, utc=True, format="ISO8601", errors="coerce")
        converted = parsed.dt.tz_convert(None)
    elif sf_type == "date":
        converted = pd.to_datetime(values, format="%Y-%m-%d", errors="coerce")
    else:
        raise RecordError(f"{spec.sobject}.{name}: unknown field type {sf_type!r}")
    _bad_value(spec, ids, name, raw, present & converted.isna())
    return converted


@contextmanager
def _no_gc() -> Iterator[None]:
    # A large batch is millions of live dicts; every full collection would walk them all while we
    # allocate the columns (about a third of the conversion time at 1M rows). Nothing here creates
    # reference cycles, so pausing the collector is safe.
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _frame(spec: ObjectSpec, records: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """The records as a DataFrame with one column per declared field, plus `_ordinal`."""
    with _no_gc():
        try:
            raw = {
                name: pd.Series([r[name] for r in records], dtype=object) for name in spec.fields
            }
        except KeyError:
            raise _missing_field(spec, records) from None
        ids = raw["Id"]
        for required in ("Id", "SystemModstamp"):
            empty = (raw[required].isna() | raw[required].eq("")).to_numpy()
            if empty.any():
                at = empty.nonzero()[0][0]
                raise RecordError(
                    f"{spec.sobject} record #{at} (Id {ids.iloc[at]!r}) has no {required}: every "
                    "record needs an Id and a SystemModstamp."
                )
        frame = pd.DataFrame({name: _convert(spec, ids, name, raw[name]) for name in spec.fields})
    # Arrival order breaks SystemModstamp ties between two copies of one record.
    frame["_ordinal"] = range(len(frame))
    return frame


# --- upsert ---------------------------------------------------------------------------------------


def _stage_sql(spec: ObjectSpec) -> str:
    """Typed, de-duplicated incoming rows, each classified against the stored row."""
    types = column_types(spec)
    typed = [
        # Bulk CSV's '' is null (see `_convert`); other types arrive converted.
        f"NULLIF(CAST({quote(name)} AS VARCHAR), '') AS {quote(name)}"
        if types[name] == "VARCHAR"
        else f"CAST({quote(name)} AS {types[name]}) AS {quote(name)}"
        for name in spec.fields
    ]
    is_deleted = 'coalesce("IsDeleted", false)' if spec.has_is_deleted else "false"
    compared = [*spec.fields, "_is_deleted"]
    differs = "\n              OR ".join(
        f"latest.{quote(c)} IS DISTINCT FROM stored.{quote(c)}" for c in compared
    )
    typed_sql = ",\n        ".join(typed)
    return f"""
CREATE OR REPLACE TEMP TABLE {_STAGE_TABLE} AS
WITH incoming AS (
    SELECT
        {typed_sql},
        {is_deleted} AS _is_deleted,
        CAST($synced_at AS TIMESTAMP) AS _synced_at,
        _ordinal
    FROM {_INCOMING_VIEW}
),
-- A record edited while the query paged arrives twice; its newest version wins.
latest AS (
    SELECT * EXCLUDE (_ordinal)
    FROM incoming
    QUALIFY row_number() OVER (
        PARTITION BY "Id" ORDER BY "SystemModstamp" DESC, _ordinal DESC
    ) = 1
)
SELECT
    latest.*,
    CASE
        WHEN stored."Id" IS NULL THEN 'insert'
        -- Never regress a row to an older version (a late page, a replayed window).
        WHEN latest."SystemModstamp" < stored."SystemModstamp" THEN 'stale'
        WHEN {differs}
            THEN 'update'
        -- Same version, same content: leave the row (and its _synced_at) alone.
        ELSE 'unchanged'
    END AS _action,
    coalesce(stored._is_deleted, false) AS _was_deleted
FROM latest
LEFT JOIN {table_name(spec)} AS stored ON stored."Id" = latest."Id"
"""  # noqa: S608


_STATS_SQL = f"""
SELECT
    count(*) FILTER (WHERE _action = 'insert') AS inserted,
    count(*) FILTER (WHERE _action = 'update') AS updated,
    count(*) FILTER (WHERE _action IN ('insert', 'update') AND _is_deleted AND NOT _was_deleted)
        AS deleted,
    count(*) FILTER (WHERE _action IN ('unchanged', 'stale')) AS unchanged,
    count(*) FILTER (WHERE _action = 'stale') AS stale,
    count(*) FILTER (WHERE _action = 'update' AND NOT _is_deleted AND _was_deleted) AS undeleted
FROM {_STAGE_TABLE}
"""  # noqa: S608


def _merge_sql(spec: ObjectSpec) -> str:
    """Write the staged inserts and updates in one statement."""
    columns = list(column_types(spec))
    updates = ",\n    ".join(f"{quote(c)} = incoming.{quote(c)}" for c in columns if c != "Id")
    names = ", ".join(quote(c) for c in columns)
    values = ", ".join(f"incoming.{quote(c)}" for c in columns)
    # The SystemModstamp guard repeats the staging rule so the statement is safe on its own.
    return f"""
MERGE INTO {table_name(spec)} AS stored
USING (SELECT * FROM {_STAGE_TABLE} WHERE _action IN ('insert', 'update')) AS incoming
ON stored."Id" = incoming."Id"
WHEN MATCHED AND incoming."SystemModstamp" >= stored."SystemModstamp" THEN UPDATE SET
    {updates}
WHEN NOT MATCHED THEN INSERT ({names})
    VALUES ({values})
"""  # noqa: S608


def upsert_records(
    con: duckdb.DuckDBPyConnection,
    spec: ObjectSpec,
    records: Sequence[dict[str, Any]],
    synced_at: datetime,
) -> UpsertStats:
    """Upsert records as the REST API or Bulk API 2.0 CSV return them; return what changed.

    Values are converted per the spec's declared type (REST JSON values or Bulk CSV text; keys not
    declared, such as `attributes`, are ignored). A record lacking a declared field, or holding a
    value that is not its type, raises RecordError naming the object, the Id and the field, before
    anything is written. When the batch holds one Id twice, the newer SystemModstamp wins (a tie:
    the later record). The table is created or evolved first (`ensure_table`).

    The write itself is one MERGE statement, atomic on its own; `load_batch` wraps it with the
    watermark in one transaction.
    """
    synced = to_warehouse_ts(synced_at)
    ensure_table(con, spec)
    if not records:
        return UpsertStats(inserted=0, updated=0, deleted=0, unchanged=0)
    frame = _frame(spec, records)
    con.register(_INCOMING_VIEW, frame)
    try:
        con.execute(_stage_sql(spec), {"synced_at": synced})
        counts = fetch_one(con.execute(_STATS_SQL))
        assert counts is not None
        con.execute(_merge_sql(spec))
    finally:
        # After a failed statement inside a transaction DuckDB refuses all but ROLLBACK (which
        # drops the temp table anyway): the cleanup must not hide the real error.
        with suppress(duckdb.Error):
            con.execute(f"DROP TABLE IF EXISTS {_STAGE_TABLE}")
        with suppress(duckdb.Error):
            con.unregister(_INCOMING_VIEW)
    inserted, updated, deleted, unchanged, stale, undeleted = counts
    return UpsertStats(inserted, updated, deleted, unchanged, stale, undeleted)


def row_count(con: duckdb.DuckDBPyConnection, spec: ObjectSpec) -> int:
    """Rows in the object's table, deleted ones included."""
    found = fetch_one(con.execute(f"SELECT count(*) FROM {table_name(spec)}"))  # noqa: S608
    return int(found[0]) if found else 0


def load_batch(
    con: duckdb.DuckDBPyConnection,
    spec: ObjectSpec,
    records: Sequence[dict[str, Any]],
    watermark: datetime | None,
    synced_at: datetime,
    *,
    advance_watermark: bool = True,
) -> UpsertStats:
    """Upsert a batch and move the object's watermark in one transaction: both or neither.

    The watermark only moves forward (the stored value becomes max(old, `watermark`)), so a run
    that dies mid-write leaves no gap. A partition backfill passes `advance_watermark=False`: it
    re-pulls days it did not necessarily cover end to end, so it must not move the watermark either
    way (`watermark` may then be None). Must not be called inside an open transaction.
    """
    if advance_watermark and watermark is None:
        raise ValueError(f"{spec.sobject}: load_batch needs a watermark to advance")
    con.begin()
    try:
        ensure_sync_state(con)
        stats = upsert_records(con, spec, records, synced_at)
        total = row_count(con, spec)
        if advance_watermark:
            assert watermark is not None
            set_watermark(con, spec.sobject, watermark, rows_total=total, updated_at=synced_at)
        else:
            record_load(con, spec.sobject, rows_total=total, updated_at=synced_at)
        con.commit()
    except BaseException:
        con.rollback()
        raise
    return stats

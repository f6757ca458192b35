"""The raw warehouse layer on real DuckDB files: upserts, replays, deletes, schema, watermark."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from salesops_dagster.ingest.objects import LEAD, OBJECTS, USER
from salesops_dagster.warehouse import raw, sync_state
from salesops_dagster.warehouse.connection import connect

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
SYNCED_1 = datetime(2026, 11, 3, 12, 0, tzinfo=UTC)
SYNCED_2 = datetime(2026, 11, 4, 12, 0, tzinfo=UTC)


def sf_ts(value: datetime) -> str:
    """A dateTime as the REST API writes it."""
    return value.strftime("%Y-%m-%dT%H:%M:%S.000+0000")


def lead(n: int, modstamp: datetime = T0, **fields: object) -> dict:
    """A REST-shaped Lead record with every declared field (null unless given)."""
    record: dict = {name: None for name in LEAD.fields}
    record.update(
        attributes={"type": "Lead", "url": f"/services/data/v62.0/sobjects/Lead/{n}"},
        Id=f"00Q00000000000{n:04d}",
        SystemModstamp=sf_ts(modstamp),
        IsDeleted=False,
        LastName=f"Lead {n}",
        Company="Acme",
        Status="Open",
        IsConverted=False,
        CreatedDate=sf_ts(T0 - timedelta(days=1)),
    )
    record.update(fields)
    return record


def rows(con: duckdb.DuckDBPyConnection) -> list[tuple]:
    return con.execute('SELECT * FROM salesforce.lead ORDER BY "Id"').fetchall()


def row(con: duckdb.DuckDBPyConnection, record_id: str) -> dict:
    cursor = con.execute('SELECT * FROM salesforce.lead WHERE "Id" = ?', [record_id])
    names = [d[0] for d in cursor.description]
    found = cursor.fetchone()
    assert found is not None, record_id
    return dict(zip(names, found, strict=True))


@pytest.fixture
def con(tmp_path: Path):
    with connect(tmp_path / "warehouse.duckdb") as connection:
        raw.ensure_all(connection)
        yield connection


# --- upserts --------------------------------------------------------------------------------------


def test_upsert_counts_inserts_updates_and_no_ops(con):
    first = raw.upsert_records(con, LEAD, [lead(1), lead(2), lead(3)], SYNCED_1)
    assert first == raw.UpsertStats(inserted=3, updated=0, deleted=0, unchanged=0)

    later = T0 + timedelta(minutes=5)
    batch = [lead(1), lead(2, later, Status="Working"), lead(4)]
    second = raw.upsert_records(con, LEAD, batch, SYNCED_2)
    assert second == raw.UpsertStats(inserted=1, updated=1, deleted=0, unchanged=1)

    assert row(con, lead(2)["Id"])["Status"] == "Working"
    assert row(con, lead(2)["Id"])["SystemModstamp"] == later.replace(tzinfo=None)
    assert row(con, lead(2)["Id"])["_synced_at"] == SYNCED_2.replace(tzinfo=None)
    # Lead 1 came again unchanged: its _synced_at still says when it last changed.
    assert row(con, lead(1)["Id"])["_synced_at"] == SYNCED_1.replace(tzinfo=None)
    assert raw.row_count(con, LEAD) == 4


def test_replaying_a_batch_leaves_the_table_identical(con):
    batch = [lead(n, T0 + timedelta(seconds=n), Email=f"l{n}@example.com") for n in range(50)]
    batch.append(lead(50, IsDeleted=True))
    raw.load_batch(con, LEAD, batch, T0 + timedelta(minutes=1), SYNCED_1)
    before = rows(con)

    replay = raw.load_batch(con, LEAD, batch, T0 + timedelta(minutes=1), SYNCED_2)

    assert replay == raw.UpsertStats(inserted=0, updated=0, deleted=0, unchanged=51)
    assert rows(con) == before  # _synced_at included


def test_an_older_version_never_overwrites_a_newer_one(con):
    newer, older = T0 + timedelta(hours=1), T0
    raw.upsert_records(con, LEAD, [lead(1, newer, Status="Qualified")], SYNCED_1)
    before = rows(con)

    stats = raw.upsert_records(con, LEAD, [lead(1, older, Status="Open")], SYNCED_2)

    assert stats == raw.UpsertStats(inserted=0, updated=0, deleted=0, unchanged=1, stale=1)
    assert rows(con) == before


def test_the_newest_copy_of_a_record_wins_within_a_batch(con):
    newer = T0 + timedelta(minutes=1)
    batch = [
        lead(1, newer, Status="Working"),
        lead(1, T0, Status="Open"),  # a late page with the older version
        lead(2, T0, Status="First"),
        lead(2, T0, Status="Second"),  # same SystemModstamp: the later record wins
    ]
    stats = raw.upsert_records(con, LEAD, batch, SYNCED_1)

    assert stats.inserted == 2
    assert row(con, lead(1)["Id"])["Status"] == "Working"
    assert row(con, lead(2)["Id"])["Status"] == "Second"


def test_same_systemmodstamp_with_different_content_replaces(con):
    raw.upsert_records(con, LEAD, [lead(1, Status="Open")], SYNCED_1)
    stats = raw.upsert_records(con, LEAD, [lead(1, Status="Working")], SYNCED_2)
    assert stats.updated == 1
    assert row(con, lead(1)["Id"])["Status"] == "Working"


def test_deletes_are_flagged_and_undeletes_flip_back(con):
    raw.upsert_records(con, LEAD, [lead(1), lead(2)], SYNCED_1)

    t1, t2 = T0 + timedelta(minutes=1), T0 + timedelta(minutes=2)
    deleted = raw.upsert_records(
        con, LEAD, [lead(1, t1, IsDeleted=True), lead(3, IsDeleted=True)], SYNCED_1
    )
    assert deleted == raw.UpsertStats(inserted=1, updated=1, deleted=2, unchanged=0)
    assert row(con, lead(1)["Id"])["_is_deleted"] is True
    assert row(con, lead(1)["Id"])["IsDeleted"] is True
    assert row(con, lead(3)["Id"])["_is_deleted"] is True
    assert row(con, lead(2)["Id"])["_is_deleted"] is False

    undeleted = raw.upsert_records(con, LEAD, [lead(1, t2, IsDeleted=False)], SYNCED_2)
    assert undeleted == raw.UpsertStats(inserted=0, updated=1, deleted=0, unchanged=0, undeleted=1)
    assert row(con, lead(1)["Id"])["_is_deleted"] is False


def test_objects_without_isdeleted_are_never_deleted(con):
    user = {name: None for name in USER.fields}
    user.update(Id="005000000000000001", SystemModstamp=sf_ts(T0), Name="Ada", IsActive=True)
    raw.upsert_records(con, USER, [user], SYNCED_1)
    stored = con.execute('SELECT "Name", "IsActive", _is_deleted FROM salesforce."user"').fetchall()
    assert stored == [("Ada", True, False)]


# --- record shapes and conversion -----------------------------------------------------------------


def bulk_csv(record: dict) -> dict:
    """The same record as Bulk API 2.0 CSV gives it: all text, '' for null, 'Z' timestamps."""
    text: dict = {}
    for name, value in record.items():
        if name == "attributes":
            continue
        if value is None:
            text[name] = ""
        elif isinstance(value, bool):
            text[name] = "true" if value else "false"
        elif isinstance(value, str) and value.endswith("+0000"):
            text[name] = value[: -len("+0000")] + "Z"
        else:
            text[name] = str(value)
    return text


def test_bulk_csv_and_rest_records_produce_identical_rows(tmp_path):
    records = [
        lead(
            1,
            IsConverted=True,
            ConvertedDate="2026-11-05",
            NumberOfEmployees=250,
            AnnualRevenue=1234567.5,
            Title=None,
            First_Response_At__c="2026-11-02T09:30:15.250+0000",
            Time_to_First_Response__c=30.25,
        ),
        lead(2, NumberOfEmployees=0, AnnualRevenue=0.0, IsDeleted=True),
    ]
    assert all(v == "" for k, v in bulk_csv(records[0]).items() if records[0].get(k) is None)

    tables = []
    for shape, batch in (("rest", records), ("bulk", [bulk_csv(r) for r in records])):
        with connect(tmp_path / f"{shape}.duckdb") as connection:
            raw.upsert_records(connection, LEAD, batch, SYNCED_1)
            tables.append(rows(connection))
    assert tables[0] == tables[1]

    with connect(tmp_path / "bulk.duckdb") as connection:
        stored = row(connection, records[0]["Id"])
    assert stored["IsConverted"] is True
    assert stored["ConvertedDate"].isoformat() == "2026-11-05"
    assert stored["NumberOfEmployees"] == 250
    assert stored["AnnualRevenue"] == 1234567.5
    assert stored["Title"] is None
    assert stored["First_Response_At__c"] == datetime(2026, 11, 2, 9, 30, 15, 250000)


def test_non_text_values_in_text_fields_are_stored_as_text(con):
    # Nulls first, then a number, then text: what trips DuckDB's type sampling of object columns.
    batch = [lead(n) for n in range(3000)]
    batch[2500]["PostalCode"] = 62701
    batch[2501]["PostalCode"] = "SW1A 1AA"
    batch[2502]["Title"] = True
    raw.upsert_records(con, LEAD, batch, SYNCED_1)
    assert row(con, batch[2500]["Id"])["PostalCode"] == "62701"
    assert row(con, batch[2501]["Id"])["PostalCode"] == "SW1A 1AA"
    assert row(con, batch[2502]["Id"])["Title"] == "true"


def test_datetimes_are_stored_as_naive_utc(con):
    record = lead(
        1, CreatedDate="2026-11-02T04:00:00.000-0500", LastModifiedDate="2026-11-02T09:00:00Z"
    )
    raw.upsert_records(con, LEAD, [record], SYNCED_1)
    stored = row(con, record["Id"])
    assert stored["CreatedDate"] == datetime(2026, 11, 2, 9, 0)
    assert stored["LastModifiedDate"] == datetime(2026, 11, 2, 9, 0)
    column_types = {r[0]: r[1] for r in con.execute("DESCRIBE salesforce.lead").fetchall()}
    assert column_types["CreatedDate"] == "TIMESTAMP"
    assert column_types["ConvertedDate"] == "DATE"
    assert column_types["NumberOfEmployees"] == "BIGINT"


def test_a_missing_declared_field_names_the_object_id_and_field(con):
    record = lead(7)
    del record["Company"]
    with pytest.raises(raw.RecordError, match=r"Lead record '00Q000000000000007'.*Company"):
        raw.upsert_records(con, LEAD, [lead(1), record], SYNCED_1)
    assert rows(con) == []


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("NumberOfEmployees", "many"),
        ("NumberOfEmployees", 12.5),
        ("AnnualRevenue", "n/a"),
        ("IsConverted", "yes"),
        ("CreatedDate", "yesterday"),
        ("ConvertedDate", "2026-11-02T09:00:00.000+0000"),
    ],
)
def test_a_bad_value_names_the_object_id_and_field(con, field, value):
    with pytest.raises(raw.RecordError, match=rf"Lead record '00Q000000000000002': field {field} "):
        raw.upsert_records(con, LEAD, [lead(1), lead(2, **{field: value})], SYNCED_1)
    assert rows(con) == []


def test_records_need_an_id_and_a_systemmodstamp(con):
    with pytest.raises(raw.RecordError, match="has no SystemModstamp"):
        raw.upsert_records(con, LEAD, [lead(1, SystemModstamp=None)], SYNCED_1)


def test_naive_timestamps_are_refused(con):
    with pytest.raises(ValueError, match="naive datetime"):
        raw.upsert_records(con, LEAD, [lead(1)], datetime(2026, 11, 3, 12, 0))


# --- load_batch: rows and watermark together ------------------------------------------------------


def test_load_batch_moves_rows_and_watermark_together(con):
    stats = raw.load_batch(con, LEAD, [lead(1), lead(2)], T0, SYNCED_1)
    assert stats.inserted == 2
    assert sync_state.get_watermark(con, "Lead") == T0
    [state] = sync_state.sync_states(con)
    assert state == {"object": "Lead", "watermark": T0, "rows_total": 2, "updated_at": SYNCED_1}


def test_an_empty_window_still_advances_the_watermark(con):
    raw.load_batch(con, LEAD, [lead(1)], T0, SYNCED_1)
    later = T0 + timedelta(hours=1)
    stats = raw.load_batch(con, LEAD, [], later, SYNCED_2)
    assert stats == raw.UpsertStats(inserted=0, updated=0, deleted=0, unchanged=0)
    assert sync_state.get_watermark(con, "Lead") == later
    assert sync_state.sync_states(con)[0]["rows_total"] == 1


def test_a_bad_record_rolls_back_rows_and_watermark(con):
    raw.load_batch(con, LEAD, [lead(1), lead(2)], T0, SYNCED_1)
    before = rows(con)
    batch = [
        lead(1, T0 + timedelta(hours=1), Status="Working"),
        lead(3),
        lead(4, AnnualRevenue="oops"),
    ]

    with pytest.raises(raw.RecordError, match="AnnualRevenue"):
        raw.load_batch(con, LEAD, batch, T0 + timedelta(hours=1), SYNCED_2)

    assert rows(con) == before
    assert sync_state.get_watermark(con, "Lead") == T0


def test_a_failure_after_the_rows_were_written_rolls_them_back(con, monkeypatch):
    raw.load_batch(con, LEAD, [lead(1), lead(2)], T0, SYNCED_1)
    before, states = rows(con), sync_state.sync_states(con)

    def crash(*args, **kwargs):
        raise RuntimeError("crash between the MERGE and the watermark")

    monkeypatch.setattr(raw, "set_watermark", crash)
    batch = [lead(1, T0 + timedelta(hours=1), Status="Working"), lead(3)]
    with pytest.raises(RuntimeError, match="crash"):
        raw.load_batch(con, LEAD, batch, T0 + timedelta(hours=1), SYNCED_2)

    assert rows(con) == before
    assert sync_state.sync_states(con) == states
    # The connection is usable afterwards, and a retry stores everything.
    monkeypatch.undo()
    assert raw.load_batch(con, LEAD, batch, T0 + timedelta(hours=1), SYNCED_2).written == 2


def test_a_database_error_in_the_write_rolls_back_and_keeps_its_message(con, monkeypatch):
    raw.load_batch(con, LEAD, [lead(1)], T0, SYNCED_1)
    before, states = rows(con), sync_state.sync_states(con)
    monkeypatch.setattr(raw, "_merge_sql", lambda spec: "SELECT error('disk on fire')")

    with pytest.raises(duckdb.Error, match="disk on fire"):
        raw.load_batch(con, LEAD, [lead(2)], T0 + timedelta(hours=1), SYNCED_2)

    assert rows(con) == before
    assert sync_state.sync_states(con) == states
    monkeypatch.undo()
    assert raw.load_batch(con, LEAD, [lead(2)], T0 + timedelta(hours=1), SYNCED_2).inserted == 1


def test_a_process_killed_mid_write_leaves_neither_rows_nor_watermark(tmp_path):
    path = tmp_path / "warehouse.duckdb"
    with connect(path) as connection:
        raw.load_batch(connection, LEAD, [lead(1)], T0, SYNCED_1)
        before = rows(connection)
    # The child writes rows, then dies (no commit, no cleanup) before it sets the watermark.
    child = textwrap.dedent(
        f"""
        import os
        from datetime import datetime, timedelta, UTC
        from salesops_dagster.ingest.objects import LEAD
        from salesops_dagster.warehouse import raw
        from salesops_dagster.warehouse.connection import connect
        from tests.warehouse.test_raw import lead, T0

        raw.set_watermark = lambda *a, **k: os._exit(9)
        with connect({str(path)!r}) as con:
            raw.load_batch(con, LEAD, [lead(n, T0 + timedelta(hours=1)) for n in range(1, 500)],
                           T0 + timedelta(hours=1), datetime.now(UTC))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", child], cwd=Path(__file__).parents[2], timeout=120
    )
    assert result.returncode == 9

    with connect(path, read_only=True) as connection:
        assert rows(connection) == before
        assert sync_state.get_watermark(connection, "Lead") == T0


def test_the_watermark_never_moves_backwards(con):
    later = T0 + timedelta(hours=2)
    raw.load_batch(con, LEAD, [lead(1)], later, SYNCED_1)
    raw.load_batch(con, LEAD, [lead(2)], T0, SYNCED_2)
    assert sync_state.get_watermark(con, "Lead") == later
    assert sync_state.set_watermark(con, "Lead", T0) == later
    assert sync_state.get_watermark(con, "Lead") == later


def test_a_backfill_loads_rows_without_touching_the_watermark(con):
    raw.load_batch(con, LEAD, [lead(1)], T0, SYNCED_1)
    backfill = [lead(2, T0 + timedelta(days=3)), lead(3, T0 - timedelta(days=3))]

    stats = raw.load_batch(con, LEAD, backfill, None, SYNCED_2, advance_watermark=False)

    assert stats.inserted == 2
    [state] = sync_state.sync_states(con)
    assert state["watermark"] == T0
    assert state["rows_total"] == 3
    assert state["updated_at"] == SYNCED_2


def test_get_watermark_before_any_load_even_read_only(tmp_path):
    path = tmp_path / "warehouse.duckdb"
    with connect(path) as connection:
        assert sync_state.get_watermark(connection, "Lead") is None
    with connect(path, read_only=True) as connection:
        assert sync_state.get_watermark(connection, "Lead") is None
        assert sync_state.sync_states(connection) == []


# --- schema ---------------------------------------------------------------------------------------


def test_ensure_all_creates_every_table_and_is_idempotent(con):
    raw.ensure_all(con)
    tables = {
        name
        for (name,) in con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'salesforce'"
        ).fetchall()
    }
    assert tables == {spec.table for spec in OBJECTS} | {"_sync_state"}
    assert {"user", "group"} <= tables
    columns = [r[0] for r in con.execute('DESCRIBE salesforce."group"').fetchall()]
    assert columns[:2] == ["Id", "SystemModstamp"]
    assert columns[-2:] == ["_is_deleted", "_synced_at"]


def test_ensure_table_adds_new_fields_and_keeps_data(con, tmp_path):
    narrow_fields = {k: v for k, v in LEAD.fields.items() if k not in ("Rating", "Industry")}
    narrow = dataclasses.replace(LEAD, fields=narrow_fields)
    with connect(tmp_path / "evolve.duckdb") as connection:
        raw.ensure_table(connection, narrow)
        record = lead(1, Company="Kept")
        raw.upsert_records(connection, narrow, [record], SYNCED_1)

        raw.ensure_table(connection, LEAD)

        stored = row(connection, record["Id"])
        assert stored["Company"] == "Kept"
        assert stored["Rating"] is None and stored["Industry"] is None
        assert stored["_synced_at"] == SYNCED_1.replace(tzinfo=None)
        later = T0 + timedelta(minutes=1)
        raw.upsert_records(
            connection, LEAD, [lead(1, later, Company="Kept", Rating="Hot")], SYNCED_2
        )
        assert row(connection, record["Id"])["Rating"] == "Hot"

        # Never drops: going back to the narrow spec leaves the extra columns in place.
        raw.ensure_table(connection, narrow)
        assert row(connection, record["Id"])["Rating"] == "Hot"


def test_ensure_table_refuses_to_change_a_column_type(con):
    changed = dataclasses.replace(LEAD, fields={**LEAD.fields, "NumberOfEmployees": "string"})
    with pytest.raises(raw.SchemaMismatch, match=r"NumberOfEmployees.*BIGINT.*VARCHAR"):
        raw.ensure_table(con, changed)

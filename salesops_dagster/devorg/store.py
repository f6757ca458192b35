"""The dev org's records: in memory per sObject, optionally persisted as append-only JSONL.

Records are REST-shaped dicts (`Id` plus field values, dateTimes as `...SSS+0000`). A write never
mutates a stored dict: it stores a new version, so a query snapshot taken earlier (a list of the
dicts at that moment) stays consistent while later pages are served.

Persistence: `DIR/<SObject>.jsonl`, one full record per line; on load the last line per Id wins,
so appending a new version is all a write needs and a restart keeps it.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

from salesops_dagster.devorg.ids import KEY_PREFIXES, IdFactory, make_id, to18
from salesops_dagster.devorg.schema import DATETIME, OrgSchema
from salesops_dagster.devorg.values import format_epoch_ms, normalize_datetime

_LOAD_CHUNK = 20_000
# Ids the dev org creates use their own "pod" so they never collide with seeded data.
DEVORG_POD = "DV"
INTEGRATION_USER_ID = make_id(KEY_PREFIXES["User"], 1, DEVORG_POD)


class StampClock:
    """Wall-clock milliseconds that never go backwards. Like Salesforce, writes in the same
    millisecond share a SystemModstamp, and no stamp is ever ahead of the clock: a stamp in the
    future would hide a write from a pull whose window ends at "now"."""

    def __init__(self) -> None:
        self._last = 0
        self._lock = threading.Lock()

    def next_ms(self) -> int:
        with self._lock:
            self._last = max(time.time_ns() // 1_000_000, self._last)
            return self._last

    def next(self) -> str:
        return format_epoch_ms(self.next_ms())

    def now(self) -> str:
        """The current time in REST form, without consuming a stamp."""
        return format_epoch_ms(max(time.time_ns() // 1_000_000, self._last))


class Store:
    """Records per sObject with one re-entrant lock; see the module docstring."""

    def __init__(self, schema: OrgSchema, data_dir: Path | None = None) -> None:
        self.schema = schema
        self.data_dir = data_dir
        self.lock = threading.RLock()
        self.clock = StampClock()
        self._tables: dict[str, dict[str, dict[str, Any]]] = {name: {} for name in schema.fields}
        self._ids = IdFactory(start=1, pod=DEVORG_POD)
        self._files: dict[str, IO[str]] = {}
        # Inside a transaction: (sobject, id, previous version or None) and pending JSONL lines.
        self._undo: list[tuple[str, str, dict[str, Any] | None]] | None = None
        self._pending: list[tuple[str, str]] = []
        self._fill_specs: dict[str, tuple[frozenset[str], tuple[str, ...]]] = {}

    # ------------------------------------------------------------------ loading and persistence

    def load(self) -> dict[str, int]:
        """Load every `<SObject>.jsonl` of the data directory; returns records per sObject."""
        counts: dict[str, int] = {}
        if self.data_dir is None or not self.data_dir.is_dir():
            return counts
        for path in sorted(self.data_dir.glob("*.jsonl")):
            sobject = self.schema.sobject(path.stem)
            if sobject is None:
                raise ValueError(f"{path}: no sObject named {path.stem!r} in the dev org schema")
            table = self._tables[sobject]
            with path.open(encoding="utf-8") as fh:
                chunk: list[str] = []
                first_line = 1
                for lineno, line in enumerate(fh, 1):
                    chunk.append(line)
                    if len(chunk) == _LOAD_CHUNK:
                        self._load_chunk(path, first_line, chunk, sobject, table)
                        chunk, first_line = [], lineno + 1
                self._load_chunk(path, first_line, chunk, sobject, table)
            counts[sobject] = len(table)
        return counts

    def _load_chunk(
        self,
        path: Path,
        first_line: int,
        lines: list[str],
        sobject: str,
        table: dict[str, dict[str, Any]],
    ) -> None:
        # One json.loads per chunk (not per line): the decoder then shares one string object
        # per field name across the chunk, which saves ~50 bytes per field of every record.
        present = [line for line in lines if line.strip()]
        if not present:
            return
        try:
            records = json.loads("[" + ",".join(present) + "]")
        except json.JSONDecodeError:
            for offset, line in enumerate(lines):
                if line.strip():
                    try:
                        json.loads(line)
                    except json.JSONDecodeError as exc:
                        raise ValueError(f"{path}:{first_line + offset}: not JSON: {exc}") from exc
            raise
        fill = self._fill_system_fields
        for record in records:
            fill(sobject, record)
            table[record["Id"]] = record

    def _append(self, sobject: str, record: dict[str, Any]) -> None:
        if self.data_dir is None:
            return
        line = json.dumps(record, separators=(",", ":"), ensure_ascii=False)
        if self._undo is not None:
            self._pending.append((sobject, line))
        else:
            self._write_lines([(sobject, line)])

    def _write_lines(self, lines: list[tuple[str, str]]) -> None:
        assert self.data_dir is not None
        touched = set()
        for sobject, line in lines:
            fh = self._files.get(sobject)
            if fh is None:
                self.data_dir.mkdir(parents=True, exist_ok=True)
                fh = (self.data_dir / f"{sobject}.jsonl").open("a", encoding="utf-8")
                self._files[sobject] = fh
            fh.write(line + "\n")
            touched.add(sobject)
        for sobject in touched:
            self._files[sobject].flush()

    def close(self) -> None:
        with self.lock:
            for fh in self._files.values():
                fh.close()
            self._files.clear()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """All writes inside commit together or are rolled back if the block raises.

        Callers that want to roll back without an exception call `rollback()` and return.
        """
        with self.lock:
            if self._undo is not None:  # nested: the outer transaction decides
                yield
                return
            self._undo, self._pending = [], []
            try:
                yield
            except BaseException:
                self.rollback()
                raise
            finally:
                if self._undo is not None:
                    pending = self._pending
                    self._undo, self._pending = None, []
                    if pending and self.data_dir is not None:
                        self._write_lines(pending)

    def rollback(self) -> None:
        """Undo every write of the current transaction (no-op outside one)."""
        with self.lock:
            if self._undo is None:
                return
            for sobject, record_id, previous in reversed(self._undo):
                if previous is None:
                    self._tables[sobject].pop(record_id, None)
                else:
                    self._tables[sobject][record_id] = previous
            self._undo.clear()
            self._pending.clear()

    # ------------------------------------------------------------------ reads

    def get(self, sobject: str, record_id: str) -> dict[str, Any] | None:
        return self._tables[sobject].get(to18(record_id) if len(record_id) == 15 else record_id)

    def snapshot(self, sobject: str) -> list[dict[str, Any]]:
        """Every record of `sobject` (deleted ones included) as of now."""
        with self.lock:
            return list(self._tables[sobject].values())

    def count(self, sobject: str) -> int:
        return len(self._tables[sobject])

    def counts(self) -> dict[str, int]:
        return {name: len(table) for name, table in self._tables.items() if table}

    # ------------------------------------------------------------------ writes

    def _store(self, sobject: str, record: dict[str, Any]) -> None:
        table = self._tables[sobject]
        if self._undo is not None:
            self._undo.append((sobject, record["Id"], table.get(record["Id"])))
        table[record["Id"]] = record
        self._append(sobject, record)

    def new_id(self, sobject: str) -> str:
        table = self._tables[sobject]
        while True:
            candidate = self._ids.new(sobject)
            if candidate not in table:
                return candidate

    def insert(self, sobject: str, values: dict[str, Any], user_id: str) -> dict[str, Any]:
        """Create a record from already-validated values; returns the stored version."""
        with self.lock:
            stamp = self.clock.next()
            fields = self.schema.fields[sobject]
            record: dict[str, Any] = {"Id": self.new_id(sobject)}
            record.update(values)
            if "CreatedDate" in fields:
                record["CreatedDate"] = values.get("CreatedDate") or stamp
            for name, value in (
                ("CreatedById", user_id),
                ("LastModifiedDate", stamp),
                ("LastModifiedById", user_id),
                ("SystemModstamp", stamp),
            ):
                if name in fields:
                    record[name] = value
            self._fill_system_fields(sobject, record)
            self._store(sobject, record)
            return record

    def update(
        self, sobject: str, record_id: str, changes: dict[str, Any], user_id: str
    ) -> dict[str, Any]:
        """Store a new version of an existing record with `changes` applied and fresh stamps."""
        with self.lock:
            record = dict(self._tables[sobject][record_id])
            record.update(changes)
            self._stamp(sobject, record, user_id)
            _refresh_name(sobject, record)
            self._store(sobject, record)
            return record

    def soft_delete(self, sobject: str, record_id: str, user_id: str) -> dict[str, Any]:
        """Move to the recycle bin: IsDeleted, and the stamp doubles as getDeleted's deletedDate."""
        return self.update(sobject, record_id, {"IsDeleted": True}, user_id)

    def undelete(self, sobject: str, record_id: str, user_id: str) -> dict[str, Any]:
        return self.update(sobject, record_id, {"IsDeleted": False}, user_id)

    def _stamp(self, sobject: str, record: dict[str, Any], user_id: str) -> None:
        fields = self.schema.fields[sobject]
        stamp = self.clock.next()
        if "LastModifiedDate" in fields:
            record["LastModifiedDate"] = stamp
        if "LastModifiedById" in fields:
            record["LastModifiedById"] = user_id
        if "SystemModstamp" in fields:
            record["SystemModstamp"] = stamp

    def put_raw(self, sobject: str, records: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
        """Insert or replace records exactly as given (system fields included, no stamp bump).

        Missing system fields are filled; an existing record with the same Id is replaced whole.
        This is how seeded data and "late commits" (a SystemModstamp in the past) get in.
        """
        out = []
        with self.lock:
            for raw in records:
                record = dict(raw)
                record.pop("attributes", None)
                self._fill_system_fields(sobject, record)
                self._store(sobject, record)
                out.append(record)
        return out

    def _fill_system_fields(self, sobject: str, record: dict[str, Any]) -> None:
        """Give a loaded or raw record the system fields Salesforce would always have."""
        required, datetime_fields = self._fill_spec(sobject)
        for name in datetime_fields:
            value = record.get(name)
            # inlined is_rest_datetime: this runs for every field of a million loaded records
            if value is not None and not (
                value.__class__ is str and len(value) == 28 and value.endswith("+0000")
            ):
                record[name] = normalize_datetime(value)
        record_id = record.get("Id")
        if record_id and len(record_id) == 18 and record.keys() >= required:
            return
        if not record_id:
            record["Id"] = self.new_id(sobject)
        elif len(record_id) == 15:
            record["Id"] = to18(record_id)
        fields = self.schema.fields[sobject]
        if "SystemModstamp" in fields and record.get("SystemModstamp") is None:
            stamp = record.get("LastModifiedDate") or record.get("CreatedDate") or self.clock.now()
            record["SystemModstamp"] = stamp
        if "CreatedDate" in fields and record.get("CreatedDate") is None:
            record["CreatedDate"] = record.get("SystemModstamp") or self.clock.now()
        if "LastModifiedDate" in fields and record.get("LastModifiedDate") is None:
            record["LastModifiedDate"] = record.get("SystemModstamp")
        for name in ("CreatedById", "LastModifiedById"):
            if name in fields and record.get(name) is None:
                record[name] = INTEGRATION_USER_ID
        if "IsDeleted" in fields and record.get("IsDeleted") is None:
            record["IsDeleted"] = False
        if sobject == "Lead" and record.get("IsConverted") is None:
            record["IsConverted"] = False
        if record.get("Name") is None:
            _refresh_name(sobject, record)

    def _fill_spec(self, sobject: str) -> tuple[frozenset[str], tuple[str, ...]]:
        """(system fields a complete record has, its dateTime fields), cached per sObject."""
        spec = self._fill_specs.get(sobject)
        if spec is None:
            fields = self.schema.fields[sobject]
            system = {"Id", "CreatedDate", "LastModifiedDate", "SystemModstamp", "IsDeleted"}
            system |= {"CreatedById", "LastModifiedById"}
            if sobject == "Lead":
                system.add("IsConverted")
            if sobject in _NAMED:
                system.add("Name")
            required = frozenset(name for name in system if name in fields)
            datetimes = tuple(name for name, kind in fields.items() if kind == DATETIME)
            spec = self._fill_specs[sobject] = (required, datetimes)
        return spec


_NAMED = ("Lead", "Contact", "User")


def _refresh_name(sobject: str, record: dict[str, Any]) -> None:
    # Name is a compound field on person-like objects: "FirstName LastName".
    if sobject in _NAMED and ("LastName" in record or "FirstName" in record):
        parts = [record.get("FirstName"), record.get("LastName")]
        record["Name"] = " ".join(p for p in parts if p) or None

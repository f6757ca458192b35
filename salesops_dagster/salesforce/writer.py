"""The one Salesforce writer every publish uses: only what changed, batched, budgeted, recorded.

A publish plans its writes (`PlannedWrite`: one record update carrying all its fields), keeps those
that differ from what Salesforce holds (`only_changed`, usually against
`warehouse.writes.held_values`), drops those that already failed for good with the same values
(`drop_known_failures` with `warehouse.writes.permanent_failures`), and hands the rest to
`SalesforceWriter.write`:

- grouped by sObject, 200 records per sObject Collections call (`allOrNone: false`), or one Bulk
  API 2.0 ingest job when a group is larger than `bulk_threshold`;
- before every call, the org's remaining daily API allocation (from `Sforce-Limit-Info`, or one
  `limits` call when no response has told us yet) must stay at or above `api_reserve` after the
  call; otherwise the writer stops before sending;
- one record's failure never loses the others; every record's outcome is appended to
  `salesops.salesforce_write` after each batch, in its own short statement, so a crash loses at
  most the batch in flight and the next run re-plans it from the diff;
- `REQUEST_LIMIT_EXCEEDED`, an outage that outlived the client's retries, a session refused right
  after a fresh login, or a request Salesforce refused as a whole stop the write: the batch in
  flight is recorded `failed` (retryable), everything after it `not_sent` (retryable), and
  `write` returns a report naming the reason instead of raising.

Plain Python: nothing here imports Dagster.
"""

from __future__ import annotations

import gc
import json
import logging
import math
import uuid
from collections.abc import Collection, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from functools import cached_property
from pathlib import Path
from typing import Any, NamedTuple

import requests
from simple_salesforce.exceptions import SalesforceError as SimpleSalesforceError
from simple_salesforce.exceptions import SalesforceOperationError

from salesops_dagster.salesforce.client import COLLECTION_SIZE, SalesforceClient, SaveResult
from salesops_dagster.salesforce.errors import (
    ApiBudgetReserveReached,
    ApiLimitExceeded,
    SalesforceAuthError,
    SalesforceError,
    SessionExpiredAgain,
)
from salesops_dagster.salesforce.soql import parse_sf_datetime, sf_id, soql_datetime, soql_name
from salesops_dagster.warehouse.connection import connect
from salesops_dagster.warehouse.writes import WriteAttempt, ensure_writes_table, record_attempts

log = logging.getLogger(__name__)

# Per-record error codes worth sending again on the next run: contention and transient platform
# trouble. Every other code (CANNOT_UPDATE_CONVERTED_LEAD, ENTITY_IS_DELETED,
# FIELD_CUSTOM_VALIDATION_EXCEPTION, INVALID_FIELD*, REQUIRED_FIELD_MISSING,
# INVALID_CROSS_REFERENCE_KEY, INACTIVE_OWNER_OR_USER, ...) is permanent for the same values: it
# is surfaced by a check and not sent again until the desired values change. Whole-request
# failures (outage, limit, refused request) are always retryable, whatever their code.
RETRYABLE_CODES = frozenset(
    {
        "UNABLE_TO_LOCK_ROW",  # another transaction holds the record
        "SERVER_UNAVAILABLE",
        "REQUEST_LIMIT_EXCEEDED",
        "REQUEST_RUNNING_TOO_LONG",
        "UNKNOWN_EXCEPTION",  # Salesforce's internal error
        "ALL_OR_NONE_OPERATION_ROLLED_BACK",  # rolled back because another record failed
        "PROCESSING_HALTED",
    }
)

NUMBER_SCALE = 2  # the decimals of every Number field this project writes
# Calls one Bulk API 2.0 ingest job needs: create, upload, close, a few polls, failed results.
BULK_JOB_CALLS = 10
_MESSAGE_MAX = 1000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def is_retryable(error_code: str | None) -> bool:
    """Whether a record that failed with `error_code` is sent again by the next run."""
    return error_code in RETRYABLE_CODES


# -- planned writes ------------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    # Values read through pandas arrive as numpy scalars (numpy.int64 is no `int`).
    return value.item() if type(value).__module__ == "numpy" else value


def _wire(value: Any, name: str, record_id: str) -> Any:
    """A field value as it travels in the JSON body (and is stored in `salesforce_write`)."""
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(
                f"{record_id}.{name}: naive datetime {value!r}; pass a timezone-aware (UTC) one"
            )
        return soql_datetime(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, int):
        return value
    if isinstance(value, float | Decimal):
        number = float(value)
        if not math.isfinite(number):
            raise ValueError(f"{record_id}.{name}: {value!r} cannot be written to Salesforce")
        return number
    raise TypeError(
        f"{record_id}.{name}: values of type {type(value).__name__} cannot be written; use str, "
        "bool, int, float, Decimal, date, aware datetime or None"
    )


def fields_json(payload: Mapping[str, Any]) -> str:
    """Canonical JSON of wire values: the form `salesforce_write.fields` stores and compares."""
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


@dataclass(frozen=True)
class PlannedWrite:
    """One record update: every field in `fields` lands together, or none does.

    `fields` maps field API names to values: aware datetimes (sent as UTC ISO 8601 with
    milliseconds and `Z`), numbers (rounded by the caller to the field's scale), str, bool, date
    or None (clears the field). `source_key` says what asked for the write (e.g. a routing
    decision_id) and is stored with every attempt.
    """

    sobject: str
    record_id: str
    fields: Mapping[str, Any]
    purpose: str
    source_key: str | None = None

    def __post_init__(self) -> None:
        soql_name(self.sobject)
        sf_id(self.record_id)
        if not self.purpose:
            raise ValueError(f"{self.record_id}: a planned write needs a purpose")
        if not self.fields:
            raise ValueError(f"{self.record_id}: a planned write needs at least one field")
        for name in self.fields:
            soql_name(name)
            if name.lower() == "id":
                raise ValueError(f"{self.record_id}: Id is the record to update, not a field")
        object.__setattr__(self, "fields", {k: _plain(v) for k, v in self.fields.items()})
        _ = self.payload  # validate every value now, not in the middle of a publish

    @property
    def payload(self) -> dict[str, Any]:
        """The field values exactly as sent (derived on each use, not kept: a first publish
        holds a million of these, and the send needs each payload once)."""
        return {name: _wire(v, name, self.record_id) for name, v in self.fields.items()}

    @cached_property
    def fields_json(self) -> str:
        return fields_json(self.payload)

    @property
    def key(self) -> tuple[str, str]:
        """(record_id, fields JSON): what `warehouse.writes.permanent_failures` returns."""
        return (self.record_id, self.fields_json)


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while a plan is built (also as a decorator).

    A first publish plans one PlannedWrite, with its dicts, per lead: at 929,638 leads the
    collector's repeated full passes over the growing heap were 40% of the planning time
    (benchmarks/ttfr.py). A plan holds no reference cycles, so those passes find nothing;
    reference counting still frees everything, and collection resumes on exit.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


# -- what differs --------------------------------------------------------------------------------


def _is_missing(value: Any) -> bool:
    # Salesforce stores no empty text (it stores null); NaN is how a frame spells null.
    return (
        value is None
        or (isinstance(value, str) and value == "")
        or (isinstance(value, float) and math.isnan(value))
    )


def _as_datetime(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        # A naive value comes from a warehouse TIMESTAMP column, which holds UTC.
        return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    if isinstance(value, str):
        try:
            return parse_sf_datetime(value)
        except ValueError:
            return None
    return None


def _millis(value: datetime) -> int:
    return (value - _EPOCH) // timedelta(milliseconds=1)


def _as_number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float | Decimal):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _as_bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return None


def _same_id_or_text(desired: str, held: str) -> bool:
    if desired == held:
        return True
    # A 15-character Id and its 18-character form name the same record.
    lengths = {len(desired), len(held)}
    if lengths == {15, 18}:
        try:
            sf_id(desired), sf_id(held)
        except ValueError:
            return False
        return desired[:15] == held[:15]
    return False


def same_value(desired: Any, held: Any, *, scale: int = NUMBER_SCALE) -> bool:
    """Whether Salesforce holding `held` already has `desired`, compared by meaning.

    Datetimes equal to the millisecond whatever their representation (aware, naive UTC from the
    warehouse, REST `+0000` or Bulk `Z` strings); numbers equal after rounding to `scale`
    decimals; None, missing and '' all mean empty; 15- and 18-character Ids of one record equal.
    """
    if _is_missing(desired) or _is_missing(held):
        return _is_missing(desired) and _is_missing(held)
    if isinstance(desired, bool):
        return _as_bool(held) is desired
    if isinstance(desired, datetime):
        held_dt = _as_datetime(held)
        return held_dt is not None and _millis(held_dt) == _millis(desired)
    if isinstance(desired, date):
        if isinstance(held, datetime):
            return held.date() == desired
        return held == desired or (isinstance(held, str) and held[:10] == desired.isoformat())
    if isinstance(desired, int | float | Decimal):
        number = _as_number(held)
        if number is None:
            return False
        # Two different values at `scale` decimals lie at least 10**-scale apart once rounded.
        return abs(round(float(desired), scale) - round(number, scale)) < 0.5 * 10**-scale
    if isinstance(desired, str):
        return _same_id_or_text(desired, held if isinstance(held, str) else str(held))
    return desired == held


def only_changed(
    planned: Iterable[PlannedWrite],
    current: Mapping[str, Mapping[str, Any]],
    *,
    scale: int = NUMBER_SCALE,
) -> list[PlannedWrite]:
    """The planned writes Salesforce does not already hold, each kept whole.

    `current` maps record Id to what Salesforce holds (the warehouse's raw copy via
    `warehouse.writes.held_values`, or records read from the org). A write is kept with all its
    fields when any one of them differs (so fields that must land together stay together), and
    dropped when none does. A record missing from `current` holds nothing: its write is kept
    unless every value is empty.
    """
    kept = []
    for write in planned:
        held = current.get(write.record_id) or {}
        if any(
            not same_value(value, held.get(name), scale=scale)
            for name, value in write.fields.items()
        ):
            kept.append(write)
    return kept


def drop_known_failures(
    planned: Iterable[PlannedWrite], permanent: Collection[tuple[str, str]]
) -> list[PlannedWrite]:
    """`planned` without the writes whose exact values already failed for good
    (`warehouse.writes.permanent_failures`); a write with new values goes out again."""
    return [write for write in planned if write.key not in permanent]


# -- the report ----------------------------------------------------------------------------------


class WriteFailure(NamedTuple):
    record_id: str
    error_code: str | None
    message: str | None
    retryable: bool


class WriteInterrupted(SalesforceError):
    """A write stopped by an outage or a refused request (see the report's `stopped_reason`)."""


@dataclass
class WriteReport:
    """What one `SalesforceWriter.write` did: attempted = written + failed + not_sent."""

    attempted: int = 0
    written: int = 0
    failed: int = 0
    not_sent: int = 0
    api_calls: int = 0  # every call this write made, `limits` included
    failures: list[WriteFailure] = field(default_factory=list)
    stopped_reason: str | None = None
    # 'budget_reserve' | 'api_limit' | 'outage' | 'refused' | 'unexpected' when stopped
    stopped_by: str | None = None

    @property
    def retryable_failures(self) -> list[WriteFailure]:
        return [f for f in self.failures if f.retryable]

    @property
    def permanent_failures(self) -> list[WriteFailure]:
        return [f for f in self.failures if not f.retryable]

    def metadata(self) -> dict[str, int | str]:
        """Plain values for Dagster materialization metadata (no secrets: no URLs, no tokens)."""
        out: dict[str, int | str] = {
            "writes_attempted": self.attempted,
            "writes_written": self.written,
            "writes_failed": self.failed,
            "writes_failed_permanent": len(self.permanent_failures),
            "writes_not_sent": self.not_sent,
            "write_api_calls": self.api_calls,
        }
        if self.stopped_reason:
            out["writes_stopped_reason"] = self.stopped_reason
        return out

    def raise_if_stopped(self) -> None:
        """Raise the exception matching why the write stopped, if it did."""
        if self.stopped_reason is None:
            return
        if self.stopped_by == "budget_reserve":
            raise ApiBudgetReserveReached(self.stopped_reason)
        if self.stopped_by == "api_limit":
            raise ApiLimitExceeded(self.stopped_reason)
        raise WriteInterrupted(self.stopped_reason)


@dataclass(frozen=True)
class _Stop:
    kind: str
    reason: str
    error_code: str | None = None  # recorded with the writes it stopped


@dataclass
class _Batch:
    sobject: str
    method: str  # collections | bulk
    writes: list[PlannedWrite]

    @property
    def calls_needed(self) -> int:
        return 1 if self.method == "collections" else BULK_JOB_CALLS


def _truncate(text: str) -> str:
    return text if len(text) <= _MESSAGE_MAX else text[: _MESSAGE_MAX - 1] + "…"


def _error_code_of(exc: SimpleSalesforceError) -> str | None:
    content = exc.content
    if isinstance(content, list) and content and isinstance(content[0], dict):
        code = content[0].get("errorCode")
        return str(code) if code else None
    return None


# -- the writer ----------------------------------------------------------------------------------


class SalesforceWriter:
    """Writes planned record updates to Salesforce and records every attempt in the warehouse.

    Create one per publish (it shares the client's session, retries and API-usage tracking).
    `bulk_threshold`: a sObject group with more writes than this goes through one Bulk API 2.0
    job instead of ceil(n/200) Collections calls. `api_reserve`: daily API calls left untouched
    for everything else that uses the org. `run_id` is stored with every attempt.
    """

    def __init__(
        self,
        client: SalesforceClient,
        warehouse: str | Path,
        *,
        bulk_threshold: int = 10_000,
        api_reserve: int = 1_000,
        run_id: str = "",
    ) -> None:
        if bulk_threshold < 0 or api_reserve < 0:
            raise ValueError("bulk_threshold and api_reserve must not be negative")
        self.client = client
        self.warehouse = warehouse
        self.bulk_threshold = bulk_threshold
        self.api_reserve = api_reserve
        self.run_id = run_id

    def write(self, writes: Iterable[PlannedWrite]) -> WriteReport:
        """Send `writes` (each one record update) and return what happened to each.

        Never raises for Salesforce trouble (limits, outages, refused requests): the report's
        `stopped_reason` says why it stopped, and `raise_if_stopped()` turns that into an
        exception for callers that want one. Raises ValueError when one record appears twice,
        and re-raises any other error once every attempt is recorded.
        """
        writes = list(writes)
        _refuse_duplicates(writes)
        report = WriteReport(attempted=len(writes))
        if not writes:
            return report
        calls_before = self.client.usage.calls
        with connect(self.warehouse) as con:
            ensure_writes_table(con)
        batches = self._batches(writes)
        done = 0
        bug: Exception | None = None
        for index, batch in enumerate(batches):
            where = f"{batch.sobject} {batch.method} batch of {len(batch.writes)}"
            try:
                stop = self._budget_stop(batch)
            except Exception as exc:
                stop = self._stop_for(exc, f"checking the API budget before the {where}")
                bug = exc if stop.kind == "unexpected" else None
            if stop is not None:
                self._not_sent(batches[index:], stop, report)
                break
            try:
                results = self._send(batch)
            except Exception as exc:
                stop = self._stop_for(exc, f"the {where}")
                bug = exc if stop.kind == "unexpected" else None
                self._in_flight_failed(batch, stop, report)
                self._not_sent(batches[index + 1 :], stop, report)
                break
            self._record_results(batch, results, report)
            done += len(batch.writes)
            log.info(
                "Salesforce write: %d/%d records done (%s %s batch of %d: %d written, %d failed "
                "so far)",
                done,
                len(writes),
                batch.sobject,
                batch.method,
                len(batch.writes),
                report.written,
                report.failed,
            )
        report.api_calls = self.client.usage.calls - calls_before
        if report.stopped_reason:
            log.warning("Salesforce write stopped: %s", report.stopped_reason)
        if bug is not None:
            # Every attempt is recorded; a bug of ours must still fail the run loudly.
            raise bug
        return report

    # -- planning ------------------------------------------------------------------------------

    def _batches(self, writes: list[PlannedWrite]) -> list[_Batch]:
        groups: dict[str, list[PlannedWrite]] = {}
        for write in writes:
            groups.setdefault(write.sobject, []).append(write)
        batches = []
        for sobject, group in groups.items():
            if len(group) > self.bulk_threshold:
                batches.append(_Batch(sobject, "bulk", group))
                continue
            for start in range(0, len(group), COLLECTION_SIZE):
                batches.append(
                    _Batch(sobject, "collections", group[start : start + COLLECTION_SIZE])
                )
        return batches

    # -- the API budget ------------------------------------------------------------------------

    def _remaining(self) -> int | None:
        remaining = self.client.usage.remaining
        if remaining is not None:
            return remaining
        # Nothing has answered yet in this client: one `limits` call tells us (and sets usage).
        limits = self.client.limits()
        remaining = self.client.usage.remaining
        if remaining is None:
            daily = limits.get("DailyApiRequests") or {}
            remaining = daily.get("Remaining")
        return None if remaining is None else int(remaining)

    def _budget_stop(self, batch: _Batch) -> _Stop | None:
        remaining = self._remaining()
        if remaining is None or remaining - batch.calls_needed >= self.api_reserve:
            return None
        return _Stop(
            "budget_reserve",
            f"API budget reserve reached: {remaining} calls left, reserve {self.api_reserve} "
            f"(the next {batch.sobject} {batch.method} batch needs {batch.calls_needed}). "
            "Nothing more is sent this run; the unsent writes go out on a later run once the "
            "org's 24-hour allocation recovers, or lower the reserve.",
            "API_BUDGET_RESERVE",
        )

    # -- sending -------------------------------------------------------------------------------

    def _send(self, batch: _Batch) -> list[SaveResult]:
        if batch.method == "collections":
            records = [{"Id": w.record_id, **w.payload} for w in batch.writes]
            return self.client.update_records(batch.sobject, records)
        records = [
            {"Id": w.record_id}
            | {
                name: ("true" if v else "false") if isinstance(v, bool) else v
                for name, v in w.payload.items()
            }
            for w in batch.writes
        ]
        return self.client.bulk_update(batch.sobject, records)

    def _stop_for(self, exc: Exception, where: str) -> _Stop:
        """Why `exc` stops the write, with the code recorded for the writes it leaves unsent."""
        detail = _truncate(f"{type(exc).__name__}: {exc}")
        if isinstance(exc, ApiLimitExceeded):
            return _Stop(
                "api_limit",
                f"{str(exc).rstrip('.')}. Stopped at {where} without retrying; rerun after the "
                "allocation recovers.",
                "REQUEST_LIMIT_EXCEEDED",
            )
        if isinstance(exc, SessionExpiredAgain):
            return _Stop("outage", f"{where}: {exc}", "INVALID_SESSION_ID")
        if isinstance(exc, SalesforceAuthError):
            return _Stop("refused", f"{where}: logging in again failed: {exc}", "LOGIN_FAILED")
        if isinstance(exc, SimpleSalesforceError):
            code = _error_code_of(exc) or f"HTTP_{exc.status}"
            if exc.status >= 500:
                return _Stop(
                    "outage",
                    f"{where} failed after the client's retries ({detail}); stopped, the rest "
                    "goes out on the next run.",
                    code,
                )
            return _Stop(
                "refused",
                f"Salesforce refused {where} as a whole ({detail}); stopped: fix the cause "
                "(field names, the integration user's field permissions) and rerun.",
                code,
            )
        if isinstance(exc, SalesforceOperationError):
            return _Stop(
                "outage", f"{where}: the Bulk API job failed ({detail})", "BULK_JOB_FAILED"
            )
        if isinstance(exc, requests.RequestException):
            return _Stop(
                "outage",
                f"{where} could not reach Salesforce after the client's retries ({detail}); "
                "stopped, the rest goes out on the next run.",
                "TIMEOUT" if isinstance(exc, requests.Timeout) else "CONNECTION_ERROR",
            )
        if isinstance(exc, SalesforceError):
            return _Stop("outage", f"{where}: {detail}", "SALESFORCE_ERROR")
        return _Stop("unexpected", f"{where}: unexpected {detail}", "UNEXPECTED_ERROR")

    # -- bookkeeping ---------------------------------------------------------------------------

    def _attempt(
        self,
        write: PlannedWrite,
        method: str,
        at: datetime,
        *,
        status: str,
        error_code: str | None = None,
        message: str | None = None,
        retryable: bool = False,
    ) -> WriteAttempt:
        return WriteAttempt(
            write_id=str(uuid.uuid4()),
            run_id=self.run_id,
            purpose=write.purpose,
            sobject=write.sobject,
            record_id=write.record_id,
            source_key=write.source_key,
            fields=write.fields_json,
            method=method,
            attempted_at=at,
            success=status == "written",
            error_code=error_code,
            message=None if message is None else _truncate(message),
            retryable=retryable,
            status=status,
        )

    def _save(self, attempts: list[WriteAttempt]) -> None:
        # A connection per batch, opened after the network call: never held while waiting on it.
        with connect(self.warehouse) as con:
            record_attempts(con, attempts)

    def _record_results(
        self, batch: _Batch, results: list[SaveResult], report: WriteReport
    ) -> None:
        at = datetime.now(UTC)
        by_id = {r.id: r for r in results}
        attempts = []
        for write in batch.writes:
            result = by_id.get(write.record_id)
            if result is None:  # cannot happen with a well-behaved API; never drop a record
                result = SaveResult(
                    write.record_id,
                    False,
                    "NO_RESULT",
                    "Salesforce returned no result for this record",
                )
            if result.success:
                attempts.append(self._attempt(write, batch.method, at, status="written"))
                report.written += 1
                continue
            retryable = is_retryable(result.error_code)
            message = result.message
            if result.fields:
                message = f"{message} (fields: {', '.join(result.fields)})"
            attempts.append(
                self._attempt(
                    write,
                    batch.method,
                    at,
                    status="failed",
                    error_code=result.error_code,
                    message=message,
                    retryable=retryable,
                )
            )
            report.failed += 1
            report.failures.append(
                WriteFailure(write.record_id, result.error_code, message, retryable)
            )
        self._save(attempts)

    def _in_flight_failed(self, batch: _Batch, stop: _Stop, report: WriteReport) -> None:
        at = datetime.now(UTC)
        self._save(
            [
                self._attempt(
                    w,
                    batch.method,
                    at,
                    status="failed",
                    error_code=stop.error_code,
                    message=stop.reason,
                    retryable=True,
                )
                for w in batch.writes
            ]
        )
        report.failed += len(batch.writes)
        report.failures.extend(
            WriteFailure(w.record_id, stop.error_code, stop.reason, True) for w in batch.writes
        )
        report.stopped_reason, report.stopped_by = stop.reason, stop.kind

    def _not_sent(self, batches: list[_Batch], stop: _Stop, report: WriteReport) -> None:
        at = datetime.now(UTC)
        attempts = [
            self._attempt(
                w,
                batch.method,
                at,
                status="not_sent",
                error_code=stop.error_code,
                message=f"not sent: {stop.reason}",
                retryable=True,
            )
            for batch in batches
            for w in batch.writes
        ]
        self._save(attempts)
        report.not_sent += len(attempts)
        report.stopped_reason, report.stopped_by = stop.reason, stop.kind


def _refuse_duplicates(writes: list[PlannedWrite]) -> None:
    seen: set[tuple[str, str]] = set()
    for write in writes:
        key = (write.sobject, write.record_id)
        if key in seen:
            raise ValueError(
                f"{write.sobject} {write.record_id} is planned twice in one write; merge its "
                "fields into one PlannedWrite (one record update carries all of them)"
            )
        seen.add(key)

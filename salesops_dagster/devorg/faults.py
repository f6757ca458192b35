"""Fault injection: make the next N matching requests fail, drop, slow down or lose their session.

A rule matches a request by kind when `match` is one of the documented kind names
(`stats.KINDS`), otherwise when `match`, read as a regular expression, is found in the request
path. `after` lets K matching requests through first, so a fault can land in the middle of paging.

`record_error` is the one per-record action: instead of failing a request, it fails the write of
the records named in `record_ids` inside an otherwise normal sObject Collections update or
single-record PATCH, with a SaveError `error_code`/`message` (e.g. `UNABLE_TO_LOCK_ROW`,
`FIELD_CUSTOM_VALIDATION_EXCEPTION`), as a validation rule or row-lock contention would. Its
`count` and `after` count record writes, not requests.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from salesops_dagster.devorg.ids import to18
from salesops_dagster.devorg.stats import KINDS

ACTIONS = ("error", "drop", "slow", "expire_session", "record_error")
# The SaveError message a `record_error` fault uses when its spec gives none.
RECORD_ERROR_MESSAGES = {
    "UNABLE_TO_LOCK_ROW": "unable to obtain exclusive access to this record",
    "FIELD_CUSTOM_VALIDATION_EXCEPTION": "Record rejected by a validation rule",
}


class FaultSpecError(ValueError):
    """A fault definition that cannot be used (unknown action, bad regex, bad numbers)."""


@dataclass
class Fault:
    """One rule; `count=None` means every matching request (record write, for `record_error`)
    after `after`."""

    match: str
    action: str = "error"
    count: int | None = 1
    after: int = 0
    status: int = 503
    error_code: str = "SERVER_UNAVAILABLE"
    message: str = "Server temporarily unavailable. Please try again later."
    delay_seconds: float = 2.0
    record_ids: list[str] | None = None
    seen: int = 0
    fired: int = 0
    _pattern: re.Pattern[str] | None = field(default=None, repr=False, compare=False)

    @classmethod
    def from_json(cls, spec: dict[str, Any]) -> Fault:
        if not isinstance(spec, dict) or not isinstance(spec.get("match"), str):
            raise FaultSpecError('a fault needs "match": a request kind or a path regex')
        allowed = {"match", "action", "count", "after", "status", "error_code", "message"}
        allowed |= {"delay_seconds", "record_ids"}
        unknown = set(spec) - allowed
        if unknown:
            raise FaultSpecError(f"unknown fault keys: {sorted(unknown)}")
        fault = cls(**spec)
        if fault.action not in ACTIONS:
            raise FaultSpecError(f"action must be one of {ACTIONS}, not {fault.action!r}")
        if fault.count is not None and (not isinstance(fault.count, int) or fault.count < 0):
            raise FaultSpecError("count must be a non-negative integer or null")
        if not isinstance(fault.after, int) or fault.after < 0:
            raise FaultSpecError("after must be a non-negative integer")
        if not isinstance(fault.status, int) or not 100 <= fault.status <= 599:
            raise FaultSpecError("status must be an HTTP status code")
        if fault.action == "record_error":
            ids = fault.record_ids
            if not isinstance(ids, list) or not ids or not all(isinstance(i, str) for i in ids):
                raise FaultSpecError('a record_error fault needs "record_ids": a list of Ids')
            fault.record_ids = [to18(i) if len(i) == 15 else i for i in ids]
            if "error_code" not in spec:
                fault.error_code = "UNABLE_TO_LOCK_ROW"
            if "message" not in spec:
                fault.message = RECORD_ERROR_MESSAGES.get(fault.error_code, fault.error_code)
        elif fault.record_ids is not None:
            raise FaultSpecError('"record_ids" only applies to action "record_error"')
        try:
            fault._pattern = re.compile(fault.match)
        except re.error as exc:
            raise FaultSpecError(f"match is neither a kind nor a valid regex: {exc}") from exc
        return fault

    def matches(self, kind: str, path: str) -> bool:
        if self.match in KINDS:
            return self.match == kind
        return self._pattern is not None and self._pattern.search(path) is not None

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out.pop("_pattern", None)
        return out


class FaultInjector:
    """The active fault rules; `check` is called once per incoming request."""

    def __init__(self) -> None:
        self._faults: list[Fault] = []
        self._lock = threading.Lock()
        self.fired_total = 0

    def add(self, spec: dict[str, Any]) -> Fault:
        fault = Fault.from_json(spec)
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def list(self) -> list[dict[str, Any]]:
        with self._lock:
            return [f.to_json() for f in self._faults]

    def check(self, kind: str, path: str) -> Fault | None:
        """The first request-level rule that fires for this request, with its counters advanced."""
        return self._fire(lambda f: f.action != "record_error" and f.matches(kind, path))

    def check_record(self, kind: str, path: str, record_id: str) -> Fault | None:
        """The first `record_error` rule that fires for this record write in this request."""
        return self._fire(
            lambda f: (
                f.action == "record_error"
                and record_id in (f.record_ids or ())
                and f.matches(kind, path)
            )
        )

    def _fire(self, applies: Callable[[Fault], bool]) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if not applies(fault):
                    continue
                fault.seen += 1
                if fault.seen <= fault.after:
                    continue
                if fault.count is not None and fault.fired >= fault.count:
                    continue
                fault.fired += 1
                self.fired_total += 1
                return fault
        return None

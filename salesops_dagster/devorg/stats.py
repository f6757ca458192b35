"""Request and write counters behind `GET /devorg/stats`, and the daily API allocation."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

# Stable request kind names (also what a fault's `match` can name). Documented in docs/devorg.md.
KINDS = (
    "token",
    "versions",
    "resources",
    "query",
    "query_more",
    "query_all",
    "sobject_create",
    "sobject_read",
    "sobject_update",
    "sobject_delete",
    "describe",
    "collections_create",
    "collections_update",
    "collections_delete",
    "collections_read",
    "composite",
    "updated",
    "deleted",
    "limits",
    "bulk_query_create",
    "bulk_query_poll",
    "bulk_query_results",
    "bulk_query_abort",
    "bulk_query_delete",
    "bulk_ingest_create",
    "bulk_ingest_upload",
    "bulk_ingest_close",
    "bulk_ingest_poll",
    "bulk_ingest_results",
    "bulk_ingest_delete",
    "not_found",
)

AUTO_ASSIGN_BUCKETS = ("FALSE", "TRUE", "absent", "other", "bulk")


def auto_assign_bucket(header: str | None) -> str:
    """How a Lead write's `Sforce-Auto-Assign` header is counted."""
    if header is None:
        return "absent"
    value = header.strip().upper()
    return value if value in ("TRUE", "FALSE") else "other"


class ApiAllocation:
    """The org's daily API request allocation (`DailyApiRequests`, `Sforce-Limit-Info`)."""

    def __init__(self, max_requests: int) -> None:
        self.max = max_requests
        self.used = 0
        self._lock = threading.Lock()

    def try_consume(self) -> bool:
        """Count one call; False (and nothing counted) when the allocation is spent."""
        with self._lock:
            if self.used >= self.max:
                return False
            self.used += 1
            return True

    def set(self, max_requests: int | None = None, remaining: int | None = None) -> None:
        with self._lock:
            if max_requests is not None:
                self.max = max_requests
            if remaining is not None:
                self.used = max(0, self.max - remaining)

    @property
    def remaining(self) -> int:
        return max(0, self.max - self.used)

    def header(self) -> str:
        # simple-salesforce's regex is anchored at the start: api-usage must come first.
        return f"api-usage={self.used}/{self.max}"


class Stats:
    """Thread-safe counters; `snapshot()` is the `/devorg/stats` JSON body."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self.requests: Counter[str] = Counter()
            self.subrequests: Counter[str] = Counter()
            self.api_calls = 0
            self.records_written: Counter[str] = Counter()
            self.lead_writes: Counter[str] = Counter()
            self.faults_fired = 0
            self.rejected: Counter[str] = Counter()

    def request(self, kind: str, *, subrequest: bool = False) -> None:
        with self._lock:
            (self.subrequests if subrequest else self.requests)[kind] += 1

    def api_call(self) -> None:
        with self._lock:
            self.api_calls += 1

    def reject(self, reason: str) -> None:
        with self._lock:
            self.rejected[reason] += 1

    def fault(self) -> None:
        with self._lock:
            self.faults_fired += 1

    def written(self, sobject: str, n: int = 1, auto_assign: str | None = None) -> None:
        """Count `n` records written; Lead writes also by their Sforce-Auto-Assign bucket."""
        with self._lock:
            self.records_written[sobject] += n
            if sobject == "Lead" and auto_assign is not None:
                self.lead_writes[auto_assign] += n

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            written = dict(self.records_written)
            return {
                "requests": dict(self.requests),
                "requests_total": sum(self.requests.values()),
                "composite_subrequests": dict(self.subrequests),
                "api_calls": self.api_calls,
                "records_written": {**written, "total": sum(written.values())},
                "lead_writes_by_auto_assign": {
                    bucket: self.lead_writes.get(bucket, 0) for bucket in AUTO_ASSIGN_BUCKETS
                },
                "faults_fired": self.faults_fired,
                "rejected": dict(self.rejected),
            }

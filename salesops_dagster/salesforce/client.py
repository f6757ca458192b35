"""The one Salesforce client: a few verbs that say what they cost in API calls.

simple-salesforce does the REST and Bulk 2.0 work; this class owns login, trust, retries and the
session lifecycle around it. It runs simple-salesforce in direct mode (token obtained by
`auth.request_token`), so an expired session comes back to us as `SalesforceExpiredSession`: we
log in again once and repeat the call; a second expiry in a row raises `SessionExpiredAgain`.
"""

from __future__ import annotations

import csv
import io
import logging
import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceExpiredSession, SalesforceRefusedRequest

from salesops_dagster.salesforce.auth import request_token
from salesops_dagster.salesforce.config import SalesforceConfig
from salesops_dagster.salesforce.errors import ApiLimitExceeded, SessionExpiredAgain
from salesops_dagster.salesforce.http import ApiUsage, build_session
from salesops_dagster.salesforce.soql import sf_id, soql_datetime, soql_name

log = logging.getLogger(__name__)

T = TypeVar("T")

COLLECTION_SIZE = 200  # sObject Collections accept at most 200 records per call
QUERY_BATCH_MAX = 2000  # REST query pages hold at most 2000 rows


@dataclass(frozen=True)
class QueryPage:
    """One page of a query: its records (without `attributes`) and the whole result's size."""

    records: list[dict]
    total_size: int


@dataclass(frozen=True)
class SaveResult:
    """One record's outcome in a write, with Salesforce's own error code when it failed."""

    id: str
    success: bool
    error_code: str | None = None
    message: str | None = None
    fields: tuple[str, ...] = ()


def changes_soql(
    sobject: str, fields: Iterable[str], since: datetime | None, until: datetime
) -> str:
    """SOQL for the rows of `sobject` whose SystemModstamp lies in [since, until), oldest first.

    Ordered by (SystemModstamp, Id) so a caller can commit page by page and resume from the
    last committed stamp without a gap.
    """
    names = ", ".join(soql_name(f) for f in fields)
    where = f"SystemModstamp < {soql_datetime(until)}"
    if since is not None:
        where = f"SystemModstamp >= {soql_datetime(since)} AND " + where
    # Every piece is a validated name or a formatted timestamp: nothing user-typed reaches SOQL.
    return f"SELECT {names} FROM {soql_name(sobject)} WHERE {where} ORDER BY SystemModstamp, Id"  # noqa: S608


def _strip_attributes(records: list[dict]) -> list[dict]:
    for record in records:
        record.pop("attributes", None)
    return records


def _limit_exceeded(exc: SalesforceRefusedRequest) -> bool:
    content = exc.content if isinstance(exc.content, list) else []
    return any(
        isinstance(e, dict) and e.get("errorCode") == "REQUEST_LIMIT_EXCEEDED" for e in content
    )


class SalesforceClient:
    """Salesforce for this project. Create one per run; it logs in lazily on first use."""

    def __init__(
        self,
        config: SalesforceConfig,
        *,
        retries: int = 4,
        backoff: float = 0.5,
        timeout: float = 120.0,
        bulk_poll_seconds: float = 2.0,
    ) -> None:
        config.validate()
        self.config = config
        self.timeout = timeout
        self.bulk_poll_seconds = bulk_poll_seconds
        self.session, self._tracker = build_session(
            config.ca_bundle, retries=retries, backoff=backoff
        )
        self._sf: Salesforce | None = None
        self.logins = 0

    # -- session -------------------------------------------------------------------------------

    @property
    def usage(self) -> ApiUsage:
        """The org's daily API usage as of the latest response, and the calls this client made."""
        return self._tracker.usage

    @property
    def sf(self) -> Salesforce:
        if self._sf is None:
            self.login()
        assert self._sf is not None
        return self._sf

    def login(self) -> None:
        """Obtain a fresh access token (0 API calls: the token endpoint is not metered)."""
        token = request_token(self.config, self.session, timeout=self.timeout)
        self.logins += 1
        if self._sf is None:
            self._sf = Salesforce(
                instance_url=token.instance_url,
                session_id=token.access_token,
                session=self.session,
                version=self.config.api_version,
            )
        else:
            self._sf.session_id = token.access_token
            self._sf._generate_headers()
        log.info("logged in to %s with the %s flow", token.instance_url, self.config.flow)

    def _call(self, fn: Callable[[], T]) -> T:
        """Run one API call; re-authenticate once on an expired session; never hot-retry limits."""
        try:
            try:
                return fn()
            except SalesforceExpiredSession:
                log.info("Salesforce session expired; logging in again")
                self.login()
                try:
                    return fn()
                except SalesforceExpiredSession as again:
                    raise SessionExpiredAgain(
                        "Salesforce refused a session that was issued a moment ago "
                        "(INVALID_SESSION_ID twice in a row); check the integration user's "
                        "session policies and IP restrictions"
                    ) from again
        except SalesforceRefusedRequest as exc:
            if _limit_exceeded(exc):
                usage = self.usage
                raise ApiLimitExceeded(
                    "Salesforce answered REQUEST_LIMIT_EXCEEDED: the org's API allocation is "
                    f"spent (usage {usage.used}/{usage.limit}); nothing more is sent until it "
                    "recovers"
                ) from exc
            raise

    # -- reads ---------------------------------------------------------------------------------

    def query(
        self, soql: str, *, include_deleted: bool = False, batch_size: int | None = None
    ) -> Iterator[QueryPage]:
        """Yield the result pages of a SOQL query. Cost: one API call per page
        (ceil(rows / batch_size), batch_size 2000 by default)."""
        headers = {"Sforce-Query-Options": f"batchSize={batch_size}"} if batch_size else {}
        page = self._call(
            lambda: self.sf.query(
                soql, include_deleted=include_deleted, headers=headers, timeout=self.timeout
            )
        )
        yield QueryPage(_strip_attributes(page["records"]), page["totalSize"])
        while not page["done"]:
            next_url = page["nextRecordsUrl"]
            page = self._call(
                lambda url=next_url: self.sf.query_more(
                    url,
                    identifier_is_url=True,
                    include_deleted=include_deleted,
                    headers=headers,
                    timeout=self.timeout,
                )
            )
            yield QueryPage(_strip_attributes(page["records"]), page["totalSize"])

    def query_changes(
        self,
        sobject: str,
        fields: Iterable[str],
        since: datetime | None,
        until: datetime,
        *,
        include_deleted: bool = True,
        batch_size: int | None = None,
    ) -> Iterator[QueryPage]:
        """Pages of rows changed in [since, until), oldest first, deleted rows included
        (`queryAll`). Cost: ceil(rows / 2000) API calls."""
        soql = changes_soql(sobject, fields, since, until)
        yield from self.query(soql, include_deleted=include_deleted, batch_size=batch_size)

    def composite(self, subrequests: list[dict], *, all_or_none: bool = False) -> list[dict]:
        """Up to 25 subrequests in one API call; returns the `compositeResponse` list."""
        if not 0 < len(subrequests) <= 25:
            raise ValueError(f"composite takes 1 to 25 subrequests, got {len(subrequests)}")
        body = {"allOrNone": all_or_none, "compositeRequest": subrequests}
        result = self._call(
            lambda: self.sf.restful("composite", method="POST", json=body, timeout=self.timeout)
        )
        return list(result["compositeResponse"])

    def limits(self) -> dict[str, Any]:
        """The org's limits (one API call)."""
        return dict(self._call(lambda: self.sf.limits(timeout=self.timeout)))

    def bulk_query(
        self, soql: str, *, include_deleted: bool = False, page_size: int = 50_000
    ) -> Iterator[list[dict]]:
        """Run a Bulk API 2.0 query job and yield its result pages as dicts of strings ('' is
        read as None). Cost: 1 create + polls + 1 call per page of `page_size` rows."""
        sobject = soql_name(soql.split(" FROM ", 1)[1].split()[0])
        handler = self._call(lambda: getattr(self.sf.bulk2, sobject))
        run = handler.query_all if include_deleted else handler.query
        pages = run(soql, max_records=page_size, wait=self.bulk_poll_seconds)
        while True:
            text = self._call(lambda: next(pages, None))
            if text is None:
                return
            reader = csv.DictReader(io.StringIO(text))
            yield [{k: (v if v != "" else None) for k, v in row.items()} for row in reader]

    # -- writes --------------------------------------------------------------------------------

    def update_records(self, sobject: str, records: list[dict]) -> list[SaveResult]:
        """Update records through sObject Collections, 200 per call, `allOrNone: false`, so one
        record's failure never loses the others. Cost: ceil(len(records) / 200) API calls."""
        results: list[SaveResult] = []
        for start in range(0, len(records), COLLECTION_SIZE):
            chunk = records[start : start + COLLECTION_SIZE]
            body = {
                "allOrNone": False,
                "records": [
                    {
                        "attributes": {"type": sobject},
                        **{k: v for k, v in r.items() if k != "Id"},
                        "id": sf_id(r["Id"]),
                    }
                    for r in chunk
                ],
            }
            answer = self._call(
                lambda body=body: self.sf.restful(
                    "composite/sobjects", method="PATCH", json=body, timeout=self.timeout
                )
            )
            # Results come back in request order; a failed entry may omit its id.
            for record, result in zip(chunk, answer or [], strict=True):
                errors = result.get("errors") or []
                first = errors[0] if errors else {}
                results.append(
                    SaveResult(
                        id=record["Id"],
                        success=bool(result.get("success")),
                        error_code=first.get("statusCode"),
                        message=first.get("message"),
                        fields=tuple(first.get("fields") or ()),
                    )
                )
        return results

    def bulk_update(self, sobject: str, records: list[dict]) -> list[SaveResult]:
        """Update records with one Bulk API 2.0 ingest job and read back its failed rows.
        Cost: about 5 calls plus polls, whatever the record count."""
        rows = [
            {k: ("#N/A" if v is None else v) for k, v in r.items()} | {"Id": sf_id(r["Id"])}
            for r in records
        ]  # an empty Bulk CSV cell leaves the field unchanged; #N/A clears it
        name = soql_name(sobject)

        # Bulk handlers keep the token they were built with, so each call builds its own: a
        # retry after a re-login then carries the new session.
        def handler():
            return getattr(self.sf.bulk2, name)

        jobs = self._call(lambda: handler().update(records=rows, wait=self.bulk_poll_seconds))
        failed: dict[str, tuple[str, str]] = {}
        for job in jobs:
            text = self._call(lambda job=job: handler().get_failed_records(job["job_id"]))
            for row in csv.DictReader(io.StringIO(text)):
                code, _, message = (row.get("sf__Error") or "").partition(":")
                failed[row.get("Id") or row.get("sf__Id") or ""] = (code, message)
        return [
            SaveResult(r["Id"], False, *failed[r["Id"]])
            if r["Id"] in failed
            else SaveResult(r["Id"], True)
            for r in rows
        ]


def write_calls_floor(n_records: int) -> int:
    """The fewest Collections calls that can write `n_records`: ceil(n / 200)."""
    return math.ceil(n_records / COLLECTION_SIZE)


def read_calls_floor(n_records: int) -> int:
    """The fewest REST query calls that can read `n_records`: ceil(n / 2000) (at least one)."""
    return max(1, math.ceil(n_records / QUERY_BATCH_MAX))

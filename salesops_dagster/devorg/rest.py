"""REST API resources of the dev org: query, sObject rows, Collections, replication, limits.

Shapes follow SALESFORCE_REST.md §2-§4, §6, §7. Each handler takes a `Request` whose session is
already checked and whose API call is already counted, and returns a `Response`.
"""

from __future__ import annotations

import datetime as dt
import itertools
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from salesops_dagster.devorg import soql
from salesops_dagster.devorg.dml import ROLLED_BACK, Dml, RequestError, SaveError
from salesops_dagster.devorg.ids import KEY_PREFIXES, is_valid_id, make_id, to18
from salesops_dagster.devorg.messages import Request, Response
from salesops_dagster.devorg.schema import (
    INSERTABLE_AUDIT_FIELDS,
    READ_ONLY_FIELDS,
    OrgSchema,
)
from salesops_dagster.devorg.stats import ApiAllocation
from salesops_dagster.devorg.store import DEVORG_POD, Store
from salesops_dagster.devorg.values import (
    BadValue,
    datetime_from_epoch_ms,
    format_datetime,
    parse_datetime,
)

DEFAULT_BATCH_SIZE = 2000
MIN_BATCH_SIZE = 200
MAX_COLLECTION_RECORDS = 200
MAX_REPLICATION_IDS = 600_000
UPDATED_WINDOW = dt.timedelta(days=30)
# (request kind, path, record Id) -> an injected per-record error (see faults.record_error)
RecordFault = Callable[[str, str, str], SaveError | None]
# (sObject, SELECT list, matching stored records)
Cursor = tuple[str, list[str], list[dict[str, Any]]]
DELETED_WINDOW = dt.timedelta(days=15)


def sobject_url(version: str, sobject: str, record_id: str | None) -> str:
    return f"/services/data/v{version}/sobjects/{sobject}/{record_id}"


def with_attributes(sobject: str, version: str, row: dict[str, Any]) -> dict[str, Any]:
    """A record as REST returns it: `attributes` first, then the fields."""
    attributes = {"type": sobject, "url": sobject_url(version, sobject, row.get("Id"))}
    return {"attributes": attributes, **row}


def project_page(
    sobject: str, version: str, fields: list[str], records: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Stored records projected to the SELECT list, each with its `attributes`."""
    prefix = f"/services/data/v{version}/sobjects/{sobject}/"
    page = []
    for record in records:  # a plain loop: this runs for every row of every page
        row: dict[str, Any] = {"attributes": {"type": sobject, "url": prefix + record["Id"]}}
        for name in fields:
            row[name] = record.get(name)
        page.append(row)
    return page


class QueryCursors:
    """Result sets of queries with more than one page, evicted least-recently-used.

    A cursor is the complete list of matching stored records at the first call (stored records
    are never mutated, so it is a snapshot, as with Salesforce's query locators); each page
    projects its slice.
    """

    def __init__(self, max_cursors: int = 64, max_rows: int = 6_000_000) -> None:
        self._cursors: OrderedDict[str, Cursor] = OrderedDict()
        self._rows = 0
        self._max_cursors = max_cursors
        self._max_rows = max_rows
        self._counter = itertools.count(1)
        self._lock = threading.Lock()

    def add(self, cursor: Cursor) -> str:
        locator = make_id(KEY_PREFIXES["QueryLocator"], next(self._counter), DEVORG_POD)
        with self._lock:
            self._cursors[locator] = cursor
            self._rows += len(cursor[2])
            while len(self._cursors) > 1 and (
                len(self._cursors) > self._max_cursors or self._rows > self._max_rows
            ):
                _, evicted = self._cursors.popitem(last=False)
                self._rows -= len(evicted[2])
        return locator

    def get(self, locator: str) -> Cursor | None:
        with self._lock:
            found = self._cursors.get(locator)
            if found is not None:
                self._cursors.move_to_end(locator)
            return found

    def __len__(self) -> int:
        return len(self._cursors)


def batch_size(req: Request) -> int:
    """`Sforce-Query-Options: batchSize=N`, clamped to 200..2000 (default 2000)."""
    header = req.header("Sforce-Query-Options") or ""
    for part in header.split(","):
        key, _, value = part.partition("=")
        if key.strip().lower() == "batchsize":
            try:
                return min(DEFAULT_BATCH_SIZE, max(MIN_BATCH_SIZE, int(value.strip())))
            except ValueError:
                return DEFAULT_BATCH_SIZE
    return DEFAULT_BATCH_SIZE


class RestApi:
    """The REST resources; composite and bulk live in their own modules."""

    def __init__(
        self,
        schema: OrgSchema,
        store: Store,
        dml: Dml,
        allocation: ApiAllocation,
        *,
        replication_whole_minutes: bool = True,
        record_fault: RecordFault | None = None,
    ) -> None:
        self.schema = schema
        self.store = store
        self.dml = dml
        self.allocation = allocation
        # (request kind, path, record Id) -> the SaveError a `record_error` fault injects, if any
        self.record_fault: RecordFault = record_fault or (lambda kind, path, record_id: None)
        self.cursors = QueryCursors()
        # Salesforce ignores the seconds of getUpdated/getDeleted start and end (SOAP docs and
        # integrators' reports; unconfirmed for REST, hence a switch).
        self.replication_whole_minutes = replication_whole_minutes

    # ------------------------------------------------------------------ helpers

    def resolve_sobject(self, name: str) -> str:
        canonical = self.schema.sobject(name)
        if canonical is None:
            raise RequestError(404, "NOT_FOUND", "The requested resource does not exist")
        return canonical

    def resolve_url_id(self, sobject: str, segment: str) -> str:
        """The Id in a URL path segment (404 for a non-Id, 400 MALFORMED_ID for a wrong one)."""
        if len(segment) not in (15, 18) or not segment.isalnum():
            raise RequestError(
                404,
                "NOT_FOUND",
                f"Provided external ID field does not exist or is not accessible: {segment}",
            )
        if not is_valid_id(segment, KEY_PREFIXES.get(sobject)):
            raise RequestError(
                400, "MALFORMED_ID", f"{sobject} ID: id value of incorrect type: {segment}", ["Id"]
            )
        return to18(segment)

    @staticmethod
    def _write_body(req: Request) -> dict[str, Any]:
        body = req.json()
        if not isinstance(body, dict):
            raise RequestError(
                400, "JSON_PARSER_ERROR", "Cannot deserialize instance of sObject from an array"
            )
        body.pop("attributes", None)
        return body

    # ------------------------------------------------------------------ resources and limits

    def resources(self, req: Request) -> Response:
        base = f"/services/data/v{req.api_version}"
        names = ("sobjects", "query", "queryAll", "limits", "composite", "jobs")
        return Response.json(200, {name: f"{base}/{name}" for name in names})

    def limits(self, req: Request) -> Response:
        a = self.allocation
        fixed = {
            "DailyBulkApiBatches": 15000,
            "DailyBulkV2QueryJobs": 10000,
            "DailyBulkV2QueryFileStorageMB": 976562,
            "DataStorageMB": 1024,
            "FileStorageMB": 1024,
            "ConcurrentSyncReportRuns": 20,
            "DailyAsyncApexExecutions": 250000,
            "HourlyTimeBasedWorkflow": 1000,
        }
        body: dict[str, Any] = {"DailyApiRequests": {"Max": a.max, "Remaining": a.remaining}}
        body.update({name: {"Max": n, "Remaining": n} for name, n in fixed.items()})
        return Response.json(200, body)

    # ------------------------------------------------------------------ query

    def query(self, req: Request, include_deleted: bool) -> Response:
        text = req.params.get("q", "")
        if not text.strip():
            raise RequestError(400, "MALFORMED_QUERY", "SOQL statements cannot be empty or null")
        try:
            parsed = soql.parse(text, self.schema)
            records = self.store.snapshot(parsed.sobject)
            rows = soql.match(parsed, records, include_deleted=include_deleted)
        except soql.SoqlError as exc:
            return Response.error(400, exc.error_code, exc.message)
        if parsed.count_only:
            return Response.json(200, {"totalSize": len(rows), "done": True, "records": []})
        return self._page(req, (parsed.sobject, list(parsed.fields), rows), 0, None)

    def query_more(self, req: Request, locator: str, offset: str) -> Response:
        found = self.cursors.get(locator)
        if found is None or not offset.isdigit() or int(offset) > len(found[2]):
            raise RequestError(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
        return self._page(req, found, int(offset), locator)

    def _page(self, req: Request, cursor: Cursor, offset: int, locator: str | None) -> Response:
        sobject, fields, rows = cursor
        end = offset + batch_size(req)
        version = req.api_version
        page = project_page(sobject, version, fields, rows[offset:end])
        body: dict[str, Any] = {"totalSize": len(rows), "done": end >= len(rows)}
        if end < len(rows):
            locator = locator or self.cursors.add(cursor)
            body["nextRecordsUrl"] = f"/services/data/v{version}/query/{locator}-{end}"
        body["records"] = page
        return Response.json(200, body)

    # ------------------------------------------------------------------ sObject rows

    def describe(self, req: Request, sobject: str | None = None) -> Response:
        """A minimal describe: enough to list fields with their types and updateability."""
        if sobject is None:
            names = sorted(self.schema.fields)
            return Response.json(
                200,
                {
                    "encoding": "UTF-8",
                    "maxBatchSize": MAX_COLLECTION_RECORDS,
                    "sobjects": [{"name": n, "keyPrefix": KEY_PREFIXES.get(n)} for n in names],
                },
            )
        sobject = self.resolve_sobject(sobject)
        fields = [
            {
                "name": name,
                "type": field_type,
                "createable": name not in READ_ONLY_FIELDS,
                "updateable": name not in READ_ONLY_FIELDS | INSERTABLE_AUDIT_FIELDS,
                "nillable": name not in ("Id", "IsDeleted"),
                "custom": name.endswith("__c"),
            }
            for name, field_type in self.schema.fields[sobject].items()
        ]
        return Response.json(
            200, {"name": sobject, "keyPrefix": KEY_PREFIXES.get(sobject), "fields": fields}
        )

    def create(self, req: Request, sobject: str) -> Response:
        sobject = self.resolve_sobject(sobject)
        values = self.dml.prepare(sobject, self._write_body(req))
        new_id, errors = self.dml.create(
            sobject, values, req.user_id, req.header("Sforce-Auto-Assign")
        )
        if errors:
            return _errors_response(errors)
        location = sobject_url(req.api_version, sobject, new_id)
        return Response.json(
            201, {"id": new_id, "success": True, "errors": []}, {"Location": location}
        )

    def read(self, req: Request, sobject: str, segment: str) -> Response:
        sobject = self.resolve_sobject(sobject)
        record_id = self.resolve_url_id(sobject, segment)
        record = self.store.get(sobject, record_id)
        if record is None:
            raise RequestError(404, "NOT_FOUND", "The requested resource does not exist")
        if record.get("IsDeleted"):
            return Response.error(404, "ENTITY_IS_DELETED", "entity is deleted", [])
        names = list(self.schema.fields[sobject])
        wanted = req.params.get("fields")
        if wanted:
            names = []
            for name in (n.strip() for n in wanted.split(",") if n.strip()):
                canonical = self.schema.field(sobject, name)
                if canonical is None:
                    raise RequestError(
                        400, "INVALID_FIELD", f"No such column '{name}' on entity '{sobject}'."
                    )
                names.append(canonical)
        row = {name: record.get(name) for name in names}
        row.setdefault("Id", record["Id"])
        return Response.json(200, with_attributes(sobject, req.api_version, row))

    def update(self, req: Request, sobject: str, segment: str) -> Response:
        sobject = self.resolve_sobject(sobject)
        record_id = self.resolve_url_id(sobject, segment)
        values = self.dml.prepare(sobject, self._write_body(req))
        if self.store.get(sobject, record_id) is None:
            raise RequestError(404, "NOT_FOUND", "The requested resource does not exist")
        injected = self.record_fault("sobject_update", req.path, record_id)
        if injected is not None:
            return _errors_response([injected])
        errors = self.dml.update(
            sobject, record_id, values, req.user_id, req.header("Sforce-Auto-Assign")
        )
        return _errors_response(errors) if errors else Response.empty(204)

    def delete(self, req: Request, sobject: str, segment: str) -> Response:
        sobject = self.resolve_sobject(sobject)
        record_id = self.resolve_url_id(sobject, segment)
        if self.store.get(sobject, record_id) is None:
            raise RequestError(404, "NOT_FOUND", "The requested resource does not exist")
        errors = self.dml.delete(sobject, record_id, req.user_id)
        return _errors_response(errors) if errors else Response.empty(204)

    # ------------------------------------------------------------------ sObject Collections

    def collections_write(self, req: Request, creating: bool) -> Response:
        body = req.json()
        if not isinstance(body, dict) or not isinstance(body.get("records"), list):
            raise RequestError(400, "JSON_PARSER_ERROR", "The request must contain 'records'.")
        records = body["records"]
        if len(records) > MAX_COLLECTION_RECORDS:
            raise RequestError(
                400,
                "EXCEEDED_ID_LIMIT",
                "record limit reached. cannot submit more than 200 records into this call",
            )
        all_or_none = bool(body.get("allOrNone", False))
        auto_assign = req.header("Sforce-Auto-Assign")
        # Deserialize every record first: an unknown field or a bad value fails the request.
        prepared: list[tuple[str, object, dict[str, Any]]] = []
        for raw in records:
            if not isinstance(raw, dict):
                raise RequestError(400, "JSON_PARSER_ERROR", "Each record must be an object.")
            raw = dict(raw)
            attributes = raw.pop("attributes", None)
            type_name = attributes.get("type") if isinstance(attributes, dict) else None
            if not type_name:
                raise RequestError(
                    400,
                    "INVALID_INPUT",
                    "Each record in the collection must have a type specified in attributes.",
                )
            sobject = self.schema.sobject(type_name)
            if sobject is None:
                raise RequestError(
                    400, "INVALID_TYPE", f"sObject type '{type_name}' is not supported."
                )
            record_id = raw.pop("id", None) if "id" in raw else raw.pop("Id", None)
            prepared.append((sobject, record_id, self.dml.prepare(sobject, raw)))

        results: list[dict[str, Any]] = []
        tally: list[tuple[str, str]] = []
        failed = False
        with self.store.transaction():
            for sobject, record_id, values in prepared:
                result = self._collection_record(
                    req, sobject, record_id, values, creating, auto_assign, tally
                )
                failed = failed or not result["success"]
                results.append(result)
            if all_or_none and failed:
                self.store.rollback()
        if all_or_none and failed:
            results = [r if not r["success"] else _rolled_back(r, not creating) for r in results]
        else:
            self.dml.commit_tally(tally)
        return Response.json(200, results)

    def _collection_record(
        self,
        req: Request,
        sobject: str,
        record_id: object,
        values: dict[str, Any],
        creating: bool,
        auto_assign: str | None,
        tally: list[tuple[str, str]],
    ) -> dict[str, Any]:
        if creating:
            if record_id is not None:
                return _failure(
                    None,
                    [SaveError("INVALID_FIELD", "cannot specify Id in an insert call", ["Id"])],
                )
            new_id, errors = self.dml.create(sobject, values, req.user_id, auto_assign, tally=tally)
            return _failure(None, errors) if errors else _success(new_id)
        if record_id is None:
            return _failure(
                None, [SaveError("MISSING_ARGUMENT", "Id not specified in an update call")]
            )
        resolved = self.dml.resolve_id(sobject, record_id)
        if isinstance(resolved, SaveError):
            return _failure(None, [resolved])
        injected = self.record_fault("collections_update", req.path, resolved)
        if injected is not None:
            return _failure(resolved, [injected])
        errors = self.dml.update(sobject, resolved, values, req.user_id, auto_assign, tally=tally)
        return _failure(resolved, errors) if errors else _success(resolved)

    def collections_delete(self, req: Request) -> Response:
        ids = [i for i in req.params.get("ids", "").split(",") if i]
        if not ids:
            raise RequestError(400, "MISSING_ARGUMENT", "ids parameter is required")
        if len(ids) > MAX_COLLECTION_RECORDS:
            raise RequestError(
                400,
                "EXCEEDED_ID_LIMIT",
                "record limit reached. cannot submit more than 200 records into this call",
            )
        all_or_none = req.params.get("allOrNone", "false").lower() == "true"
        results, tally, failed = [], [], False
        with self.store.transaction():
            for raw_id in ids:
                sobject = self._sobject_for_id(raw_id)
                if sobject is None:
                    result = _failure(None, [SaveError("MALFORMED_ID", f"malformed id {raw_id}")])
                else:
                    errors = self.dml.delete(sobject, to18(raw_id), req.user_id, tally=tally)
                    result = _failure(to18(raw_id), errors) if errors else _success(to18(raw_id))
                failed = failed or not result["success"]
                results.append(result)
            if all_or_none and failed:
                self.store.rollback()
        if all_or_none and failed:
            results = [r if not r["success"] else _rolled_back(r, True) for r in results]
        else:
            self.dml.commit_tally(tally)
        return Response.json(200, results)

    def collections_read(self, req: Request, sobject: str) -> Response:
        sobject = self.resolve_sobject(sobject)
        if req.method == "POST":
            body = req.json()
            ids, names = body.get("ids") or [], body.get("fields") or []
        else:
            ids = [i for i in req.params.get("ids", "").split(",") if i]
            names = [f for f in req.params.get("fields", "").split(",") if f]
        canonical = []
        for name in names:
            field_name = self.schema.field(sobject, name)
            if field_name is None:
                raise RequestError(
                    400, "INVALID_FIELD", f"No such column '{name}' on entity '{sobject}'."
                )
            canonical.append(field_name)
        out: list[dict[str, Any] | None] = []
        for raw_id in ids:
            record = self.store.get(sobject, raw_id) if is_valid_id(raw_id) else None
            if record is None or record.get("IsDeleted"):
                out.append(None)
            else:
                row = {"Id": record["Id"], **{n: record.get(n) for n in canonical}}
                out.append(with_attributes(sobject, req.api_version, row))
        return Response.json(200, out)

    def _sobject_for_id(self, raw_id: str) -> str | None:
        if not is_valid_id(raw_id):
            return None
        for sobject, prefix in KEY_PREFIXES.items():
            if raw_id.startswith(prefix) and sobject in self.schema.fields:
                return sobject
        return None

    # ------------------------------------------------------------------ replication

    def _window(self, req: Request) -> tuple[dt.datetime, dt.datetime, dt.datetime]:
        bounds = []
        for name in ("start", "end"):
            value = req.params.get(name)
            if not value:
                raise RequestError(400, "MISSING_ARGUMENT", f"{name} date is required")
            try:
                bounds.append(parse_datetime(value, require_offset=True))
            except BadValue as exc:
                raise RequestError(
                    400, "MALFORMED_QUERY", f"{name} date is not in the correct format: {value}"
                ) from exc
        start, end = bounds
        # The window ends at the clock: writes in this very millisecond are not covered yet, and
        # the next window, starting at latestDateCovered, includes them (as Salesforce's lags).
        now = datetime_from_epoch_ms(self.store.clock.next_ms())
        if self.replication_whole_minutes:
            start, end, now = (_minute(start), _minute(end), _minute(now))
        if end - start < dt.timedelta(minutes=1 if self.replication_whole_minutes else 0) or (
            end <= start
        ):
            raise RequestError(
                400,
                "INVALID_REPLICATION_DATE",
                "startDate must chronologically precede endDate by more than one minute",
            )
        return start, end, now

    def updated(self, req: Request, sobject: str) -> Response:
        sobject = self.resolve_sobject(sobject)
        start, end, now = self._window(req)
        if start < now - UPDATED_WINDOW:
            raise RequestError(
                400,
                "INVALID_REPLICATION_DATE",
                "startDate cannot be more than 30 days ago",
            )
        covered = min(end, now)
        lo, hi = format_datetime(start), format_datetime(covered)
        ids = [
            r["Id"]
            for r in self.store.snapshot(sobject)
            if lo <= _stamp(r) < hi and not r.get("IsDeleted")
        ]
        if len(ids) > MAX_REPLICATION_IDS:
            raise RequestError(400, "EXCEEDED_ID_LIMIT", "too many ids; narrow the time window")
        return Response.json(200, {"ids": ids, "latestDateCovered": hi})

    def deleted(self, req: Request, sobject: str) -> Response:
        sobject = self.resolve_sobject(sobject)
        start, end, now = self._window(req)
        earliest = now - DELETED_WINDOW
        covered = min(end, now)
        lo = format_datetime(max(start, earliest))
        hi = format_datetime(covered)
        deleted = [
            {"id": r["Id"], "deletedDate": _stamp(r)}
            for r in self.store.snapshot(sobject)
            if r.get("IsDeleted") and lo <= _stamp(r) < hi
        ]
        if len(deleted) > MAX_REPLICATION_IDS:
            raise RequestError(400, "EXCEEDED_ID_LIMIT", "too many ids; narrow the time window")
        return Response.json(
            200,
            {
                "deletedRecords": deleted,
                "earliestDateAvailable": format_datetime(earliest),
                "latestDateCovered": hi,
            },
        )


def _stamp(record: dict[str, Any]) -> str:
    return record.get("SystemModstamp") or record.get("LastModifiedDate") or ""


def _minute(value: dt.datetime) -> dt.datetime:
    return value.replace(second=0, microsecond=0)


def _success(record_id: str | None) -> dict[str, Any]:
    return {"id": record_id, "success": True, "errors": []}


def _failure(record_id: str | None, errors: list[SaveError]) -> dict[str, Any]:
    result: dict[str, Any] = {"success": False, "errors": [e.as_status_error() for e in errors]}
    if record_id is not None:
        result = {"id": record_id, **result}
    return result


def _rolled_back(result: dict[str, Any], keep_id: bool) -> dict[str, Any]:
    """A valid record of a failed allOrNone request (a rolled-back create has no Id)."""
    out: dict[str, Any] = {"success": False, "errors": [ROLLED_BACK.as_status_error()]}
    if keep_id and result.get("id"):
        out = {"id": result["id"], **out}
    return out


def _errors_response(errors: list[SaveError]) -> Response:
    status = max(e.http_status() for e in errors)
    return Response.json(status, [e.as_envelope() for e in errors])

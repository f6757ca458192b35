"""Bulk API 2.0 in the dev org: query jobs and ingest jobs (§8).

Query jobs run when created (the result list is a snapshot, like a REST query cursor) and report
`UploadComplete` in the create reply, `JobComplete` on every poll. Results are CSV pages with
`Sforce-NumberOfRecords` and `Sforce-Locator` (the literal `null` on the last page).

Ingest jobs (`update`, also `insert` and `delete`) take exactly one CSV upload and are processed
when closed with `UploadComplete`; the close reply still says `UploadComplete` and polls then see
`JobComplete` (or `Failed` for job-level errors such as a CRLF file on an LF job). Per-row
failures never fail the job; they land in failedResults.
"""

from __future__ import annotations

import base64
import binascii
import csv
import io
import itertools
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from salesops_dagster.devorg import soql
from salesops_dagster.devorg.dml import Dml, RequestError, SaveError
from salesops_dagster.devorg.ids import KEY_PREFIXES, make_id
from salesops_dagster.devorg.messages import Request, Response
from salesops_dagster.devorg.schema import OrgSchema
from salesops_dagster.devorg.store import DEVORG_POD, Store
from salesops_dagster.devorg.values import BadValue, coerce_csv, csv_datetime, is_rest_datetime

DELIMITERS = {
    "COMMA": ",",
    "TAB": "\t",
    "PIPE": "|",
    "SEMICOLON": ";",
    "CARET": "^",
    "BACKQUOTE": "`",
}
LINE_ENDINGS = {"LF": "\n", "CRLF": "\r\n"}
DEFAULT_MAX_RECORDS = 50_000
INGEST_OPERATIONS = ("update", "insert", "delete")
TERMINAL_STATES = ("JobComplete", "Failed", "Aborted")


@dataclass
class Job:
    """Common job info; `kind` is "query" or "ingest"."""

    id: str
    kind: str
    operation: str
    object: str
    created_by: str
    created_date: str
    api_version: str
    column_delimiter: str
    line_ending: str
    state: str
    modstamp: str = ""
    error_message: str | None = None
    started: float = field(default_factory=time.monotonic)
    processing_ms: int = 0

    def info(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "operation": self.operation,
            "object": self.object,
            "createdById": self.created_by,
            "createdDate": self.created_date,
            "systemModstamp": self.modstamp or self.created_date,
            "state": self.state,
            "concurrencyMode": "Parallel",
            "contentType": "CSV",
            "apiVersion": float(self.api_version),
        }


@dataclass
class QueryJob(Job):
    query: str = ""
    fields: list[str] = field(default_factory=list)
    rows: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class IngestJob(Job):
    external_id_field: str | None = None
    assignment_rule_id: str | None = None
    data: str | None = None
    header: list[str] = field(default_factory=list)
    successes: list[tuple[str, str, list[str]]] = field(default_factory=list)
    failures: list[tuple[str, str, list[str]]] = field(default_factory=list)
    unprocessed: list[list[str]] = field(default_factory=list)


class JobRegistry:
    """Jobs by Id, oldest evicted first beyond `max_jobs`."""

    def __init__(self, max_jobs: int = 500) -> None:
        self._jobs: OrderedDict[str, Job] = OrderedDict()
        self._counter = itertools.count(1)
        self._max = max_jobs
        self._lock = threading.Lock()

    def new_id(self) -> str:
        return make_id(KEY_PREFIXES["BulkJob"], next(self._counter), DEVORG_POD)

    def add(self, job: Job) -> None:
        with self._lock:
            self._jobs[job.id] = job
            while len(self._jobs) > self._max:
                self._jobs.popitem(last=False)

    def get(self, job_id: str, kind: str) -> Job:
        with self._lock:
            job = self._jobs.get(job_id)
        if job is None or job.kind != kind:
            raise RequestError(404, "NOT_FOUND", "The requested resource does not exist")
        return job

    def remove(self, job_id: str) -> None:
        with self._lock:
            self._jobs.pop(job_id, None)


def _encode_locator(offset: int) -> str:
    return base64.b64encode(str(offset).encode()).decode().rstrip("=")


def _decode_locator(locator: str) -> int:
    try:
        padded = locator + "=" * (-len(locator) % 4)
        return int(base64.b64decode(padded, validate=True).decode())
    except (binascii.Error, ValueError, UnicodeDecodeError) as exc:
        raise RequestError(400, "INVALIDLOCATOR", f"Invalid locator: {locator}") from exc


def _cell(value: Any) -> str:
    """A query result cell: always double-quoted; null and empty are both `""`."""
    if value is None:
        return '""'
    if value is True:
        return '"true"'
    if value is False:
        return '"false"'
    if isinstance(value, str):
        if is_rest_datetime(value):
            value = csv_datetime(value)
        return '"' + value.replace('"', '""') + '"'
    return f'"{value}"'


class BulkApi:
    def __init__(self, schema: OrgSchema, store: Store, dml: Dml) -> None:
        self.schema = schema
        self.store = store
        self.dml = dml
        self.jobs = JobRegistry()

    def _job_options(self, body: dict[str, Any]) -> tuple[str, str]:
        delimiter = body.get("columnDelimiter") or "COMMA"
        line_ending = body.get("lineEnding") or "LF"
        if delimiter not in DELIMITERS:
            raise RequestError(
                400,
                "API_ERROR",
                f"Invalid value: '{delimiter}' supplied for property: 'columnDelimiter'",
            )
        if line_ending not in LINE_ENDINGS:
            raise RequestError(
                400,
                "API_ERROR",
                f"Invalid value: '{line_ending}' supplied for property: 'lineEnding'",
            )
        return delimiter, line_ending

    # ------------------------------------------------------------------ query jobs

    def query_create(self, req: Request) -> Response:
        body = req.json()
        if not isinstance(body, dict):
            raise RequestError(400, "API_ERROR", "The request body must be a JSON object")
        operation = body.get("operation") or ""
        if operation not in ("query", "queryAll"):
            raise RequestError(
                400, "API_ERROR", f"Invalid value: '{operation}' supplied for property: 'operation'"
            )
        delimiter, line_ending = self._job_options(body)
        text = body.get("query") or ""
        if not text.strip():
            raise RequestError(400, "API_ERROR", "Invalid value: '' supplied for property: 'query'")
        started = time.monotonic()
        try:
            parsed = soql.parse(text, self.schema)
        except soql.SoqlError as exc:
            return Response.error(400, exc.error_code, exc.message)
        if parsed.count_only:
            raise RequestError(
                400, "API_ERROR", "Aggregate queries are not supported by Bulk API 2.0"
            )
        rows = soql.match(
            parsed,
            self.store.snapshot(parsed.sobject),
            include_deleted=operation == "queryAll",
        )
        now = self.store.clock.now()
        job = QueryJob(
            id=self.jobs.new_id(),
            kind="query",
            operation=operation,
            object=parsed.sobject,
            created_by=req.user_id,
            created_date=now,
            api_version=req.api_version,
            column_delimiter=delimiter,
            line_ending=line_ending,
            state="JobComplete",
            query=text,
            fields=list(parsed.fields),
            rows=rows,
            processing_ms=int((time.monotonic() - started) * 1000),
        )
        self.jobs.add(job)
        info = job.info()
        info.update(state="UploadComplete", lineEnding=line_ending, columnDelimiter=delimiter)
        return Response.json(200, info)

    def query_get(self, req: Request, job_id: str) -> Response:
        job = self.jobs.get(job_id, "query")
        assert isinstance(job, QueryJob)
        info = job.info()
        info.update(
            jobType="V2Query",
            lineEnding=job.line_ending,
            columnDelimiter=job.column_delimiter,
            numberRecordsProcessed=len(job.rows),
            retries=0,
            totalProcessingTime=job.processing_ms,
            isPkChunkingSupported=False,
        )
        if job.error_message:
            info["errorMessage"] = job.error_message
        return Response.json(200, info)

    def query_patch(self, req: Request, job_id: str) -> Response:
        job = self.jobs.get(job_id, "query")
        state = (req.json() or {}).get("state")
        if state != "Aborted":
            raise RequestError(400, "API_ERROR", f"Invalid value: '{state}' for property: 'state'")
        if job.state not in TERMINAL_STATES or job.state == "JobComplete":
            job.state = "Aborted"
        return Response.json(200, job.info())

    def query_delete(self, req: Request, job_id: str) -> Response:
        self.jobs.get(job_id, "query")
        self.jobs.remove(job_id)
        return Response.empty(204)

    def query_results(self, req: Request, job_id: str) -> Response:
        job = self.jobs.get(job_id, "query")
        assert isinstance(job, QueryJob)
        if job.state != "JobComplete":
            raise RequestError(
                412,
                "JOB_NOT_COMPLETE",
                "can only download query results of successfully completed bulk job with "
                f"status: JOB_COMPLETE. Current status: {job.state.upper()}",
            )
        raw_max = req.params.get("maxRecords")
        try:
            max_records = int(raw_max) if raw_max else DEFAULT_MAX_RECORDS
        except ValueError as exc:
            raise RequestError(400, "API_ERROR", f"Invalid maxRecords: {raw_max}") from exc
        if max_records <= 0:
            raise RequestError(400, "API_ERROR", f"Invalid maxRecords: {raw_max}")
        locator = req.params.get("locator")
        offset = _decode_locator(locator) if locator and locator != "null" else 0
        page = job.rows[offset : offset + max_records]
        end = offset + len(page)
        delimiter = DELIMITERS[job.column_delimiter]
        newline = LINE_ENDINGS[job.line_ending]
        lines = [delimiter.join(_cell(name) for name in job.fields)]
        lines.extend(delimiter.join([_cell(row.get(name)) for name in job.fields]) for row in page)
        text = newline.join(lines) + newline
        headers = {
            "Sforce-NumberOfRecords": str(len(page)),
            "Sforce-Locator": _encode_locator(end) if end < len(job.rows) else "null",
        }
        return Response.csv(text, headers)

    # ------------------------------------------------------------------ ingest jobs

    def ingest_create(self, req: Request) -> Response:
        body = req.json()
        if not isinstance(body, dict):
            raise RequestError(400, "API_ERROR", "The request body must be a JSON object")
        operation = body.get("operation") or ""
        if operation not in INGEST_OPERATIONS:
            raise RequestError(
                400, "API_ERROR", f"Invalid value: '{operation}' supplied for property: 'operation'"
            )
        sobject = self.schema.sobject(str(body.get("object") or ""))
        if sobject is None:
            raise RequestError(
                400, "INVALIDJOB", f"InvalidJob : Unable to find object: {body.get('object')}"
            )
        content_type = body.get("contentType") or "CSV"
        if content_type != "CSV":
            raise RequestError(
                400,
                "API_ERROR",
                f"Invalid value: '{content_type}' supplied for property: 'contentType'",
            )
        delimiter, line_ending = self._job_options(body)
        job = IngestJob(
            id=self.jobs.new_id(),
            kind="ingest",
            operation=operation,
            object=sobject,
            created_by=req.user_id,
            created_date=self.store.clock.now(),
            api_version=req.api_version,
            column_delimiter=delimiter,
            line_ending=line_ending,
            state="Open",
            external_id_field=body.get("externalIdFieldName"),
            assignment_rule_id=body.get("assignmentRuleId"),
        )
        self.jobs.add(job)
        return Response.json(200, self._ingest_info(job, with_urls=True))

    def _ingest_info(self, job: IngestJob, with_urls: bool = False) -> dict[str, Any]:
        info = job.info()
        if job.external_id_field:
            info["externalIdFieldName"] = job.external_id_field
        if with_urls:
            info["contentUrl"] = f"services/data/v{job.api_version}/jobs/ingest/{job.id}/batches"
            info["lineEnding"] = job.line_ending
            info["columnDelimiter"] = job.column_delimiter
        return info

    def ingest_upload(self, req: Request, job_id: str) -> Response:
        job = self.jobs.get(job_id, "ingest")
        assert isinstance(job, IngestJob)
        if job.data is not None:
            raise RequestError(
                400,
                "BULK_API_ERROR",
                f"Found multipe contents for job: <{job.id}>, please 'Close' / 'Abort' / 'Delete' "
                "the current Job then create a new Job and make sure you only do 'PUT' once on a "
                "given Job.",
            )
        if job.state != "Open":
            raise RequestError(
                409, "INVALIDJOBSTATE", f"Job {job.id} is not Open (state: {job.state})"
            )
        try:
            job.data = req.body.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise RequestError(400, "API_ERROR", "The CSV data is not valid UTF-8") from exc
        return Response.empty(201)

    def ingest_patch(self, req: Request, job_id: str) -> Response:
        job = self.jobs.get(job_id, "ingest")
        assert isinstance(job, IngestJob)
        state = (req.json() or {}).get("state")
        if state == "UploadComplete":
            if job.state != "Open":
                raise RequestError(
                    409, "INVALIDJOBSTATE", f"Job {job.id} is not Open (state: {job.state})"
                )
            job.state = "UploadComplete"
            reply = self._ingest_info(job)
            self._process(job)
            return Response.json(200, reply)
        if state == "Aborted":
            if job.state in TERMINAL_STATES:
                raise RequestError(409, "INVALIDJOBSTATE", f"Job {job.id} is already {job.state}")
            job.state = "Aborted"
            if job.data:
                job.header, rows = self._parse(job)
                job.unprocessed = rows
            return Response.json(200, self._ingest_info(job))
        raise RequestError(400, "API_ERROR", f"Invalid value: '{state}' for property: 'state'")

    def ingest_get(self, req: Request, job_id: str) -> Response:
        job = self.jobs.get(job_id, "ingest")
        assert isinstance(job, IngestJob)
        info = self._ingest_info(job, with_urls=True)
        processed = len(job.successes) + len(job.failures)
        info.update(
            jobType="V2Ingest",
            numberRecordsProcessed=processed,
            numberRecordsFailed=len(job.failures),
            retries=0,
            totalProcessingTime=job.processing_ms,
            apiActiveProcessingTime=job.processing_ms,
            apexProcessingTime=0,
        )
        if job.error_message:
            info["errorMessage"] = job.error_message
        return Response.json(200, info)

    def ingest_delete(self, req: Request, job_id: str) -> Response:
        self.jobs.get(job_id, "ingest")
        self.jobs.remove(job_id)
        return Response.empty(204)

    def ingest_results(self, req: Request, job_id: str, which: str) -> Response:
        job = self.jobs.get(job_id, "ingest")
        assert isinstance(job, IngestJob)
        delimiter = DELIMITERS[job.column_delimiter]
        newline = LINE_ENDINGS[job.line_ending]
        echo = self._echo(job)

        def line(prefix: list[str], row: list[str]) -> str:
            return delimiter.join([*prefix, echo(row)] if job.header else prefix)

        which = which.lower()
        if which == "successfulresults":
            lines = [line(['"sf__Id"', '"sf__Created"'], job.header)]
            lines += [line([_cell(i), _cell(c)], row) for i, c, row in job.successes]
        elif which == "failedresults":
            lines = [line(['"sf__Id"', '"sf__Error"'], job.header)]
            lines += [line([_cell(i), _cell(e)], row) for i, e, row in job.failures]
        elif job.header:
            lines = [echo(job.header)] + [echo(row) for row in job.unprocessed]
        else:
            lines = []
        text = newline.join(lines) + newline if lines else ""
        return Response.csv(text)

    # ------------------------------------------------------------------ ingest processing

    def _echo(self, job: IngestJob) -> Any:
        """Original columns as uploaded (re-serialized with minimal quoting)."""
        delimiter = DELIMITERS[job.column_delimiter]

        def echo(values: list[str]) -> str:
            buffer = io.StringIO()
            csv.writer(buffer, delimiter=delimiter, lineterminator="").writerow(values)
            return buffer.getvalue()

        return echo

    def _parse(self, job: IngestJob) -> tuple[list[str], list[list[str]]]:
        reader = csv.reader(
            io.StringIO(job.data or "", newline=""), delimiter=DELIMITERS[job.column_delimiter]
        )
        rows = [row for row in reader if row]
        return (rows[0], rows[1:]) if rows else ([], [])

    def _fail(self, job: IngestJob, message: str) -> None:
        job.state = "Failed"
        job.error_message = message

    def _process(self, job: IngestJob) -> None:
        started = time.monotonic()
        data = job.data
        if not data:
            self._fail(job, "InvalidBatch : No data was uploaded for this job")
            return
        if job.line_ending == "LF" and "\r\n" in data:
            self._fail(
                job,
                "ClientInputError : LineEnding is invalid on user data. Current LineEnding "
                "setting is LF",
            )
            return
        try:
            header, rows = self._parse(job)
        except csv.Error as exc:
            self._fail(job, f"ClientInputError : {exc}")
            return
        job.header = header
        job.state = "InProgress"
        fields: list[str] = []
        for name in header:
            canonical = self.schema.field(job.object, name.strip())
            if canonical is None:
                self._fail(job, f"InvalidBatch : Field name not found : {name}")
                return
            fields.append(canonical)
        if job.operation in ("update", "delete") and "Id" not in fields:
            self._fail(job, f"InvalidBatch : Id not specified in an {job.operation} call")
            return
        if job.operation == "delete" and fields != ["Id"]:
            self._fail(job, "InvalidBatch : The 'delete' batch must contain only 'Id'")
            return
        types = self.schema.fields[job.object]
        with self.store.transaction():
            for row in rows:
                self._process_row(job, fields, types, row)
        job.state = "JobComplete"
        job.modstamp = self.store.clock.now()
        job.processing_ms = int((time.monotonic() - started) * 1000)

    def _process_row(
        self, job: IngestJob, fields: list[str], types: dict[str, str], row: list[str]
    ) -> None:
        sobject = job.object
        if len(row) != len(fields):
            error = SaveError(
                "INVALID_INPUT", f"Row has {len(row)} columns, the header has {len(fields)}"
            )
            job.failures.append(("", error.as_bulk(), row))
            return
        values: dict[str, Any] = {}
        errors: list[SaveError] = []
        raw_id = ""
        for name, cell in zip(fields, row, strict=True):
            if name == "Id":
                raw_id = cell
                continue
            if cell == "":  # an empty cell leaves the field unchanged
                continue
            if cell == "#N/A":  # and #N/A sets it to null
                values[name] = None
                continue
            try:
                values[name] = coerce_csv(cell, types[name])
            except BadValue as exc:
                errors.append(
                    SaveError("INVALID_TYPE_ON_FIELD_IN_RECORD", f"{name}: {exc}", [name])
                )
        user = job.created_by
        if job.operation == "insert":
            if errors:
                job.failures.append(("", errors[0].as_bulk(), row))
                return
            new_id, errors = self.dml.create(sobject, values, user, via_bulk=True)
            if errors:
                job.failures.append(("", errors[0].as_bulk(), row))
            else:
                job.successes.append((new_id or "", "true", row))
            return
        resolved = self.dml.resolve_id(sobject, raw_id)
        if isinstance(resolved, SaveError):
            job.failures.append(("", resolved.as_bulk(), row))
            return
        if not errors:
            if job.operation == "delete":
                errors = self.dml.delete(sobject, resolved, user)
            else:
                errors = self.dml.update(sobject, resolved, values, user, via_bulk=True)
        if errors:
            job.failures.append((resolved, errors[0].as_bulk(), row))
        else:
            job.successes.append((resolved, "false", row))

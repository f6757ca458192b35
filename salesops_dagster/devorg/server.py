"""The dev org: a local Salesforce-compatible HTTPS server for development and tests.

`DevOrg` wires the pieces (store, OAuth, REST, composite, Bulk 2.0, faults, stats) behind a
`ThreadingHTTPServer` that speaks TLS with a certificate from its own CA, so the real
simple-salesforce client works against it unchanged while verifying the certificate.
`serve(argv)` is `salesops devorg serve`. See docs/devorg.md.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import logging
import re
import shlex
import signal
import socket
import ssl
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any

from salesops_dagster.devorg import certs
from salesops_dagster.devorg.auth import Credentials, OAuthError, SessionRegistry, TokenService
from salesops_dagster.devorg.bulk import BulkApi
from salesops_dagster.devorg.composite import CompositeApi
from salesops_dagster.devorg.dml import Dml, RequestError, SaveError
from salesops_dagster.devorg.faults import FaultInjector, FaultSpecError
from salesops_dagster.devorg.ids import KEY_PREFIXES, make_id
from salesops_dagster.devorg.messages import Request, Response
from salesops_dagster.devorg.rest import RestApi
from salesops_dagster.devorg.schema import OrgSchema
from salesops_dagster.devorg.stats import ApiAllocation, Stats
from salesops_dagster.devorg.store import DEVORG_POD, INTEGRATION_USER_ID, Store

log = logging.getLogger("salesops.devorg")

MIN_API_VERSION, MAX_API_VERSION = 20.0, 66.0
DEFAULT_DAILY_API_MAX = 100_000
CREDENTIALS_FILE = "credentials.json"
_VERSIONED = re.compile(r"^/services/data/v(\d{2}\.\d)(?:/(.*))?$")

Handler = Callable[[Request], Response]
Route = tuple[str, Handler]


class DevOrg:
    """A dev org instance; `start()` serves it, `stop()` ends it (also a context manager).

    - `data_dir`: load `<SObject>.jsonl` from it and append every write to it (None: in memory).
    - `records`: extra records per sObject, inserted as given (and persisted with a data_dir).
    - `keys_dir`: where the CA, server certificate, JWT key pair and credentials live; reused when
      present (default: `<data_dir>/.devorg`, or a temporary directory removed on `stop()`).
    - `jwt_public_key`: PEM (bytes or a path) to trust instead of the generated key pair.
    - `assignment_rule_owner_id`: when set, the emulated Lead assignment rule gives every Lead
      written without `Sforce-Auto-Assign: FALSE` to this owner.
    """

    def __init__(
        self,
        data_dir: Path | str | None = None,
        port: int = 0,
        host: str = "127.0.0.1",
        records: dict[str, list[dict[str, Any]]] | None = None,
        api_version: str = "62.0",
        daily_api_max: int = DEFAULT_DAILY_API_MAX,
        metadata_dir: Path | None = None,
        *,
        keys_dir: Path | str | None = None,
        jwt_public_key: bytes | Path | None = None,
        credentials: Credentials | None = None,
        assignment_rule_owner_id: str | None = None,
        session_lifetime_seconds: float = 2 * 3600,
        replication_whole_minutes: bool = True,
        log_requests: bool = False,
    ) -> None:
        self.host = host
        self.port = port
        self.api_version = api_version
        self.log_requests = log_requests
        self.data_dir = Path(data_dir).resolve() if data_dir is not None else None
        self._temp_keys: tempfile.TemporaryDirectory[str] | None = None
        if keys_dir is None:
            if self.data_dir is not None:
                keys_dir = self.data_dir / ".devorg"
            else:
                self._temp_keys = tempfile.TemporaryDirectory(prefix="devorg-")
                keys_dir = self._temp_keys.name
        self.key_files = certs.ensure_key_files(Path(keys_dir).resolve(), (host,))
        self.oauth_credentials = credentials or _load_credentials(self.key_files.directory)
        if isinstance(jwt_public_key, Path):
            jwt_public_key = jwt_public_key.read_bytes()
        self._jwt_public_key = jwt_public_key or self.key_files.jwt_public_key.read_bytes()

        self.schema = OrgSchema.load(metadata_dir)
        self.store = Store(self.schema, self.data_dir)
        self.store.load()
        for sobject, rows in (records or {}).items():
            canonical = self.schema.sobject(sobject)
            if canonical is None:
                raise ValueError(f"records for unknown sObject {sobject!r}")
            self.store.put_raw(canonical, rows)
        self.integration_user_id = self._ensure_integration_user()

        self.org_id = make_id(KEY_PREFIXES["Organization"], 1, DEVORG_POD)
        self.stats_counters = Stats()
        self.allocation = ApiAllocation(daily_api_max)
        self.faults = FaultInjector()
        self.sessions = SessionRegistry(self.org_id, session_lifetime_seconds)
        self.assignment_rule_owner_id = assignment_rule_owner_id
        self.tokens = TokenService(
            self.oauth_credentials,
            self.sessions,
            self._jwt_public_key,
            lambda: self.url,
            self._user_for,
            self.integration_user_id,
        )
        self.dml = Dml(
            self.schema, self.store, self.stats_counters, lambda: self.assignment_rule_owner_id
        )
        self.rest = RestApi(
            self.schema,
            self.store,
            self.dml,
            self.allocation,
            replication_whole_minutes=replication_whole_minutes,
            record_fault=self._record_fault,
        )
        self.bulk = BulkApi(self.schema, self.store, self.dml)
        self.composite = CompositeApi(self.store, self.stats_counters, self.route)
        self._routes = self._build_routes()
        self._server: _TLSServer | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> DevOrg:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(self.key_files.server_cert, self.key_files.server_key)
        self._server = _TLSServer((self.host, self.port), context, self)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},  # stop() waits at most this long
            name=f"devorg-{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.close_connections()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        self.store.close()
        if self._temp_keys is not None:
            self._temp_keys.cleanup()
            self._temp_keys = None

    def __enter__(self) -> DevOrg:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # ------------------------------------------------------------------ connection details

    @property
    def url(self) -> str:
        """`https://127.0.0.1:PORT` (no trailing slash: simple-salesforce appends paths)."""
        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host  # noqa: S104
        if ":" in host:
            host = f"[{host}]"
        return f"https://{host}:{self.port}"

    @property
    def ca_bundle(self) -> str:
        return str(self.key_files.ca_cert)

    @property
    def credentials(self) -> dict[str, str]:
        """client_id, client_secret, username, password and the JWT private_key_file."""
        return {
            "client_id": self.oauth_credentials.client_id,
            "client_secret": self.oauth_credentials.client_secret,
            "username": self.oauth_credentials.username,
            "password": self.oauth_credentials.password,
            "private_key_file": str(self.key_files.jwt_private_key),
        }

    def env(self) -> dict[str, str]:
        """The SALESFORCE_* variables that point the project at this dev org."""
        return {
            "SALESFORCE_LOGIN_URL": self.url,
            "SALESFORCE_CA_BUNDLE": self.ca_bundle,
            "SALESFORCE_CLIENT_ID": self.oauth_credentials.client_id,
            "SALESFORCE_CLIENT_SECRET": self.oauth_credentials.client_secret,
            "SALESFORCE_USERNAME": self.oauth_credentials.username,
            "SALESFORCE_PASSWORD": self.oauth_credentials.password,
            "SALESFORCE_PRIVATE_KEY_FILE": str(self.key_files.jwt_private_key),
            "SALESFORCE_API_VERSION": self.api_version,
        }

    # ------------------------------------------------------------------ in-process test hooks

    def records(self, sobject: str, include_deleted: bool = True) -> list[dict[str, Any]]:
        """Copies of the stored records of `sobject` (REST-shaped, no `attributes`)."""
        canonical = self._sobject(sobject)
        return [
            dict(r)
            for r in self.store.snapshot(canonical)
            if include_deleted or not r.get("IsDeleted")
        ]

    def record(self, sobject: str, record_id: str) -> dict[str, Any] | None:
        found = self.store.get(self._sobject(sobject), record_id)
        return dict(found) if found is not None else None

    def stats(self) -> dict[str, Any]:
        out = self.stats_counters.snapshot()
        out["api_limit"] = self.allocation.max
        out["api_usage"] = {
            "used": self.allocation.used,
            "max": self.allocation.max,
            "remaining": self.allocation.remaining,
        }
        out["records"] = self.store.counts()
        out["query_cursors"] = len(self.rest.cursors)
        return out

    def reset_stats(self) -> None:
        self.stats_counters.reset()

    def add_fault(self, spec: dict[str, Any] | None = None, **kwargs: Any) -> dict[str, Any]:
        """Add a fault rule (see faults.Fault); returns it as JSON."""
        return self.faults.add({**(spec or {}), **kwargs}).to_json()

    def clear_faults(self) -> None:
        self.faults.clear()

    def expire_sessions(self) -> int:
        return self.sessions.expire_all()

    def set_api_limit(self, max_requests: int | None = None, remaining: int | None = None) -> None:
        self.allocation.set(max_requests, remaining)

    def issue_token(self) -> str:
        """An access token for the integration user, without going through OAuth."""
        return self.sessions.issue(self.integration_user_id, self.oauth_credentials.username).token

    def put_records(self, sobject: str, records: list[dict[str, Any]]) -> list[str]:
        """Insert or replace raw records (system fields as given, no stamp bump)."""
        return [r["Id"] for r in self.store.put_raw(self._sobject(sobject), records)]

    def undelete(self, sobject: str, record_id: str) -> dict[str, Any]:
        canonical = self._sobject(sobject)
        with self.store.lock:
            record = self.store.get(canonical, record_id)
            if record is None or not record.get("IsDeleted"):
                raise KeyError(f"{canonical} {record_id} is not in the recycle bin")
            return dict(self.store.undelete(canonical, record["Id"], self.integration_user_id))

    def convert_lead(self, lead_id: str, **fields: Any) -> dict[str, Any]:
        """Mark a Lead converted (IsConverted, ConvertedDate, Status; Converted*Id if given)."""
        with self.store.lock:
            record = self.store.get("Lead", lead_id)
            if record is None:
                raise KeyError(f"no Lead {lead_id}")
            changes = {
                "IsConverted": True,
                "ConvertedDate": dt.datetime.now(dt.UTC).date().isoformat(),
                "Status": "Closed - Converted",
                **fields,
            }
            return dict(self.store.update("Lead", record["Id"], changes, self.integration_user_id))

    def set_assignment_rule_owner(self, owner_id: str | None) -> None:
        self.assignment_rule_owner_id = owner_id

    # ------------------------------------------------------------------ internals

    def _sobject(self, name: str) -> str:
        canonical = self.schema.sobject(name)
        if canonical is None:
            raise KeyError(f"no sObject {name!r}")
        return canonical

    def _user_for(self, username: str) -> tuple[str, bool] | None:
        for user in self.store.snapshot("User"):
            if user.get("Username") == username:
                return user["Id"], user.get("IsActive") is not False
        return None

    def _ensure_integration_user(self) -> str:
        found = self._user_for(self.oauth_credentials.username)
        if found is not None:
            return found[0]
        user = {
            "Id": INTEGRATION_USER_ID,
            "Username": self.oauth_credentials.username,
            "FirstName": "Dev Org",
            "LastName": "API User",
            "Email": "api-user@salesops.devorg",
            "IsActive": True,
            "UserType": "Standard",
            "TimeZoneSidKey": "GMT",
        }
        self.store.put_raw("User", [user])
        return INTEGRATION_USER_ID

    # ------------------------------------------------------------------ routing

    def _build_routes(self) -> list[tuple[re.Pattern[str], dict[str, tuple[str, Any]]]]:
        rest, bulk = self.rest, self.bulk
        table: list[tuple[str, dict[str, tuple[str, Any]]]] = [
            ("", {"GET": ("resources", rest.resources)}),
            ("limits", {"GET": ("limits", rest.limits)}),
            ("query", {"GET": ("query", lambda r: rest.query(r, False))}),
            ("queryAll", {"GET": ("query_all", lambda r: rest.query(r, True))}),
            (r"(?:query|queryAll)/(01g\w+)-(\d+)", {"GET": ("query_more", rest.query_more)}),
            ("sobjects", {"GET": ("describe", lambda r: rest.describe(r))}),
            (
                r"sobjects/(\w+)",
                {"GET": ("describe", rest.describe), "POST": ("sobject_create", rest.create)},
            ),
            (r"sobjects/(\w+)/describe", {"GET": ("describe", rest.describe)}),
            (r"sobjects/(\w+)/updated", {"GET": ("updated", rest.updated)}),
            (r"sobjects/(\w+)/deleted", {"GET": ("deleted", rest.deleted)}),
            (
                r"sobjects/(\w+)/([^/]+)",
                {
                    "GET": ("sobject_read", rest.read),
                    "PATCH": ("sobject_update", rest.update),
                    "DELETE": ("sobject_delete", rest.delete),
                },
            ),
            (
                "composite/sobjects",
                {
                    "POST": ("collections_create", lambda r: rest.collections_write(r, True)),
                    "PATCH": ("collections_update", lambda r: rest.collections_write(r, False)),
                    "DELETE": ("collections_delete", rest.collections_delete),
                },
            ),
            (
                r"composite/sobjects/(\w+)",
                {
                    "GET": ("collections_read", rest.collections_read),
                    "POST": ("collections_read", rest.collections_read),
                },
            ),
            ("composite", {"POST": ("composite", self.composite.handle)}),
            ("jobs/query", {"POST": ("bulk_query_create", bulk.query_create)}),
            (
                r"jobs/query/(\w+)",
                {
                    "GET": ("bulk_query_poll", bulk.query_get),
                    "PATCH": ("bulk_query_abort", bulk.query_patch),
                    "DELETE": ("bulk_query_delete", bulk.query_delete),
                },
            ),
            (r"jobs/query/(\w+)/results", {"GET": ("bulk_query_results", bulk.query_results)}),
            ("jobs/ingest", {"POST": ("bulk_ingest_create", bulk.ingest_create)}),
            (
                r"jobs/ingest/(\w+)",
                {
                    "GET": ("bulk_ingest_poll", bulk.ingest_get),
                    "PATCH": ("bulk_ingest_close", bulk.ingest_patch),
                    "DELETE": ("bulk_ingest_delete", bulk.ingest_delete),
                },
            ),
            (r"jobs/ingest/(\w+)/batches", {"PUT": ("bulk_ingest_upload", bulk.ingest_upload)}),
            (
                r"jobs/ingest/(\w+)/(?i:(successfulResults|failedResults|unprocessedRecords))",
                {"GET": ("bulk_ingest_results", bulk.ingest_results)},
            ),
        ]
        return [(re.compile(pattern + r"\Z"), methods) for pattern, methods in table]

    def route(self, method: str, subpath: str) -> Route | None:
        """(kind, handler) for a REST path after `/services/data/vXX.X/`, trailing slash removed."""
        for pattern, methods in self._routes:
            m = pattern.match(subpath)
            if not m:
                continue
            if method not in methods:
                allowed = ",".join(methods)

                def not_allowed(_req: Request, allowed: str = allowed) -> Response:
                    return Response.error(
                        405,
                        "METHOD_NOT_ALLOWED",
                        f"HTTP Method '{method}' not allowed. Allowed are {allowed}",
                    )

                return "unmatched", not_allowed
            kind, fn = methods[method]
            args = m.groups()
            return kind, (lambda req, fn=fn, args=args: fn(req, *args))
        return None

    # ------------------------------------------------------------------ request handling

    def handle(self, method: str, target: str, headers: dict[str, str], body: bytes) -> Response:
        """Answer one HTTP request (the transport calls this from its worker thread)."""
        path, _, query_string = target.partition("?")
        try:
            if path.startswith("/devorg"):
                return self._admin(method, path.rstrip("/"), query_string, body)
            if path.rstrip("/") == "/services/oauth2/token":
                return self._token(method, path, headers, body)
            if path.rstrip("/") == "/services/data":
                self.stats_counters.request("versions")
                return Response.json(200, self._versions())
            m = _VERSIONED.match(path)
            if m:
                return self._rest(
                    method, path, m.group(1), m.group(2) or "", query_string, headers, body
                )
            return Response.error(404, "NOT_FOUND", "The requested resource does not exist")
        except Exception:
            log.error(
                "dev org: unexpected error on %s %s\n%s", method, path, traceback.format_exc()
            )
            return Response.error(
                500, "UNKNOWN_EXCEPTION", "An unexpected error occurred in the dev org."
            )

    def _versions(self) -> list[dict[str, str]]:
        versions = [f"{v}.0" for v in range(int(MIN_API_VERSION), int(MAX_API_VERSION) + 1)]
        return [{"label": f"v{v}", "url": f"/services/data/v{v}", "version": v} for v in versions]

    def _fault(self, kind: str, path: str) -> Response | None:
        fault = self.faults.check(kind, path)
        if fault is None:
            return None
        self.stats_counters.fault()
        if fault.action == "slow":
            time.sleep(fault.delay_seconds)
            return None
        if fault.action == "drop":
            return Response(0, drop=True)
        if fault.action == "expire_session":
            self.sessions.expire_all()
            return Response.error(401, "INVALID_SESSION_ID", "Session expired or invalid")
        return Response.error(fault.status, fault.error_code, fault.message)

    def _record_fault(self, kind: str, path: str, record_id: str) -> SaveError | None:
        """The per-record error a `record_error` fault injects into this record's write."""
        fault = self.faults.check_record(kind, path, record_id)
        if fault is None:
            return None
        self.stats_counters.fault()
        return SaveError(fault.error_code, fault.message)

    def _token(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Response:
        self.stats_counters.request("token")
        faulted = self._fault("token", path)
        if faulted is not None:
            return faulted
        if method != "POST":
            return Response.json(
                400, {"error": "invalid_request", "error_description": "must use HTTP POST"}
            )
        authorization = {k.lower(): v for k, v in headers.items()}.get("authorization")
        try:
            return Response.json(200, self.tokens.handle(body, authorization))
        except OAuthError as exc:
            return Response.json(exc.status, exc.body())

    def _rest(
        self,
        method: str,
        path: str,
        version: str,
        subpath: str,
        query_string: str,
        headers: dict[str, str],
        body: bytes,
    ) -> Response:
        route = self.route(method, subpath.rstrip("/"))
        kind = route[0] if route else "unmatched"
        self.stats_counters.request(kind)
        response = self._rest_checked(route, method, path, version, query_string, headers, body)
        if not response.drop:
            response.headers["Sforce-Limit-Info"] = self.allocation.header()
        return response

    def _rest_checked(
        self,
        route: Route | None,
        method: str,
        path: str,
        version: str,
        query_string: str,
        headers: dict[str, str],
        body: bytes,
    ) -> Response:
        kind = route[0] if route else "unmatched"
        faulted = self._fault(kind, path)
        if faulted is not None:
            return faulted
        lower = {k.lower(): v for k, v in headers.items()}
        authorization = lower.get("authorization", "")
        scheme, _, token = authorization.partition(" ")
        if authorization and scheme.lower() not in ("bearer", "oauth"):
            self.stats_counters.reject("invalid_auth_header")
            return Response.error(401, "INVALID_AUTH_HEADER", "INVALID_HEADER_TYPE")
        session = self.sessions.lookup(token.strip()) if token.strip() else None
        if session is None:
            self.stats_counters.reject("invalid_session")
            return Response.error(401, "INVALID_SESSION_ID", "Session expired or invalid")
        if not MIN_API_VERSION <= float(version) <= MAX_API_VERSION or route is None:
            return Response.error(404, "NOT_FOUND", "The requested resource does not exist")
        if not self.allocation.try_consume():
            self.stats_counters.reject("request_limit_exceeded")
            return Response.error(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")
        self.stats_counters.api_call()
        req = Request(method, path, query_string, headers, body, session, version)
        try:
            return route[1](req)
        except RequestError as exc:
            return Response.from_request_error(exc)

    # ------------------------------------------------------------------ admin endpoints

    def _admin(self, method: str, path: str, query_string: str, body: bytes) -> Response:
        try:
            data = json.loads(body) if body.strip() else None
        except json.JSONDecodeError:
            return Response.json(400, {"error": "the body must be JSON"})
        parts = path.split("/")[2:]  # after "/devorg"
        try:
            return self._admin_dispatch(method, parts, data)
        except (KeyError, ValueError, TypeError, FaultSpecError) as exc:
            message = exc.args[0] if exc.args else str(exc)
            return Response.json(400, {"error": str(message)})

    def _admin_dispatch(self, method: str, parts: list[str], data: Any) -> Response:
        ok = Response.json
        match (method, parts):
            case ("GET", []):
                return ok(200, {"url": self.url, "api_version": self.api_version})
            case ("GET", ["stats"]):
                return ok(200, self.stats())
            case ("POST", ["stats", "reset"]):
                self.reset_stats()
                return ok(200, self.stats())
            case ("GET", ["faults"]):
                return ok(200, {"faults": self.faults.list()})
            case ("POST", ["faults"]):
                specs = data if isinstance(data, list) else [data]
                for spec in specs:
                    self.faults.add(spec)
                return ok(201, {"faults": self.faults.list()})
            case ("DELETE", ["faults"]):
                self.clear_faults()
                return ok(200, {"faults": []})
            case ("POST", ["sessions", "expire"]):
                return ok(200, {"expired": self.expire_sessions()})
            case ("GET", ["limits"]):
                return ok(200, self.stats()["api_usage"])
            case ("POST", ["limits"]):
                data = data or {}
                if "used" in data:
                    self.allocation.set(data.get("max"), None)
                    self.allocation.used = int(data["used"])
                else:
                    self.set_api_limit(data.get("max"), data.get("remaining"))
                return ok(200, self.stats()["api_usage"])
            case ("GET", ["records", sobject]):
                return ok(200, {"records": self.records(sobject)})
            case ("POST", ["records", sobject]):
                rows = data.get("records") if isinstance(data, dict) else data
                if not isinstance(rows, list):
                    raise ValueError('POST a JSON list of records (or {"records": [...]})')
                return ok(200, {"ids": self.put_records(sobject, rows)})
            case ("POST", ["undelete", sobject, record_id]):
                return ok(200, self.undelete(sobject, record_id))
            case ("POST", ["convert", lead_id]):
                return ok(200, self.convert_lead(lead_id, **(data or {})))
            case ("GET", ["assignment-rule"]):
                return ok(200, {"owner_id": self.assignment_rule_owner_id})
            case ("POST", ["assignment-rule"]):
                self.set_assignment_rule_owner((data or {}).get("owner_id"))
                return ok(200, {"owner_id": self.assignment_rule_owner_id})
        return Response.json(
            404, {"error": f"no admin endpoint {method} /devorg/{'/'.join(parts)}"}
        )


def _load_credentials(directory: Path) -> Credentials:
    """Credentials kept beside the keys, so a restart on the same directory keeps them."""
    path = directory / CREDENTIALS_FILE
    if path.exists():
        return Credentials(**json.loads(path.read_text()))
    creds = Credentials.generate()
    path.write_text(json.dumps(creds.__dict__, indent=2))
    path.chmod(0o600)
    return creds


# ---------------------------------------------------------------------- transport


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: requests reuses connections
    timeout = 300  # idle keep-alive connections are closed after this
    wbufsize = 64 * 1024  # headers and body leave in one write, not two small TLS records
    server: _TLSServer

    def do_GET(self) -> None:
        self._serve()

    do_POST = do_PATCH = do_PUT = do_DELETE = do_GET

    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _serve(self) -> None:
        started = time.monotonic()
        body = self._read_body()
        org = self.server.org
        response = org.handle(self.command, self.path, dict(self.headers.items()), body)
        if response.drop:
            self.close_connection = True
            return
        self.send_response(response.status)
        if response.content_type:
            self.send_header("Content-Type", response.content_type)
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        if response.body:
            self.wfile.write(response.body)
        if org.log_requests:
            elapsed = (time.monotonic() - started) * 1000
            log.info(
                "%s %s -> %s (%.0f ms)", self.command, self.path[:200], response.status, elapsed
            )

    def log_message(self, format: str, *args: Any) -> None:
        pass  # requests are logged in _serve when the org asks for it


class _TLSServer(ThreadingHTTPServer):
    """Threaded HTTPS: the TLS handshake runs in the worker thread, not in accept()."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], context: ssl.SSLContext, org: DevOrg) -> None:
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.ssl_context = context
        self.org = org
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, _RequestHandler)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        request.settimeout(30)
        # Without this, Nagle plus delayed ACKs add ~40 ms to every keep-alive round trip.
        request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            tls = self.ssl_context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            # e.g. a client that does not trust the CA aborts the handshake
            self.shutdown_request(request)
            return
        with self._connections_lock:
            self._connections.add(tls)
        try:
            self.finish_request(tls, client_address)
        except Exception:
            self.handle_error(tls, client_address)
        finally:
            with self._connections_lock:
                self._connections.discard(tls)
            self.shutdown_request(tls)

    def close_connections(self) -> None:
        """Close idle keep-alive connections so their threads end with the server."""
        with self._connections_lock:
            connections = list(self._connections)
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        exc = sys.exc_info()[1]
        if isinstance(exc, ConnectionError | ssl.SSLError | TimeoutError | OSError):
            return
        log.error("dev org: connection error from %s\n%s", client_address, traceback.format_exc())


# ---------------------------------------------------------------------- CLI


def serve(argv: list[str] | None = None) -> int:
    """`salesops devorg serve`: print `export SALESFORCE_...` lines, then serve until Ctrl-C."""
    parser = argparse.ArgumentParser(
        prog="salesops devorg serve",
        description="Serve the dev org (a local Salesforce-compatible HTTPS server).",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8443, help="0 picks a free port")
    parser.add_argument(
        "--data", type=Path, help="data directory (<SObject>.jsonl); kept across restarts"
    )
    parser.add_argument("--demo-leads", type=int, default=0, help="seed N synthetic leads")
    parser.add_argument("--seed", type=int, default=7, help="synthetic data seed")
    parser.add_argument(
        "--api-max", type=int, default=DEFAULT_DAILY_API_MAX, help="daily API allocation"
    )
    parser.add_argument(
        "--assignment-owner", help="owner Id the emulated Lead assignment rule sets"
    )
    parser.add_argument("--quiet", action="store_true", help="do not log requests")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)

    records = None
    if args.demo_leads:
        if args.data is not None and any(args.data.glob("*.jsonl")):
            print(f"# {args.data} already holds data; --demo-leads ignored", file=sys.stderr)
        else:
            from salesops_dagster.devorg.synthetic import generate

            records = generate(args.demo_leads, args.seed)
    org = DevOrg(
        data_dir=args.data,
        port=args.port,
        host=args.host,
        records=records,
        daily_api_max=args.api_max,
        assignment_rule_owner_id=args.assignment_owner,
        log_requests=not args.quiet,
    )
    org.start()
    for name, value in org.env().items():
        print(f"export {name}={shlex.quote(value)}")
    sys.stdout.flush()
    counts = ", ".join(f"{k} {v}" for k, v in sorted(org.store.counts().items()))
    print(f"# dev org serving at {org.url}: {counts}", file=sys.stderr)
    print(f"# stats: curl --cacert {org.ca_bundle} {org.url}/devorg/stats", file=sys.stderr)

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        org.stop()
    return 0

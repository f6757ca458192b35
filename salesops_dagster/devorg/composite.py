"""`POST /services/data/vXX.X/composite`: up to 25 subrequests in one API call (§5).

Subrequests run in order through the same REST handlers (no extra API calls are counted), may
reference earlier results as `@{referenceId.path}` (e.g. `@{newLead.id}`,
`@{q1.records[0].Id}`), and with `allOrNone` roll back together.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from salesops_dagster.devorg.dml import RequestError
from salesops_dagster.devorg.messages import Request, Response
from salesops_dagster.devorg.stats import Stats
from salesops_dagster.devorg.store import Store

MAX_SUBREQUESTS = 25
MAX_QUERY_OR_COLLECTION = 5
_QUERY_OR_COLLECTION_KINDS = {"query", "query_all", "query_more"}
_REFERENCE = re.compile(r"@\{([A-Za-z0-9_]+)\.([^}]+)\}")
_REFERENCE_ID = re.compile(r"^[A-Za-z0-9_]+$")
_PATH_TOKEN = re.compile(r"([^.\[\]]+)|\[(\d+)\]")
_URL_PREFIX = re.compile(r"^/services/data/v(\d+\.\d)/(.*)$")
ROLLED_BACK_MESSAGE = (
    "The transaction was rolled back since another operation in the same transaction failed."
)

# (method, path after the version) -> (kind, handler) or None; the handler returns a Response.
Router = Callable[[str, str], tuple[str, Callable[[Request], Response]] | None]


class _Unresolved(Exception):
    def __init__(self, expression: str, reference_id: str) -> None:
        super().__init__(expression)
        self.expression = expression
        self.reference_id = reference_id


class CompositeApi:
    def __init__(self, store: Store, stats: Stats, router: Router) -> None:
        self.store = store
        self.stats = stats
        self.router = router

    def handle(self, req: Request) -> Response:
        body = req.json()
        subrequests = body.get("compositeRequest") if isinstance(body, dict) else None
        if not isinstance(subrequests, list) or not subrequests:
            raise RequestError(400, "INVALID_INPUT", "compositeRequest must be a non-empty array")
        if len(subrequests) > MAX_SUBREQUESTS:
            raise RequestError(
                400,
                "INVALID_INPUT",
                f"Composite requests can contain at most {MAX_SUBREQUESTS} subrequests",
            )
        planned = [self._plan(sub) for sub in subrequests]
        ids = [p[0] for p in planned]
        if len(set(ids)) != len(ids):
            raise RequestError(400, "INVALID_INPUT", "Duplicate referenceId in compositeRequest")
        heavy = sum(
            1
            for _, _, kind, _ in planned
            if kind in _QUERY_OR_COLLECTION_KINDS or kind.startswith("collections_")
        )
        if heavy > MAX_QUERY_OR_COLLECTION:
            raise RequestError(
                400,
                "INVALID_INPUT",
                f"Composite requests can contain at most {MAX_QUERY_OR_COLLECTION} query or "
                "sObject Collections subrequests",
            )
        all_or_none = bool(body.get("allOrNone", False))
        results: dict[str, Any] = {}
        out: list[dict[str, Any]] = []
        failed_index: int | None = None
        with self.store.transaction():
            for index, (ref, sub, _kind, _) in enumerate(planned):
                if all_or_none and failed_index is not None:
                    out.append(_halted(ref, ROLLED_BACK_MESSAGE))
                    continue
                item = self._run(req, ref, sub, results)
                out.append(item)
                if item["httpStatusCode"] >= 400:
                    failed_index = index if failed_index is None else failed_index
                    continue
                results[ref] = item["body"]
            if all_or_none and failed_index is not None:
                self.store.rollback()
                out = [
                    item if i == failed_index else _halted(item["referenceId"], ROLLED_BACK_MESSAGE)
                    for i, item in enumerate(out)
                ]
        return Response.json(200, {"compositeResponse": out})

    def _plan(self, sub: Any) -> tuple[str, dict[str, Any], str, str]:
        """Validate one subrequest's envelope: (referenceId, subrequest, kind, url path)."""
        if not isinstance(sub, dict):
            raise RequestError(400, "INVALID_INPUT", "Each subrequest must be an object")
        ref, method, url = sub.get("referenceId"), sub.get("method"), sub.get("url")
        if not isinstance(ref, str) or not _REFERENCE_ID.match(ref):
            raise RequestError(400, "INVALID_INPUT", "Each subrequest needs a valid referenceId")
        if not isinstance(method, str) or method.upper() not in (
            "GET",
            "POST",
            "PATCH",
            "PUT",
            "DELETE",
        ):
            raise RequestError(400, "INVALID_INPUT", f"Invalid method for subrequest {ref}")
        if not isinstance(url, str):
            raise RequestError(400, "INVALID_INPUT", f"Missing url for subrequest {ref}")
        m = _URL_PREFIX.match(urlsplit(url).path)
        if not m:
            raise RequestError(
                400,
                "INVALID_INPUT",
                f"The url of subrequest {ref} must begin with /services/data/vXX.X/",
            )
        route = self.router(method.upper(), m.group(2).rstrip("/"))
        kind = route[0] if route else "unmatched"
        if kind == "composite" or kind.startswith("bulk_"):
            raise RequestError(
                400,
                "INVALID_INPUT",
                f"Subrequest {ref}: this resource is not supported in composite",
            )
        return ref, sub, kind, m.group(2)

    def _run(
        self, outer: Request, ref: str, sub: dict[str, Any], results: dict[str, Any]
    ) -> dict[str, Any]:
        try:
            url = _resolve(sub["url"], results, in_url=True)
            body = _resolve(sub.get("body"), results)
        except _Unresolved as exc:
            return _halted(
                ref,
                f"Invalid reference specified. No value for {exc.expression} found in "
                f"{exc.reference_id}. Provided referenceId ({exc.reference_id}) doesn't exist "
                "or has no value at that path.",
            )
        parts = urlsplit(url)
        m = _URL_PREFIX.match(parts.path)
        assert m is not None
        method = sub["method"].upper()
        headers = dict(outer.headers)
        if isinstance(sub.get("httpHeaders"), dict):
            headers.update({str(k): str(v) for k, v in sub["httpHeaders"].items()})
        request = Request(
            method,
            parts.path,
            parts.query,
            headers,
            json.dumps(body).encode() if body is not None else b"",
            outer.session,
            m.group(1),
        )
        route = self.router(method, m.group(2).rstrip("/"))
        if route is None:
            response = Response.error(404, "NOT_FOUND", "The requested resource does not exist")
            kind = "unmatched"
        else:
            kind, handler = route
            try:
                response = handler(request)
            except RequestError as exc:
                response = Response.from_request_error(exc)
        self.stats.request(kind, subrequest=True)
        sub_headers = {k: v for k, v in response.headers.items() if k == "Location"}
        return {
            "body": response.data,
            "httpHeaders": sub_headers,
            "httpStatusCode": response.status,
            "referenceId": ref,
        }


def _halted(ref: str, message: str) -> dict[str, Any]:
    return {
        "body": [{"errorCode": "PROCESSING_HALTED", "message": message}],
        "httpHeaders": {},
        "httpStatusCode": 400,
        "referenceId": ref,
    }


def _lookup(results: dict[str, Any], ref: str, path: str) -> Any:
    if ref not in results:
        raise _Unresolved(f"{ref}.{path}", ref)
    value = results[ref]
    for name, index in _PATH_TOKEN.findall(path):
        try:
            value = value[int(index)] if index else value[name]
        except (KeyError, IndexError, TypeError) as exc:
            raise _Unresolved(f"{ref}.{path}", ref) from exc
    if value is None:
        raise _Unresolved(f"{ref}.{path}", ref)
    return value


def _resolve(value: Any, results: dict[str, Any], in_url: bool = False) -> Any:
    """Substitute `@{ref.path}` references (a whole-string reference keeps the value's type)."""
    if isinstance(value, str):
        whole = _REFERENCE.fullmatch(value)
        if whole and not in_url:
            return _lookup(results, whole.group(1), whole.group(2))
        return _REFERENCE.sub(lambda m: str(_lookup(results, m.group(1), m.group(2))), value)
    if isinstance(value, list):
        return [_resolve(v, results) for v in value]
    if isinstance(value, dict):
        return {k: _resolve(v, results) for k, v in value.items()}
    return value

"""Transport-independent request and response objects of the dev org.

The HTTPS handler builds a `Request` from the socket; composite subrequests build one from JSON.
Handlers return a `Response`; JSON responses keep the Python value (`data`) so a composite batch
can embed a subrequest's body without parsing it back.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from salesops_dagster.devorg.auth import Session
from salesops_dagster.devorg.dml import RequestError

JSON_TYPE = "application/json;charset=UTF-8"
CSV_TYPE = "text/csv"


@dataclass
class Request:
    method: str
    path: str
    query_string: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
    session: Session | None = None
    api_version: str = ""

    def __post_init__(self) -> None:
        # Form decoding: `+` is a space, as requests encodes `params` (SOQL's q included).
        self.params = {k: v[0] for k, v in parse_qs(self.query_string, True).items()}
        self._lower = {k.lower(): v for k, v in self.headers.items()}

    def header(self, name: str) -> str | None:
        return self._lower.get(name.lower())

    def json(self) -> Any:
        """The parsed JSON body; JSON_PARSER_ERROR (400) when it is not JSON."""
        if not self.body.strip():
            raise RequestError(400, "JSON_PARSER_ERROR", "The request body is empty.")
        try:
            return json.loads(self.body)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise RequestError(
                400,
                "JSON_PARSER_ERROR",
                f"Unexpected character: {exc.msg} at [line:{exc.lineno}]"
                if isinstance(exc, json.JSONDecodeError)
                else "Invalid UTF-8 in the request body",
            ) from exc

    @property
    def user_id(self) -> str:
        assert self.session is not None
        return self.session.user_id


@dataclass
class Response:
    status: int
    body: bytes = b""
    content_type: str | None = JSON_TYPE
    headers: dict[str, str] = field(default_factory=dict)
    data: Any = None
    drop: bool = False

    @classmethod
    def json(cls, status: int, data: Any, headers: dict[str, str] | None = None) -> Response:
        body = json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        return cls(status, body, JSON_TYPE, dict(headers or {}), data)

    @classmethod
    def error(
        cls, status: int, error_code: str, message: str, fields: list[str] | None = None
    ) -> Response:
        """The REST error envelope: always a JSON array."""
        item: dict[str, Any] = {"message": message, "errorCode": error_code}
        if fields is not None:
            item["fields"] = fields
        return cls.json(status, [item])

    @classmethod
    def empty(cls, status: int = 204, headers: dict[str, str] | None = None) -> Response:
        return cls(status, b"", None, dict(headers or {}))

    @classmethod
    def from_request_error(cls, exc: RequestError) -> Response:
        return cls.json(exc.status, exc.body())

    @classmethod
    def csv(cls, text: str, headers: dict[str, str] | None = None) -> Response:
        return cls(200, text.encode("utf-8"), CSV_TYPE, dict(headers or {}))

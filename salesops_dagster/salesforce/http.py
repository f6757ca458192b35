"""The one `requests.Session` every Salesforce call goes through: trust, retries, API usage.

Trust: `REQUESTS_CA_BUNDLE` / `CURL_CA_BUNDLE` in the environment override `Session.verify` when
`trust_env` is on, which would silently replace the configured CA. The session therefore runs with
`trust_env = False`, takes proxies from the environment explicitly, and verifies against the public
CAs plus `SALESFORCE_CA_BUNDLE` (the dev org's self-signed CA) when one is configured.

Retries: 502/503/504 and connection errors, bounded, exponential backoff with jitter, honouring
`Retry-After`. 403 (REQUEST_LIMIT_EXCEEDED) and 401 are never retried here.
"""

from __future__ import annotations

import hashlib
import re
import tempfile
import threading
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import certifi
import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

_LIMIT_INFO = re.compile(r"api-usage=(\d+)/(\d+)")


@dataclass
class ApiUsage:
    """The org's daily allocation as of the latest response, and the calls this client made."""

    used: int | None = None
    limit: int | None = None
    calls: int = 0  # REST/Bulk calls answered by the instance (token requests are not counted)

    @property
    def remaining(self) -> int | None:
        return None if self.used is None or self.limit is None else self.limit - self.used


class UsageTracker:
    """A response hook that reads `Sforce-Limit-Info` and counts API calls, thread-safely."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.usage = ApiUsage()

    def __call__(self, response: requests.Response, *args: object, **kwargs: object) -> None:
        if "/services/data/" not in response.url:
            return
        with self._lock:
            self.usage.calls += 1
            match = _LIMIT_INFO.search(response.headers.get("Sforce-Limit-Info", ""))
            if match:
                self.usage.used, self.usage.limit = int(match.group(1)), int(match.group(2))


def trust_bundle(extra_ca: str | None) -> str:
    """The CA file to verify against: the public CAs, plus `extra_ca` appended when given."""
    if not extra_ca:
        return certifi.where()
    extra = Path(extra_ca).read_bytes()
    public = Path(certifi.where()).read_bytes()
    digest = hashlib.sha256(public + extra).hexdigest()[:16]
    path = Path(tempfile.gettempdir()) / f"salesops-ca-{digest}.pem"
    if not path.exists():
        tmp = path.with_suffix(f".{threading.get_ident()}.tmp")
        tmp.write_bytes(public + b"\n" + extra)
        tmp.replace(path)
    return str(path)


def retry_policy(total: int = 4, backoff: float = 0.5) -> Retry:
    return Retry(
        total=total,
        connect=total,
        read=total,
        status=total,
        status_forcelist=(502, 503, 504),
        # Our writes set absolute values (idempotent), so retrying any method is safe.
        allowed_methods=None,
        backoff_factor=backoff,
        backoff_jitter=backoff,
        respect_retry_after_header=True,
        raise_on_status=False,
    )


def build_session(
    ca_bundle: str | None,
    *,
    retries: int = 4,
    backoff: float = 0.5,
    auto_assign: bool = False,
) -> tuple[requests.Session, UsageTracker]:
    session = requests.Session()
    session.trust_env = False
    session.proxies.update(urllib.request.getproxies())
    session.verify = trust_bundle(ca_bundle)
    adapter = HTTPAdapter(max_retries=retry_policy(retries, backoff), pool_maxsize=8)
    session.mount("https://", adapter)
    # On the session rather than per call: simple-salesforce drops per-call headers when it
    # retries, and a Lead write without it would let the org's assignment rules move the owner.
    session.headers["Sforce-Auto-Assign"] = "TRUE" if auto_assign else "FALSE"
    tracker = UsageTracker()
    session.hooks["response"].append(tracker)
    return session, tracker

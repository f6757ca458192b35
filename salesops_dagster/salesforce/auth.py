"""OAuth 2.0 logins against `SALESFORCE_LOGIN_URL`: JWT bearer, password, client credentials.

simple-salesforce hard-codes `https://<domain>.salesforce.com` for its own logins, so the token is
obtained here and handed to it as `session_id` + `instance_url`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

import jwt
import requests

from salesops_dagster.salesforce.config import SalesforceConfig
from salesops_dagster.salesforce.errors import SalesforceAuthError

JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"


@dataclass(frozen=True)
class Token:
    access_token: str = field(repr=False)
    instance_url: str


def jwt_audience(login_url: str) -> str:
    """Salesforce wants the login host as `aud`, even when the token is requested from My Domain:
    production and My Domain logins use login.salesforce.com, sandboxes test.salesforce.com.
    Any other host (the dev org, a proxy) is its own audience."""
    host = urlparse(login_url).hostname or ""
    if host == "test.salesforce.com" or ".sandbox.my.salesforce.com" in host:
        return "https://test.salesforce.com"
    if host.endswith(".salesforce.com"):
        return "https://login.salesforce.com"
    return login_url.rstrip("/")


def _jwt_assertion(config: SalesforceConfig) -> str:
    key = Path(config.private_key_file or "").read_bytes()
    claims = {
        "iss": config.client_id,
        "sub": config.username,
        "aud": jwt_audience(config.login_url),
        "exp": int(time.time()) + 180,
    }
    return jwt.encode(claims, key, algorithm="RS256")


def request_token(
    config: SalesforceConfig, session: requests.Session, timeout: float = 30.0
) -> Token:
    """Log in with the flow the configuration selects and return the access token."""
    flow = config.flow
    url = config.login_url.rstrip("/") + "/services/oauth2/token"
    auth = None
    if flow == "jwt":
        data = {"grant_type": JWT_GRANT, "assertion": _jwt_assertion(config)}
    elif flow == "password":
        data = {
            "grant_type": "password",
            "client_id": config.client_id,
            "client_secret": config.client_secret,
            "username": config.username,
            "password": (config.password or "") + (config.security_token or ""),
        }
    else:
        data = {"grant_type": "client_credentials"}
        auth = (config.client_id or "", config.client_secret or "")
    response = session.post(url, data=data, auth=auth, timeout=timeout)
    try:
        body = response.json()
    except ValueError:
        body = None
    if response.status_code != 200 or not isinstance(body, dict) or "access_token" not in body:
        error = (
            body.get("error", str(response.status_code))
            if isinstance(body, dict)
            else str(response.status_code)
        )
        description = (
            body.get("error_description", "") if isinstance(body, dict) else response.text[:200]
        )
        raise SalesforceAuthError(flow, error, description)
    return Token(access_token=body["access_token"], instance_url=body["instance_url"].rstrip("/"))

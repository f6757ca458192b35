"""OAuth 2.0 token endpoint and sessions of the dev org (SALESFORCE_REST.md §1, §7.4).

Three grants: JWT bearer (verified with the connected app's RSA public key via PyJWT), username-
password, and client credentials (Basic header or body). Sessions are opaque `00D...!...` tokens
with an expiry; `expire_all()` is the test hook that makes the INVALID_SESSION_ID path testable.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

import jwt

# The API logins' user; the synthetic roster's Integration User carries this username, so writes
# made through the dev org are stamped with a User the data set knows.
INTEGRATION_USERNAME = "integration@salesops.devorg"

JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
STANDARD_AUDIENCES = ("https://login.salesforce.com", "https://test.salesforce.com")


@dataclass(frozen=True)
class Credentials:
    """The dev org's connected app and integration user."""

    client_id: str
    client_secret: str
    username: str
    password: str
    security_token: str = ""

    @classmethod
    def generate(cls, username: str = INTEGRATION_USERNAME) -> Credentials:
        return cls(
            client_id="3MVG9devorg" + secrets.token_urlsafe(24).replace("-", "A").replace("_", "B"),
            client_secret=secrets.token_hex(32).upper(),
            username=username,
            password=secrets.token_urlsafe(18),
        )


class OAuthError(Exception):
    """A token endpoint failure: JSON object `{"error", "error_description"}`, status 400."""

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(f"{error}: {description}")
        self.error = error
        self.description = description
        self.status = status

    def body(self) -> dict[str, str]:
        return {"error": self.error, "error_description": self.description}


@dataclass
class Session:
    token: str
    user_id: str
    username: str
    expires_at: float


@dataclass
class SessionRegistry:
    """Issued access tokens; thread-safe."""

    org_id: str
    lifetime_seconds: float = 2 * 3600
    _sessions: dict[str, Session] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def issue(self, user_id: str, username: str) -> Session:
        # Real tokens are the 15-character org Id, "!", and an opaque secret.
        token = f"{self.org_id[:15]}!AQ0AQ{secrets.token_urlsafe(72)}"
        session = Session(token, user_id, username, time.monotonic() + self.lifetime_seconds)
        with self._lock:
            self._sessions[token] = session
        return session

    def lookup(self, token: str) -> Session | None:
        with self._lock:
            session = self._sessions.get(token)
            if session is None:
                return None
            if session.expires_at <= time.monotonic():
                del self._sessions[token]
                return None
            return session

    def expire_all(self) -> int:
        with self._lock:
            n = len(self._sessions)
            self._sessions.clear()
            return n

    def __len__(self) -> int:
        return len(self._sessions)


class TokenService:
    """Handles `POST /services/oauth2/token` bodies; see SALESFORCE_REST.md §1."""

    def __init__(
        self,
        credentials: Credentials,
        sessions: SessionRegistry,
        jwt_public_key_pem: bytes,
        login_url: Callable[[], str],
        user_for: Callable[[str], tuple[str, bool] | None],
        integration_user_id: str,
    ) -> None:
        """`login_url()` is the server's own URL (a valid JWT audience); `user_for(username)`
        returns (user Id, is active) for a known username, else None."""
        self.credentials = credentials
        self.sessions = sessions
        self.jwt_public_key = jwt_public_key_pem
        self._login_url = login_url
        self._user_for = user_for
        self.integration_user_id = integration_user_id

    def handle(self, body: bytes, authorization: str | None) -> dict[str, Any]:
        """The token response for a form-encoded request body; raises OAuthError."""
        form = {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
        grant = form.get("grant_type", "")
        if grant == JWT_GRANT:
            return self._jwt(form)
        if grant == "password":
            return self._password(form)
        if grant == "client_credentials":
            return self._client_credentials(form, authorization)
        raise OAuthError("unsupported_grant_type", "grant type not supported")

    # ------------------------------------------------------------------ grants

    def _audiences(self) -> list[str]:
        own = self._login_url().rstrip("/")
        variants = {own, own.replace("127.0.0.1", "localhost")}
        return [*STANDARD_AUDIENCES, *sorted(variants), *(v + "/" for v in sorted(variants))]

    def _jwt(self, form: dict[str, str]) -> dict[str, Any]:
        assertion = form.get("assertion")
        if not assertion:
            raise OAuthError("invalid_grant", "invalid assertion")
        try:
            unverified = jwt.decode(assertion, options={"verify_signature": False})
        except jwt.PyJWTError as exc:
            raise OAuthError("invalid_grant", "invalid assertion") from exc
        if unverified.get("iss") != self.credentials.client_id:
            raise OAuthError("invalid_client_id", "client identifier invalid")
        try:
            # simple-salesforce sends `exp` as a digit string; PyJWT's int() accepts that.
            claims = jwt.decode(
                assertion,
                self.jwt_public_key,
                algorithms=["RS256"],
                audience=self._audiences(),
                issuer=self.credentials.client_id,
                options={"require": ["exp", "iss", "sub", "aud"]},
                leeway=5,
            )
        except jwt.InvalidAudienceError as exc:
            raise OAuthError("invalid_grant", "audience is invalid") from exc
        except jwt.PyJWTError as exc:
            raise OAuthError("invalid_grant", "invalid assertion") from exc
        exp = int(claims["exp"])
        if exp > time.time() + 3600:
            raise OAuthError("invalid_grant", "invalid assertion")
        user = self._user_for(str(claims["sub"]))
        if user is None or not user[1]:
            raise OAuthError("invalid_grant", "user hasn't approved this consumer")
        session = self.sessions.issue(user[0], str(claims["sub"]))
        return {
            "access_token": session.token,
            "scope": "api id web",
            "instance_url": self._login_url(),
            "id": self._identity_url("https://login.salesforce.com", user[0]),
            "token_type": "Bearer",
        }

    def _password(self, form: dict[str, str]) -> dict[str, Any]:
        creds = self.credentials
        if form.get("client_id") != creds.client_id:
            raise OAuthError("invalid_client_id", "client identifier invalid")
        if not _same(form.get("client_secret", ""), creds.client_secret):
            raise OAuthError("invalid_client", "invalid client credentials")
        password = form.get("password", "")
        accepted = {creds.password, creds.password + creds.security_token}
        if form.get("username") != creds.username or not any(_same(password, p) for p in accepted):
            raise OAuthError("invalid_grant", "authentication failure")
        session = self.sessions.issue(self.integration_user_id, creds.username)
        issued_at = str(int(time.time() * 1000))
        identity = self._identity_url("https://login.salesforce.com", self.integration_user_id)
        return {
            "access_token": session.token,
            "instance_url": self._login_url(),
            "id": identity,
            "token_type": "Bearer",
            "issued_at": issued_at,
            "signature": self._signature(identity, issued_at),
        }

    def _client_credentials(
        self, form: dict[str, str], authorization: str | None
    ) -> dict[str, Any]:
        client_id, client_secret = form.get("client_id"), form.get("client_secret")
        if authorization and authorization.lower().startswith("basic "):
            try:
                decoded = base64.b64decode(authorization[6:].strip(), validate=True).decode()
                client_id, _, client_secret = decoded.partition(":")
            except (binascii.Error, UnicodeDecodeError) as exc:
                raise OAuthError("invalid_client", "invalid client credentials") from exc
        if client_id != self.credentials.client_id:
            raise OAuthError("invalid_client_id", "client identifier invalid")
        if not _same(client_secret or "", self.credentials.client_secret):
            raise OAuthError("invalid_client", "invalid client credentials")
        session = self.sessions.issue(self.integration_user_id, self.credentials.username)
        issued_at = str(int(time.time() * 1000))
        identity = self._identity_url(self._login_url(), self.integration_user_id)
        return {
            "access_token": session.token,
            "signature": self._signature(identity, issued_at),
            "scope": "api",
            "instance_url": self._login_url(),
            "id": identity,
            "token_type": "Bearer",
            "issued_at": issued_at,
        }

    # ------------------------------------------------------------------ helpers

    def _identity_url(self, base: str, user_id: str) -> str:
        return f"{base}/id/{self.sessions.org_id}/{user_id}"

    def _signature(self, identity: str, issued_at: str) -> str:
        digest = hmac.new(
            self.credentials.client_secret.encode(), (identity + issued_at).encode(), hashlib.sha256
        ).digest()
        return base64.b64encode(digest).decode()


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())

"""Salesforce connection settings, read from the environment (secrets only ever come from there)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

from salesops_dagster.salesforce.errors import SalesforceConfigError

DEFAULT_LOGIN_URL = "https://login.salesforce.com"
DEFAULT_API_VERSION = "62.0"


@dataclass(frozen=True)
class SalesforceConfig:
    login_url: str = DEFAULT_LOGIN_URL
    client_id: str | None = None
    client_secret: str | None = field(default=None, repr=False)
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    security_token: str | None = field(default=None, repr=False)
    private_key_file: str | None = None
    ca_bundle: str | None = None
    api_version: str = DEFAULT_API_VERSION

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> SalesforceConfig:
        env = os.environ if env is None else env

        def get(name: str) -> str | None:
            value = env.get(name, "").strip()
            return value or None

        return cls(
            login_url=get("SALESFORCE_LOGIN_URL") or DEFAULT_LOGIN_URL,
            client_id=get("SALESFORCE_CLIENT_ID"),
            client_secret=get("SALESFORCE_CLIENT_SECRET"),
            username=get("SALESFORCE_USERNAME"),
            password=get("SALESFORCE_PASSWORD"),
            security_token=get("SALESFORCE_SECURITY_TOKEN"),
            private_key_file=get("SALESFORCE_PRIVATE_KEY_FILE"),
            ca_bundle=get("SALESFORCE_CA_BUNDLE"),
            api_version=get("SALESFORCE_API_VERSION") or DEFAULT_API_VERSION,
        )

    @property
    def flow(self) -> str:
        """Which OAuth flow these settings select: JWT bearer, then password, then client
        credentials (the order of preference for an unattended integration user)."""
        if self.username and self.private_key_file:
            return "jwt"
        if self.username and self.password:
            return "password"
        if self.client_secret:
            return "client_credentials"
        raise SalesforceConfigError(
            "no Salesforce credentials: set SALESFORCE_USERNAME + SALESFORCE_PRIVATE_KEY_FILE "
            "(JWT), "
            "SALESFORCE_USERNAME + SALESFORCE_PASSWORD (password flow) or SALESFORCE_CLIENT_SECRET "
            "(client credentials), each with SALESFORCE_CLIENT_ID"
        )

    def validate(self) -> None:
        """Raise SalesforceConfigError naming the first setting that cannot work."""
        parsed = urlparse(self.login_url)
        if parsed.scheme != "https" or not parsed.hostname:
            raise SalesforceConfigError(
                f"SALESFORCE_LOGIN_URL must be an https:// URL, got {self.login_url!r}"
            )
        if not self.client_id:
            raise SalesforceConfigError("SALESFORCE_CLIENT_ID is required for every OAuth flow")
        flow = self.flow
        if flow == "password" and not self.client_secret:
            raise SalesforceConfigError("the password flow needs SALESFORCE_CLIENT_SECRET too")
        if flow == "jwt" and not Path(self.private_key_file or "").is_file():
            raise SalesforceConfigError(
                f"SALESFORCE_PRIVATE_KEY_FILE {self.private_key_file!r} is not a readable file"
            )
        if self.ca_bundle and not Path(self.ca_bundle).is_file():
            raise SalesforceConfigError(f"SALESFORCE_CA_BUNDLE {self.ca_bundle!r} is not a file")
        try:
            float(self.api_version)
        except ValueError:
            raise SalesforceConfigError(
                f"SALESFORCE_API_VERSION must look like '62.0', got {self.api_version!r}"
            ) from None

"""Exceptions named after what Salesforce said, so callers can tell a retry from a stop."""

from __future__ import annotations


class SalesforceError(Exception):
    """Base class for every Salesforce failure this project raises."""


class SalesforceConfigError(SalesforceError):
    """The configuration cannot work (a missing or contradictory setting); names the setting."""


class SalesforceAuthError(SalesforceError):
    """The token endpoint refused the login (OAuth `error` and `error_description`)."""

    def __init__(self, flow: str, error: str, description: str) -> None:
        self.flow, self.error, self.description = flow, error, description
        super().__init__(f"Salesforce {flow} login failed: {error}: {description}")


class SessionExpiredAgain(SalesforceError):
    """The session was refused again right after a fresh login: looping would not help."""


class ApiLimitExceeded(SalesforceError):
    """REQUEST_LIMIT_EXCEEDED: the org's API allocation is spent. Never retried automatically."""


class ApiBudgetReserveReached(SalesforceError):
    """Our own stop: the org's remaining daily allocation fell under the configured reserve."""

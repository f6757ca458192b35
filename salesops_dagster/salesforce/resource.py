"""The Dagster resource that hands assets and sensors a `SalesforceClient`."""

from __future__ import annotations

import dagster as dg
from pydantic import Field

from salesops_dagster.salesforce.client import SalesforceClient
from salesops_dagster.salesforce.config import SalesforceConfig


class SalesforceResource(dg.ConfigurableResource):
    """Salesforce over REST and Bulk API 2.0.

    Credentials and endpoints come only from the process environment (`SALESFORCE_*`, see the
    README), read when a client is made: they never enter run config, metadata or logs. The
    fields here are the non-secret knobs.
    """

    retries: int = Field(default=4, description="Retries for 502/503/504 and connection errors.")
    backoff_seconds: float = Field(default=0.5, description="Base of the exponential backoff.")
    timeout_seconds: float = Field(default=120.0, description="Timeout of one HTTP request.")
    bulk_poll_seconds: float = Field(default=2.0, description="Bulk API 2.0 job poll interval.")

    def client(self) -> SalesforceClient:
        """A new client (log-in happens on first use). Create one per run or sensor tick."""
        return SalesforceClient(
            SalesforceConfig.from_env(),
            retries=self.retries,
            backoff=self.backoff_seconds,
            timeout=self.timeout_seconds,
            bulk_poll_seconds=self.bulk_poll_seconds,
        )

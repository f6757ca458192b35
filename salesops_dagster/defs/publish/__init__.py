"""Publish: write results back to Salesforce behind the blocking checks."""

import dagster as dg

from .routing import lead_owner_publish, owner_writes_without_permanent_failures

defs = dg.Definitions(
    assets=[lead_owner_publish], asset_checks=[owner_writes_without_permanent_failures]
)

"""Publish: write results back to Salesforce behind the blocking checks."""

import dagster as dg

from .first_response import (
    first_response_writes_without_permanent_failures,
    lead_first_response_publish,
)
from .routing import lead_owner_publish, owner_writes_without_permanent_failures

defs = dg.Definitions(
    assets=[lead_owner_publish, lead_first_response_publish],
    asset_checks=[
        owner_writes_without_permanent_failures,
        first_response_writes_without_permanent_failures,
    ],
)

"""Ingest: raw Salesforce objects into the warehouse, the change sensor."""

import dagster as dg

from .assets import salesforce_raw
from .sensor import salesforce_change_sensor

defs = dg.Definitions(assets=[salesforce_raw], sensors=[salesforce_change_sensor])

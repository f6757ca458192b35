"""Routing: decisions from the versioned policy, their checks, the backtest."""

import dagster as dg

from . import checks
from .assets import lead_routing_decision, routing_backtest

defs = dg.Definitions(
    assets=[lead_routing_decision, routing_backtest],
    asset_checks=dg.load_asset_checks_from_modules([checks]),
)

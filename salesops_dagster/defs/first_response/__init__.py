"""Time to first response: the mart and its checks."""

import dagster as dg

from .assets import lead_first_response
from .checks import ALL

defs = dg.Definitions(assets=[lead_first_response], asset_checks=ALL)

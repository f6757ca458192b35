"""Checks on the first responses; the blocking ones guard the write-back."""

import dagster as dg

from salesops_dagster.first_response import checks
from salesops_dagster.first_response.publish import plan_first_response_writes
from salesops_dagster.warehouse.resource import WarehouseResource

from ..results import check_result
from .assets import lead_first_response

# No automation_condition on these checks: without one they ride along with every run of their
# asset (sensor, UI, `salesops sync`), so each materialisation is checked in its own run. With
# their own `any_deps_updated()` they were re-requested on the tick after any in-process run
# (those record no check selection), and as "will be requested" they satisfied the publish's
# `all_deps_blocking_checks_passed`: a failed check still got the publish requested.


def _check(name: str, what: str, fn, doc: str):
    @dg.asset_check(
        asset=lead_first_response,
        name=name,
        blocking=True,
        description=doc,
    )
    def _run(warehouse: WarehouseResource) -> dg.AssetCheckResult:
        with warehouse.get_connection() as con:
            return check_result(fn(con), what)

    return _run


no_negative_ttfr = _check(
    "no_negative_ttfr",
    "leads with a negative TTFR",
    checks.negative_ttfr,
    "No lead has a negative time to first response.",
)
no_response_before_creation = _check(
    "no_response_before_creation",
    "leads answered before they existed",
    checks.response_before_creation,
    "No first response is dated before its lead's CreatedDate.",
)
one_row_per_lead = _check(
    "one_row_per_lead",
    "leads with more than one row",
    checks.one_row_per_lead,
    "salesops.lead_first_response holds exactly one row per lead.",
)
responders_resolvable = _check(
    "responders_resolvable",
    "responders that are neither a User Id nor an address",
    checks.unresolvable_responders,
    "Every responder is a known User Id or an email address.",
)
no_write_moves_a_value_later = _check(
    "no_write_moves_a_value_later",
    "planned writes that would move a lead's value later",
    lambda con: checks.planned_writes_move_later(con, plan_first_response_writes(con)),
    "No planned write would move First_Response_At__c later than what Salesforce holds (the "
    "never-later rule); a later computed value is simply not planned, which is not a failure.",
)

ALL = [
    no_negative_ttfr,
    no_response_before_creation,
    one_row_per_lead,
    responders_resolvable,
    no_write_moves_a_value_later,
]

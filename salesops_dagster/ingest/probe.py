"""Ask Salesforce, in one API call, which objects changed past their watermarks.

One `composite` request carries a `LIMIT 1` queryAll per probed object. Salesforce allows at most
five query subrequests in one composite call, so EmailMessageRelation is not probed: its rows are
created with their EmailMessage, cannot be edited, and are deleted with it, so every change to
them comes with an EmailMessage change that the probe does see. Every ingest run still pulls all
six objects.
"""

from __future__ import annotations

from datetime import datetime
from urllib.parse import quote_plus

from salesops_dagster.ingest.objects import EMAIL_MESSAGE, GROUP, LEAD, TASK, USER, ObjectSpec
from salesops_dagster.salesforce.client import SalesforceClient
from salesops_dagster.salesforce.soql import soql_datetime, soql_name

PROBED_OBJECTS: tuple[ObjectSpec, ...] = (LEAD, TASK, EMAIL_MESSAGE, USER, GROUP)


def probe_soql(spec: ObjectSpec, since: datetime | None) -> str:
    where = "" if since is None else f" WHERE SystemModstamp >= {soql_datetime(since)}"
    return f"SELECT Id FROM {soql_name(spec.sobject)}{where} LIMIT 1"  # noqa: S608 (validated)


def probe_changes(
    client: SalesforceClient, since_by_object: dict[str, datetime | None]
) -> dict[str, bool]:
    """{sobject: changed?} for the probed objects; an object never synced counts as changed.
    Cost: exactly one API call."""
    version = client.config.api_version
    subrequests = [
        {
            "method": "GET",
            "url": f"/services/data/v{version}/queryAll/?q="
            + quote_plus(probe_soql(spec, since_by_object.get(spec.sobject))),
            "referenceId": spec.sobject,
        }
        for spec in PROBED_OBJECTS
    ]
    changed: dict[str, bool] = {}
    for answer in client.composite(subrequests):
        status = answer.get("httpStatusCode")
        if status != 200:
            raise RuntimeError(
                f"change probe for {answer.get('referenceId')} failed with HTTP {status}: "
                f"{answer.get('body')}"
            )
        changed[answer["referenceId"]] = bool(answer["body"]["records"])
    return changed

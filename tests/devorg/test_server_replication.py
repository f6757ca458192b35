"""getUpdated / getDeleted, limits, Sforce-Limit-Info and the daily allocation."""

from __future__ import annotations

import datetime as dt
import time

import pytest
from simple_salesforce.exceptions import SalesforceMalformedRequest, SalesforceRefusedRequest

from salesops_dagster.devorg.server import DevOrg
from salesops_dagster.devorg.values import format_datetime
from tests.conftest import SEED, https_session, lead_records, salesforce_client


def _ago(minutes: float) -> dt.datetime:
    return dt.datetime.now(dt.UTC) - dt.timedelta(minutes=minutes)


def test_updated_and_deleted_windows(devorg_factory) -> None:
    leads = lead_records(4)
    stamps = [format_datetime(_ago(m)) for m in (50, 30, 10, 3)]
    for lead, stamp in zip(leads, stamps, strict=True):
        lead["SystemModstamp"] = stamp
    leads[3]["IsDeleted"] = True  # deleted 3 minutes ago
    org = devorg_factory(records={**SEED, "Lead": leads})
    sf = salesforce_client(org)

    updated = sf.Lead.updated(_ago(40), _ago(-1))
    assert updated["ids"] == [leads[1]["Id"], leads[2]["Id"]]
    assert updated["latestDateCovered"].endswith(":00.000+0000")  # whole minutes
    assert updated["latestDateCovered"] <= format_datetime(_ago(0))

    deleted = sf.Lead.deleted(_ago(40), _ago(-1))
    assert deleted["deletedRecords"] == [
        {"id": leads[3]["Id"], "deletedDate": leads[3]["SystemModstamp"]}
    ]
    assert deleted["earliestDateAvailable"] < format_datetime(_ago(60 * 24 * 14))


def test_deleting_through_the_api_shows_in_deleted(devorg_factory) -> None:
    org = devorg_factory(records={**SEED, "Lead": lead_records(2)}, replication_whole_minutes=False)
    sf = salesforce_client(org)
    lead_id = org.records("Lead")[0]["Id"]
    start = _ago(1)
    sf.Lead.delete(lead_id)
    time.sleep(0.002)  # a write is covered once its millisecond is over
    deleted = sf.Lead.deleted(start, _ago(-1))
    assert [d["id"] for d in deleted["deletedRecords"]] == [lead_id]
    updated = sf.Lead.updated(start, _ago(-1))
    assert lead_id not in updated["ids"]
    sf.Lead.update(org.records("Lead")[1]["Id"], {"Title": "x"})
    time.sleep(0.002)
    assert sf.Lead.updated(start, _ago(-1))["ids"] == [org.records("Lead")[1]["Id"]]


def test_replication_date_errors(devorg: DevOrg, sf) -> None:
    with pytest.raises(SalesforceMalformedRequest):  # naive datetimes produce "...%3A"
        sf.Lead.updated(dt.datetime(2026, 1, 1), dt.datetime(2026, 1, 2))
    with pytest.raises(SalesforceMalformedRequest) as reversed_window:
        sf.Lead.updated(_ago(5), _ago(10))
    assert reversed_window.value.content[0]["errorCode"] == "INVALID_REPLICATION_DATE"
    with pytest.raises(SalesforceMalformedRequest) as too_old:
        sf.Lead.updated(_ago(60 * 24 * 31), _ago(0))
    assert too_old.value.content[0]["errorCode"] == "INVALID_REPLICATION_DATE"


def test_limits_and_usage_header(devorg_factory) -> None:
    org = devorg_factory(daily_api_max=500)
    sf = salesforce_client(org)
    sf.query("SELECT Id FROM Lead")
    limits = sf.limits()
    assert limits["DailyApiRequests"] == {"Max": 500, "Remaining": 498}
    assert set(limits) >= {"DailyBulkApiBatches", "DailyBulkV2QueryJobs", "DataStorageMB"}
    usage = sf.api_usage["api-usage"]
    assert (usage.used, usage.total) == (2, 500)

    raw = https_session(org.ca_bundle).get(
        f"{org.url}/services/data/v62.0/limits",
        headers={"Authorization": f"Bearer {sf.session_id}"},
    )
    assert raw.headers["Sforce-Limit-Info"] == "api-usage=3/500"
    assert raw.headers["Content-Type"] == "application/json;charset=UTF-8"


def test_request_limit_exceeded(devorg_factory) -> None:
    org = devorg_factory(daily_api_max=3)
    sf = salesforce_client(org)
    for _ in range(3):
        sf.query("SELECT Id FROM Lead")
    with pytest.raises(SalesforceRefusedRequest) as refused:
        sf.query("SELECT Id FROM Lead")
    assert refused.value.status == 403
    assert refused.value.content == [
        {"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}
    ]
    assert org.stats()["api_calls"] == 3  # refused calls are not counted
    org.set_api_limit(max_requests=10)
    assert sf.query("SELECT Id FROM Lead")["done"] is True

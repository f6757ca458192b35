"""Fault injection (`/devorg/faults`) and stats (`/devorg/stats`) as a client observes them."""

from __future__ import annotations

import time

import pytest
import requests
from simple_salesforce.exceptions import (
    SalesforceExpiredSession,
    SalesforceGeneralError,
    SalesforceMalformedRequest,
)

from salesops_dagster.devorg.server import DevOrg
from tests.conftest import SEED, https_session, lead_records, salesforce_client


@pytest.fixture
def org(devorg_factory) -> DevOrg:
    return devorg_factory(records={**SEED, "Lead": lead_records(4500)})


def _admin(org: DevOrg, method: str, path: str, **kwargs) -> requests.Response:
    return https_session(org.ca_bundle).request(method, f"{org.url}/devorg/{path}", **kwargs)


def test_error_fault_returns_503_envelope_then_recovers(org: DevOrg) -> None:
    sf = salesforce_client(org)
    created = _admin(org, "POST", "faults", json={"match": "query", "count": 2, "status": 503})
    assert created.status_code == 201
    for _ in range(2):
        with pytest.raises(SalesforceGeneralError) as caught:
            sf.query("SELECT Id FROM Lead LIMIT 1")
        assert caught.value.status == 503
        assert caught.value.content[0]["errorCode"] == "SERVER_UNAVAILABLE"
    assert sf.query("SELECT Id FROM Lead LIMIT 1")["totalSize"] == 1
    stats = _admin(org, "GET", "stats").json()
    assert stats["faults_fired"] == 2
    assert stats["requests"]["query"] == 3
    assert stats["api_calls"] == 1  # faulted requests never reach the allocation


def test_drop_fault_closes_the_connection(org: DevOrg) -> None:
    sf = salesforce_client(org)
    org.add_fault(match=r"/sobjects/Lead/", action="drop")
    lead_id = org.records("Lead")[0]["Id"]
    with pytest.raises(requests.exceptions.ConnectionError):
        sf.Lead.get(lead_id)
    assert sf.Lead.get(lead_id)["Id"] == lead_id  # only the first matching request


def test_slow_fault_delays_the_answer(org: DevOrg) -> None:
    sf = salesforce_client(org)
    org.add_fault(match="limits", action="slow", delay_seconds=0.6)
    started = time.monotonic()
    assert "DailyApiRequests" in sf.limits()
    assert time.monotonic() - started >= 0.6
    with pytest.raises(requests.exceptions.Timeout):
        org.add_fault(match="limits", action="slow", delay_seconds=1.0)
        sf.session.get(
            f"{org.url}/services/data/v62.0/limits/",
            headers={"Authorization": f"Bearer {sf.session_id}"},
            timeout=0.3,
        )


def test_expire_session_fault(org: DevOrg) -> None:
    sf = salesforce_client(org)
    other = salesforce_client(org)
    org.add_fault(match="sobject_read", action="expire_session")
    with pytest.raises(SalesforceExpiredSession) as caught:
        sf.Lead.get(org.records("Lead")[0]["Id"])
    assert caught.value.content[0]["errorCode"] == "INVALID_SESSION_ID"
    with pytest.raises(SalesforceExpiredSession):  # every token was invalidated
        other.query("SELECT Id FROM Lead LIMIT 1")


def test_fault_after_k_requests_hits_mid_paging(org: DevOrg) -> None:
    sf = salesforce_client(org)
    org.add_fault(match="query_more", after=1, count=1, status=500, error_code="UNKNOWN_EXCEPTION")
    page = sf.query("SELECT Id FROM Lead")
    second = sf.query_more(page["nextRecordsUrl"], identifier_is_url=True)
    with pytest.raises(SalesforceGeneralError) as caught:
        sf.query_more(second["nextRecordsUrl"], identifier_is_url=True)
    assert caught.value.status == 500
    third = sf.query_more(second["nextRecordsUrl"], identifier_is_url=True)  # retry works
    assert third["done"] is True and len(third["records"]) == 500


def test_fault_admin_endpoints(org: DevOrg) -> None:
    bad = _admin(org, "POST", "faults", json={"match": "query", "action": "explode"})
    assert bad.status_code == 400
    _admin(org, "POST", "faults", json=[{"match": "query"}, {"match": "token", "count": None}])
    assert len(_admin(org, "GET", "faults").json()["faults"]) == 2
    assert _admin(org, "DELETE", "faults").json() == {"faults": []}
    assert salesforce_client(org).query("SELECT Id FROM Lead LIMIT 1")["done"] is True


def test_stats_and_reset(org: DevOrg) -> None:
    sf = salesforce_client(org)
    sf.query_all("SELECT Id FROM Lead")
    sf.Lead.create({"LastName": "x", "Company": "y"}, headers={"Sforce-Auto-Assign": "FALSE"})
    stats = _admin(org, "GET", "stats").json()
    assert stats["requests"] == {"token": 1, "query": 1, "query_more": 2, "sobject_create": 1}
    assert stats["api_calls"] == 4
    assert stats["records_written"] == {"Lead": 1, "total": 1}
    assert stats["lead_writes_by_auto_assign"]["FALSE"] == 1
    assert stats["api_usage"]["used"] == 4
    reset = _admin(org, "POST", "stats/reset").json()
    assert reset["requests"] == {} and reset["api_calls"] == 0
    assert reset["api_usage"]["used"] == 4  # the allocation is not a statistic


def test_admin_sessions_and_limits(org: DevOrg) -> None:
    sf = salesforce_client(org)
    assert _admin(org, "POST", "sessions/expire").json()["expired"] >= 1
    with pytest.raises(SalesforceExpiredSession):
        sf.query("SELECT Id FROM Lead LIMIT 1")
    sf = salesforce_client(org)
    assert _admin(org, "POST", "limits", json={"max": 50, "remaining": 0}).json() == {
        "used": 50,
        "max": 50,
        "remaining": 0,
    }
    with pytest.raises(Exception, match="REQUEST_LIMIT_EXCEEDED"):
        sf.query("SELECT Id FROM Lead LIMIT 1")


def test_record_error_fails_named_records_inside_a_successful_collections_call(org: DevOrg) -> None:
    sf = salesforce_client(org)
    ids = [r["Id"] for r in org.records("Lead")[:4]]
    locked, invalid = ids[0], ids[1][:15]  # a 15-character Id names the same record
    org.add_fault(match="collections_update", action="record_error", record_ids=[locked])
    org.add_fault(
        match="collections_update",
        action="record_error",
        record_ids=[invalid],
        error_code="FIELD_CUSTOM_VALIDATION_EXCEPTION",
        message="Rating is required",
        count=None,
    )
    results = sf.restful(
        "composite/sobjects",
        method="PATCH",
        json={
            "allOrNone": False,
            "records": [{"attributes": {"type": "Lead"}, "id": i, "Rating": "Hot"} for i in ids],
        },
    )
    assert len(results) == 4
    assert results[0] == {
        "id": locked,
        "success": False,
        "errors": [
            {
                "statusCode": "UNABLE_TO_LOCK_ROW",
                "message": "unable to obtain exclusive access to this record",
                "fields": [],
            }
        ],
    }
    assert results[1]["id"] == ids[1] and not results[1]["success"]
    assert results[1]["errors"][0]["statusCode"] == "FIELD_CUSTOM_VALIDATION_EXCEPTION"
    assert results[1]["errors"][0]["message"] == "Rating is required"
    assert [r["success"] for r in results[2:]] == [True, True]
    assert [org.record("Lead", i).get("Rating") for i in ids] == [None, None, "Hot", "Hot"]
    stats = org.stats()
    assert stats["records_written"]["Lead"] == 2 and stats["faults_fired"] == 2

    # The lock fault fired once; the validation fault keeps firing (count null).
    again = sf.restful(
        "composite/sobjects",
        method="PATCH",
        json={
            "records": [
                {"attributes": {"type": "Lead"}, "id": i, "Rating": "Warm"} for i in ids[:2]
            ]
        },
    )
    assert [r["success"] for r in again] == [True, False]
    assert org.record("Lead", locked)["Rating"] == "Warm"


def test_record_error_on_a_single_record_patch_and_its_spec_checks(org: DevOrg) -> None:
    sf = salesforce_client(org)
    lead_id = org.records("Lead")[0]["Id"]
    org.add_fault(
        match="sobject_update",
        action="record_error",
        record_ids=[lead_id],
        error_code="FIELD_CUSTOM_VALIDATION_EXCEPTION",
        message="No",
    )
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.Lead.update(lead_id, {"Rating": "Hot"})
    assert caught.value.status == 400
    assert caught.value.content[0]["errorCode"] == "FIELD_CUSTOM_VALIDATION_EXCEPTION"
    assert org.record("Lead", lead_id).get("Rating") is None
    assert sf.Lead.update(lead_id, {"Rating": "Hot"}) == 204
    assert org.record("Lead", lead_id)["Rating"] == "Hot"
    # Request-level matching ignores record_error rules: a query is never faulted by one.
    org.add_fault(match="query", action="record_error", record_ids=[lead_id], count=None)
    assert sf.query("SELECT Id FROM Lead LIMIT 1")["totalSize"] == 1
    for bad in (
        {"match": "collections_update", "action": "record_error"},
        {"match": "collections_update", "action": "record_error", "record_ids": []},
        {"match": "collections_update", "action": "error", "record_ids": [lead_id]},
    ):
        assert _admin(org, "POST", "faults", json=bad).status_code == 400

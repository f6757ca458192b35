"""Fault injection (`/devorg/faults`) and stats (`/devorg/stats`) as a client observes them."""

from __future__ import annotations

import time

import pytest
import requests
from simple_salesforce.exceptions import SalesforceExpiredSession, SalesforceGeneralError

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

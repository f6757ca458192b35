"""The Salesforce client against the dev org over HTTPS, certificate verified."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
import requests
from simple_salesforce.exceptions import SalesforceGeneralError

from salesops_dagster.salesforce.client import SalesforceClient, changes_soql, read_calls_floor
from salesops_dagster.salesforce.config import SalesforceConfig
from salesops_dagster.salesforce.errors import (
    ApiLimitExceeded,
    SalesforceAuthError,
    SalesforceConfigError,
    SessionExpiredAgain,
)


def _config(org, **overrides) -> SalesforceConfig:
    return replace(SalesforceConfig.from_env(org.env()), **overrides)


def _client(org, **overrides) -> SalesforceClient:
    return SalesforceClient(_config(org, **overrides), backoff=0.01, bulk_poll_seconds=0.05)


def _admin(org, path: str, body: dict | None = None) -> None:
    response = requests.post(f"{org.url}{path}", json=body, verify=org.ca_bundle, timeout=10)
    response.raise_for_status()


def _fault(org, **fault) -> None:
    _admin(org, "/devorg/faults", fault)


def _lead_ids(org) -> list[str]:
    return [r["Id"] for r in org.records("Lead") if not r.get("IsDeleted")]


@pytest.mark.parametrize("flow", ["jwt", "password", "client_credentials"])
def test_each_oauth_flow_logs_in_and_queries(devorg, flow):
    overrides = {
        "jwt": {"password": None, "client_secret": None},
        "password": {"private_key_file": None},
        "client_credentials": {"private_key_file": None, "password": None, "username": None},
    }[flow]
    client = _client(devorg, **overrides)
    assert client.config.flow == flow
    pages = list(client.query("SELECT Id FROM Lead"))
    assert sum(len(p.records) for p in pages) == len(_lead_ids(devorg))
    assert client.logins == 1


def test_bad_password_is_a_clear_auth_error(devorg):
    client = _client(devorg, private_key_file=None, password="wrong")
    with pytest.raises(SalesforceAuthError, match="invalid_grant") as excinfo:
        list(client.query("SELECT Id FROM Lead"))
    assert "wrong" not in str(excinfo.value)  # the secret never reaches the message


def test_config_errors_name_the_setting(devorg, tmp_path):
    with pytest.raises(SalesforceConfigError, match="SALESFORCE_LOGIN_URL"):
        SalesforceClient(_config(devorg, login_url="http://127.0.0.1:1"))
    with pytest.raises(SalesforceConfigError, match="SALESFORCE_PRIVATE_KEY_FILE"):
        SalesforceClient(_config(devorg, private_key_file=str(tmp_path / "missing.pem")))
    with pytest.raises(SalesforceConfigError, match="SALESFORCE_CLIENT_ID"):
        SalesforceClient(_config(devorg, client_id=None))


def test_certificate_is_verified(devorg, monkeypatch):
    # Without the dev org's CA the public CAs alone must refuse its self-signed certificate,
    # even with REQUESTS_CA_BUNDLE pointing at that CA (trust_env is off).
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", devorg.ca_bundle)
    client = _client(devorg, ca_bundle=None)
    with pytest.raises(requests.exceptions.SSLError):
        list(client.query("SELECT Id FROM Lead"))


def test_query_paging_costs_one_call_per_page(big_devorg):
    client = _client(big_devorg)
    pages = list(client.query("SELECT Id, SystemModstamp FROM Lead"))
    rows = sum(len(p.records) for p in pages)
    assert rows == 5000
    assert [len(p.records) for p in pages] == [2000, 2000, 1000]
    assert client.usage.calls == read_calls_floor(rows) == 3
    small = list(client.query("SELECT Id FROM Lead", batch_size=500))
    assert len(small) == 10
    assert all("attributes" not in r for p in small for r in p.records)


def test_usage_comes_from_the_limit_header(devorg):
    client = _client(devorg)
    list(client.query("SELECT Id FROM Lead LIMIT 1"))
    usage = client.usage
    assert usage.limit == devorg.stats()["api_limit"]
    assert usage.used == devorg.stats()["api_calls"]
    assert usage.remaining == usage.limit - usage.used


def test_query_changes_reads_a_half_open_window_with_deleted_rows(devorg):
    client = _client(devorg)
    stamps = sorted(r["SystemModstamp"] for r in devorg.records("Lead"))
    cut = datetime.strptime(stamps[len(stamps) // 2], "%Y-%m-%dT%H:%M:%S.%f%z")
    end = datetime.now(UTC) + timedelta(days=1)
    fields = ["Id", "IsDeleted", "SystemModstamp"]
    rows = [r for p in client.query_changes("Lead", fields, cut, end) for r in p.records]
    expected = sorted(
        (r["SystemModstamp"], r["Id"])
        for r in devorg.records("Lead")
        if r["SystemModstamp"] >= stamps[len(stamps) // 2]
    )
    assert [(r["SystemModstamp"], r["Id"]) for r in rows] == expected
    assert any(r["IsDeleted"] for r in devorg.records("Lead")), (
        "seed data should hold deleted leads"
    )
    deleted = {r["Id"] for r in devorg.records("Lead") if r.get("IsDeleted")}
    everything = [r for p in client.query_changes("Lead", fields, None, end) for r in p.records]
    assert deleted <= {r["Id"] for r in everything}


def test_changes_soql_refuses_naive_timestamps_and_bad_names():
    with pytest.raises(ValueError, match="naive"):
        changes_soql("Lead", ["Id"], datetime(2026, 1, 1), datetime.now(UTC))
    with pytest.raises(ValueError, match="API name"):
        changes_soql("Lead", ["Id; DELETE"], None, datetime.now(UTC))


def test_expired_session_reauthenticates_once(devorg):
    client = _client(devorg)
    list(client.query("SELECT Id FROM Lead LIMIT 1"))
    _admin(devorg, "/devorg/sessions/expire")
    pages = list(client.query("SELECT Id FROM Lead LIMIT 5"))
    assert len(pages[0].records) == 5
    assert client.logins == 2


def test_second_expiry_in_a_row_fails_clearly(devorg):
    client = _client(devorg)
    list(client.query("SELECT Id FROM Lead LIMIT 1"))
    _fault(devorg, match="query", action="expire_session", count=2)
    with pytest.raises(SessionExpiredAgain, match="twice in a row"):
        list(client.query("SELECT Id FROM Lead LIMIT 1"))
    assert client.logins == 2  # one re-login, no loop


def test_503_and_dropped_connection_are_retried(devorg):
    client = _client(devorg)
    list(client.query("SELECT Id FROM Lead LIMIT 1"))
    before = devorg.stats()["requests"].get("query", 0)
    _fault(
        devorg, match="query", action="error", status=503, error_code="SERVER_UNAVAILABLE", count=2
    )
    assert len(next(iter(client.query("SELECT Id FROM Lead LIMIT 3"))).records) == 3
    _fault(devorg, match="query", action="drop", count=1)
    assert len(next(iter(client.query("SELECT Id FROM Lead LIMIT 3"))).records) == 3
    # 2 refused + 1 served, then 1 dropped + 1 served
    assert devorg.stats()["requests"]["query"] - before == 5


def test_slow_response_times_out_and_is_retried(devorg):
    client = SalesforceClient(_config(devorg), backoff=0.01, timeout=0.5)
    list(client.query("SELECT Id FROM Lead LIMIT 1"))
    _fault(devorg, match="query", action="slow", delay_seconds=1.5, count=1)
    assert len(next(iter(client.query("SELECT Id FROM Lead LIMIT 2"))).records) == 2


def test_persistent_503_surfaces_after_bounded_retries(devorg):
    client = SalesforceClient(_config(devorg), retries=2, backoff=0.01)
    list(client.query("SELECT Id FROM Lead LIMIT 1"))
    before = devorg.stats()["requests"].get("query", 0)
    _fault(
        devorg, match="query", action="error", status=503, error_code="SERVER_UNAVAILABLE", count=50
    )
    with pytest.raises(SalesforceGeneralError, match="SERVER_UNAVAILABLE"):
        list(client.query("SELECT Id FROM Lead LIMIT 1"))
    assert devorg.stats()["requests"]["query"] - before == 3  # first try + 2 retries


def test_limit_exceeded_is_raised_and_never_retried(devorg):
    client = _client(devorg)
    list(client.query("SELECT Id FROM Lead LIMIT 1"))
    _admin(devorg, "/devorg/limits", {"remaining": 0})
    before = devorg.stats()["requests"].get("query", 0)
    with pytest.raises(ApiLimitExceeded, match="REQUEST_LIMIT_EXCEEDED"):
        list(client.query("SELECT Id FROM Lead LIMIT 1"))
    assert devorg.stats()["requests"]["query"] - before == 1


def test_update_records_keeps_good_records_when_others_fail(devorg):
    client = _client(devorg)
    leads = [
        r for r in devorg.records("Lead") if not r.get("IsDeleted") and not r.get("IsConverted")
    ]
    converted = next(
        r for r in devorg.records("Lead") if r.get("IsConverted") and not r.get("IsDeleted")
    )
    deleted = next(r for r in devorg.records("Lead") if r.get("IsDeleted"))
    good = leads[:250]
    batch = [{"Id": r["Id"], "Title": f"VP {i}"} for i, r in enumerate(good)]
    batch.insert(3, {"Id": converted["Id"], "Title": "nope"})
    batch.insert(7, {"Id": deleted["Id"], "Title": "nope"})
    calls_before = client.usage.calls
    results = client.update_records("Lead", batch)
    assert client.usage.calls - calls_before == 2  # 252 records: ceil(252/200)
    by_id = {r.id: r for r in results}
    assert by_id[converted["Id"]].error_code == "CANNOT_UPDATE_CONVERTED_LEAD"
    assert by_id[deleted["Id"]].error_code == "ENTITY_IS_DELETED"
    assert sum(r.success for r in results) == 250
    stored = {r["Id"]: r for r in devorg.records("Lead")}
    assert all(stored[r["Id"]]["Title"] == f"VP {i}" for i, r in enumerate(good))


def test_writes_carry_auto_assign_false_even_after_reauthentication(devorg):
    client = _client(devorg)
    lead = _lead_ids(devorg)[0]
    client.update_records("Lead", [{"Id": lead, "Title": "A"}])
    _admin(devorg, "/devorg/sessions/expire")
    client.update_records("Lead", [{"Id": lead, "Title": "B"}])
    writes = devorg.stats()["lead_writes_by_auto_assign"]
    assert writes.get("FALSE") == 2
    assert not writes.get("TRUE") and not writes.get("absent")


def test_composite_is_one_call(devorg):
    client = _client(devorg)
    version = client.config.api_version
    sub = [
        {
            "method": "GET",
            "url": f"/services/data/v{version}/query/?q=SELECT+Id+FROM+Lead+LIMIT+1",
            "referenceId": f"q{i}",
        }
        for i in range(3)
    ]
    before = client.usage.calls
    answers = client.composite(sub)
    assert [a["httpStatusCode"] for a in answers] == [200, 200, 200]
    assert client.usage.calls - before == 1


def test_bulk_query_and_bulk_update(devorg):
    client = _client(devorg)
    rows = [
        r
        for p in client.bulk_query("SELECT Id, Title, IsDeleted FROM Lead", page_size=300)
        for r in p
    ]
    assert sorted(r["Id"] for r in rows) == sorted(_lead_ids(devorg))
    with_deleted = [
        r for p in client.bulk_query("SELECT Id FROM Lead", include_deleted=True) for r in p
    ]
    assert len(with_deleted) == len(devorg.records("Lead"))
    converted = next(
        r for r in devorg.records("Lead") if r.get("IsConverted") and not r.get("IsDeleted")
    )
    target = [
        r for r in devorg.records("Lead") if not r.get("IsDeleted") and not r.get("IsConverted")
    ][:20]
    batch = [
        {"Id": r["Id"], "Title": None if i == 0 else f"Bulk {i}"} for i, r in enumerate(target)
    ]
    batch.append({"Id": converted["Id"], "Title": "x"})
    results = client.bulk_update("Lead", batch)
    by_id = {r.id: r for r in results}
    assert by_id[converted["Id"]].error_code == "CANNOT_UPDATE_CONVERTED_LEAD"
    assert sum(r.success for r in results) == 20
    stored = {r["Id"]: r for r in devorg.records("Lead")}
    assert stored[target[0]["Id"]]["Title"] is None  # None is sent as #N/A: cleared, not skipped
    assert stored[target[5]["Id"]]["Title"] == "Bulk 5"


def test_bulk_update_survives_a_session_expiry_mid_job(devorg):
    client = _client(devorg)
    target = [r for r in devorg.records("Lead") if not r["IsDeleted"] and not r["IsConverted"]][:5]
    _fault(devorg, match="bulk_ingest_upload", action="expire_session", count=1)
    results = client.bulk_update("Lead", [{"Id": r["Id"], "Title": "Renewed"} for r in target])
    assert all(r.success for r in results)
    assert client.logins == 2
    assert {devorg.record("Lead", r["Id"])["Title"] for r in target} == {"Renewed"}

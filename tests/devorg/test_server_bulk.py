"""Bulk API 2.0 query and ingest jobs through `sf.bulk2`."""

from __future__ import annotations

import csv
import io

import pytest
from simple_salesforce.exceptions import SalesforceMalformedRequest

from salesops_dagster.devorg.server import DevOrg
from tests.conftest import REP_ID, SEED, https_session, lead_records, salesforce_client


@pytest.fixture
def org(devorg_factory) -> DevOrg:
    leads = lead_records(2500, Title='Head of "Growth", EMEA')
    leads[0]["IsDeleted"] = True
    return devorg_factory(records={**SEED, "Lead": leads})


def _rows(page: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(page)))


def test_bulk_query_pages_with_locator(org: DevOrg) -> None:
    sf = salesforce_client(org)
    org.reset_stats()
    pages = list(
        sf.bulk2.Lead.query(
            "SELECT Id, Title, IsConverted, CreatedDate, Phone FROM Lead", max_records=1000, wait=0
        )
    )
    assert [len(_rows(p)) for p in pages] == [1000, 1000, 499]
    first = pages[0].splitlines()
    assert first[0] == '"Id","Title","IsConverted","CreatedDate","Phone"'
    row = _rows(pages[0])[0]
    assert row["Title"] == 'Head of "Growth", EMEA'
    assert row["IsConverted"] == "false"
    assert row["CreatedDate"] == "2026-01-05T09:00:00.000Z"
    assert row["Phone"] == ""
    assert first[1].endswith(',"false","2026-01-05T09:00:00.000Z",""')
    stats = org.stats()["requests"]
    assert stats["bulk_query_create"] == 1 and stats["bulk_query_results"] == 3
    assert stats["bulk_query_poll"] >= 1

    everything = list(sf.bulk2.Lead.query_all("SELECT Id FROM Lead", wait=0))
    assert sum(len(_rows(p)) for p in everything) == 2500


def test_bulk_results_headers(org: DevOrg) -> None:
    """Sforce-Locator is the literal `null` on the last page (other clients loop on it)."""
    sf = salesforce_client(org)
    job = sf.bulk2.Lead._client.create_job("query", "SELECT Id FROM Lead")
    assert job["state"] == "UploadComplete"
    session = https_session(org.ca_bundle)
    url = f"{org.url}/services/data/v62.0/jobs/query/{job['id']}/results"
    headers = {"Authorization": f"Bearer {sf.session_id}"}
    first = session.get(url, params={"maxRecords": 2000}, headers=headers)
    assert first.headers["Sforce-NumberOfRecords"] == "2000"
    assert first.headers["Content-Type"].startswith("text/csv")
    last = session.get(
        url,
        params={"maxRecords": 2000, "locator": first.headers["Sforce-Locator"]},
        headers=headers,
    )
    assert last.headers["Sforce-NumberOfRecords"] == "499"
    assert last.headers["Sforce-Locator"] == "null"
    status = session.get(f"{org.url}/services/data/v62.0/jobs/query/{job['id']}", headers=headers)
    assert status.json()["state"] == "JobComplete"
    assert status.json()["numberRecordsProcessed"] == 2499


def test_bulk_update_with_failures(org: DevOrg) -> None:
    sf = salesforce_client(org)
    ids = sorted(r["Id"] for r in org.records("Lead", include_deleted=False))
    org.convert_lead(ids[1])
    org.reset_stats()
    records = [
        {"Id": ids[0], "Title": "Bulk title", "OwnerId": REP_ID},
        {"Id": ids[1], "Title": "converted"},
        {"Id": ids[2], "Title": None, "Phone": "#N/A"},  # None: unchanged, #N/A: null
        {"Id": ids[3], "NumberOfEmployees": "lots"},
        {"Id": "00Qnot-an-id", "Title": "x"},
    ]
    org.put_records("Lead", [{**org.record("Lead", ids[2]), "Phone": "555"}])
    result = sf.bulk2.Lead.update(records=records, wait=0)
    assert result[0]["numberRecordsProcessed"] == 5
    assert result[0]["numberRecordsFailed"] == 3
    assert result[0]["numberRecordsTotal"] == 5

    assert org.record("Lead", ids[0])["Title"] == "Bulk title"
    assert org.record("Lead", ids[0])["OwnerId"] == REP_ID
    untouched = org.record("Lead", ids[2])
    assert untouched["Title"] == 'Head of "Growth", EMEA' and untouched["Phone"] is None

    job_id = result[0]["job_id"]
    failed = _rows(sf.bulk2.Lead.get_failed_records(job_id))
    errors = {row["sf__Id"]: row["sf__Error"] for row in failed}
    assert errors[ids[1]] == "CANNOT_UPDATE_CONVERTED_LEAD:cannot reference converted lead:--"
    assert errors[ids[3]].startswith("INVALID_TYPE_ON_FIELD_IN_RECORD:")
    assert errors[ids[3]].endswith(":NumberOfEmployees --")
    assert errors[""].startswith("MALFORMED_ID:")
    succeeded = _rows(sf.bulk2.Lead.get_successful_records(job_id))
    assert {r["sf__Id"] for r in succeeded} == {ids[0], ids[2]}
    assert all(r["sf__Created"] == "false" for r in succeeded)
    assert sf.bulk2.Lead.get_unprocessed_records(job_id).strip() != ""  # header only

    stats = org.stats()
    assert stats["requests"]["bulk_ingest_create"] == 1
    assert stats["requests"]["bulk_ingest_upload"] == 1
    assert stats["requests"]["bulk_ingest_close"] == 1
    assert stats["lead_writes_by_auto_assign"]["bulk"] == 2


def test_ingest_job_protocol_errors(org: DevOrg) -> None:
    sf = salesforce_client(org)
    client = sf.bulk2.Lead._client
    job = client.create_job("update")
    assert job["state"] == "Open"
    assert job["contentUrl"] == f"services/data/v62.0/jobs/ingest/{job['id']}/batches"
    lead_id = org.records("Lead")[5]["Id"]
    client.upload_job_data(job["id"], f"Id,Title\n{lead_id},t\n")
    with pytest.raises(SalesforceMalformedRequest) as twice:
        client.upload_job_data(job["id"], f"Id,Title\n{lead_id},t\n")
    assert twice.value.content[0]["errorCode"] == "BULK_API_ERROR"
    closed = client.close_job(job["id"])
    assert closed["state"] == "UploadComplete" and "numberRecordsFailed" not in closed
    assert client.get_job(job["id"], False)["state"] == "JobComplete"

    crlf = client.create_job("update")
    client.upload_job_data(crlf["id"], f"Id,Title\r\n{lead_id},t\r\n")
    client.close_job(crlf["id"])
    info = client.get_job(crlf["id"], False)
    assert info["state"] == "Failed"
    assert "LineEnding is invalid" in info["errorMessage"]

    unknown_field = client.create_job("update")
    client.upload_job_data(unknown_field["id"], f"Id,Nope__c\n{lead_id},t\n")
    client.close_job(unknown_field["id"])
    assert client.get_job(unknown_field["id"], False)["errorMessage"] == (
        "InvalidBatch : Field name not found : Nope__c"
    )

    # the ingest-results spellings simple-salesforce and others use
    session = https_session(org.ca_bundle)
    headers = {"Authorization": f"Bearer {sf.session_id}"}
    base = f"{org.url}/services/data/v62.0/jobs/ingest/{job['id']}"
    for suffix in (
        "unprocessedrecords/",
        "unprocessedRecords",
        "failedResults/",
        "successfulResults",
    ):
        assert session.get(f"{base}/{suffix}", headers=headers).status_code == 200

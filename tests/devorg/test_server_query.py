"""query / queryAll / nextRecordsUrl paging against the dev org with simple-salesforce."""

from __future__ import annotations

import pytest
from simple_salesforce.exceptions import SalesforceMalformedRequest

from salesops_dagster.devorg.server import DevOrg
from tests.conftest import QUEUE_ID, SEED, https_session, lead_records, salesforce_client


@pytest.fixture
def org_5000(devorg_factory) -> DevOrg:
    leads = lead_records(5000)
    for lead in leads[:7]:
        lead["IsDeleted"] = True
    return devorg_factory(records={**SEED, "Lead": leads})


def test_default_batch_pages_5000_rows_in_3_pages(org_5000: DevOrg) -> None:
    sf = salesforce_client(org_5000)
    org_5000.reset_stats()
    result = sf.query_all("SELECT Id, Email FROM Lead")
    assert result["totalSize"] == 4993
    assert len({r["Id"] for r in result["records"]}) == 4993
    stats = org_5000.stats()
    assert stats["requests"]["query"] == 1
    assert stats["requests"]["query_more"] == 2
    assert stats["api_calls"] == 3


def test_first_page_shape(org_5000: DevOrg) -> None:
    sf = salesforce_client(org_5000)
    page = sf.query("SELECT Id, Email, Title, IsConverted FROM Lead ORDER BY Email")
    assert page["totalSize"] == 4993 and page["done"] is False
    assert len(page["records"]) == 2000
    locator_url = page["nextRecordsUrl"]
    assert locator_url.startswith("/services/data/v62.0/query/01g")
    assert locator_url.endswith("-2000")
    first = page["records"][0]
    assert list(first) == ["attributes", "Id", "Email", "Title", "IsConverted"]
    assert first["attributes"] == {
        "type": "Lead",
        "url": f"/services/data/v62.0/sobjects/Lead/{first['Id']}",
    }
    assert first["Title"] is None and first["IsConverted"] is False
    last = sf.query_more(locator_url, identifier_is_url=True)
    assert last["totalSize"] == 4993 and len(last["records"]) == 2000


def test_batch_size_header_gives_more_pages(org_5000: DevOrg) -> None:
    sf = salesforce_client(org_5000)
    org_5000.reset_stats()
    result = sf.query_all("SELECT Id FROM Lead", headers={"Sforce-Query-Options": "batchSize=500"})
    assert len(result["records"]) == 4993
    assert org_5000.stats()["requests"]["query_more"] == 9  # 10 pages of 500


def test_batch_size_is_clamped(org_5000: DevOrg) -> None:
    sf = salesforce_client(org_5000)
    small = sf.query("SELECT Id FROM Lead", headers={"Sforce-Query-Options": "batchSize=10"})
    assert len(small["records"]) == 200
    large = sf.query("SELECT Id FROM Lead", headers={"Sforce-Query-Options": "batchSize=9999"})
    assert len(large["records"]) == 2000


def test_query_all_returns_deleted_rows_and_query_does_not(org_5000: DevOrg) -> None:
    sf = salesforce_client(org_5000)
    soql = "SELECT Id, IsDeleted FROM Lead WHERE IsDeleted = true"
    assert sf.query(soql)["totalSize"] == 0
    deleted = sf.query_all(soql, include_deleted=True)
    assert deleted["totalSize"] == 7
    assert all(r["IsDeleted"] is True for r in deleted["records"])
    everything = sf.query_all("SELECT Id FROM Lead", include_deleted=True)
    assert everything["totalSize"] == 5000


def test_paging_is_a_snapshot(org_5000: DevOrg) -> None:
    sf = salesforce_client(org_5000)
    page = sf.query("SELECT Id, Title FROM Lead ORDER BY Id")
    second_id = page["records"][0]["Id"]
    late = sf.query_more(page["nextRecordsUrl"], identifier_is_url=True)["records"][0]
    sf.Lead.update(late["Id"], {"Title": "Changed after the first page"})
    sf.Lead.update(second_id, {"Title": "also changed"})
    again = sf.query_more(page["nextRecordsUrl"], identifier_is_url=True)["records"][0]
    assert again["Id"] == late["Id"] and again["Title"] is None


def test_count_query(org_5000: DevOrg) -> None:
    sf = salesforce_client(org_5000)
    result = sf.query(f"SELECT COUNT() FROM Lead WHERE OwnerId = '{QUEUE_ID}'")  # noqa: S608
    assert result == {"totalSize": 4993, "done": True, "records": []}


def test_soql_errors_are_400_envelopes(devorg: DevOrg, sf) -> None:
    with pytest.raises(SalesforceMalformedRequest) as malformed:
        sf.query("SELECT Id FRM Lead")
    assert malformed.value.content[0]["errorCode"] == "MALFORMED_QUERY"
    assert "fields" not in malformed.value.content[0]

    with pytest.raises(SalesforceMalformedRequest) as invalid_field:
        sf.query("SELECT Foo__c FROM Lead")
    assert invalid_field.value.content[0]["errorCode"] == "INVALID_FIELD"

    with pytest.raises(SalesforceMalformedRequest) as invalid_type:
        sf.query("SELECT Id FROM Leed")
    assert invalid_type.value.content[0]["errorCode"] == "INVALID_TYPE"

    # An unencoded '+' in a dateTime literal arrives as a space: Salesforce refuses it.
    session = https_session(devorg.ca_bundle)
    raw = session.get(
        f"{devorg.url}/services/data/v62.0/query/"
        "?q=SELECT+Id+FROM+Lead+WHERE+CreatedDate+>+2026-01-01T00:00:00+01:00",
        headers={"Authorization": f"Bearer {devorg.issue_token()}"},
    )
    assert raw.status_code == 400 and raw.json()[0]["errorCode"] == "MALFORMED_QUERY"

    empty = session.get(
        f"{devorg.url}/services/data/v62.0/query/?q=",
        headers={"Authorization": f"Bearer {devorg.issue_token()}"},
    )
    assert empty.json() == [
        {"message": "SOQL statements cannot be empty or null", "errorCode": "MALFORMED_QUERY"}
    ]


def test_unknown_locator_is_invalid_query_locator(sf) -> None:
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.query_more("01gDV0000000999AAA-2000")
    assert caught.value.content[0]["errorCode"] == "INVALID_QUERY_LOCATOR"


def test_query_all_locator_path_is_accepted(org_5000: DevOrg) -> None:
    sf = salesforce_client(org_5000)
    page = sf.query_all_iter("SELECT Id FROM Lead", include_deleted=True)
    assert sum(1 for _ in page) == 5000
    first = sf.query("SELECT Id FROM Lead")
    locator = first["nextRecordsUrl"].rsplit("/", 1)[1]
    via_query_all = sf.query_more(locator, include_deleted=True)
    assert len(via_query_all["records"]) == 2000

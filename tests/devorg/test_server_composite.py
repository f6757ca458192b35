"""sObject Collections and composite batches through `sf.restful`."""

from __future__ import annotations

import pytest
from simple_salesforce.exceptions import SalesforceMalformedRequest

from salesops_dagster.devorg.ids import make_id
from salesops_dagster.devorg.server import DevOrg
from tests.conftest import REP_ID, SEED, lead_records, salesforce_client


@pytest.fixture
def org(devorg_factory) -> DevOrg:
    return devorg_factory(records={**SEED, "Lead": lead_records(10)})


def _ids(org: DevOrg) -> list[str]:
    return sorted(r["Id"] for r in org.records("Lead"))


def test_collections_update_with_good_and_failing_records(org: DevOrg) -> None:
    sf = salesforce_client(org)
    ids = _ids(org)
    org.convert_lead(ids[1])
    sf.Lead.delete(ids[2])
    org.reset_stats()
    before = org.record("Lead", ids[0])["SystemModstamp"]
    records = [
        {"attributes": {"type": "Lead"}, "id": ids[0], "Title": "ok"},
        {"attributes": {"type": "Lead"}, "id": ids[1], "Title": "converted"},
        {"attributes": {"type": "Lead"}, "id": ids[2], "Title": "deleted"},
        {"attributes": {"type": "Lead"}, "id": ids[3], "OwnerId": make_id("005", 777, "TS")},
        {"attributes": {"type": "Lead"}, "id": "001xx000003DGb2999", "Title": "bad id"},
        {"attributes": {"type": "Lead"}, "id": ids[4], "OwnerId": REP_ID, "Title": "ok too"},
    ]
    results = sf.restful(
        "composite/sobjects", method="PATCH", json={"allOrNone": False, "records": records}
    )
    assert [r["success"] for r in results] == [True, False, False, False, False, True]
    assert results[0] == {"id": ids[0], "success": True, "errors": []}
    assert results[1]["errors"] == [
        {
            "statusCode": "CANNOT_UPDATE_CONVERTED_LEAD",
            "message": "cannot reference converted lead",
            "fields": [],
        }
    ]
    assert results[2]["errors"][0]["statusCode"] == "ENTITY_IS_DELETED"
    assert results[3]["errors"][0]["statusCode"] == "INVALID_CROSS_REFERENCE_KEY"
    assert results[3]["errors"][0]["fields"] == ["OwnerId"]
    assert "id" not in results[4] and results[4]["errors"][0]["statusCode"] == "MALFORMED_ID"

    assert org.record("Lead", ids[0])["Title"] == "ok"
    assert org.record("Lead", ids[0])["SystemModstamp"] > before
    assert org.record("Lead", ids[4])["OwnerId"] == REP_ID
    stats = org.stats()
    assert stats["requests"]["collections_update"] == 1 and stats["api_calls"] == 1
    assert stats["records_written"]["Lead"] == 2


def test_collections_all_or_none_rolls_back(org: DevOrg) -> None:
    sf = salesforce_client(org)
    ids = _ids(org)
    org.convert_lead(ids[1])
    before = {i: org.record("Lead", i) for i in ids[:3]}
    results = sf.restful(
        "composite/sobjects",
        method="PATCH",
        json={
            "allOrNone": True,
            "records": [
                {"attributes": {"type": "Lead"}, "id": ids[0], "Title": "a"},
                {"attributes": {"type": "Lead"}, "id": ids[1], "Title": "b"},
                {"attributes": {"type": "Lead"}, "id": ids[2], "Title": "c"},
            ],
        },
    )
    assert [r["success"] for r in results] == [False, False, False]
    assert results[0]["errors"][0]["statusCode"] == "ALL_OR_NONE_OPERATION_ROLLED_BACK"
    assert results[1]["errors"][0]["statusCode"] == "CANNOT_UPDATE_CONVERTED_LEAD"
    assert results[2]["errors"][0]["statusCode"] == "ALL_OR_NONE_OPERATION_ROLLED_BACK"
    assert {i: org.record("Lead", i) for i in ids[:3]} == before
    assert org.stats()["records_written"]["total"] == 0


def test_collections_create_and_request_level_errors(org: DevOrg) -> None:
    sf = salesforce_client(org)
    created = sf.restful(
        "composite/sobjects",
        method="POST",
        json={
            "records": [
                {"attributes": {"type": "Lead"}, "LastName": "New", "Company": "Acme"},
                {"attributes": {"type": "Lead"}, "LastName": "No company"},
            ]
        },
    )
    assert created[0]["success"] is True and created[0]["id"].startswith("00Q")
    assert created[1]["errors"][0]["statusCode"] == "REQUIRED_FIELD_MISSING"

    with pytest.raises(SalesforceMalformedRequest) as unknown:
        sf.restful(
            "composite/sobjects",
            method="PATCH",
            json={"records": [{"attributes": {"type": "Lead"}, "id": _ids(org)[0], "Nope__c": 1}]},
        )
    assert unknown.value.content[0]["errorCode"] == "INVALID_FIELD"

    too_many = [{"attributes": {"type": "Lead"}, "id": _ids(org)[0]}] * 201
    with pytest.raises(SalesforceMalformedRequest) as limit:
        sf.restful("composite/sobjects", method="PATCH", json={"records": too_many})
    assert limit.value.content[0]["errorCode"] == "EXCEEDED_ID_LIMIT"


def test_composite_batch_is_one_api_call(org: DevOrg) -> None:
    sf = salesforce_client(org)
    ids = _ids(org)
    org.reset_stats()
    body = {
        "allOrNone": False,
        "compositeRequest": [
            {
                "method": "POST",
                "url": "/services/data/v62.0/sobjects/Lead/",
                "referenceId": "newLead",
                "body": {"LastName": "Composite", "Company": "Acme"},
            },
            {
                "method": "PATCH",
                "url": "/services/data/v62.0/sobjects/Lead/@{newLead.id}",
                "referenceId": "upd",
                "body": {"Title": "referenced"},
            },
            {
                "method": "GET",
                "url": "/services/data/v62.0/query/"
                "?q=SELECT+Id,Title+FROM+Lead+WHERE+Title+='referenced'",
                "referenceId": "q",
            },
            {
                "method": "PATCH",
                "url": "/services/data/v62.0/composite/sobjects",
                "referenceId": "coll",
                "body": {"records": [{"attributes": {"type": "Lead"}, "id": ids[0], "Title": "c"}]},
            },
            {
                "method": "GET",
                "url": "/services/data/v62.0/sobjects/Lead/@{q.records[0].Id}",
                "referenceId": "get",
            },
        ],
    }
    result = sf.restful("composite", method="POST", json=body)["compositeResponse"]
    assert [r["httpStatusCode"] for r in result] == [201, 204, 200, 200, 200]
    new_id = result[0]["body"]["id"]
    assert result[0]["httpHeaders"] == {"Location": f"/services/data/v62.0/sobjects/Lead/{new_id}"}
    assert result[1]["body"] is None
    assert result[2]["body"]["records"][0]["Id"] == new_id
    assert result[3]["body"][0]["success"] is True
    assert result[4]["body"]["Title"] == "referenced"
    stats = org.stats()
    assert stats["api_calls"] == 1 and stats["requests"] == {"composite": 1}
    assert stats["composite_subrequests"]["sobject_create"] == 1
    assert sf.api_usage["api-usage"].used == 1


def test_composite_all_or_none_halts_and_rolls_back(org: DevOrg) -> None:
    sf = salesforce_client(org)
    ids = _ids(org)
    org.convert_lead(ids[1])
    body = {
        "allOrNone": True,
        "compositeRequest": [
            {
                "method": "PATCH",
                "url": f"/services/data/v62.0/sobjects/Lead/{ids[0]}",
                "referenceId": "ok",
                "body": {"Title": "should roll back"},
            },
            {
                "method": "PATCH",
                "url": f"/services/data/v62.0/sobjects/Lead/{ids[1]}",
                "referenceId": "converted",
                "body": {"Title": "x"},
            },
            {
                "method": "GET",
                "url": f"/services/data/v62.0/sobjects/Lead/{ids[2]}",
                "referenceId": "after",
            },
        ],
    }
    result = sf.restful("composite", method="POST", json=body)["compositeResponse"]
    assert [r["httpStatusCode"] for r in result] == [400, 400, 400]
    assert result[0]["body"][0]["errorCode"] == "PROCESSING_HALTED"
    assert result[1]["body"][0]["errorCode"] == "CANNOT_UPDATE_CONVERTED_LEAD"
    assert result[2]["body"][0]["errorCode"] == "PROCESSING_HALTED"
    assert org.record("Lead", ids[0]).get("Title") is None


def test_composite_limits_and_bad_references(org: DevOrg) -> None:
    sf = salesforce_client(org)
    query = {"method": "GET", "url": "/services/data/v62.0/query/?q=SELECT+Id+FROM+Lead"}
    six_queries = [{**query, "referenceId": f"q{i}"} for i in range(6)]
    with pytest.raises(SalesforceMalformedRequest):
        sf.restful("composite", method="POST", json={"compositeRequest": six_queries})
    get = {"method": "GET", "url": f"/services/data/v62.0/sobjects/Lead/{_ids(org)[0]}"}
    with pytest.raises(SalesforceMalformedRequest):
        sf.restful(
            "composite",
            method="POST",
            json={"compositeRequest": [{**get, "referenceId": f"g{i}"} for i in range(26)]},
        )
    dangling = sf.restful(
        "composite",
        method="POST",
        json={
            "compositeRequest": [
                {
                    "method": "GET",
                    "url": "/services/data/v62.0/sobjects/Lead/@{missing.id}",
                    "referenceId": "g",
                }
            ]
        },
    )["compositeResponse"][0]
    assert dangling["httpStatusCode"] == 400
    assert dangling["body"][0]["errorCode"] == "PROCESSING_HALTED"

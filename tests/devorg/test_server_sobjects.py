"""Single-record create / read / update / delete and the write rules behind them."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from simple_salesforce.exceptions import (
    SalesforceMalformedRequest,
    SalesforceResourceNotFound,
)

from salesops_dagster.devorg.ids import make_id
from salesops_dagster.devorg.server import DevOrg
from tests.conftest import (
    INACTIVE_REP_ID,
    QUEUE_ID,
    REGULAR_GROUP_ID,
    REP_ID,
    SEED,
    lead_records,
    salesforce_client,
)


def test_create_read_update_delete(devorg: DevOrg, sf) -> None:
    created = sf.Lead.create({"LastName": "Doe", "Company": "Acme", "Email": "doe@acme.test"})
    assert created["success"] is True and created["errors"] == []
    lead_id = created["id"]
    assert lead_id.startswith("00Q") and len(lead_id) == 18

    record = sf.Lead.get(lead_id)
    assert record["attributes"] == {
        "type": "Lead",
        "url": f"/services/data/v62.0/sobjects/Lead/{lead_id}",
    }
    assert record["Name"] == "Doe" and record["Phone"] is None  # every field, nulls included
    assert record["OwnerId"] == devorg.integration_user_id
    assert record["SystemModstamp"].endswith("+0000") and len(record["SystemModstamp"]) == 28
    assert record["First_Response_At__c"] is None  # custom fields from sf/ metadata

    assert sf.Lead.update(lead_id, {"Title": "CTO", "Email": None}) == 204
    updated = sf.Lead.get(lead_id)
    assert updated["Title"] == "CTO" and updated["Email"] is None
    assert updated["SystemModstamp"] > record["SystemModstamp"]

    some = sf.Lead.get(lead_id, params={"fields": "Title,Company"})
    assert set(some) == {"attributes", "Title", "Company", "Id"}

    assert sf.Lead.delete(lead_id) == 204
    with pytest.raises(SalesforceResourceNotFound) as deleted:
        sf.Lead.get(lead_id)
    assert deleted.value.content[0]["errorCode"] == "ENTITY_IS_DELETED"
    with pytest.raises(SalesforceResourceNotFound):
        sf.Lead.update(lead_id, {"Title": "x"})
    assert devorg.record("Lead", lead_id)["IsDeleted"] is True


def test_created_date_may_be_set_on_insert_but_not_on_update(sf) -> None:
    created = sf.Lead.create(
        {"LastName": "Old", "Company": "Acme", "CreatedDate": "2025-03-01T10:00:00.000+02:00"}
    )
    record = sf.Lead.get(created["id"])
    assert record["CreatedDate"] == "2025-03-01T08:00:00.000+0000"
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.Lead.update(created["id"], {"CreatedDate": "2025-03-02T10:00:00Z"})
    assert caught.value.content[0]["errorCode"] == "INVALID_FIELD_FOR_INSERT_UPDATE"


def test_write_errors(devorg: DevOrg, sf) -> None:
    lead_id = sf.Lead.create({"LastName": "Doe", "Company": "Acme"})["id"]

    cases = [
        ({"Foo__c": 1}, "INVALID_FIELD"),
        ({"IsConverted": True}, "INVALID_FIELD_FOR_INSERT_UPDATE"),
        ({"SystemModstamp": "2026-01-01T00:00:00Z"}, "INVALID_FIELD_FOR_INSERT_UPDATE"),
        ({"OwnerId": "001DV0000000001AAA"}, "FIELD_INTEGRITY_EXCEPTION"),
        ({"OwnerId": make_id("005", 999, "TS")}, "INVALID_CROSS_REFERENCE_KEY"),
        ({"OwnerId": REGULAR_GROUP_ID}, "INVALID_CROSS_REFERENCE_KEY"),
        ({"OwnerId": INACTIVE_REP_ID}, "INACTIVE_OWNER_OR_USER"),
        ({"LastName": None}, "REQUIRED_FIELD_MISSING"),
        ({"NumberOfEmployees": "many"}, "JSON_PARSER_ERROR"),
    ]
    for body, code in cases:
        with pytest.raises(SalesforceMalformedRequest) as caught:
            sf.Lead.update(lead_id, body)
        assert caught.value.content[0]["errorCode"] == code, body

    with pytest.raises(SalesforceMalformedRequest) as missing:
        sf.Lead.create({"FirstName": "No"})
    assert missing.value.content == [
        {
            "message": "Required fields are missing: [LastName, Company]",
            "errorCode": "REQUIRED_FIELD_MISSING",
            "fields": ["LastName", "Company"],
        }
    ]
    # owners that are valid: a user and a queue
    assert sf.Lead.update(lead_id, {"OwnerId": REP_ID}) == 204
    assert sf.Lead.update(lead_id, {"OwnerId": QUEUE_ID}) == 204


def test_ids_in_urls(devorg: DevOrg, sf) -> None:
    with pytest.raises(SalesforceResourceNotFound) as not_an_id:
        sf.Lead.get("foo")
    assert not_an_id.value.content[0]["message"].startswith("Provided external ID field")
    with pytest.raises(SalesforceMalformedRequest) as wrong_prefix:
        sf.Lead.update("0015e00000XyZaBAAV", {"Title": "x"})
    assert wrong_prefix.value.content[0]["errorCode"] == "MALFORMED_ID"
    with pytest.raises(SalesforceResourceNotFound) as missing:
        sf.Lead.get(make_id("00Q", 99999, "TS"))
    assert missing.value.content[0]["errorCode"] == "NOT_FOUND"
    # the 15-character form works too
    lead_id = sf.Lead.create({"LastName": "Doe", "Company": "Acme"})["id"]
    assert sf.Lead.get(lead_id[:15])["Id"] == lead_id


def test_converted_lead_cannot_be_updated(devorg: DevOrg, sf) -> None:
    lead_id = sf.Lead.create({"LastName": "Doe", "Company": "Acme"})["id"]
    devorg.convert_lead(lead_id)
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.Lead.update(lead_id, {"Title": "x"})
    assert caught.value.content == [
        {
            "message": "cannot reference converted lead",
            "errorCode": "CANNOT_UPDATE_CONVERTED_LEAD",
            "fields": [],
        }
    ]


def test_unknown_custom_field_is_invalid_field(sf) -> None:
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.Lead.create({"LastName": "Doe", "Company": "Acme", "Not_In_Metadata__c": "x"})
    assert caught.value.content == [
        {
            "message": "No such column 'Not_In_Metadata__c' on sobject of type Lead",
            "errorCode": "INVALID_FIELD",
        }
    ]


def test_system_modstamp_never_decreases_nor_runs_ahead(devorg: DevOrg, sf) -> None:
    lead_id = sf.Lead.create({"LastName": "Doe", "Company": "Acme"})["id"]
    stamps = [devorg.record("Lead", lead_id)["SystemModstamp"]]
    for i in range(30):
        sf.restful(f"sobjects/Lead/{lead_id}", method="PATCH", json={"Title": f"t{i}"})
        stamps.append(devorg.record("Lead", lead_id)["SystemModstamp"])
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "+0000"
        assert stamps[-1] <= now  # never in the future
    assert stamps == sorted(stamps)
    record = devorg.record("Lead", lead_id)
    assert record["LastModifiedDate"] == record["SystemModstamp"]


def test_sforce_auto_assign(devorg_factory) -> None:
    org = devorg_factory(assignment_rule_owner_id=QUEUE_ID)
    sf = salesforce_client(org)
    absent = sf.Lead.create({"LastName": "A", "Company": "A", "OwnerId": REP_ID})["id"]
    assert org.record("Lead", absent)["OwnerId"] == QUEUE_ID  # the rule ran

    kept = sf.Lead.create(
        {"LastName": "F", "Company": "F", "OwnerId": REP_ID},
        headers={"Sforce-Auto-Assign": "FALSE"},
    )["id"]
    assert org.record("Lead", kept)["OwnerId"] == REP_ID

    # on the session (what survives simple-salesforce's session refresh)
    sf.session.headers["Sforce-Auto-Assign"] = "false"
    sf.Lead.update(absent, {"OwnerId": REP_ID})
    assert org.record("Lead", absent)["OwnerId"] == REP_ID
    sf.session.headers["Sforce-Auto-Assign"] = "TRUE"
    sf.Lead.update(kept, {"Title": "x"})
    assert org.record("Lead", kept)["OwnerId"] == QUEUE_ID

    assert org.stats()["lead_writes_by_auto_assign"] == {
        "FALSE": 2,
        "TRUE": 1,
        "absent": 1,
        "other": 0,
        "bulk": 0,
    }


def test_lead_writes_without_rule_keep_owner(devorg_factory) -> None:
    org = devorg_factory(records={**SEED, "Lead": lead_records(1)})
    sf = salesforce_client(org)
    lead_id = org.records("Lead")[0]["Id"]
    sf.Lead.update(lead_id, {"OwnerId": REP_ID})
    assert org.record("Lead", lead_id)["OwnerId"] == REP_ID
    assert org.stats()["records_written"] == {"Lead": 1, "total": 1}

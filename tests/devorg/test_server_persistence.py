"""Data directory persistence and the record admin endpoints (raw put, undelete, convert)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from simple_salesforce.exceptions import SalesforceResourceNotFound

from salesops_dagster.devorg.server import DevOrg
from tests.conftest import SEED, https_session, lead_records, salesforce_client


def test_writes_survive_a_restart(devorg_factory, tmp_path: Path) -> None:
    data = tmp_path / "org"
    first = devorg_factory(data_dir=data, records={**SEED, "Lead": lead_records(3)})
    sf = salesforce_client(first)
    ids = sorted(r["Id"] for r in first.records("Lead"))
    sf.Lead.update(ids[0], {"Title": "kept"})
    sf.Lead.delete(ids[1])
    new_id = sf.Lead.create({"LastName": "New", "Company": "Acme"})["id"]
    env, stamp = first.env(), first.record("Lead", ids[0])["SystemModstamp"]
    first.stop()

    lines = (data / "Lead.jsonl").read_text().splitlines()
    assert len(lines) == 6  # 3 seeded + 3 appended versions
    assert json.loads(lines[-1])["Id"] == new_id

    second = devorg_factory(data_dir=data, records=None)
    again = salesforce_client(second)
    assert again.Lead.get(ids[0])["Title"] == "kept"
    assert again.Lead.get(ids[0])["SystemModstamp"] == stamp
    with pytest.raises(SalesforceResourceNotFound):
        again.Lead.get(ids[1])
    assert again.Lead.get(new_id)["LastName"] == "New"
    assert again.query("SELECT COUNT() FROM Lead")["totalSize"] == 3
    # the same credentials and CA: the printed environment stays valid (except the port)
    assert {k: v for k, v in second.env().items() if k != "SALESFORCE_LOGIN_URL"} == {
        k: v for k, v in env.items() if k != "SALESFORCE_LOGIN_URL"
    }


def test_raw_records_keep_their_system_fields(devorg: DevOrg, sf) -> None:
    """A late commit: a record that appears with a SystemModstamp in the past."""
    late = lead_records(1, start=900, SystemModstamp="2026-01-06T00:00:00.000+0000")[0]
    response = https_session(devorg.ca_bundle).post(
        f"{devorg.url}/devorg/records/Lead", json=[late]
    )
    assert response.json() == {"ids": [late["Id"]]}
    stored = sf.Lead.get(late["Id"])
    assert stored["SystemModstamp"] == "2026-01-06T00:00:00.000+0000"
    assert stored["LastModifiedDate"] == stored["SystemModstamp"]
    assert stored["CreatedDate"] == "2026-01-05T09:00:00.000+0000"
    assert stored["IsDeleted"] is False and stored["IsConverted"] is False
    assert stored["Name"] == f"Lead {late['LastName']}"


def test_undelete_and_convert_endpoints(devorg: DevOrg, sf) -> None:
    session = https_session(devorg.ca_bundle)
    lead_id = sf.Lead.create({"LastName": "Doe", "Company": "Acme"})["id"]
    sf.Lead.delete(lead_id)
    restored = session.post(f"{devorg.url}/devorg/undelete/Lead/{lead_id}").json()
    assert restored["IsDeleted"] is False
    assert sf.Lead.get(lead_id)["Id"] == lead_id
    not_deleted = session.post(f"{devorg.url}/devorg/undelete/Lead/{lead_id}")
    assert not_deleted.status_code == 400

    converted = session.post(
        f"{devorg.url}/devorg/convert/{lead_id}", json={"ConvertedAccountId": None}
    ).json()
    assert converted["IsConverted"] is True and converted["ConvertedDate"]
    assert sf.Lead.get(lead_id)["IsConverted"] is True
    converted = sf.query_all("SELECT Id FROM Lead WHERE IsConverted = true")["records"]
    assert lead_id in {r["Id"] for r in converted}


def test_assignment_rule_admin_endpoint(devorg: DevOrg, sf) -> None:
    from tests.conftest import QUEUE_ID

    session = https_session(devorg.ca_bundle)
    assert session.post(
        f"{devorg.url}/devorg/assignment-rule", json={"owner_id": QUEUE_ID}
    ).json() == {"owner_id": QUEUE_ID}
    lead_id = sf.Lead.create({"LastName": "Doe", "Company": "Acme"})["id"]
    assert devorg.record("Lead", lead_id)["OwnerId"] == QUEUE_ID

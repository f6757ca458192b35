"""Shared fixtures: a fresh dev org per test and logged-in simple-salesforce clients.

The dev org's CA, server certificate and JWT key pair are generated once per test session and
reused by every `DevOrg`, so starting one costs a few milliseconds.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import simple_salesforce

from salesops_dagster.devorg import certs
from salesops_dagster.devorg.ids import make_id
from salesops_dagster.devorg.server import DevOrg
from salesops_dagster.devorg.synthetic import generate

API_VERSION = "62.0"
_POD = "TS"  # test Ids never collide with synthetic data or Ids the dev org creates

REP_ID = make_id("005", 101, _POD)
INACTIVE_REP_ID = make_id("005", 102, _POD)
QUEUE_ID = make_id("00G", 201, _POD)
REGULAR_GROUP_ID = make_id("00G", 202, _POD)

SEED: dict[str, list[dict[str, Any]]] = {
    "User": [
        {
            "Id": REP_ID,
            "Username": "avery.rep@example.com.devorg",
            "FirstName": "Avery",
            "LastName": "Rep",
            "Email": "avery.rep@example.com",
            "IsActive": True,
        },
        {
            "Id": INACTIVE_REP_ID,
            "Username": "former.rep@example.com.devorg",
            "FirstName": "Former",
            "LastName": "Rep",
            "Email": "former.rep@example.com",
            "IsActive": False,
        },
    ],
    "Group": [
        {"Id": QUEUE_ID, "Name": "Lead Intake", "DeveloperName": "Lead_Intake", "Type": "Queue"},
        {
            "Id": REGULAR_GROUP_ID,
            "Name": "Managers",
            "DeveloperName": "Managers",
            "Type": "Regular",
        },
    ],
}


def lead_records(n: int, start: int = 1, **fields: Any) -> list[dict[str, Any]]:
    """`n` raw Lead records with Ids from counter `start`, owned by the queue unless overridden."""
    return [
        {
            "Id": make_id("00Q", start + i, _POD),
            "FirstName": "Lead",
            "LastName": f"Number{start + i:06d}",
            "Company": f"Company {start + i}",
            "Email": f"lead{start + i}@example.com",
            "Status": "Open - Not Contacted",
            "OwnerId": QUEUE_ID,
            "CreatedDate": "2026-01-05T09:00:00.000+0000",
            **fields,
        }
        for i in range(n)
    ]


@pytest.fixture(scope="session")
def devorg_keys(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One CA, server certificate and JWT key pair for the whole test session."""
    directory = tmp_path_factory.mktemp("devorg-keys")
    certs.ensure_key_files(directory)
    return directory


@pytest.fixture
def devorg_factory(devorg_keys: Path) -> Iterator[Callable[..., DevOrg]]:
    """Start dev orgs with custom arguments (seeded with SEED only unless `records` is given)."""
    started: list[DevOrg] = []

    def start(**kwargs: Any) -> DevOrg:
        kwargs.setdefault("keys_dir", devorg_keys)
        kwargs.setdefault("records", SEED)
        kwargs.setdefault("api_version", API_VERSION)
        org = DevOrg(**kwargs).start()
        started.append(org)
        return org

    yield start
    for org in started:
        org.stop()


@pytest.fixture(scope="session")
def devorg_data() -> dict[str, list[dict[str, Any]]]:
    """SEED plus a small synthetic org (300 leads with tasks, emails, users and queues; some
    leads converted, some deleted), generated once per test session."""
    data = {name: list(rows) for name, rows in generate(300, seed=7).items()}
    for name, rows in SEED.items():
        data.setdefault(name, []).extend(rows)
    return data


@pytest.fixture
def devorg(devorg_factory: Callable[..., DevOrg], devorg_data) -> DevOrg:
    """A fresh dev org on a free port holding `devorg_data`."""
    return devorg_factory(records=devorg_data)


@pytest.fixture
def big_devorg(devorg_factory: Callable[..., DevOrg]) -> DevOrg:
    """A fresh dev org holding SEED and 5,000 plain leads (none deleted): paging tests."""
    return devorg_factory(records={**SEED, "Lead": lead_records(5000)})


def https_session(ca_bundle: str) -> requests.Session:
    """A requests session that trusts exactly the dev org's CA.

    REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE in the environment would override `Session.verify`
    while `trust_env` is on, so it is turned off.
    """
    session = requests.Session()
    session.trust_env = False
    session.verify = ca_bundle
    return session


def fetch_token(org: DevOrg, session: requests.Session, grant: str = "password") -> dict:
    """A token from the dev org's OAuth endpoint with the password or client-credentials grant."""
    creds = org.credentials
    if grant == "password":
        data = {
            "grant_type": "password",
            "client_id": creds["client_id"],
            "client_secret": creds["client_secret"],
            "username": creds["username"],
            "password": creds["password"],
        }
        response = session.post(f"{org.url}/services/oauth2/token", data=data, timeout=10)
    elif grant == "client_credentials":
        response = session.post(
            f"{org.url}/services/oauth2/token",
            data={"grant_type": "client_credentials"},
            auth=(creds["client_id"], creds["client_secret"]),
            timeout=10,
        )
    else:
        raise ValueError(grant)
    response.raise_for_status()
    return response.json()


def salesforce_client(org: DevOrg, grant: str = "password") -> simple_salesforce.Salesforce:
    """The real simple-salesforce client, logged in to `org`, verifying its certificate."""
    session = https_session(org.ca_bundle)
    token = fetch_token(org, session, grant)
    return simple_salesforce.Salesforce(
        instance_url=token["instance_url"],
        session_id=token["access_token"],
        session=session,
        version=org.api_version,
    )


@pytest.fixture
def sf(devorg: DevOrg) -> simple_salesforce.Salesforce:
    """A simple-salesforce client logged in to `devorg` (password grant)."""
    return salesforce_client(devorg)

"""OAuth token endpoint, sessions and TLS of the dev org, through the real clients."""

from __future__ import annotations

import time
from pathlib import Path

import jwt
import pytest
import requests
import simple_salesforce
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from simple_salesforce.exceptions import SalesforceExpiredSession

from salesops_dagster.devorg.server import DevOrg
from tests.conftest import https_session, salesforce_client


def _jwt_assertion(org: DevOrg, **overrides: object) -> str:
    creds = org.credentials
    claims: dict[str, object] = {
        "iss": creds["client_id"],
        "sub": creds["username"],
        "aud": org.url,
        # simple-salesforce sends exp as a digit string; the dev org must accept it.
        "exp": f"{time.time() + 180:.0f}",
    }
    claims.update(overrides)
    key = Path(creds["private_key_file"]).read_bytes()
    return jwt.encode(claims, key, algorithm="RS256")


def _token(org: DevOrg, **data: str) -> requests.Response:
    return https_session(org.ca_bundle).post(f"{org.url}/services/oauth2/token", data=data)


def _jwt_grant(org: DevOrg, assertion: str) -> requests.Response:
    return _token(
        org, grant_type="urn:ietf:params:oauth:grant-type:jwt-bearer", assertion=assertion
    )


def test_jwt_bearer_login_gives_a_working_session(devorg: DevOrg) -> None:
    response = _jwt_grant(devorg, _jwt_assertion(devorg))
    assert response.status_code == 200
    token = response.json()
    assert token["access_token"].startswith("00D") and "!" in token["access_token"]
    assert token["instance_url"] == devorg.url
    assert token["token_type"] == "Bearer" and token["scope"] == "api id web"
    assert "expires_in" not in token and "refresh_token" not in token

    session = https_session(devorg.ca_bundle)
    sf = simple_salesforce.Salesforce(
        instance_url=token["instance_url"],
        session_id=token["access_token"],
        session=session,
        version=devorg.api_version,
    )
    assert sf.query("SELECT COUNT() FROM User")["totalSize"] == len(devorg.records("User"))


@pytest.mark.parametrize("aud", ["https://login.salesforce.com", "https://test.salesforce.com"])
def test_jwt_accepts_the_standard_audiences(devorg: DevOrg, aud: str) -> None:
    assert _jwt_grant(devorg, _jwt_assertion(devorg, aud=aud)).status_code == 200


def test_jwt_failures_are_oauth_errors(devorg: DevOrg) -> None:
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = jwt.encode(
        {
            "iss": devorg.credentials["client_id"],
            "sub": devorg.credentials["username"],
            "aud": devorg.url,
            "exp": int(time.time()) + 180,
        },
        other_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
        algorithm="RS256",
    )
    cases = {
        forged: ("invalid_grant", "invalid assertion"),
        _jwt_assertion(devorg, exp=int(time.time()) - 600): ("invalid_grant", "invalid assertion"),
        _jwt_assertion(devorg, aud="https://evil.example.com"): (
            "invalid_grant",
            "audience is invalid",
        ),
        _jwt_assertion(devorg, iss="3MVGunknown"): (
            "invalid_client_id",
            "client identifier invalid",
        ),
        _jwt_assertion(devorg, sub="nobody@example.com"): (
            "invalid_grant",
            "user hasn't approved this consumer",
        ),
    }
    for assertion, (error, description) in cases.items():
        response = _jwt_grant(devorg, assertion)
        assert response.status_code == 400
        assert response.json() == {"error": error, "error_description": description}


def test_password_login_and_its_failures(devorg: DevOrg) -> None:
    creds = devorg.credentials
    good = {
        "grant_type": "password",
        "client_id": creds["client_id"],
        "client_secret": creds["client_secret"],
        "username": creds["username"],
        "password": creds["password"],
    }
    ok = _token(devorg, **good)
    assert ok.status_code == 200
    body = ok.json()
    assert set(body) == {
        "access_token",
        "instance_url",
        "id",
        "token_type",
        "issued_at",
        "signature",
    }
    assert body["issued_at"].isdigit() and len(body["issued_at"]) == 13  # epoch milliseconds

    bad_password = _token(devorg, **{**good, "password": "wrong"})
    assert bad_password.status_code == 400
    assert bad_password.json() == {
        "error": "invalid_grant",
        "error_description": "authentication failure",
    }
    bad_client = _token(devorg, **{**good, "client_id": "nope"})
    assert bad_client.json()["error"] == "invalid_client_id"
    bad_secret = _token(devorg, **{**good, "client_secret": "nope"})
    assert bad_secret.json() == {
        "error": "invalid_client",
        "error_description": "invalid client credentials",
    }
    unsupported = _token(devorg, grant_type="authorization_code")
    assert unsupported.json()["error"] == "unsupported_grant_type"


def test_client_credentials_with_basic_header_or_body(devorg: DevOrg) -> None:
    sf = salesforce_client(devorg, grant="client_credentials")
    live = [r for r in devorg.records("Lead") if not r["IsDeleted"]]
    assert sf.query("SELECT Id FROM Lead")["totalSize"] == len(live)

    creds = devorg.credentials
    in_body = _token(
        devorg,
        grant_type="client_credentials",
        client_id=creds["client_id"],
        client_secret=creds["client_secret"],
    )
    assert in_body.status_code == 200 and in_body.json()["scope"] == "api"
    wrong = https_session(devorg.ca_bundle).post(
        f"{devorg.url}/services/oauth2/token",
        data={"grant_type": "client_credentials"},
        auth=(creds["client_id"], "wrong-secret"),
    )
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_client"


def test_token_calls_do_not_count_against_the_api_allocation(devorg: DevOrg) -> None:
    for _ in range(3):
        salesforce_client(devorg)
    stats = devorg.stats()
    assert stats["requests"]["token"] == 3
    assert stats["api_calls"] == 0


def test_expired_session_is_401_invalid_session_id_json_array(devorg: DevOrg) -> None:
    sf = salesforce_client(devorg)
    sf.query("SELECT Id FROM Lead")
    devorg.expire_sessions()
    with pytest.raises(SalesforceExpiredSession) as caught:
        sf.query("SELECT Id FROM Lead")
    assert caught.value.status == 401
    assert caught.value.content == [
        {"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}
    ]
    # a new login works again
    assert salesforce_client(devorg).query("SELECT Id FROM Lead")["done"] is True


def test_session_lifetime_expires_tokens(devorg_factory) -> None:
    org = devorg_factory(session_lifetime_seconds=0.2)
    sf = salesforce_client(org)
    sf.query("SELECT Id FROM Lead")
    time.sleep(0.3)
    with pytest.raises(SalesforceExpiredSession):
        sf.query("SELECT Id FROM Lead")


def test_missing_or_bad_authorization(devorg: DevOrg) -> None:
    session = https_session(devorg.ca_bundle)
    url = f"{devorg.url}/services/data/v62.0/limits/"
    missing = session.get(url)
    assert missing.status_code == 401
    assert missing.json()[0]["errorCode"] == "INVALID_SESSION_ID"
    bad_scheme = session.get(url, headers={"Authorization": "Basic Zm9vOmJhcg=="})
    assert bad_scheme.status_code == 401
    assert bad_scheme.json() == [
        {"message": "INVALID_HEADER_TYPE", "errorCode": "INVALID_AUTH_HEADER"}
    ]


def test_certificate_is_verified(devorg: DevOrg) -> None:
    """Without the dev org's CA the TLS handshake fails; with it, both SAN forms work."""
    untrusting = requests.Session()
    untrusting.trust_env = False  # the system CAs only
    with pytest.raises(requests.exceptions.SSLError):
        untrusting.get(f"{devorg.url}/services/data/")

    trusting = https_session(devorg.ca_bundle)
    assert trusting.get(f"{devorg.url}/services/data/").status_code == 200
    by_name = devorg.url.replace("127.0.0.1", "localhost")
    assert trusting.get(f"{by_name}/services/data/").status_code == 200
    # the server keeps working after a failed handshake
    assert salesforce_client(devorg).query("SELECT Id FROM Lead")["done"] is True


def test_configured_jwt_public_key_is_trusted(devorg_factory, tmp_path: Path) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = tmp_path / "connected-app.pem"
    public.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    org = devorg_factory(jwt_public_key=public)
    claims = {
        "iss": org.credentials["client_id"],
        "sub": org.credentials["username"],
        "aud": "https://login.salesforce.com",
        "exp": int(time.time()) + 180,
    }
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    assert _jwt_grant(org, jwt.encode(claims, private, algorithm="RS256")).status_code == 200
    # the generated key is no longer trusted
    assert _jwt_grant(org, _jwt_assertion(org)).json()["error_description"] == "invalid assertion"

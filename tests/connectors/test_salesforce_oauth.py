"""OAuth plumbing of SalesforceConnector (client credentials, JWT bearer) with ``responses``.

simple-salesforce posts logins to ``https://{domain}.salesforce.com``, which no emulator can
be, so these tests intercept the token request and the few API calls that follow.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import parse_qs

import jwt
import pytest
import responses
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from responses import matchers

from connectors.errors import Fatal
from connectors.records import WriteItem
from connectors.salesforce import AuthSettings, SalesforceConnector

TOKEN_URL = "https://acme.my.salesforce.com/services/oauth2/token"
INSTANCE = "https://acme-prod.my.salesforce.com"
API = f"{INSTANCE}/services/data/v59.0"
EXPIRED = [{"errorCode": "INVALID_SESSION_ID", "message": "Session expired or invalid"}]


@pytest.fixture
def mock() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield rsps


@pytest.fixture(scope="module")
def private_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _pem(key: rsa.RSAPrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def _token(mock: responses.RequestsMock, url: str, access: str) -> None:
    mock.post(url, json={"access_token": access, "instance_url": INSTANCE, "token_type": "Bearer"})


def _client_credentials(**kwargs: str) -> SalesforceConnector:
    settings = AuthSettings(
        method="client_credentials",
        instance_url="https://ignored.example",
        client_id=kwargs.get("client_id", "app-id"),
        client_secret="app-secret",
        domain=kwargs.get("domain", "acme.my"),
    )
    return SalesforceConnector(instance_url="https://ignored.example", auth=settings)


def _bearer(token: str) -> list[Callable[..., Any]]:
    return [matchers.header_matcher({"Authorization": f"Bearer {token}"})]


def test_client_credentials_posts_basic_auth_to_my_domain(mock: responses.RequestsMock) -> None:
    """The token request goes to the My Domain with grant_type and Basic client auth."""
    _token(mock, TOKEN_URL, "tok-1")
    mock.get(f"{API}/sobjects", json={"sobjects": []}, match=_bearer("tok-1"))
    conn = _client_credentials()
    assert conn.check() == []
    login = mock.calls[0].request
    assert parse_qs(str(login.body)) == {"grant_type": ["client_credentials"]}
    expected = base64.b64encode(b"app-id:app-secret").decode()
    assert login.headers["Authorization"] == f"Basic {expected}"
    assert conn.calls["POST /services/oauth2/token"] == 1
    conn.close()


def test_client_credentials_accepts_a_full_my_domain_url(mock: responses.RequestsMock) -> None:
    """auth.domain given as https://acme.my.salesforce.com still reaches the right host."""
    _token(mock, TOKEN_URL, "tok-1")
    mock.get(f"{API}/sobjects", json={"sobjects": []})
    conn = _client_credentials(domain="https://acme.my.salesforce.com")
    assert conn.check() == []
    conn.close()


def test_client_credentials_needs_a_my_domain() -> None:
    """'login' cannot issue client-credentials tokens, so construction says what to set."""
    with pytest.raises(Fatal, match="My Domain"):
        _client_credentials(domain="login")


def test_jwt_bearer_signs_an_assertion_for_the_user(
    mock: responses.RequestsMock, private_key: rsa.RSAPrivateKey
) -> None:
    """JWT login posts an RS256 assertion: iss = client id, sub = username, aud = login host."""
    _token(mock, "https://login.salesforce.com/services/oauth2/token", "tok-jwt")
    mock.get(f"{API}/sobjects", json={"sobjects": []}, match=_bearer("tok-jwt"))
    settings = AuthSettings(
        method="jwt",
        instance_url="https://ignored.example",
        client_id="app-id",
        username="integration@acme.example",
        private_key="${SF_KEY}",
    )
    pem = _pem(private_key)
    conn = SalesforceConnector(
        instance_url="https://ignored.example",
        auth=settings,
        secrets=lambda ref: pem if ref == "${SF_KEY}" else ref,
    )
    assert conn.check() == []
    form = parse_qs(str(mock.calls[0].request.body))
    assert form["grant_type"] == ["urn:ietf:params:oauth:grant-type:jwt-bearer"]
    claims = jwt.decode(
        form["assertion"][0],
        private_key.public_key(),
        algorithms=["RS256"],
        audience="https://login.salesforce.com",
    )
    assert (claims["iss"], claims["sub"]) == ("app-id", "integration@acme.example")
    conn.close()


def test_failed_login_is_fatal_with_the_vendor_code(mock: responses.RequestsMock) -> None:
    """A refused login stops the pipeline and names the OAuth error."""
    body = {"error": "invalid_client", "error_description": "invalid client credentials"}
    mock.post(TOKEN_URL, json=body, status=400)
    conn = _client_credentials()
    with pytest.raises(Fatal) as caught:
        conn.write("Contact", [WriteItem(key="k", payload={"LastName": "X"})])
    assert caught.value.code == "AUTHENTICATION_FAILED"
    assert "invalid_client" in caught.value.message
    conn.close()


def test_rest_call_after_expiry_logs_in_again(mock: responses.RequestsMock) -> None:
    """A 401 on a REST call triggers a fresh token and the upsert goes through."""
    _token(mock, TOKEN_URL, "tok-1")
    _token(mock, TOKEN_URL, "tok-2")
    url = f"{API}/composite/sobjects/Contact/B2Connect_Id__c"
    mock.patch(url, json=EXPIRED, status=401, match=_bearer("tok-1"))
    ok = [{"id": "003000000000001AAA", "success": True, "errors": [], "created": True}]
    mock.patch(url, json=ok, match=_bearer("tok-2"))
    conn = _client_credentials()
    results = conn.write("Contact", [WriteItem(key="k", payload={"LastName": "X"})])
    assert results[0].ok
    assert conn.calls["POST /services/oauth2/token"] == 2
    conn.close()


def _bulk_job(mock: responses.RequestsMock) -> None:
    jobs = f"{API}/jobs/ingest"
    mock.post(jobs, json=EXPIRED, status=401, match=_bearer("tok-1"))
    mock.post(jobs, json={"id": "750J", "state": "Open"}, match=_bearer("tok-2"))
    mock.put(f"{jobs}/750J/batches", status=201)
    mock.patch(f"{jobs}/750J", json={"id": "750J", "state": "UploadComplete"})
    done = {"id": "750J", "state": "JobComplete", "numberRecordsFailed": 0}
    mock.get(f"{jobs}/750J", json={**done, "numberRecordsProcessed": 1})
    ok = "sf__Id,sf__Created,B2Connect_Id__c,LastName\n003000000000009AAA,true,k,X\n"
    mock.get(f"{jobs}/750J/successfulResults", body=ok)
    mock.get(f"{jobs}/750J/failedResults", body="sf__Id,sf__Error,B2Connect_Id__c,LastName\n")
    mock.get(f"{jobs}/750J/unprocessedRecords", body="B2Connect_Id__c,LastName\n")


def test_bulk_call_after_expiry_logs_in_once_and_repeats(mock: responses.RequestsMock) -> None:
    """Bulk 2.0 has no refresh of its own: the connector logs in again once and reruns it."""
    _token(mock, TOKEN_URL, "tok-1")
    _token(mock, TOKEN_URL, "tok-2")
    _bulk_job(mock)
    settings = AuthSettings(
        method="client_credentials",
        instance_url="https://ignored.example",
        client_id="app-id",
        client_secret="app-secret",
        domain="acme.my",
    )
    conn = SalesforceConnector(
        instance_url="https://ignored.example", auth=settings, bulk_threshold=1, bulk_wait_s=0
    )
    results = conn.write("Contact", [WriteItem(key="k", payload={"LastName": "X"})])
    assert [(r.ok, r.crm_id, r.created) for r in results] == [(True, "003000000000009AAA", True)]
    assert conn.calls["POST /services/oauth2/token"] == 2
    assert conn.calls["POST /services/data/{version}/jobs/ingest"] == 2
    conn.close()


def test_session_expiring_right_after_a_new_login_is_fatal(mock: responses.RequestsMock) -> None:
    """If even a fresh login is refused at once, the connector stops instead of looping."""
    _token(mock, TOKEN_URL, "tok-1")
    mock.post(f"{API}/jobs/ingest", json=EXPIRED, status=401)
    settings = AuthSettings(
        method="client_credentials",
        instance_url="https://ignored.example",
        client_id="app-id",
        client_secret="app-secret",
        domain="acme.my",
    )
    conn = SalesforceConnector(
        instance_url="https://ignored.example", auth=settings, bulk_threshold=1, bulk_wait_s=0
    )
    with pytest.raises(Fatal) as caught:
        conn.write("Contact", [WriteItem(key="k", payload={"LastName": "X"})])
    assert caught.value.code == "INVALID_SESSION_ID"
    assert conn.calls["POST /services/oauth2/token"] == 2
    conn.close()


def test_unusable_private_key_is_fatal(mock: responses.RequestsMock) -> None:
    """A private key that cannot sign fails with a message about the key, sending nothing."""
    settings = AuthSettings(
        method="jwt",
        instance_url="https://ignored.example",
        client_id="app-id",
        username="integration@acme.example",
        private_key="not a PEM key",
    )
    conn = SalesforceConnector(instance_url="https://ignored.example", auth=settings)
    with pytest.raises(Fatal, match="private key"):
        conn.write("Contact", [WriteItem(key="k", payload={"LastName": "X"})])
    assert len(mock.calls) == 0
    conn.close()

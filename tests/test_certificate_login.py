"""A qualified certificate as a login method: added from the dashboard, then
a login of its own at strength high, or a step-up; every bad certificate is
refused through the real pages (the TLS proxy's header carries it)."""

from urllib.parse import quote

import pytest
from cryptography import x509

from helpers import csrf_token, query_of
from idp.accounts.models import User
from idp.audit import AuditEvent
from idp.authn.methods.models import LoginMethod
from idp.extensions import db
from people import Person
from pki import TestPKI
from test_token import decode_id_token

HEADER = "X-SSL-Client-Cert"
HIGH = "http://eidas.europa.eu/LoA/high"
TAX = "21111103"


@pytest.fixture
def pki(app, tmp_path):
    pki = TestPKI(tmp_path / "trust")
    app.config.update(TRUSTED_CA_DIR=str(pki.folder), CLIENT_CERT_HEADER=HEADER)
    return pki


def presenting(pem):
    return {HEADER: quote(pem.decode())}


def add_certificate(client, pem, name="Osebna izkaznica"):
    url = client.get("/methods/add/certificate", headers=presenting(pem)).headers["Location"]
    html = client.get(url, headers=presenting(pem)).get_data(as_text=True)
    return client.post(url, headers=presenting(pem),
                       data={"csrf_token": csrf_token(html), "name": name,
                             "method": "certificate"})


def log_in_with(client, pem, interaction=""):
    start = client.get(f"/login/certificate?interaction={interaction}")
    url = start.headers["Location"]
    html = client.get(url, headers=presenting(pem)).get_data(as_text=True)
    return client.post(url, headers=presenting(pem),
                       data={"csrf_token": csrf_token(html), "method": "certificate"})


@pytest.fixture
def ana_with_certificate(client, ana, pki):
    person = Person(client, "ana@example.si")
    person.follow(person.login())
    pem = pki.person("Ana", "Novak", TAX)
    response = add_certificate(client, pem)
    assert response.status_code == 302, response.get_data(as_text=True)[-800:]
    client.post("/logout", data={"csrf_token": person.token("/")})
    return pem


def test_certificate_is_added_as_a_login_method(ana_with_certificate, ana):
    row = db.session.execute(db.select(LoginMethod).filter_by(kind="certificate")).scalar_one()
    assert row.user_id == ana.id and row.name == "Osebna izkaznica"
    assert db.session.execute(db.select(AuditEvent).filter_by(event="method_added")).first()


def test_certificate_alone_logs_in_at_high(client, flow, rp, ana_with_certificate, ana):
    db.session.get(User, ana.id).trust_level = "high"
    db.session.commit()
    f = flow(rp)
    iid = query_of(f.start(acr_values=HIGH).headers["Location"])["interaction"]
    reply, _ = f.follow_to_rp(log_in_with(client, ana_with_certificate, iid))
    body = f.exchange(reply["code"], secret=rp.secret).get_json()
    claims = decode_id_token(client, body["id_token"]).claims
    assert claims["acr"] == HIGH and claims["amr"] == ["swk", "mfa"]


def test_certificate_steps_up_a_password_login(client, flow, rp, ana_with_certificate, ana):
    db.session.get(User, ana.id).trust_level = "high"
    db.session.commit()
    f = flow(rp)
    response = f.login(f.start(), "ana@example.si")
    # The password is followed by the second step: the certificate.
    url = response.headers["Location"]
    html = client.get(url, headers=presenting(ana_with_certificate)).get_data(as_text=True)
    assert 'id="certificate"' in html
    response = client.post(url, headers=presenting(ana_with_certificate),
                           data={"csrf_token": csrf_token(html), "method": "certificate"})
    reply, _ = f.follow_to_rp(response)
    claims = decode_id_token(client, f.exchange(reply["code"], secret=rp.secret)
                             .get_json()["id_token"]).claims
    assert claims["acr"] == HIGH and claims["amr"] == ["pwd", "swk", "mfa"]


@pytest.mark.parametrize("bad, reason", [("expired", "expired"), ("revoked", "revoked"),
                                         ("untrusted", "untrusted"),
                                         ("without_client_auth", "usage")])
def test_bad_certificates_do_not_log_in(client, pki, ana_with_certificate, bad, reason):
    pem = getattr(pki, bad)()
    response = log_in_with(client, pem)
    assert response.status_code == 400
    assert client.get("/").status_code == 302  # not logged in
    events = db.session.execute(db.select(AuditEvent).filter_by(
        event="certificate_rejected")).scalars().all()
    assert events and events[-1].details["reason"] == reason


def test_the_bound_certificate_is_refused_once_revoked(client, pki, ana, ana_with_certificate):
    response = log_in_with(client, ana_with_certificate)
    assert response.status_code == 302  # works today
    client.post("/logout", data={"csrf_token": csrf_token(client.get("/").get_data(
        as_text=True))})
    serial = x509.load_pem_x509_certificate(ana_with_certificate).serial_number
    pki.intermediate.revoked.append(serial)
    pki.write_crl("intermediate")
    assert log_in_with(client, ana_with_certificate).status_code == 400


def test_an_unknown_certificate_does_not_log_in(client, pki, ana_with_certificate):
    other = pki.person("Bojan", "Kranjc", "42098742")
    response = log_in_with(client, other)
    assert response.status_code == 400
    assert "ni registrirano" in response.get_data(as_text=True)


def test_no_certificate_presented(client, pki, ana_with_certificate):
    start = client.get("/login/certificate")
    url = start.headers["Location"]
    html = client.get(url).get_data(as_text=True)
    response = client.post(url, data={"csrf_token": csrf_token(html), "method": "certificate"})
    assert response.status_code == 400


def test_a_certificate_with_another_name_cannot_be_added(client, ana, pki):
    person = Person(client, "ana@example.si")
    person.follow(person.login())
    response = add_certificate(client, pki.person("Bojan", "Kranjc", "42098742"))
    assert response.status_code == 400
    assert db.session.execute(db.select(LoginMethod)).first() is None


def test_certificates_are_off_without_the_proxy_header(app, client, ana, pki):
    app.config["CLIENT_CERT_HEADER"] = None
    person = Person(client, "ana@example.si")
    person.follow(person.login())
    assert client.get("/methods/add/certificate").status_code == 404
    assert "certificate-login" not in client.get("/login").get_data(as_text=True)

"""Raising the trust level: a bank card and a qualified certificate give
substantial, an ID key from a branch officer gives high; one verified person
holds one account; the officer console and ``idp officers``.

Pages are read in English (``session["lang"]``) so that the checks can name
the exact message; the Slovenian strings are tested elsewhere."""

import hashlib
import json
import re
from datetime import date, timedelta
from urllib.parse import parse_qs, quote, urlsplit

import pyotp
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from markupsafe import escape

from helpers import PASSWORD, T0, csrf_token, query_of
from idp.accounts.models import User
from idp.audit import AuditEvent
from idp.authn.sessions import LoginSession
from idp.extensions import db
from idp.timeutil import utcnow
from idp.trust import cards, service
from idp.trust.messages import REFUSALS
from idp.trust.models import IdentityEvidence, IdKey
from idp.authn.methods.certificate import NAME_MISMATCH
from idp.authn.methods.certificate import PROBLEMS as CERTIFICATE_PROBLEMS
from idp.trust.officer import for_officer
from idp.trust.views import CARD_REFUSED
from people import Person
from pki import TestPKI

TAX = "21111103"
TAX_2 = "42098742"
TAX_3 = "68024649"
BORN = "1990-05-17"
VERIFIED_CARD, DECLINED_CARD, MISMATCH_CARD = (
    "4242424242424242", "4000000000000002", "4000000000000010")
HEADER = "X-SSL-Client-Cert"


# -- helpers ----------------------------------------------------------------------------

def english(client):
    with client.session_transaction() as session:
        session["lang"] = "en"


def says(response, message):
    """Whether the page shows ``message`` (a lazy string, in English)."""
    return str(escape(str(message))) in response.get_data(as_text=True)


def token(client):
    """A CSRF token of this browser's session (from the raise page's form)."""
    return csrf_token(client.get("/trust").get_data(as_text=True))


def fresh(user):
    db.session.expire_all()
    return db.session.get(User, user.id)


def user_by_email(email):
    db.session.expire_all()
    return db.session.execute(db.select(User).filter_by(email=email)).scalar_one()


def audits(event, user_id=None):
    query = db.select(AuditEvent).filter_by(event=event).order_by(AuditEvent.id)
    if user_id is not None:
        query = query.filter_by(user_id=user_id)
    return db.session.execute(query).scalars().all()


def evidence(user):
    return db.session.execute(
        db.select(IdentityEvidence).filter_by(user_id=user.id)).scalars().all()


def card_data(**overrides):
    data = {"given_name": "Ana", "family_name": "Novak", "birthdate": BORN, "tax_number": TAX,
            "number": "4242 4242 4242 4242", "expiry_month": "12",
            "expiry_year": str(date.today().year + 2), "cvc": "123"}
    data.update(overrides)
    return data


def post_card(client, url="/trust/card", **overrides):
    page = client.get(url)
    assert page.status_code == 200
    return client.post(url, data={"csrf_token": csrf_token(page.get_data(as_text=True)),
                                  **card_data(**overrides)})


def log_in(client, email):
    """A password login (its strength is low) in ``client``'s browser, in English."""
    english(client)
    person = Person(client, email)
    person.follow(person.login())
    return person


class SpyGateway(cards.SandboxCardGateway):
    """The sandbox, counting its calls."""

    def __init__(self):
        super().__init__()
        self.calls = []

    def verify(self, **kwargs):
        self.calls.append(kwargs)
        return super().verify(**kwargs)


@pytest.fixture
def gateway(app):
    spy = SpyGateway()
    app.extensions["idp_card_gateway"] = spy
    return spy


@pytest.fixture
def ana_en(client, ana_person):
    english(client)
    return ana_person


# -- bank card --------------------------------------------------------------------------

def test_a_verified_card_raises_to_substantial_and_keeps_no_card_number(
        client, ana, ana_en, gateway):
    response = post_card(client)
    assert response.status_code == 302 and response.headers["Location"] == "/trust"
    assert len(gateway.calls) == 1
    assert gateway.calls[0]["holder_name"] == "Ana Novak"
    user = fresh(ana)
    assert user.trust_level == "substantial"
    # A typed tax number is kept in the evidence, not as the account's own.
    assert user.tax_number is None and user.birthdate == date(1990, 5, 17)
    [proof] = evidence(user)
    assert (proof.method, proof.level, proof.tax_number) == ("card", "substantial", TAX)
    assert proof.details["gateway"] == "sandbox" and proof.details["last4"] == "4242"
    assert proof.details["reference"].startswith("sandbox-")
    [changed] = audits("trust_level_changed", ana.id)
    assert changed.details["previous"] == "low" and changed.details["level"] == "substantial"
    assert changed.details["method"] == "card" and changed.details["last4"] == "4242"
    assert changed.details["evidence_id"] == proof.id and changed.actor is None
    # The card number and the CVC are nowhere: not in the evidence, not in the log.
    stored = json.dumps([e.details for e in db.session.execute(
        db.select(AuditEvent)).scalars()] + [proof.details])
    assert VERIFIED_CARD not in stored and "424242424242" not in stored
    assert '"123"' not in stored
    page = client.get("/trust")
    assert 'id="trust-level">substantial<' in page.get_data(as_text=True)


def test_a_declined_card_leaves_the_level_low(client, ana, ana_en, gateway):
    response = post_card(client, number=DECLINED_CARD)
    assert response.status_code == 400
    assert says(response, CARD_REFUSED[cards.DECLINED])
    assert fresh(ana).trust_level == "low" and fresh(ana).tax_number is None
    assert evidence(ana) == []
    [failed] = audits("card_check_failed", ana.id)
    assert failed.details["status"] == "declined" and failed.details["last4"] == "0002"
    assert DECLINED_CARD not in json.dumps(failed.details)
    assert audits("trust_level_changed") == []


def test_a_card_in_another_name_leaves_the_level_low(client, ana, ana_en, gateway):
    response = post_card(client, number=MISMATCH_CARD)
    assert response.status_code == 400
    assert says(response, CARD_REFUSED[cards.NAME_MISMATCH])
    assert fresh(ana).trust_level == "low" and evidence(ana) == []
    assert audits("card_check_failed", ana.id)[0].details["status"] == "name_mismatch"


@pytest.mark.parametrize("overrides", [
    {"number": "4242 4242 4242 4241"},  # Luhn
    {"number": "4242"},  # too short
    {"expiry_month": "1", "expiry_year": "2020"},  # expired
    {"expiry_month": "13"},
    {"cvc": "12"},
    {"tax_number": "12345678"},  # check digit wrong
    {"birthdate": (date.today() + timedelta(days=1)).isoformat()},
])
def test_bad_card_data_is_refused_before_the_gateway(client, ana, ana_en, gateway, overrides):
    response = post_card(client, **overrides)
    assert response.status_code == 400
    assert gateway.calls == []
    assert fresh(ana).trust_level == "low" and evidence(ana) == []


def test_the_card_form_needs_its_csrf_token(client, ana, ana_en, gateway):
    response = client.post("/trust/card", data=card_data())
    assert response.status_code == 400
    assert gateway.calls == [] and fresh(ana).trust_level == "low"


def test_the_trust_pages_need_a_login(client, ana, gateway):
    for url in ("/trust", "/trust/card", "/trust/certificate"):
        response = client.get(url)
        assert response.status_code == 302 and response.headers["Location"].startswith("/login")
    anonymous = csrf_token(client.get("/login").get_data(as_text=True))
    for url in ("/trust/card", "/trust/certificate", "/trust/id-key"):
        response = client.post(url, data={"csrf_token": anonymous, **card_data()})
        assert response.status_code == 302
        assert response.headers["Location"].startswith("/login")
    assert gateway.calls == [] and fresh(ana).trust_level == "low"


def test_a_substantial_account_cannot_raise_to_substantial_again(
        client, make_user, gateway):
    bor = make_user(email="bor@example.si", given_name="Bor", family_name="Kralj",
                    trust_level="substantial")
    log_in(client, "bor@example.si")
    response = post_card(client, given_name="Bor", family_name="Kralj")
    assert response.status_code == 400
    assert says(response, REFUSALS[service.NOT_HIGHER])
    assert evidence(bor) == [] and fresh(bor).tax_number is None


def test_the_card_page_prefills_the_account_and_lists_the_sandbox_cards(client, ana, ana_en):
    html = client.get("/trust/card").get_data(as_text=True)
    assert 'value="Ana"' in html and 'value="Novak"' in html
    assert 'id="sandbox"' in html and "4242 4242 4242 4242" in html


def test_an_unknown_interaction_is_refused(client, ana, ana_en):
    assert client.get("/trust?interaction=nonsense").status_code == 400


def test_raising_inside_an_rp_request_continues_it(client, flow, rp, ana, gateway):
    english(client)
    f = flow(rp)
    path, html = f.follow_to_page(f.login(
        f.start(acr_values="http://eidas.europa.eu/LoA/substantial"), "ana@example.si"))
    assert path.startswith("/trust?interaction=")
    iid = query_of(path)["interaction"]
    assert 'id="level-needed"' in html
    response = post_card(client, url=f"/trust/card?interaction={iid}")
    assert response.status_code == 302
    assert response.headers["Location"] == f"/authorize/resume/{iid}"
    assert fresh(ana).trust_level == "substantial"
    # The same request goes on: a password login is not enough for substantial.
    path, html = f.follow_to_page(response)
    assert path == f"/login/step-up?interaction={iid}"
    assert "Your trust level is now substantial." in html


# -- one person, one verified account -------------------------------------------------

@pytest.fixture
def bor(make_user):
    return make_user(email="bor@example.si", given_name="Bor", family_name="Kralj",
                     phone="031 222 333")


@pytest.fixture
def ana_verified(ana, gateway):
    """Ana raised with a certificate that carries her tax number, in a browser
    of her own."""
    service.raise_trust_level(ana, "substantial",
                              service.Person("Ana", "Novak", date(1990, 5, 17), TAX,
                                             tax_verified=True), "certificate",
                              {"issuer": "CN=Test", "serial": "01"})
    return ana


def test_a_typed_tax_number_cannot_lock_out_its_owner(client, ana, bor, gateway, pki, ana_en):
    # Bor claims Ana's tax number with his own card: kept as his evidence only.
    log_in(client, "bor@example.si")
    assert post_card(client, given_name="Bor", family_name="Kralj").status_code == 302
    assert fresh(bor).tax_number is None
    # A claim blocks nobody: Ana's own card check with her number goes through.
    client.post("/logout", data={"csrf_token": token(client)})
    log_in(client, "ana@example.si")
    assert post_card(client).status_code == 302
    assert fresh(ana).trust_level == "substantial"


def test_a_vouched_for_tax_number_wins_over_a_typed_claim(client, ana, bor, gateway, pki,
                                                          ana_en):
    log_in(client, "bor@example.si")
    assert post_card(client, given_name="Bor", family_name="Kralj").status_code == 302
    client.post("/logout", data={"csrf_token": token(client)})
    log_in(client, "ana@example.si")
    response = post_certificate(client, pki.person("Ana", "Novak", TAX))
    assert response.status_code == 302 and fresh(ana).tax_number == TAX


def test_a_second_account_of_the_same_person_is_refused_by_card(
        client, ana_verified, bor, gateway):
    log_in(client, "bor@example.si")
    response = post_card(client, given_name="Bor", family_name="Kralj")
    assert response.status_code == 400
    assert says(response, REFUSALS[service.TAKEN])
    user = fresh(bor)
    assert user.trust_level == "low" and user.tax_number is None and evidence(bor) == []
    assert fresh(ana_verified).tax_number == TAX


# -- certificates -----------------------------------------------------------------------

@pytest.fixture
def pki(app, tmp_path):
    ca = TestPKI(tmp_path / "trusted")
    app.config["TRUSTED_CA_DIR"] = str(ca.folder)
    app.config["CLIENT_CERT_HEADER"] = HEADER
    return ca


def presenting(pem):
    return {HEADER: quote(pem.decode() if isinstance(pem, bytes) else pem)}


def post_certificate(client, pem, birthdate=BORN, tax_number=TAX):
    headers = presenting(pem)
    page = client.get("/trust/certificate", headers=headers)
    assert page.status_code == 200, page.get_data(as_text=True)
    return client.post("/trust/certificate", headers=headers, data={
        "csrf_token": csrf_token(page.get_data(as_text=True)), "birthdate": birthdate,
        "tax_number": tax_number})


def test_a_good_certificate_raises_to_substantial_with_its_evidence(client, ana, ana_en, pki):
    pem = pki.person("Ana", "Novak", TAX)
    page = client.get("/trust/certificate", headers=presenting(pem))
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and 'id="certificate"' in html
    assert f'value="{TAX}"' in html  # the tax number on the certificate
    response = post_certificate(client, pem)
    assert response.status_code == 302 and response.headers["Location"] == "/trust"
    user = fresh(ana)
    assert user.trust_level == "substantial" and user.tax_number == TAX
    assert user.birthdate == date(1990, 5, 17)
    cert = x509.load_pem_x509_certificate(pem)
    [proof] = evidence(user)
    assert proof.method == "certificate" and proof.level == "substantial"
    assert "Test Issuing CA" in proof.details["issuer"]
    assert proof.details["serial"] == format(cert.serial_number, "X")
    assert proof.details["fingerprint"] == cert.fingerprint(hashes.SHA256()).hex()
    [changed] = audits("trust_level_changed", ana.id)
    assert changed.details["method"] == "certificate"
    assert changed.details["serial"] == proof.details["serial"]


def test_a_certificate_without_a_tax_number_takes_the_typed_one(client, ana, ana_en, pki):
    pem = pki.person("Ana", "Novak", None)
    response = post_certificate(client, pem, tax_number=TAX_2)
    assert response.status_code == 302 and fresh(ana).trust_level == "substantial"
    # Typed, not vouched for: in the evidence, not the account's own number.
    assert fresh(ana).tax_number is None and evidence(ana)[0].tax_number == TAX_2


def test_a_certificate_of_another_name_is_refused(client, ana, ana_en, pki):
    pem = pki.person("Janez", "Kranjec", TAX)
    page = client.get("/trust/certificate", headers=presenting(pem))
    assert page.status_code == 400 and says(page, NAME_MISMATCH)
    assert 'id="certificate-problem"' in page.get_data(as_text=True)
    response = client.post("/trust/certificate", headers=presenting(pem), data={
        "csrf_token": token(client), "birthdate": BORN, "tax_number": TAX})
    assert response.status_code == 400
    assert fresh(ana).trust_level == "low" and evidence(ana) == []


@pytest.mark.parametrize("kind, reason", [
    ("expired", "expired"), ("revoked", "revoked"), ("untrusted", "untrusted"),
    ("without_client_auth", "usage"), ("not_yet_valid", "not_yet_valid"),
    ("malformed", "malformed"),
])
def test_a_bad_certificate_is_refused_and_audited(client, ana, ana_en, pki, kind, reason):
    pem = b"not a certificate at all" if kind == "malformed" else getattr(pki, kind)()
    page = client.get("/trust/certificate", headers=presenting(pem))
    assert page.status_code == 400 and says(page, CERTIFICATE_PROBLEMS[reason])
    assert 'name="birthdate"' not in page.get_data(as_text=True)
    response = client.post("/trust/certificate", headers=presenting(pem), data={
        "csrf_token": token(client), "birthdate": BORN, "tax_number": TAX})
    assert response.status_code == 400 and says(response, CERTIFICATE_PROBLEMS[reason])
    assert fresh(ana).trust_level == "low" and evidence(ana) == []
    rejected = audits("certificate_rejected", ana.id)
    assert len(rejected) == 2 and {e.details["reason"] for e in rejected} == {reason}


def test_the_header_is_ignored_unless_configured(app, client, ana, ana_en, pki):
    app.config["CLIENT_CERT_HEADER"] = None
    pem = pki.person("Ana", "Novak", TAX)
    page = client.get("/trust/certificate", headers=presenting(pem))
    assert page.status_code == 400 and says(page, CERTIFICATE_PROBLEMS["missing"])
    response = client.post("/trust/certificate", headers=presenting(pem), data={
        "csrf_token": token(client), "birthdate": BORN, "tax_number": TAX})
    assert response.status_code == 400
    assert fresh(ana).trust_level == "low" and audits("certificate_rejected") == []


def test_without_a_trust_folder_certificates_are_unavailable(app, client, ana, ana_en, pki):
    app.config["TRUSTED_CA_DIR"] = None
    page = client.get("/trust/certificate", headers=presenting(pki.person("Ana", "Novak", TAX)))
    assert page.status_code == 400 and says(page, CERTIFICATE_PROBLEMS["unavailable"])


def test_the_typed_tax_number_must_be_the_certificates(client, ana, ana_en, pki):
    response = post_certificate(client, pki.person("Ana", "Novak", TAX), tax_number=TAX_2)
    assert response.status_code == 400
    assert says(response, "The tax number must be the one on the certificate.")
    assert fresh(ana).trust_level == "low" and fresh(ana).tax_number is None


def test_a_second_account_of_the_same_person_is_refused_by_certificate(
        client, ana_verified, bor, pki):
    log_in(client, "bor@example.si")
    response = post_certificate(client, pki.person("Bor", "Kralj", TAX))
    assert response.status_code == 400 and says(response, REFUSALS[service.TAKEN])
    assert fresh(bor).trust_level == "low" and fresh(bor).tax_number is None


# -- the officer console ------------------------------------------------------------------

OFFICER_EMAIL = "referent@example.si"


def create_officer(runner, email=OFFICER_EMAIL):
    result = runner.invoke(args=[
        "officers", "create", "--email", email, "--phone", "031 555 666",
        "--password", PASSWORD, "--given-name", "Maja", "--family-name", "Zupan", "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


@pytest.fixture
def officer(runner):
    made = create_officer(runner)
    secret = parse_qs(urlsplit(made["totp_uri"]).query)["secret"][0]
    made["secret"] = secret
    made["user"] = user_by_email(made["email"])
    return made


@pytest.fixture
def desk(app, officer, clock):
    """The officer's browser, logged in with password and authenticator app."""
    browser = app.test_client()
    english(browser)
    person = Person(browser, officer["email"])
    person.totp_secret = officer["secret"]
    response = person.login()
    assert response.status_code == 302 and "/verify" in response.headers["Location"]
    done = person.follow(person.answer_totp(response.headers["Location"], T0))
    assert done.status_code == 200
    assert browser.get("/officer").status_code == 200
    return browser


def branch_data(**overrides):
    data = {"document_type": "id_card", "document_number": "ab 123456",
            "document_expiry": (date.today() + timedelta(days=365)).isoformat(),
            "given_name": "Ana", "family_name": "Novak", "birthdate": BORN, "tax_number": TAX}
    data.update(overrides)
    return data


def issue_at_desk(desk, person, **overrides):
    url = f"/officer/people/{person.sub}"
    page = desk.get(url)
    return desk.post(url, data={"csrf_token": csrf_token(page.get_data(as_text=True)),
                                **branch_data(**overrides)})


def key_on(response):
    match = re.search(r'id="id-key">([A-Z0-9-]+)<', response.get_data(as_text=True))
    assert match, response.get_data(as_text=True)[:2000]
    return match.group(1)


def test_officers_create_makes_an_officer_with_an_authenticator_app(officer):
    user = officer["user"]
    assert user.is_officer and user.sub == officer["sub"]
    assert officer["totp_uri"].startswith("otpauth://totp/")
    assert pyotp.TOTP(officer["secret"]).now().isdigit()
    [granted] = audits("officer_granted", user.id)
    assert granted.actor == "operator:cli"


def test_an_officer_with_only_a_password_must_add_a_second_factor(
        client, runner, ana, ana_en):
    assert runner.invoke(args=["officers", "grant", "ana@example.si"]).exit_code == 0
    response = client.get("/officer")
    assert response.status_code == 403
    assert 'id="needs-second-factor"' in response.get_data(as_text=True)
    assert client.get(f"/officer/people/{ana.sub}").status_code == 403
    assert audits("officer_viewed_person") == []


def test_a_non_officer_gets_no_console(client, ana, ana_en, bor):
    assert client.get("/officer").status_code == 403
    assert client.post("/officer", data={"csrf_token": token(client),
                                         "query": "bor@example.si"}).status_code == 403
    assert client.post(f"/officer/people/{bor.sub}", data={
        "csrf_token": token(client), **branch_data(given_name="Bor")}).status_code == 403
    assert db.session.execute(db.select(IdKey)).first() is None
    assert client.get(f"/officer/people/{bor.sub}").status_code == 403
    assert audits("officer_searched") == [] and audits("officer_viewed_person") == []


def test_the_console_needs_a_login(client):
    response = client.get("/officer")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")


def test_an_officer_finds_people_by_e_mail_and_phone(desk, officer, ana, bor):
    page = desk.get("/officer")
    token = csrf_token(page.get_data(as_text=True))
    found = desk.post("/officer", data={"csrf_token": token, "query": " ANA@example.si "})
    html = found.get_data(as_text=True)
    assert found.status_code == 200
    assert f'href="/officer/people/{ana.sub}"' in html and bor.sub not in html
    by_phone = desk.post("/officer", data={"csrf_token": token, "query": "031 222 333"})
    html = by_phone.get_data(as_text=True)
    assert f'href="/officer/people/{bor.sub}"' in html and ana.sub not in html
    nobody = desk.post("/officer", data={"csrf_token": token, "query": "nihce@example.si"})
    assert 'id="no-results"' in nobody.get_data(as_text=True)
    searched = audits("officer_searched")
    assert [e.details["found"] for e in searched] == [[ana.id], [bor.id], []]
    officer_id = officer["user"].id
    assert {(e.actor, e.user_id) for e in searched} == {(f"officer:{officer_id}", officer_id)}


def test_an_officer_issues_an_id_key_shown_once(desk, officer, ana):
    page = desk.get(f"/officer/people/{ana.sub}")
    assert page.status_code == 200 and 'id="person-level"' in page.get_data(as_text=True)
    [viewed] = audits("officer_viewed_person", ana.id)
    assert viewed.actor == f"officer:{officer['user'].id}"
    response = issue_at_desk(desk, ana)
    assert response.status_code == 200
    assert "no-store" in response.headers["Cache-Control"]
    key = key_on(response)
    assert re.fullmatch(r"[A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4}", key)
    [row] = db.session.execute(db.select(IdKey)).scalars().all()
    plain = key.replace("-", "")
    assert row.user_id == ana.id and row.officer_id == officer["user"].id
    assert row.key_hash == hashlib.sha256(plain.encode()).hexdigest()
    stored = json.dumps([row.key_hash, row.evidence, str(row.expires_at)])
    assert plain not in stored and key not in stored
    assert row.evidence["document"] == {"type": "id_card", "number": "AB 123456",
                                        "expiry": branch_data()["document_expiry"]}
    assert row.evidence["person"]["tax_number"] == TAX
    assert row.used_at is None and row.failures == 0
    assert row.expires_at > utcnow() + timedelta(hours=71)
    [issued] = audits("id_key_issued", ana.id)
    assert issued.actor == f"officer:{officer['user'].id}"
    assert issued.details["id_key"] == row.id and issued.details["document_type"] == "id_card"
    assert "AB 123456" not in json.dumps(issued.details) and plain not in json.dumps(
        issued.details)
    # Issuing raised nothing yet: the person must enter the key.
    assert fresh(ana).trust_level == "low"
    # The key is not on the person's page afterwards.
    assert key not in desk.get(f"/officer/people/{ana.sub}").get_data(as_text=True)


def test_an_expired_document_gets_no_key(desk, ana):
    response = issue_at_desk(desk, ana, document_expiry=(
        date.today() - timedelta(days=1)).isoformat())
    assert response.status_code == 400
    assert db.session.execute(db.select(IdKey)).first() is None
    assert audits("id_key_issued") == []


def test_a_bad_tax_number_gets_no_key(desk, ana):
    response = issue_at_desk(desk, ana, tax_number="12345678")
    assert response.status_code == 400
    assert db.session.execute(db.select(IdKey)).first() is None


def test_an_officer_cannot_verify_their_own_account(desk, officer):
    me = officer["user"]
    page = desk.get(f"/officer/people/{me.sub}")
    assert page.status_code == 403 and 'id="refusal"' in page.get_data(as_text=True)
    response = desk.post(f"/officer/people/{me.sub}", data={
        "csrf_token": csrf_token(desk.get("/officer").get_data(as_text=True)),
        **branch_data(given_name="Maja", family_name="Zupan")})
    assert response.status_code == 403
    assert db.session.execute(db.select(IdKey)).first() is None
    refused = audits("officer_refused", me.id)
    assert len(refused) == 2 and refused[0].actor == f"officer:{me.id}"
    assert refused[0].details["reason"] == "own_account"
    assert audits("id_key_issued") == []


def test_issuing_needs_the_csrf_token(desk, ana):
    response = desk.post(f"/officer/people/{ana.sub}", data=branch_data())
    assert response.status_code == 400
    assert db.session.execute(db.select(IdKey)).first() is None


def test_unknown_people_are_not_found(desk):
    assert desk.get("/officer/people/nobody").status_code == 404
    assert desk.get("/officer/people/" + "x" * 40).status_code == 404


def test_no_key_for_the_tax_number_of_another_verified_account(desk, ana_verified, bor):
    response = issue_at_desk(desk, bor, given_name="Bor", family_name="Kralj")
    # in the officer's words: the officer is the branch the person would be sent to
    assert response.status_code == 400 and says(response, for_officer(service.TAKEN))
    assert for_officer(service.TAKEN) is not REFUSALS[service.TAKEN]
    assert db.session.execute(db.select(IdKey)).first() is None


def test_a_new_key_voids_the_previous_one(client, desk, ana, ana_en):
    first = key_on(issue_at_desk(desk, ana))
    second = key_on(issue_at_desk(desk, ana))
    assert first != second
    rows = db.session.execute(db.select(IdKey).order_by(IdKey.id)).scalars().all()
    db.session.expire_all()
    assert rows[0].used_at is not None and rows[1].used_at is None
    assert redeem(client, first).status_code == 400
    assert fresh(ana).trust_level == "low"
    assert redeem(client, second).status_code == 302
    assert fresh(ana).trust_level == "high"


# -- ID keys at the person's end --------------------------------------------------------

def redeem(client, key, url="/trust"):
    page = client.get(url)
    return client.post("/trust/id-key" + (url[len("/trust"):] if "?" in url else ""), data={
        "csrf_token": csrf_token(page.get_data(as_text=True)), "id_key": key})


@pytest.fixture
def branch_officer(make_user):
    user = make_user(email="uradnik@example.si", given_name="Uroš", family_name="Kos")
    user.is_officer = True
    db.session.commit()
    return user


def issue(officer_user, user, tax=TAX, given="Ana", family="Novak"):
    return service.issue_id_key(
        officer_user, user, service.Person(given, family, date(1990, 5, 17), tax),
        {"type": "passport", "number": "P1234567",
         "expiry": (date.today() + timedelta(days=300)).isoformat()})


def key_row(user):
    db.session.expire_all()
    return db.session.execute(
        db.select(IdKey).filter_by(user_id=user.id).order_by(IdKey.id.desc())).scalars().first()


def test_the_right_id_key_raises_to_high(client, ana, ana_en, branch_officer):
    key = issue(branch_officer, ana)
    response = redeem(client, key)
    assert response.status_code == 302 and response.headers["Location"] == "/trust"
    user = fresh(ana)
    assert user.trust_level == "high" and user.tax_number == TAX
    [proof] = evidence(user)
    assert proof.method == "branch" and proof.level == "high"
    assert proof.officer_id == branch_officer.id
    assert proof.details["document_type"] == "passport"
    assert proof.details["id_key"] == key_row(ana).id
    assert key_row(ana).used_at is not None
    [redeemed] = audits("id_key_redeemed", ana.id)
    assert redeemed.details["id_key"] == key_row(ana).id
    [changed] = audits("trust_level_changed", ana.id)
    assert changed.details["level"] == "high" and changed.details["method"] == "branch"
    assert changed.actor == f"officer:{branch_officer.id}"
    assert "P1234567" not in json.dumps(changed.details)
    html = client.get("/trust").get_data(as_text=True)
    assert 'id="trust-level">high<' in html
    # An ID key counts as a fresh proof of the person.
    with client.session_transaction() as session:
        assert session.get("id_key_at")


def test_an_id_key_works_once(client, ana, ana_en, branch_officer):
    key = issue(branch_officer, ana)
    assert redeem(client, key).status_code == 302
    again = redeem(client, key)
    assert again.status_code == 400 and says(again, REFUSALS[service.NO_KEY])
    assert len(evidence(ana)) == 1 and len(audits("id_key_redeemed")) == 1


def test_a_wrong_id_key_is_counted(client, ana, ana_en, branch_officer):
    issue(branch_officer, ana)
    response = redeem(client, "AAAA-BBBB-CCCC")
    assert response.status_code == 400 and says(response, REFUSALS[service.WRONG_KEY])
    row = key_row(ana)
    assert row.failures == 1 and row.used_at is None
    assert fresh(ana).trust_level == "low"
    [failed] = audits("id_key_failed", ana.id)
    assert failed.details["reason"] == "wrong" and failed.details["failures"] == 1


def test_too_many_wrong_keys_void_the_key(client, ana, ana_en, branch_officer):
    key = issue(branch_officer, ana)
    for attempt in range(1, service.ID_KEY_MAX_FAILURES + 1):
        response = redeem(client, "AAAA-BBBB-CCCC")
        assert response.status_code == 400
    assert says(response, REFUSALS[service.KEY_VOID])
    row = key_row(ana)
    assert row.failures == service.ID_KEY_MAX_FAILURES and row.used_at is not None
    right = redeem(client, key)
    assert right.status_code == 400 and says(right, REFUSALS[service.NO_KEY])
    assert fresh(ana).trust_level == "low" and evidence(ana) == []
    reasons = [e.details["reason"] for e in audits("id_key_failed", ana.id)]
    assert reasons == ["wrong"] * (service.ID_KEY_MAX_FAILURES - 1) + ["void", "no_key"]


def test_an_expired_id_key_is_refused(client, ana, ana_en, branch_officer):
    key = issue(branch_officer, ana)
    row = key_row(ana)
    row.expires_at = utcnow() - timedelta(minutes=1)
    db.session.commit()
    response = redeem(client, key)
    assert response.status_code == 400 and says(response, REFUSALS[service.NO_KEY])
    assert fresh(ana).trust_level == "low"


def test_a_key_of_another_account_does_not_work(app, client, ana, ana_en, bor,
                                                branch_officer):
    key = issue(branch_officer, ana)
    other = app.test_client()
    log_in(other, "bor@example.si")
    response = redeem(other, key)
    assert response.status_code == 400 and says(response, REFUSALS[service.NO_KEY])
    assert fresh(bor).trust_level == "low"
    issue(branch_officer, bor, tax=TAX_3, given="Bor", family="Kralj")
    response = redeem(other, key)
    assert response.status_code == 400 and says(response, REFUSALS[service.WRONG_KEY])
    assert fresh(bor).trust_level == "low"
    # Ana's key is untouched by Bor's attempts.
    assert key_row(ana).failures == 0
    assert redeem(client, key).status_code == 302 and fresh(ana).trust_level == "high"


def test_an_id_key_may_be_typed_in_lower_case_without_dashes(client, ana, ana_en,
                                                             branch_officer):
    key = issue(branch_officer, ana)
    response = redeem(client, " " + key.replace("-", "").lower() + " ")
    assert response.status_code == 302 and fresh(ana).trust_level == "high"


def test_an_id_key_raises_a_substantial_account_to_high(client, ana_verified, ana_en,
                                                        branch_officer):
    key = issue(branch_officer, ana_verified)
    assert redeem(client, key).status_code == 302
    assert fresh(ana_verified).trust_level == "high"
    assert sorted(e.method for e in evidence(ana_verified)) == ["branch", "certificate"]


def test_no_id_key_for_another_person(app, ana_verified, branch_officer):
    # Ana's account was verified as TAX: the officer cannot record someone else.
    with app.test_request_context(), pytest.raises(service.TrustError) as refused:
        issue(branch_officer, ana_verified, tax=TAX_3)
    assert refused.value.code == service.OTHER_PERSON
    assert key_row(ana_verified) is None and audits("id_key_issued") == []


def test_an_id_key_for_another_person_is_refused_when_redeemed(client, ana, ana_en,
                                                               branch_officer, pki):
    # The key records TAX_3; meanwhile a certificate verified the account as TAX.
    key = issue(branch_officer, ana, tax=TAX_3)
    assert post_certificate(client, pki.person("Ana", "Novak", TAX)).status_code == 302
    response = redeem(client, key)
    assert response.status_code == 400 and says(response, REFUSALS[service.OTHER_PERSON])
    user = fresh(ana)
    assert user.trust_level == "substantial" and user.tax_number == TAX
    assert [e.method for e in evidence(user)] == ["certificate"]
    assert audits("id_key_redeemed") == []


def test_redeeming_needs_a_login_and_csrf(client, ana, branch_officer):
    key = issue(branch_officer, ana)
    response = client.post("/trust/id-key", data={
        "csrf_token": csrf_token(client.get("/login").get_data(as_text=True)), "id_key": key})
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")
    log_in(client, "ana@example.si")
    assert client.post("/trust/id-key", data={"id_key": key}).status_code == 400
    assert fresh(ana).trust_level == "low" and key_row(ana).used_at is None


def test_no_key_at_all(client, ana, ana_en):
    response = redeem(client, "ABCD-EFGH-JKLM")
    assert response.status_code == 400 and says(response, REFUSALS[service.NO_KEY])
    [failed] = audits("id_key_failed", ana.id)
    assert failed.details["reason"] == "no_key"


def test_from_the_console_to_a_high_account(client, desk, officer, ana, ana_en):
    key = key_on(issue_at_desk(desk, ana))
    assert redeem(client, key).status_code == 302
    user = fresh(ana)
    assert user.trust_level == "high"
    [proof] = evidence(user)
    assert proof.officer_id == officer["user"].id
    assert proof.details["document_number"] == "AB 123456"
    page = desk.get(f"/officer/people/{ana.sub}").get_data(as_text=True)
    assert 'id="person-level">high<' in page


# -- idp officers ---------------------------------------------------------------------------

def test_officers_grant_list_and_revoke(client, runner, ana, ana_en, clock):
    assert "No officers." in runner.invoke(args=["officers", "list"]).output
    result = runner.invoke(args=["officers", "grant", "ana@example.si"])
    assert result.exit_code == 0, result.output
    assert user_by_email("ana@example.si").is_officer
    assert "ana@example.si" in runner.invoke(args=["officers", "list"]).output
    # Ana adds an authenticator app and logs in with it: she is in the console.
    ana_en.add_totp(T0)
    clock["now"] = T0 + 60
    url = ana_en.login().headers["Location"]
    assert ana_en.follow(ana_en.answer_totp(url, T0 + 60)).status_code == 200
    assert client.get("/officer").status_code == 200
    live = db.session.execute(db.select(LoginSession).filter_by(
        user_id=ana.id, ended_at=None)).scalars().all()
    assert live
    result = runner.invoke(args=["officers", "revoke", "ana@example.si"])
    assert result.exit_code == 0, result.output
    user = user_by_email("ana@example.si")
    assert not user.is_officer
    assert db.session.execute(db.select(LoginSession).filter_by(
        user_id=ana.id, ended_at=None)).first() is None
    response = client.get("/officer")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")
    assert "No officers." in runner.invoke(args=["officers", "list"]).output
    assert [e.actor for e in audits("officer_granted", ana.id)] == ["operator:cli"]
    assert [e.actor for e in audits("officer_revoked", ana.id)] == ["operator:cli"]


def test_officers_commands_refuse_unknown_accounts(runner):
    for command in ("grant", "revoke"):
        result = runner.invoke(args=["officers", command, "nihce@example.si"])
        assert result.exit_code != 0


def test_officers_create_refuses_a_taken_e_mail(runner, ana):
    result = runner.invoke(args=[
        "officers", "create", "--email", "ana@example.si", "--phone", "031 555 666",
        "--password", PASSWORD, "--given-name", "Ana", "--family-name", "Novak", "--json"])
    assert result.exit_code != 0
    assert not user_by_email("ana@example.si").is_officer


# -- tax numbers are kept in one spelling ---------------------------------------------------

@pytest.mark.parametrize("typed", ["SI21111103", "2111 1103", "si 2111-1103"])
def test_a_tax_number_is_stored_in_one_spelling(client, ana, ana_en, gateway, typed):
    assert post_card(client, tax_number=typed).status_code == 302
    assert evidence(ana)[0].tax_number == TAX


@pytest.mark.parametrize("typed", ["SI21111103", "2111 1103"])
def test_another_spelling_of_a_taken_tax_number_is_still_taken(
        client, ana_verified, bor, gateway, typed):
    log_in(client, "bor@example.si")
    response = post_card(client, given_name="Bor", family_name="Kralj", tax_number=typed)
    assert response.status_code == 400 and says(response, REFUSALS[service.TAKEN])
    assert fresh(bor).trust_level == "low" and fresh(bor).tax_number is None


def test_the_certificates_tax_number_in_another_spelling_is_accepted(client, ana, ana_en, pki):
    response = post_certificate(client, pki.person("Ana", "Novak", TAX), tax_number="SI21111103")
    assert response.status_code == 302 and fresh(ana).tax_number == TAX


def test_an_officer_records_the_tax_number_in_one_spelling(desk, ana):
    key_on(issue_at_desk(desk, ana, tax_number="SI 2111 1103"))
    assert key_row(ana).evidence["person"]["tax_number"] == TAX


# -- review findings ---------------------------------------------------------------------

def test_an_officer_cannot_raise_a_second_account_in_their_own_name(desk, officer, make_user):
    own = make_user(email="zasebno@example.si")
    response = issue_at_desk(desk, own, given_name="Maja", family_name="Zupan")
    assert response.status_code == 400 and says(response, REFUSALS[service.OWN_ACCOUNT])
    assert key_row(own) is None
    assert audits("officer_refused", own.id)[0].details["reason"] == "evidence"


def test_a_key_of_an_officer_who_is_no_longer_one_does_not_work(client, ana, ana_en,
                                                                branch_officer):
    key = issue(branch_officer, ana)
    branch_officer.is_officer = False  # e.g. the account was changed directly
    db.session.commit()
    assert says(redeem(client, key), REFUSALS[service.NO_KEY])
    assert fresh(ana).trust_level == "low"


def test_revoking_an_officer_voids_the_keys_they_issued(client, runner, ana, ana_en,
                                                       branch_officer):
    key = issue(branch_officer, ana)
    assert runner.invoke(args=["officers", "revoke", branch_officer.email]).exit_code == 0
    assert key_row(ana) is None or fresh_key(ana).used_at is not None
    assert redeem(client, key).status_code == 400


def fresh_key(user):
    db.session.expire_all()
    return db.session.execute(db.select(IdKey).filter_by(user_id=user.id)).scalar_one()


@pytest.mark.parametrize("sub", ["%00", "a%00b", "x" * 36])
def test_odd_person_ids_in_the_console_are_not_found(desk, sub):
    assert desk.get(f"/officer/people/{sub}").status_code == 404


def test_card_checks_are_limited_per_account(app, client, ana, ana_en, gateway):
    app.config["CARD_CHECK_LIMIT"] = "2 per day"
    for _ in range(2):
        assert post_card(client, number="4000 0000 0000 0002").status_code == 400
    assert post_card(client, number="4000 0000 0000 0002").status_code == 429
    assert len(gateway.calls) == 2


def test_a_verified_account_needs_a_strong_login_to_change_the_mobile(client, ana_verified,
                                                                      ana_en):
    response = client.get("/account/phone")
    assert response.status_code == 302 and response.headers["Location"] == "/"
    page = client.get("/").get_data(as_text=True)
    assert "second factor" in page


def test_an_officer_unlocks_a_locked_puk(desk, ana, officer):
    from idp.timeutil import utcnow

    ana.puk_locked_at, ana.puk_failures = utcnow(), 5
    db.session.commit()
    page = desk.get(f"/officer/people/{ana.sub}").get_data(as_text=True)
    assert 'id="puk-locked"' in page
    assert desk.post(f"/officer/people/{ana.sub}/unlock-puk").status_code == 400  # no CSRF
    response = desk.post(f"/officer/people/{ana.sub}/unlock-puk",
                         data={"csrf_token": csrf_token(page)})
    assert response.status_code == 302
    user = fresh(ana)
    assert user.puk_locked_at is None and user.puk_failures == 0
    [event] = audits("puk_unlocked", ana.id)
    assert event.actor == f"officer:{officer['user'].id}"


def test_an_officer_cannot_unlock_their_own_puk(desk, officer):
    own = officer["user"]
    page = desk.get("/officer").get_data(as_text=True)
    response = desk.post(f"/officer/people/{own.sub}/unlock-puk",
                         data={"csrf_token": csrf_token(page)})
    assert response.status_code == 403

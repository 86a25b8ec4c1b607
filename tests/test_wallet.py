"""Raising the trust level with the EU Digital Identity Wallet: the OpenID4VP
transaction end to end, with the software wallet (``tests/wallet.py``)
answering the real request object, in both flows; the account rules; the
refusals in plain words and in the audit log."""

import html
import json
import re
from datetime import date

import pytest
from markupsafe import escape

from idp.audit import AuditEvent
from idp.extensions import db, store
from idp.store import get_json, set_json
from idp.trust import service as trust_service
from idp.trust.models import IdentityEvidence
from idp.trust.wallet import openid4vp
from idp.trust.wallet.service import REFUSED, rule_problem
from people import Person
from pid_provider import ANA, PidProvider, holder_key, verifier_certificate, INVALID
from wallet import FlaskHttp, Wallet, WalletError, x509_hash

TAX = "21111103"


@pytest.fixture
def pids(app, tmp_path):
    provider = PidProvider(tmp_path / "pid-providers")
    cert, key = verifier_certificate(tmp_path / "verifier")
    app.config.update(PID_PROVIDERS_DIR=str(tmp_path / "pid-providers"),
                      VERIFIER_CERT_FILE=str(cert), VERIFIER_KEY_FILE=str(key))
    yield provider
    provider.stop()


def english(client):
    with client.session_transaction() as session:
        session["lang"] = "en"


@pytest.fixture
def ana_en(client, ana_person):
    english(client)
    return ana_person


def says(response, message):
    return str(escape(str(message))) in response.get_data(as_text=True)


def wallet_of(app, provider, claims=None, **issue):
    holder = holder_key()
    return Wallet(provider.issue(holder, claims, **issue), holder, FlaskHttp(app.test_client()))


def same_device_link(client, url="/trust/wallet"):
    page = client.get(url)
    assert page.status_code == 200, page.get_data(as_text=True)
    match = re.search(r'id="open-wallet" href="([^"]+)"', page.get_data(as_text=True))
    return html.unescape(match.group(1))


def tid_of(link):
    from urllib.parse import parse_qs, urlsplit

    return parse_qs(urlsplit(link).query)["request_uri"][0].rsplit("/", 1)[1]


def back_in_browser(client, answer):
    """The browser follows the wallet's redirect_uri."""
    assert answer.status == 200, answer.body
    uri = answer.json()["redirect_uri"]
    assert uri.startswith("http://localhost:5000/trust/wallet/done?response_code=")
    return client.get(uri[len("http://localhost:5000"):])


def fresh(user):
    db.session.expire_all()
    return db.session.get(type(user), user.id)


def audits(event):
    return db.session.execute(db.select(AuditEvent).filter_by(event=event)
                              .order_by(AuditEvent.id)).scalars().all()


def evidence(user):
    return db.session.execute(
        db.select(IdentityEvidence).filter_by(user_id=user.id)).scalars().all()


# -- same device ------------------------------------------------------------------------

def test_same_device_raises_to_high_with_evidence(app, client, ana, ana_en, pids, smtp_sink):
    page = client.get("/trust")
    assert 'id="use-wallet" href="/trust/wallet"' in page.get_data(as_text=True)
    wallet = wallet_of(app, pids)
    answer = wallet.answer(same_device_link(client))
    request = wallet.request
    assert request["client_id"].startswith("x509_hash:")
    assert request["response_mode"] == "direct_post.jwt"
    assert request["client_metadata"]["encrypted_response_enc_values_supported"] == [
        "A128GCM", "A256GCM"]
    assert request["client_metadata"]["jwks"]["keys"][0]["alg"] == "ECDH-ES"
    assert request["dcql_query"]["credentials"][0]["claim_sets"][0] == [
        "given_name", "family_name", "birthdate", "issuing_country",
        "personal_administrative_number"]
    assert "wallet_nonce" in request
    [authorities] = request["dcql_query"]["credentials"][0]["trusted_authorities"]
    assert authorities["type"] == "aki" and len(authorities["values"]) == 1
    response = back_in_browser(client, answer)
    assert response.status_code == 302 and response.headers["Location"] == "/trust"
    user = fresh(ana)
    assert user.trust_level == "high" and user.birthdate == date(1990, 5, 17)
    assert user.tax_number is None  # SI is not configured as a tax-number country
    [row] = evidence(ana)
    assert (row.method, row.level, row.given_name, row.family_name) == (
        "wallet", "high", "Ana", "Novak")
    assert row.details["administrative_number"] == TAX
    assert row.details["issuing_country"] == "SI"
    assert row.details["vct"] == "urn:eudi:pid:1" and row.details["flow"] == "same_device"
    assert row.details["issuer"] == "CN=Test PID Signer,O=Test PID Provider,C=SI"
    assert row.details["trust_anchor"] == "CN=Test PID Root CA,O=Test PID Provider,C=SI"
    assert row.details["status_checked"] == f"{pids.status_uri}#{pids.last_index}"
    assert len(row.details["credential_digest"]) == 43
    [event] = audits("trust_level_changed")
    assert event.details["method"] == "wallet" and event.details["level"] == "high"
    assert event.details["flow"] == "same_device" and "administrative_number" not in event.details
    assert "Your trust level is now high." in client.get("/trust").get_data(as_text=True)
    assert any("high" in m.get_body().get_content() for m in smtp_sink.messages
               if m["To"] == "ana@example.si")


def test_the_request_object_is_signed_by_the_access_certificate(app, client, ana, ana_en, pids):
    link = same_device_link(client)
    wallet = wallet_of(app, pids)
    claims = wallet.fetch_request(link, wallet_nonce="nonce-of-the-wallet")
    assert claims["wallet_nonce"] == "nonce-of-the-wallet"
    identity = openid4vp.verifier_identity(app)
    assert claims["client_id"] == "x509_hash:" + x509_hash(identity.chain[0])
    # GET (a wallet without request_uri_method=post) gets it too, without wallet_nonce.
    tid = tid_of(link)
    answer = FlaskHttp(app.test_client()).get(f"/openid4vp/request/{tid}")
    assert answer.status == 200 and answer.content_type == "application/oauth-authz-req+jwt"
    assert FlaskHttp(app.test_client()).get("/openid4vp/request/" + "x" * 32).status == 404


def test_x509_san_dns_names_the_verifier_by_its_host(app, client, ana, ana_en, pids):
    app.config["VERIFIER_CLIENT_ID_PREFIX"] = "x509_san_dns"
    wallet = wallet_of(app, pids)
    assert wallet.fetch_request(same_device_link(client))["client_id"] == \
        "x509_san_dns:localhost"


def test_without_pid_providers_the_wallet_is_off(app, client, ana, ana_en):
    assert client.get("/trust/wallet").status_code == 404
    assert 'id="use-wallet"' not in client.get("/trust").get_data(as_text=True)


@pytest.mark.parametrize("enc", ["A128GCM", "A256GCM"])
def test_both_enc_values_are_accepted(app, client, ana, ana_en, pids, enc):
    answer = wallet_of(app, pids).answer(same_device_link(client), enc=enc)
    assert back_in_browser(client, answer).status_code == 302
    assert fresh(ana).trust_level == "high"


@pytest.mark.parametrize("alg, enc", [("ECDH-ES+A128KW", "A128GCM"), ("ECDH-ES", "A192GCM"),
                                      ("ECDH-ES", "A128CBC-HS256")])
def test_refused_encryption_algorithms(app, client, ana, ana_en, pids, alg, enc):
    wallet = wallet_of(app, pids)
    wallet.fetch_request(same_device_link(client))
    payload = {"vp_token": {"pid": [wallet.present()]}, "state": wallet.request["state"]}
    answer = wallet.post_response(wallet.encrypt(payload, enc=enc, alg=alg))
    assert (answer.status, answer.json()["error_description"]) == (400, "algorithm")
    # Not consumed: the right answer still counts.
    answer = wallet.post_response(wallet.encrypt(payload))
    assert back_in_browser(client, answer).status_code == 302


def test_an_unencrypted_response_is_refused(app, client, ana, ana_en, pids):
    wallet = wallet_of(app, pids)
    wallet.fetch_request(same_device_link(client))
    answer = wallet.http.post(wallet.request["response_uri"], {
        "vp_token": json.dumps({"pid": [wallet.present()]}), "state": wallet.request["state"]})
    assert (answer.status, answer.json()["error_description"]) == (400, "not_encrypted")


def test_a_replayed_response_is_refused(app, client, ana, ana_en, pids):
    wallet = wallet_of(app, pids)
    wallet.fetch_request(same_device_link(client))
    response = wallet.encrypt({"vp_token": {"pid": [wallet.present()]},
                               "state": wallet.request["state"]})
    first = wallet.post_response(response)
    second = wallet.post_response(response)
    assert first.status == 200
    assert (second.status, second.json()["error_description"]) == (
        400, "this transaction was already answered")
    assert [e.details["reason"] for e in audits("wallet_refused")] == ["replayed"]
    assert back_in_browser(client, first).status_code == 302
    # The response code is single use too.
    again = client.get(first.json()["redirect_uri"][len("http://localhost:5000"):])
    assert again.status_code == 400 and says(again, REFUSED["expired"])


def test_an_expired_transaction_is_refused(app, client, ana, ana_en, pids):
    link = same_device_link(client)
    wallet = wallet_of(app, pids)
    wallet.fetch_request(link)
    tid = tid_of(link)
    tx = get_json(store(), "wallet:tx:" + tid)
    tx["expires_at"] = tx["created"] - 1
    set_json(store(), "wallet:tx:" + tid, tx, 60)
    answer = wallet.post_response(wallet.encrypt({"vp_token": {"pid": [wallet.present()]},
                                                  "state": wallet.request["state"]}))
    assert (answer.status, answer.json()["error_description"]) == (
        400, "the transaction has expired")
    assert FlaskHttp(app.test_client()).get(f"/openid4vp/request/{tid}").status == 404
    assert [e.details["reason"] for e in audits("wallet_refused")] == ["expired"]
    assert fresh(ana).trust_level == "low"


def test_a_response_code_redeemed_by_another_browser_session_is_refused(
        app, client, ana, ana_en, pids):
    answer = wallet_of(app, pids).answer(same_device_link(client))
    stranger = app.test_client()
    english(stranger)
    Person(stranger, "ana@example.si").follow(Person(stranger, "ana@example.si").login())
    refused = back_in_browser(stranger, answer)
    assert refused.status_code == 403 and says(refused, REFUSED["other_session"])
    assert fresh(ana).trust_level == "low"
    event = audits("wallet_refused")[-1]
    assert (event.details["reason"], event.details["reason_class"]) == (
        "other_session", "transaction")
    # The browser that started still can.
    assert back_in_browser(client, answer).status_code == 302
    assert fresh(ana).trust_level == "high"


def test_a_refused_pid_is_explained_and_audited_without_personal_data(
        app, client, ana, ana_en, pids):
    wallet = wallet_of(app, pids)
    pids.statuses[pids.last_index] = INVALID
    response = back_in_browser(client, wallet.answer(same_device_link(client)))
    assert response.status_code == 400 and says(response, REFUSED["revoked"])
    assert fresh(ana).trust_level == "low" and evidence(ana) == []
    [event] = audits("wallet_refused")
    assert event.details == {"reason": "revoked", "reason_class": "revoked",
                             "flow": "same_device"}


def test_a_modified_presentation_is_refused_through_the_endpoint(app, client, ana, ana_en, pids):
    def tamper(presentation):
        jwt, *rest = presentation.split("~")
        return "~".join([jwt, *rest[1:]])  # a disclosure dropped
    response = back_in_browser(client, wallet_of(app, pids).answer(
        same_device_link(client), tamper=tamper))
    assert response.status_code == 400 and says(response, REFUSED["unreadable"]), response.get_data(as_text=True)
    assert audits("wallet_refused")[0].details["reason"] == "sd_hash"


def test_the_wallet_may_decline(app, client, ana, ana_en, pids):
    wallet = wallet_of(app, pids)
    wallet.fetch_request(same_device_link(client))
    answer = wallet.http.post(wallet.request["response_uri"], {
        "error": "access_denied", "state": wallet.request["state"]})
    response = back_in_browser(client, answer)
    assert response.status_code == 400 and says(response, REFUSED["declined"])


def test_a_pid_without_the_administrative_number_raises_too(app, client, ana, ana_en, pids):
    wallet = wallet_of(app, pids, drop=["personal_administrative_number"])
    assert back_in_browser(client, wallet.answer(same_device_link(client))).status_code == 302
    [row] = evidence(ana)
    assert row.details["administrative_number"] is None and fresh(ana).trust_level == "high"


def test_the_administrative_number_is_a_tax_number_only_where_configured(
        app, client, ana, ana_en, pids):
    app.config["PID_TAX_NUMBER_COUNTRIES"] = "SI"
    back_in_browser(client, wallet_of(app, pids).answer(same_device_link(client)))
    assert fresh(ana).tax_number == TAX


def test_names_that_differ_from_the_account_are_refused(app, client, ana, ana_en, pids):
    wallet = wallet_of(app, pids, {**ANA, "given_name": "Eva", "family_name": "Horvat"})
    response = back_in_browser(client, wallet.answer(same_device_link(client)))
    assert response.status_code == 400 and says(response, REFUSED["names"])
    assert fresh(ana).trust_level == "low"
    assert audits("wallet_refused")[0].details == {"reason": "names", "reason_class": "account",
                                                   "flow": "same_device"}


def test_a_second_account_for_the_same_person_is_refused(app, client, ana, ana_en, pids,
                                                         make_user):
    assert back_in_browser(client, wallet_of(app, pids).answer(
        same_device_link(client))).status_code == 302
    make_user(email="ana.druga@example.si")
    other = app.test_client()
    english(other)
    Person(other, "ana.druga@example.si").follow(Person(other, "ana.druga@example.si").login())
    response = back_in_browser(other, wallet_of(app, pids).answer(same_device_link(other)))
    assert response.status_code == 400 and says(response, REFUSED["taken"])


def test_without_an_administrative_number_names_and_birth_date_key_the_person(
        app, client, ana, ana_en, pids, make_user):
    trust_service.raise_trust_level(
        make_user(email="druga@example.si"), "substantial",
        trust_service.Person("Ana", "Novak", date(1990, 5, 17), None), "card",
        {"gateway": "sandbox", "reference": "r", "last4": "4242"})
    wallet = wallet_of(app, pids, drop=["personal_administrative_number"])
    response = back_in_browser(client, wallet.answer(same_device_link(client)))
    assert response.status_code == 400 and says(response, REFUSED["taken"])


# -- cross device -----------------------------------------------------------------------

@pytest.fixture
def ana_by_card(ana):
    trust_service.raise_trust_level(
        ana, "substantial", trust_service.Person("Ana", "Novak", date(1990, 5, 17), None),
        "card", {"gateway": "sandbox", "reference": "r1", "last4": "4242"})
    return ana


def qr_page(client):
    page = client.get("/trust/wallet/qr")
    text = page.get_data(as_text=True)
    assert page.status_code == 200 and '<svg' in text
    link = html.unescape(re.search(r'data-wallet-link="([^"]+)"', text).group(1))
    check = html.unescape(re.search(r'data-check-url="([^"]+)"', text).group(1))
    status = html.unescape(re.search(r'data-status-url="([^"]+)"', text).group(1))
    return link, status, check


def test_cross_device_confirms_a_substantial_identity(app, client, ana_by_card, ana_en, pids):
    link, status, check = qr_page(client)
    assert client.get(status).json == {"status": "pending"}
    waiting = client.get(check)
    assert waiting.status_code == 200 and 'id="check-now"' in waiting.get_data(as_text=True)
    answer = wallet_of(app, pids).answer(link)
    assert answer.status == 200 and answer.json() == {}  # no redirect: another device
    assert client.get(status).json == {"status": "answered"}
    response = client.get(check)
    assert response.status_code == 302 and response.headers["Location"] == "/trust"
    user = fresh(ana_by_card)
    assert user.trust_level == "high"
    assert sorted(e.method for e in evidence(user)) == ["card", "wallet"]
    # Another browser cannot read the status.
    assert app.test_client().get(status).status_code == 302  # to the login page


def test_cross_device_from_low_is_refused(app, client, ana, ana_en, pids):
    page = client.get("/trust/wallet/qr")
    text = page.get_data(as_text=True)
    assert page.status_code == 200 and 'id="cross-device-unavailable"' in text
    assert "<svg" not in text
    assert 'id="cross-device-unavailable"' in client.get("/trust/wallet").get_data(as_text=True)
    pid = openid4vp  # the rule itself, whatever the page shows
    from idp.trust.wallet.pid import VerifiedPid

    verified = VerifiedPid("Ana", "Novak", date(1990, 5, 17), "SI", TAX, "urn:eudi:pid:1",
                           "https://pid.test", "CN=x", "CN=y", "d", {"uri": "u", "idx": 0})
    assert rule_problem(fresh(ana), verified, pid.CROSS_DEVICE) == "cross_device_low"
    assert rule_problem(fresh(ana), verified, pid.SAME_DEVICE) is None


# -- step-up ----------------------------------------------------------------------------

def test_step_up_for_high_continues_the_paused_request(app, client, flow, rp, ana, pids):
    english(client)
    f = flow(rp)
    path, text = f.follow_to_page(f.login(
        f.start(acr_values="http://eidas.europa.eu/LoA/high"), "ana@example.si"))
    assert path.startswith("/trust?interaction=")
    iid = path.split("interaction=")[1]
    assert f'href="/trust/wallet?interaction={iid}"' in text
    answer = wallet_of(app, pids).answer(same_device_link(client, f"/trust/wallet?interaction={iid}"))
    response = back_in_browser(client, answer)
    assert response.status_code == 302
    assert response.headers["Location"] == f"/authorize/resume/{iid}"
    assert fresh(ana).trust_level == "high"


def test_the_software_wallet_refuses_a_tampered_request(app, client, ana, ana_en, pids):
    link = same_device_link(client).replace("client_id=x509_hash%3A", "client_id=x509_hash%3AX")
    with pytest.raises(WalletError):
        wallet_of(app, pids).fetch_request(link)


def test_the_pages_speak_slovenian_first(app, client, ana, ana_person, pids):
    page = client.get("/trust/wallet").get_data(as_text=True)
    assert "Odpri mojo denarnico" in page and '<html lang="sl">' in page
    wallet = wallet_of(app, pids, {**ANA, "given_name": "Eva"})
    refused = back_in_browser(client, wallet.answer(same_device_link(client)))
    assert "Ime v denarnici ni ime, ki je na tem računu že preverjeno." in \
        refused.get_data(as_text=True)


# -- every reason class in plain words, and setup errors --------------------------------

def _answer_with(app, client, pids, disclose=None, **issue):
    wallet = wallet_of(app, pids, **issue)
    wallet.fetch_request(same_device_link(client))
    presentation = wallet.present(disclose=disclose)
    return wallet.post_response(wallet.encrypt({"vp_token": {"pid": [presentation]},
                                                "state": wallet.request["state"]}))


@pytest.mark.parametrize("issue, disclose, reason, reason_class", [
    ({"vct": "urn:eudi:pid:xx:1"}, None, "vct", "untrusted"),
    ({"exp": 1_700_000_000}, None, "expired", "not_valid"),
    ({"status": False}, None, "no_status", "untrusted"),
    ({}, {"given_name": True, "family_name": True}, "claims_missing", "incomplete"),
])
def test_each_refusal_class_has_its_plain_words(app, client, ana, ana_en, pids, issue, disclose,
                                                reason, reason_class):
    response = back_in_browser(client, _answer_with(app, client, pids, disclose, **issue))
    assert response.status_code == 400 and says(response, REFUSED[reason_class])
    assert 'data-reason="%s"' % reason_class in response.get_data(as_text=True)
    assert audits("wallet_refused")[0].details == {
        "reason": reason, "reason_class": reason_class, "flow": "same_device"}
    assert fresh(ana).trust_level == "low"


def test_an_unreachable_status_list_says_try_later(app, client, ana, ana_en, pids):
    wallet = wallet_of(app, pids)
    pids.down = True
    response = back_in_browser(client, wallet.answer(same_device_link(client)))
    assert response.status_code == 400 and says(response, REFUSED["unavailable"])


def test_a_tampered_ciphertext_is_refused_and_not_consumed(app, client, ana, ana_en, pids):
    wallet = wallet_of(app, pids)
    wallet.fetch_request(same_device_link(client))
    good = wallet.encrypt({"vp_token": {"pid": [wallet.present()]},
                           "state": wallet.request["state"]})
    head, key, iv, ciphertext, tag = good.split(".")
    bad = ".".join([head, key, iv, ("A" if ciphertext[0] != "A" else "B") + ciphertext[1:], tag])
    answer = wallet.post_response(bad)
    assert (answer.status, answer.json()["error"]) == (400, "invalid_request")
    assert answer.json()["error_description"].startswith("undecryptable")
    assert back_in_browser(client, wallet.post_response(good)).status_code == 302


def test_the_verifier_sends_no_trust_anchor_in_x5c(app, client, ana, ana_en, pids):
    from joserfc import jws
    from wallet import REGISTRY

    link = same_device_link(client)
    body = FlaskHttp(app.test_client()).get(f"/openid4vp/request/{tid_of(link)}").body
    header = jws.extract_compact(body.encode(), registry=REGISTRY).headers()
    assert len(header["x5c"]) == 1 and header["typ"] == "oauth-authz-req+jwt"


def test_a_missing_anchor_folder_is_a_503_not_a_500(app, client, ana, ana_en, pids, tmp_path):
    app.config["PID_PROVIDERS_DIR"] = str(tmp_path / "nowhere")
    assert client.get("/trust/wallet").status_code == 503
    (tmp_path / "empty").mkdir()
    app.config["PID_PROVIDERS_DIR"] = str(tmp_path / "empty")  # no anchor in it
    assert client.get("/trust/wallet").status_code == 503


def test_the_query_names_our_trust_anchors_only(app, client, ana, ana_en, pids, tmp_path):
    stranger = PidProvider(tmp_path / "elsewhere")
    try:
        wallet = wallet_of(app, stranger)
        wallet.fetch_request(same_device_link(client))
        with pytest.raises(WalletError, match="not from an authority the verifier trusts"):
            wallet.disclose()
    finally:
        stranger.stop()


def test_an_account_at_high_is_not_offered_the_wallet(app, client, ana, ana_en, pids):
    back_in_browser(client, wallet_of(app, pids).answer(same_device_link(client)))
    assert 'id="use-wallet"' not in client.get("/trust").get_data(as_text=True)
    # Nor can it use it: the wallet never lowers or repeats anything.
    response = back_in_browser(client, wallet_of(app, pids).answer(same_device_link(client)))
    assert response.status_code == 400 and says(response, REFUSED["not_higher"])
    assert len(evidence(ana)) == 1


def test_the_dashboard_names_the_wallet_as_a_way_to_high(app, client, ana, ana_en, pids):
    page = client.get("/").get_data(as_text=True)
    assert "Share your personal identification data (PID) from the EU Digital Identity" in page


def test_the_response_key_is_sealed_in_the_shared_store(app, client, ana, ana_en, pids):
    tid = tid_of(same_device_link(client))
    stored = get_json(store(), "wallet:tx:" + tid)
    assert len(stored["key"]["d"]) == 95  # nonce + the sealed 43 characters + tag
    live = openid4vp.load_transaction(store(), tid, secret=app.config["SECRET_KEY"])
    assert len(live["key"]["d"]) == 43
    assert openid4vp.load_transaction(store(), tid, secret="another secret") is None


def test_an_encrypted_error_response_is_a_decline(app, client, ana, ana_en, pids):
    wallet = wallet_of(app, pids)
    wallet.fetch_request(same_device_link(client))
    wrong = wallet.post_response(wallet.encrypt({"error": "access_denied", "state": "other"}))
    assert (wrong.status, wrong.json()["error_description"]) == (400, "state")
    answer = wallet.post_response(wallet.encrypt({"error": "access_denied",
                                                  "state": wallet.request["state"]}))
    response = back_in_browser(client, answer)
    assert response.status_code == 400 and says(response, REFUSED["declined"])
    assert [e.details["reason"] for e in audits("wallet_refused")] == ["declined"]


def test_a_birth_date_that_differs_from_the_evidence_is_refused(app, client, ana_by_card,
                                                                ana_en, pids):
    wallet = wallet_of(app, pids, {**ANA, "birthdate": "1991-01-01"})
    response = back_in_browser(client, wallet.answer(same_device_link(client)))
    assert response.status_code == 400 and says(response, REFUSED["other_person"])
    assert fresh(ana_by_card).trust_level == "substantial"


def test_list_settings_may_be_json_or_comma_separated():
    from idp.trust.wallet.service import as_list

    assert as_list(["urn:eudi:pid:1"]) == ["urn:eudi:pid:1"]
    assert as_list("urn:eudi:pid:1, urn:eudi:pid:si:1") == ["urn:eudi:pid:1", "urn:eudi:pid:si:1"]
    assert as_list(None) == [] and as_list("") == []

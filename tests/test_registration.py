"""Registration: details → e-mail code → SMS code → PUK → choose, started from
an RP's authorization request and ending with its ID token. Codes are read
from the real SMTP and SMS sinks."""

import json
import re
import secrets

import pytest

from helpers import csrf_token, query_of
from test_token import decode_id_token
from idp.accounts import passwords
from idp.accounts.models import User
from idp.accounts.puk import ALPHABET, verify_puk
from idp.audit import AuditEvent
from idp.extensions import db
from idp import codes

NEW_PASSWORD = "Modra-Lipa-42"
ACR_LOW = "http://eidas.europa.eu/LoA/low"


def fid_of(location):
    return re.search(r"/register/([^/]+)/", location).group(1)


class Registrar:
    """A person registering through the pages, with the Flask test client."""

    def __init__(self, client, smtp, sms):
        self.http, self.smtp, self.sms = client, smtp, sms

    def details(self, iid=None, **fields):
        page = self.http.get("/register", query_string={"interaction": iid} if iid else {})
        assert page.status_code == 200, page.data
        data = {"csrf_token": csrf_token(page.get_data(as_text=True)), "interaction": iid or "",
                "email": f"nova-{secrets.token_hex(3)}@example.si", "password": NEW_PASSWORD,
                "password_repeat": NEW_PASSWORD, "phone_region": "SI", "phone": "041 555 123",
                "terms": "y"}
        data.update(fields)
        self.email = data["email"]
        return self.http.post("/register", data={k: v for k, v in data.items() if v is not None})

    def post(self, url, page=None, **data):
        """POST a form of ``page`` (default: the page at ``url``) with its CSRF token."""
        html = self.http.get(page or url).get_data(as_text=True)
        return self.http.post(url, data={"csrf_token": csrf_token(html), **data})

    def resend(self, fid, step="email"):
        return self.post(f"/register/{fid}/resend", page=f"/register/{fid}/{step}")

    def code(self, fid, step, code):
        return self.post(f"/register/{fid}/{step}", code=code)

    def through_codes(self, iid=None, **fields):
        """Details and both codes; returns the flow id at the PUK step."""
        response = self.details(iid, **fields)
        assert response.status_code == 302, response.get_data(as_text=True)
        fid = fid_of(response.headers["Location"])
        assert self.code(fid, "email", self.smtp.last_code(self.email)).headers["Location"] \
            .endswith(f"/register/{fid}/phone")
        response = self.code(fid, "phone", self.sms.last_code("+38641555123"))
        assert response.headers["Location"].endswith(f"/register/{fid}/puk")
        return fid

    def puk(self, fid):
        html = self.http.get(f"/register/{fid}/puk").get_data(as_text=True)
        return re.search(r'id="puk">([A-Z0-9]{8})<', html).group(1)


@pytest.fixture
def person(client, smtp_sink, sms_sink):
    return Registrar(client, smtp_sink, sms_sink)


def interaction_of(response):
    return query_of(response.headers["Location"])["interaction"]


def test_registration_from_the_rp_ends_with_its_id_token(client, flow, rp, person, smtp_sink):
    f = flow(rp)
    start = f.start(state="st-registration")
    iid = interaction_of(start)
    login_page = client.get(start.headers["Location"]).get_data(as_text=True)
    assert "Ustvari račun" in login_page and f"/register?interaction={iid}" in login_page

    details = client.get(f"/register?interaction={iid}").get_data(as_text=True)
    for label in ("E-naslov", "Geslo", "Številka mobilnega telefona",
                  "Strinjam se s Pogoji uporabe", "Naprej", "Prekliči"):
        assert label in details
    assert 'autocomplete="new-password"' in details and 'autocomplete="tel"' in details

    fid = person.through_codes(iid)
    message = smtp_sink.to(person.email)[-1]
    assert "koda" in message["Subject"].lower()

    puk = person.puk(fid)
    assert len(puk) == 8 and set(puk) <= set(ALPHABET)
    user = db.session.execute(db.select(User).filter_by(email=person.email)).scalar_one()
    assert user.phone == "+38641555123" and user.email_verified and user.phone_verified
    assert user.trust_level == "low" and user.locale == "sl"
    assert passwords.verify_password(user.password_hash, NEW_PASSWORD)
    assert verify_puk(user.puk_hash, puk) and puk not in user.puk_hash

    chosen = person.post(f"/register/{fid}/puk", stored="y")
    assert chosen.headers["Location"].endswith(f"/register/{fid}/done")
    done = client.get(f"/register/{fid}/done").get_data(as_text=True)
    assert "Zaključi postopek registracije → NA STORITEV" in done
    assert "Registriraj dodatne načine prijave" in done

    html = client.get(f"/register/{fid}/done").get_data(as_text=True)
    back = client.post(f"/register/{fid}/done", data={"csrf_token": csrf_token(html),
                                                      "finish": "1"})
    params, _ = f.follow_to_rp(back)
    assert params["state"] == "st-registration" and "code" in params
    tokens = f.exchange(params["code"], secret=rp.secret).get_json()
    claims = decode_id_token(client, tokens["id_token"], audience=rp.client_id).claims
    assert claims["sub"] == user.sub and claims["email"] == person.email
    assert claims["acr"] == ACR_LOW and claims["amr"] == ["pwd", "sms"]
    assert claims["trust_level"] == "low" and claims["phone_number"] == "+38641555123"
    events = {e.event for e in db.session.execute(
        db.select(AuditEvent).filter_by(user_id=user.id)).scalars()}
    assert {"account_registered", "puk_issued", "login_succeeded"} <= events


def test_direct_registration_ends_on_the_dashboard(client, person):
    fid = person.through_codes()
    person.post(f"/register/{fid}/puk", stored="y")
    html = client.get(f"/register/{fid}/done").get_data(as_text=True)
    assert "Zaključi postopek registracije" in html
    response = client.post(f"/register/{fid}/done", data={"csrf_token": csrf_token(html),
                                                          "finish": "1"})
    assert response.headers["Location"] == "/"
    dashboard = client.get("/").get_data(as_text=True)
    assert "Nadzorna plošča" in dashboard and person.email in dashboard
    # The flow is spent: its pages now ask to start again.
    assert client.get(f"/register/{fid}/done").status_code == 400


def test_more_login_methods_then_back_to_the_rp(client, flow, rp, person):
    f = flow(rp)
    iid = interaction_of(f.start())
    fid = person.through_codes(iid)
    person.post(f"/register/{fid}/puk", stored="y")
    html = client.get(f"/register/{fid}/done").get_data(as_text=True)
    response = client.post(f"/register/{fid}/done", data={"csrf_token": csrf_token(html),
                                                          "methods": "1"})
    assert response.headers["Location"] == f"/methods?interaction={iid}"
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Načini prijave" in page and "E-banka" in page
    back = client.post(f"/methods?interaction={iid}", data={"csrf_token": csrf_token(page)})
    params, _ = f.follow_to_rp(back)
    assert "code" in params


def test_puk_must_be_acknowledged(client, person):
    fid = person.through_codes()
    response = person.post(f"/register/{fid}/puk")
    assert response.status_code == 400
    assert "Označite polje" in response.get_data(as_text=True)
    assert client.get(f"/register/{fid}/done").headers["Location"].endswith(f"/{fid}/puk")


ERRORS = [
    ({"password": "Kratk1!", "password_repeat": "Kratk1!"}, "password", "vsaj 8 znakov"),
    ({"password": "VELIKE-CRKE-1", "password_repeat": "VELIKE-CRKE-1"}, "password", "malo črko"),
    ({"password": "male-crke-1", "password_repeat": "male-crke-1"}, "password", "veliko črko"),
    ({"password": "Brez-Stevk", "password_repeat": "Brez-Stevk"}, "password", "števko"),
    ({"password": "BrezPosebnih1", "password_repeat": "BrezPosebnih1"}, "password",
     "poseben znak"),
    ({"password": "Password1!", "password_repeat": "Password1!"}, "password", "preveč pogosto"),
    ({"password_repeat": "Modra-Lipa-43"}, "password_repeat", "nista enaki"),
    ({"phone": "123"}, "phone", "mobilnega telefona"),
    ({"phone": "ni številka"}, "phone", "mobilnega telefona"),
    ({"phone": "01 234 56 78"}, "phone", "ni mobilna"),
    ({"terms": None}, "terms", "Pogoji uporabe"),
    ({"email": "ni-naslov"}, "email", "E-naslov"),
]


@pytest.mark.parametrize("fields, field, message", ERRORS)
def test_bad_details_are_named_next_to_the_field_and_kept(client, person, sms_sink, smtp_sink,
                                                          fields, field, message):
    response = person.details(**{"phone": "041 555 123", **fields})
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    error = re.search(rf'id="{field}-error">(.*?)</p>', html, re.S)
    assert error and message.lower() in error.group(1).lower(), html
    assert f'href="#{field}"' in html  # the error summary links to the field
    if field != "email":
        assert f'value="{person.email}"' in html
    if field != "phone":
        assert 'value="041 555 123"' in html
    assert NEW_PASSWORD not in html  # passwords are never echoed
    assert smtp_sink.messages == [] and sms_sink.messages == []


@pytest.mark.parametrize("typed", ["041 555 123", "+386 41 555 123", "0038641555123"])
def test_mobile_numbers_in_every_usual_format(client, person, sms_sink, typed):
    fid = fid_of(person.details(phone=typed).headers["Location"])
    person.code(fid, "email", person.smtp.last_code(person.email))
    assert sms_sink.to("+38641555123"), sms_sink.messages


def test_other_countries_through_the_picker(client, person, sms_sink):
    fid = fid_of(person.details(phone_region="HR", phone="091 234 5678").headers["Location"])
    person.code(fid, "email", person.smtp.last_code(person.email))
    assert sms_sink.messages[-1]["to"] == "+385912345678"


def test_wrong_code_then_too_many_tries(app, client, person):
    fid = fid_of(person.details().headers["Location"])
    right = person.smtp.last_code(person.email)
    wrong = f"{(int(right) + 1) % 10**6:06d}"
    response = person.code(fid, "email", wrong)
    assert response.status_code == 400 and "ni pravilna" in response.get_data(as_text=True)
    for _ in range(app.config["CONFIRMATION_CODE_TRIES"] - 1):
        person.code(fid, "email", wrong)
    response = person.code(fid, "email", right)
    assert response.status_code == 400
    assert "Preveč napačnih poskusov" in response.get_data(as_text=True)


def test_malformed_code_is_refused_without_a_try(client, person):
    fid = fid_of(person.details().headers["Location"])
    response = person.code(fid, "email", "12ab")
    assert response.status_code == 400 and "6 števk" in response.get_data(as_text=True)
    response = person.code(fid, "email", person.smtp.last_code(person.email))
    assert response.status_code == 302


def test_expired_code(client, person, monkeypatch):
    fid = fid_of(person.details().headers["Location"])
    code = person.smtp.last_code(person.email)
    later = codes.now() + 11 * 60
    monkeypatch.setattr(codes, "now", lambda: later)
    response = person.code(fid, "email", code)
    assert response.status_code == 400 and "Koda je potekla" in response.get_data(as_text=True)


def test_a_used_code_cannot_be_replayed(client, person):
    fid = fid_of(person.details().headers["Location"])
    code = person.smtp.last_code(person.email)
    assert person.code(fid, "email", code).status_code == 302
    # The e-mail step is behind us: the page sends the person to the SMS step.
    replay = person.post(f"/register/{fid}/email", page=f"/register/{fid}/phone", code=code)
    assert replay.headers["Location"].endswith(f"/register/{fid}/phone")
    # The same digits typed as the SMS code do not pass either.
    if person.sms.last_code("+38641555123") != code:
        assert person.code(fid, "phone", code).status_code == 400


def test_resend_waits_for_the_cool_down_and_replaces_the_code(app, client, person):
    fid = fid_of(person.details().headers["Location"])
    first = person.smtp.last_code(person.email)
    early = person.resend(fid)
    assert early.status_code == 429 and "Novo kodo lahko zahtevate čez" in early.get_data(as_text=True)
    assert len(person.smtp.to(person.email)) == 1

    app.config["RESEND_COOLDOWN"] = 0
    again = person.resend(fid)
    assert again.headers["Location"].endswith(f"/register/{fid}/email?sent=1")
    assert len(person.smtp.to(person.email)) == 2
    second = person.smtp.last_code(person.email)
    if second != first:
        assert person.code(fid, "email", first).status_code == 400
    assert person.code(fid, "email", second).status_code == 302


def test_sends_are_limited_per_address(app, client, person):
    app.config["SENDS_PER_ADDRESS_PER_HOUR"] = 2
    for _ in range(2):
        assert person.details(email="ista@example.si").status_code == 302
    response = person.details(email="ista@example.si")
    assert response.status_code == 429
    assert "Zahtevali ste preveč kod" in response.get_data(as_text=True)
    assert len(person.smtp.to("ista@example.si")) == 2


def test_sends_are_limited_per_client_ip(app, client, person):
    app.config["SENDS_PER_IP_PER_HOUR"] = 2
    assert person.details().status_code == 302
    assert person.details().status_code == 302
    assert person.details().status_code == 429


def strip_volatile(html):
    html = re.sub(r'value="[^"]*"', 'value=""', html)
    html = re.sub(r"/register/[^/]+/", "/register/FID/", html)
    return re.sub(r"\w\*\*\*@", "x***@", html)


def test_registered_email_is_not_revealed_and_its_owner_is_told(client, person, make_user,
                                                                  smtp_sink):
    owner = make_user(email="zasedeno@example.si")
    fresh = person.details(email="prost@example.si")
    fresh_page = client.get(fresh.headers["Location"]).get_data(as_text=True)
    taken = person.details(email="zasedeno@example.si")
    assert taken.status_code == fresh.status_code == 302
    taken_page = client.get(taken.headers["Location"]).get_data(as_text=True)
    assert strip_volatile(taken_page).replace("zasedeno", "x") == \
        strip_volatile(fresh_page).replace("prost", "x")

    notice = smtp_sink.to(owner.email)[-1]
    body = notice.get_content()
    assert not re.search(r"\b\d{6}\b", body)  # no code for a stranger to use
    assert "/recover" in body and "/login" in body
    fid = fid_of(taken.headers["Location"])
    for _ in range(3):  # no code works: none was ever sent
        response = person.code(fid, "email", f"{secrets.randbelow(10**6):06d}")
        assert response.status_code == 400
    assert db.session.execute(db.select(db.func.count(User.id))).scalar() == 1


def test_smtp_down_keeps_the_flow_and_says_try_again(app, client, person, smtp_sink):
    from sinks import free_port

    app.config["SMTP_PORT"] = free_port()  # nothing listens there
    response = person.details()
    assert response.status_code == 302
    page = client.get(response.headers["Location"])
    assert "Sporočila nismo mogli poslati" in page.get_data(as_text=True)

    app.config["SMTP_PORT"] = smtp_sink.port
    fid = fid_of(response.headers["Location"])
    assert person.resend(fid).status_code == 302  # no cool-down
    assert person.code(fid, "email", smtp_sink.last_code(person.email)).status_code == 302


@pytest.mark.parametrize("mode", ["error", "slow"])
def test_sms_gateway_failure_keeps_the_confirmed_email(app, client, person, sms_sink, mode):
    app.config["SMS_TIMEOUT"] = 0.3
    sms_sink.delay = 1
    fid = fid_of(person.details().headers["Location"])
    sms_sink.mode = mode
    response = person.code(fid, "email", person.smtp.last_code(person.email))
    assert response.headers["Location"].endswith(f"/register/{fid}/phone")
    page = client.get(f"/register/{fid}/phone").get_data(as_text=True)
    assert "SMS-a nismo mogli poslati" in page
    assert db.session.execute(db.select(db.func.count(User.id))).scalar() == 0

    sms_sink.mode = "ok"
    assert person.resend(fid, "phone").status_code == 302
    response = person.code(fid, "phone", sms_sink.last_code("+38641555123"))
    assert response.headers["Location"].endswith(f"/register/{fid}/puk")


def test_expired_flow_asks_to_start_again(app, client, person):
    fid = fid_of(person.details().headers["Location"])
    store = app.extensions["idp_store"]
    key = f"flow:register:{fid}"
    flow = json.loads(store.get(key))
    flow["expires_at"] -= app.config["FLOW_TTL"] + 1
    store.set(key, json.dumps(flow), 60)
    response = client.get(f"/register/{fid}/email")
    assert response.status_code == 400
    assert "Začnite znova" in response.get_data(as_text=True)


def test_flow_of_another_browser_is_not_found(app, client, person):
    fid = fid_of(person.details().headers["Location"])
    stranger = app.test_client()
    response = stranger.get(f"/register/{fid}/email")
    assert response.status_code == 400 and "Začnite znova" in response.get_data(as_text=True)
    stranger_csrf = csrf_token(stranger.get("/register").get_data(as_text=True))
    response = stranger.post(f"/register/{fid}/email", data={
        "csrf_token": stranger_csrf, "code": person.smtp.last_code(person.email)})
    assert response.status_code == 400 and "Začnite znova" in response.get_data(as_text=True)
    assert client.get(f"/register/{fid}/email").status_code == 200  # still there for its owner


def test_flow_survives_reload_and_language_switch(client, person):
    fid = fid_of(person.details().headers["Location"])
    assert client.get(f"/register/{fid}/email").status_code == 200
    english = client.get(f"/register/{fid}/email?lang=en").get_data(as_text=True)
    assert "Confirmation code" in english and "Step 2 of 5" in english
    assert person.code(fid, "email", person.smtp.last_code(person.email)).status_code == 302
    assert "SMS one-time password" in client.get(f"/register/{fid}/phone").get_data(as_text=True)


def test_csrf_is_required(client):
    response = client.post("/register", data={"email": "a@example.si", "password": NEW_PASSWORD,
                                              "password_repeat": NEW_PASSWORD, "phone": "041555123",
                                              "phone_region": "SI", "terms": "y"})
    assert response.status_code == 400


def cancel_at(person, step):
    """Reach ``step`` and cancel there; returns the response of the cancel."""
    response = person.details(person.iid)
    fid = fid_of(response.headers["Location"])
    if step in ("phone", "puk"):
        person.code(fid, "email", person.smtp.last_code(person.email))
    if step == "puk":
        person.code(fid, "phone", person.sms.last_code("+38641555123"))
    page = f"/register/{fid}/{step}"
    html = person.http.get(page).get_data(as_text=True)
    assert "Prekliči registracijo" in html
    return fid, person.http.post(f"/register/{fid}/cancel", data={"csrf_token": csrf_token(html)})


@pytest.mark.parametrize("step", ["email", "phone", "puk"])
def test_cancel_returns_access_denied_and_leaves_no_account(client, flow, rp, person, step):
    f = flow(rp)
    person.iid = interaction_of(f.start())
    fid, response = cancel_at(person, step)
    params, _ = f.follow_to_rp(response)
    assert params["error"] == "access_denied" and params["state"].startswith("st-")
    assert db.session.execute(db.select(db.func.count(User.id))).scalar() == 0
    assert client.get(f"/register/{fid}/email").status_code == 400


def test_cancel_on_the_details_page(client, flow, rp):
    f = flow(rp)
    iid = interaction_of(f.start())
    html = client.get(f"/register?interaction={iid}").get_data(as_text=True)
    assert f"/authorize/abort/{iid}" in html
    response = client.post(f"/authorize/abort/{iid}", data={"csrf_token": csrf_token(html)})
    params, _ = f.follow_to_rp(response)
    assert params["error"] == "access_denied"


def test_cancel_without_an_rp_goes_to_the_login_page(client, person):
    person.iid = None
    _, response = cancel_at(person, "email")
    assert response.headers["Location"] == "/login"
    assert "Registracija je preklicana" in client.get("/login").get_data(as_text=True)


def test_email_registered_meanwhile_is_not_half_made(client, person, make_user):
    response = person.details(email="hkrati@example.si")
    fid = fid_of(response.headers["Location"])
    person.code(fid, "email", person.smtp.last_code("hkrati@example.si"))
    make_user(email="hkrati@example.si")  # another flow finished first
    response = person.code(fid, "phone", person.sms.last_code("+38641555123"))
    assert response.status_code == 409 and "že obstaja" in response.get_data(as_text=True)
    assert db.session.execute(db.select(db.func.count(User.id))).scalar() == 1


def test_first_sms_is_limited_per_number(app, client, person, sms_sink):
    app.config["SENDS_PER_ADDRESS_PER_HOUR"] = 1
    for attempt in range(2):
        fid = fid_of(person.details().headers["Location"])  # a new address each time
        person.code(fid, "email", person.smtp.last_code(person.email))
        page = client.get(f"/register/{fid}/phone").get_data(as_text=True)
    assert "Zahtevali ste preveč kod" in page
    assert len(sms_sink.to("+38641555123")) == 1


def test_methods_page_does_not_stand_in_for_a_fresh_login(client, flow, rp, ana):
    f = flow(rp)
    f.code(ana.email)  # logged in
    again = f.start(prompt="login")
    iid = interaction_of(again)
    page = client.get(f"/methods?interaction={iid}").get_data(as_text=True)
    response = client.post(f"/methods?interaction={iid}", data={"csrf_token": csrf_token(page)})
    resumed = client.get(response.headers["Location"])
    assert "/login?interaction=" in resumed.headers["Location"]  # asked again, no code

"""Every counter of failures or sends is keyed on the normalised address (and
on the account once it is known), so spelling an address another way gets an
attacker no fresh guesses: login, recovery with the PUK, registration and the
dashboard's e-mail change, each tried with a table of spellings."""

import re
import time

import idna
import pytest

from helpers import PASSWORD, csrf_token
from idp.accounts.puk import issue_puk
from idp.accounts.service import normalise_email
from idp.extensions import db
from people import Person

WRONG = "Napacno-Geslo-1"

# Ways to type ana@example.si that reach the same account.
ASCII_VARIANTS = [
    "ANA@EXAMPLE.SI",                       # case
    "  ana@example.si  ",                   # surrounding spaces
    "ａｎａ@example.si",                      # full-width local part
    "ana@ｅｘａｍｐｌｅ.si",                   # full-width domain
    "Ａna@ＥXAMPLE.ｓｉ",                      # a mix
]
# Ways to type ána@žaba.si: decomposed accents, punycode, full-width, case.
UNICODE_ADDRESS = "ána@žaba.si"
UNICODE_VARIANTS = [
    "a\u0301na@z\u030caba.si",              # decomposed (NFD)
    "ána@" + idna.encode("žaba.si").decode(),  # IDNA / punycode domain
    "ÁNA@ŽABA.SI",                          # case
    "ána@ｚ\u030caba.si",                    # full-width and decomposed
]
ALL = [("ana@example.si", v) for v in ASCII_VARIANTS] + \
      [(UNICODE_ADDRESS, v) for v in UNICODE_VARIANTS]


@pytest.mark.parametrize("address, variant", ALL)
def test_every_variant_is_the_same_address(address, variant):
    assert normalise_email(variant) == normalise_email(address) == address


def post_login(client, email, password):
    token = csrf_token(client.get("/login").get_data(as_text=True))
    return client.post("/login", data={"csrf_token": token, "email": email,
                                       "password": password})


@pytest.mark.parametrize("address, variant", ALL)
def test_login_failures_of_all_spellings_count_together(app, client, make_user, address,
                                                        variant):
    make_user(email=address)
    limit = app.config["LOGIN_MAX_FAILURES"]
    for _ in range(limit - 1):
        assert post_login(client, address, WRONG).status_code == 400
    assert post_login(client, variant, WRONG).status_code == 429  # the last one locks
    # Locked for the right password too, whichever spelling carries it.
    assert post_login(client, variant, PASSWORD).status_code == 429
    assert post_login(client, address, PASSWORD).status_code == 429


@pytest.mark.parametrize("variant", ASCII_VARIANTS)
def test_guesses_through_variants_are_no_fresh_guesses(app, client, make_user, variant):
    make_user(email="ana@example.si")
    for _ in range(app.config["LOGIN_MAX_FAILURES"]):
        post_login(client, variant, WRONG)
    assert post_login(client, "ana@example.si", PASSWORD).status_code == 429


def test_a_locked_account_with_a_second_factor_is_no_password_oracle(app, client, make_user):
    """The password step of a locked account answers the right and a wrong
    password alike (before, the right one led on to the second factor)."""
    make_user(email="ana@example.si")
    person = Person(client, "ana@example.si")
    person.follow(person.login())
    assert person.add_totp(at=time.time()).status_code == 302
    client.post("/logout", data={"csrf_token": person.token("/logout")})
    for variant in ASCII_VARIANTS:
        post_login(client, variant, WRONG)
    right = post_login(client, "ａｎａ@example.si", PASSWORD)
    wrong = post_login(client, "ana@ＥXAMPLE.si", WRONG)
    assert right.status_code == wrong.status_code == 429

    def text(response):
        return re.sub(r'value="[^"]*"', "", response.get_data(as_text=True))

    assert text(right) == text(wrong)


# -- recovery with the PUK -----------------------------------------------------------------

def post_recover(client, email, puk):
    token = csrf_token(client.get("/recover").get_data(as_text=True))
    return client.post("/recover", data={"csrf_token": token, "email": email, "puk": puk})


@pytest.mark.parametrize("address, variant", ALL)
def test_wrong_puks_of_all_spellings_count_together(app, client, make_user, address, variant):
    user = make_user(email=address)
    puk, user.puk_hash = issue_puk()
    db.session.commit()
    for _ in range(app.config["PUK_MAX_FAILURES"] - 1):
        assert post_recover(client, address, "AAAAAAAA").status_code == 400
    assert post_recover(client, variant, "AAAAAAAA").status_code == 429
    assert post_recover(client, variant, puk).status_code == 429


@pytest.mark.parametrize("variant", ["NOBODY@example.si", " nobody@example.si ",
                                     "ｎｏｂｏｄｙ@ｅｘａｍｐｌｅ.si"])
def test_unknown_addresses_lock_per_normalised_address(app, client, variant):
    for _ in range(app.config["PUK_MAX_FAILURES"] - 1):
        assert post_recover(client, "nobody@example.si", "AAAAAAAA").status_code == 400
    assert post_recover(client, variant, "AAAAAAAA").status_code == 429


# -- registration ---------------------------------------------------------------------------

def register(client, email):
    page = client.get("/register").get_data(as_text=True)
    return client.post("/register", data={
        "csrf_token": csrf_token(page), "email": email, "password": "Modra-Lipa-42",
        "password_repeat": "Modra-Lipa-42", "phone_region": "SI", "phone": "041 555 123",
        "terms": "y"})


@pytest.mark.parametrize("variants", [ASCII_VARIANTS[:3], UNICODE_VARIANTS[:3]])
def test_registration_sends_to_all_spellings_count_together(app, client, smtp_sink, variants):
    app.config["SENDS_PER_ADDRESS_PER_HOUR"] = 3
    for variant in variants:
        assert register(client, variant).status_code == 302
    again = register(client, variants[0])
    assert again.status_code == 429
    assert len(smtp_sink.messages) == 3  # the refused one was not sent


def test_registration_of_a_taken_address_in_another_spelling_tells_the_owner(
        client, make_user, smtp_sink):
    make_user(email="ana@example.si")
    assert register(client, "ＡＮＡ@example.si").status_code == 302
    notice = smtp_sink.to("ana@example.si")[-1]
    assert "Registration attempt" in notice["Subject"] or "registr" in notice["Subject"].lower()


# -- the dashboard's e-mail change --------------------------------------------------------

@pytest.mark.parametrize("variant", ["BOR@example.si", "ｂｏｒ@example.si", " bor@ＥXAMPLE.SI"])
def test_changing_to_another_accounts_address_in_any_spelling_reveals_nothing(
        app, client, ana_person, make_user, smtp_sink, variant):
    make_user(email="bor@example.si")
    free = ana_person.post("/account/email", email="nova@example.si")
    taken = ana_person.post("/account/email", email=variant)
    # The same answer: on to a code page; the owner of the taken one is told.
    assert free.status_code == taken.status_code == 302
    assert free.headers["Location"].startswith("/account/confirm/")
    assert taken.headers["Location"].startswith("/account/confirm/")
    taken_page = client.get(taken.headers["Location"]).get_data(as_text=True)
    assert "b***@example.si" in taken_page
    notice = smtp_sink.to("bor@example.si")[-1]
    assert notice["Subject"] == "Nekdo je poskusil uporabiti vaš e-naslov"
    assert "http://localhost:5000/login" in notice.get_body(("plain",)).get_content()

"""Every problem at once (GOV.UK error summary): a form reports everything
that is wrong in one answer, in the summary at the top (focused, each entry a
link to its field) and beside each field (aria-describedby, aria-invalid),
with what was typed kept except passwords."""

import re
from datetime import date

import pytest

import test_trust
from helpers import csrf_token
from idp.trust import cards
from test_trust import english

# The officer's browser of the trust tests (logged in with an authenticator app).
officer, desk = test_trust.officer, test_trust.desk

WEAK = "modra"


def summary_links(html):
    """The (href, text) pairs of the error summary, in order."""
    match = re.search(r'<div class="error-summary"[^>]*>(.*?)</div>', html, re.S)
    assert match, "no error summary"
    return re.findall(r'<li><a href="(#[^"]+)">(.*?)</a></li>', match.group(1))


def message_beside(html, field_id):
    match = re.search(rf'<p class="error-message" id="{field_id}-error">(.*?)</p>', html, re.S)
    assert match, f"no message beside {field_id}"
    return re.sub(r"<[^>]+>", "", match.group(1)).strip()


def field_tag(html, field_id):
    match = re.search(rf'<(?:input|select)[^>]*\bid="{field_id}"[^>]*>', html)
    assert match, f"no field {field_id}"
    return match.group(0)


def assert_marked(html, field_id):
    tag = field_tag(html, field_id)
    assert 'aria-invalid="true"' in tag, tag
    described = re.search(r'aria-describedby="([^"]+)"', tag).group(1).split()
    assert f"{field_id}-error" in described, tag


def set_language(client, lang):
    with client.session_transaction() as session:
        session["lang"] = lang


DETAILS = {
    "en": {"password": "Use at least 8 characters. Add an upper-case letter. Add a digit. "
                       "Add a special character, such as ! ? - or #.",
           "phone": "Enter a mobile phone number, such as 041 123 123 or +386 41 123 123.",
           "terms": "Tick the box to agree to the Terms of use.",
           "title": "There is a problem"},
    "sl": {"password": "Uporabite vsaj 8 znakov.",
           "phone": "Vpišite številko mobilnega telefona",
           "terms": "Označite, da se strinjate s Pogoji uporabe.",
           "title": "Prišlo je do težave"},
}


@pytest.mark.parametrize("lang", ["en", "sl"])
def test_three_mistakes_on_the_details_page_are_reported_at_once(client, smtp_sink, sms_sink,
                                                                 lang):
    set_language(client, lang)
    page = client.get("/register")
    response = client.post("/register", data={
        "csrf_token": csrf_token(page.get_data(as_text=True)), "interaction": "",
        "email": "ana@example.si", "password": WEAK, "password_repeat": WEAK,
        "phone_region": "SI", "phone": "12 34"})  # and the terms box left unticked
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    words = DETAILS[lang]

    links = summary_links(html)
    assert [href for href, _ in links] == ["#password"] * 4 + ["#phone", "#terms"]
    assert words["title"] in html
    error = "Error:" if lang == "en" else "Napaka:"
    assert f"<title>{error} {'Registration' if lang == 'en' else 'Registracija'} · Rekono</title>" \
        in html
    assert re.search(r'<div class="error-summary" role="alert" tabindex="-1" autofocus', html)
    assert links[-1][1] == words["terms"]
    if lang == "en":
        assert " ".join(text for _, text in links[:4]) == words["password"]
        assert message_beside(html, "password") == "Error: " + words["password"]
        assert message_beside(html, "phone") == "Error: " + words["phone"]
        assert message_beside(html, "terms") == "Error: " + words["terms"]
    else:
        assert words["password"] in message_beside(html, "password")
        assert words["phone"] in message_beside(html, "phone")
        assert message_beside(html, "terms").endswith(words["terms"])
    for field_id in ("password", "phone", "terms"):
        assert_marked(html, field_id)
    assert 'aria-invalid' not in field_tag(html, "email")
    assert 'value="ana@example.si"' in field_tag(html, "email")  # typed values kept
    assert 'value="12 34"' in field_tag(html, "phone")
    assert 'value=""' in field_tag(html, "password") and WEAK not in html  # nor passwords
    assert smtp_sink.messages == [] and sms_sink.messages == []


def test_an_empty_details_page_names_every_field(client):
    set_language(client, "en")
    page = client.get("/register")
    response = client.post("/register", data={
        "csrf_token": csrf_token(page.get_data(as_text=True)), "phone_region": "SI"})
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert summary_links(html) == [
        ("#email", "Enter your e-mail address."), ("#password", "Enter a password."),
        ("#password_repeat", "Enter the password again."),
        ("#phone", "Enter your mobile phone number."),
        ("#terms", "Tick the box to agree to the Terms of use.")]


def test_a_good_password_with_a_mistyped_repeat_and_a_fixed_line(client):
    set_language(client, "en")
    page = client.get("/register")
    response = client.post("/register", data={
        "csrf_token": csrf_token(page.get_data(as_text=True)), "email": "ni-naslov",
        "password": "Modra-Lipa-42", "password_repeat": "Modra-Lipa-43", "phone_region": "SI",
        "phone": "01 234 56 78", "terms": "y"})
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert summary_links(html) == [
        ("#email", "Enter an e-mail address like name@example.si."),
        ("#password_repeat", "The passwords are not the same."),
        ("#phone", "This is not a mobile number; the code is sent by SMS.")]


def test_login_names_both_empty_fields(client):
    set_language(client, "en")
    page = client.get("/login")
    response = client.post("/login", data={"csrf_token": csrf_token(page.get_data(as_text=True)),
                                           "email": "", "password": ""})
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert summary_links(html) == [("#email", "Enter your e-mail address."),
                                   ("#password", "Enter your password.")]
    assert "<title>Error: Log in · Rekono</title>" in html
    assert "<title>Log in · Rekono</title>" in client.get("/login").get_data(as_text=True)
    assert_marked(html, "email")
    assert_marked(html, "password")


def test_password_change_reports_the_rule_and_the_missing_repeat(client, ana_person):
    set_language(client, "en")
    response = ana_person.post("/account/password", password=WEAK, password_repeat="")
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert [href for href, _ in summary_links(html)] == ["#password"] * 4 + ["#password_repeat"]
    assert message_beside(html, "password_repeat") == "Error: Enter the password again."
    assert_marked(html, "password")
    assert_marked(html, "password_repeat")


def test_the_officers_form_lists_problems_in_the_pages_order(desk, ana):
    english(desk)
    page = desk.get(f"/officer/people/{ana.sub}")
    response = desk.post(f"/officer/people/{ana.sub}", data={
        "csrf_token": csrf_token(page.get_data(as_text=True)), "document_type": "id_card",
        "document_number": "", "document_expiry": "2001-01-01", "given_name": "",
        "family_name": "Novak", "birthdate": "1990-05-17", "tax_number": "123"})
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert summary_links(html) == [
        ("#document_number", "Enter the document number."),
        ("#document_expiry", "This document has expired: it cannot prove the identity."),
        ("#given_name", "Enter the name."),
        ("#tax_number", "This is not a valid tax number (8 digits).")]
    for field_id in ("document_number", "document_expiry", "given_name", "tax_number"):
        assert_marked(html, field_id)


def test_card_form_reports_the_name_and_the_card_together(app, client, ana_person):
    spy = []

    class Gateway(cards.SandboxCardGateway):
        def verify(self, **kwargs):
            spy.append(kwargs)
            return super().verify(**kwargs)

    app.extensions["idp_card_gateway"] = Gateway()
    set_language(client, "en")
    response = ana_person.post(
        "/trust/card", given_name="Bor", family_name="Novak", birthdate="1990-05-17",
        tax_number="123", number="4242 4242 4242 4241", expiry_month="12",
        expiry_year=str(date.today().year + 2), cvc="12")
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert summary_links(html) == [
        ("#given_name", "The name you entered is not the name on your account."),
        ("#tax_number", "This is not a valid tax number (8 digits)."),
        ("#number", "This card number is not valid. Check it."),
        ("#cvc", "The security code has 3 or 4 digits.")]
    for field_id in ("given_name", "tax_number", "number", "cvc"):
        assert_marked(html, field_id)
    assert 'value="Bor"' in field_tag(html, "given_name")
    assert "4241" not in html and spy == []  # the card number is never shown back, nor sent

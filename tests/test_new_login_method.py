"""Adding a login method is one module and one partial: a test-only method,
defined and registered here with its partials in a template loader of its
own, is offered on /methods, enrolled, used as the second step of a login
and reported in the ID token's ``amr``, without touching any other file."""

import hashlib
import re
import secrets

import pytest
from flask_wtf import FlaskForm
from jinja2 import ChoiceLoader, DictLoader
from wtforms import StringField, SubmitField
from wtforms.validators import DataRequired

from helpers import csrf_token
from softauthn import SoftAuthenticator
from idp.authn.methods import (AMR_FACTORS, METHODS, POSSESSION, Method, Outcome, methods_of,
                               register, unregister)
from idp.authn.methods import totp as totp_module
from idp.authn.methods.models import LoginMethod
from idp.extensions import db
from test_token import decode_id_token

# -- the whole method: one module ... -------------------------------------------------


class TokenForm(FlaskForm):
    word = StringField("Word on the test token", validators=[DataRequired("Enter the word.")])
    submit = SubmitField("Confirm")


def _digest(word):
    return hashlib.sha256(word.strip().encode()).digest()


class TestTokenMethod(Method):
    """A token that shows a word; typing it proves possession of the token."""

    __test__ = False  # not a test class, for pytest
    kind = "testtoken"
    amr = ("pop",)
    factors = frozenset({POSSESSION})
    amr_factors = {"pop": POSSESSION}
    strength = "substantial"
    form_class = TokenForm
    answer = "word"
    label = "Test token"
    chooser = 5  # offered before every other second factor
    enrol_rank = 50
    add_label = "Add a test token"
    added = "A test token was added to your account."

    def verify(self, flow, user, form):
        for row in methods_of(user.id, self.kind):
            if secrets.compare_digest(row.secret, _digest(form.word.data)):
                return Outcome(self.proof(), method=row, user_id=user.id)
        return Outcome(error="That is not the word on your token.", failed=True)

    def begin_enrolment(self, flow, user):
        flow.scratch.setdefault("token_word", secrets.token_hex(4))
        return {"token_word": flow.scratch["token_word"]}

    def finish_enrolment(self, flow, user, form):
        if not secrets.compare_digest(_digest(flow.scratch["token_word"]),
                                      _digest(form.word.data)):
            return Outcome(error="That is not the word on your token.", failed=True)
        return Outcome(self.proof(), user_id=user.id, method=LoginMethod(
            user_id=user.id, kind=self.kind, name="My test token",
            secret=_digest(flow.scratch.pop("token_word"))))


# -- ... and one partial (for asking and for enrolling) ------------------------------------

FORM = """<form method="post" action="{{ action }}" novalidate>
  {{ form.csrf_token }}
  <input type="hidden" name="method" value="{{ kind }}">
  {{ field(form.word) }}
  <div class="actions">{{ form.submit(class_="button") }}</div>
</form>"""
PARTIALS = {
    "methods/testtoken_factor.html": '<p id="token-ask">Type the word your token shows.</p>'
                                     + FORM,
    "methods/testtoken_enrol.html": '<p>Your token shows <code id="token-word">'
                                    '{{ token_word }}</code>.</p>' + FORM,
}


@pytest.fixture
def test_token(app):
    register(TestTokenMethod())
    loader = app.jinja_env.loader
    app.jinja_env.loader = ChoiceLoader([DictLoader(PARTIALS), loader])
    yield METHODS["testtoken"]
    app.jinja_env.loader = loader
    unregister("testtoken")


def _word_on(html):
    return re.search(r'<code id="token-word">([0-9a-f]+)</code>', html).group(1)


def test_a_method_defined_in_one_module_is_enrolled_and_used_at_login(
        client, flow, rp, ana_person, smtp_sink, test_token):
    methods_page = client.get("/methods").get_data(as_text=True)
    assert '<a href="/methods/add/testtoken">Add a test token</a>' in methods_page

    url = ana_person.enrol_url("testtoken")
    page = client.get(url)
    assert page.status_code == 200
    word = _word_on(page.get_data(as_text=True))
    wrong = ana_person.post(url, word="not-the-word")
    assert wrong.status_code == 400
    assert "That is not the word on your token." in wrong.get_data(as_text=True)
    assert db.session.execute(db.select(LoginMethod)).first() is None
    assert ana_person.post(url, word=word).status_code == 302
    row = db.session.execute(db.select(LoginMethod)).scalar_one()
    assert (row.kind, row.name) == ("testtoken", "My test token")
    notice = smtp_sink.to("ana@example.si")[-1].get_body(("plain",)).get_content()
    assert "A test token was added to your account." in notice
    assert "Test token" in client.get("/methods").get_data(as_text=True)  # its label

    f = flow(rp)
    second_step = f.login(f.start(prompt="login"), "ana@example.si").headers["Location"]
    assert "/verify" in second_step
    html = client.get(second_step).get_data(as_text=True)
    assert '<p id="token-ask">Type the word your token shows.</p>' in html
    assert 'name="method" value="testtoken"' in html
    refused = client.post(second_step, data={"csrf_token": csrf_token(html),
                                             "method": "testtoken", "word": "wrong"})
    assert refused.status_code == 400
    assert "That is not the word on your token." in refused.get_data(as_text=True)
    reply, _ = f.follow_to_rp(ana_person.post(second_step, method="testtoken", word=word))
    claims = decode_id_token(client, f.exchange(reply["code"], secret=rp.secret)
                             .get_json()["id_token"]).claims
    assert claims["amr"] == ["pwd", "pop", "mfa"]
    assert claims["acr"] == "http://eidas.europa.eu/LoA/low"  # identity level low caps it
    db.session.refresh(row)
    assert row.last_used_at is not None


def test_a_registered_method_is_offered_first_by_its_place_in_the_chooser(
        client, ana_person, test_token, monkeypatch):
    monkeypatch.setattr(totp_module, "now", lambda: 1_800_000_000)
    url = ana_person.enrol_url("testtoken")
    ana_person.post(url, word=_word_on(client.get(url).get_data(as_text=True)))
    assert ana_person.add_totp(1_800_000_000).status_code == 302
    html = client.get(ana_person.login().headers["Location"]).get_data(as_text=True)
    first, others = html.split("Drug način")
    assert 'name="method" value="testtoken"' in first
    assert "method=totp" in others and "method=testtoken" not in others


def test_only_a_method_with_an_alone_title_logs_in_alone(client, test_token):
    login_page = client.get("/login").get_data(as_text=True)
    assert 'id="passkey-login"' in login_page and "testtoken" not in login_page
    assert client.get("/login/testtoken").status_code == 404
    assert client.get("/login/password").status_code == 404
    assert client.get("/login/passkey").status_code == 302


def test_an_unregistered_method_is_gone_everywhere(client, ana_person, test_token):
    unregister("testtoken")
    assert "pop" not in AMR_FACTORS
    assert client.get("/methods/add/testtoken").status_code == 404
    assert "testtoken" not in client.get("/methods").get_data(as_text=True)
    register(test_token)  # for the fixture to take away again


def test_the_methods_page_says_each_method_s_words_in_slovenian(client, ana_person, sms_sink):
    """The strings moved into the methods kept their msgids, so their Slovenian."""
    person = ana_person
    html = client.get("/methods").get_data(as_text=True)
    for words in ("Dodaj ključ za prijavo ali varnostni ključ", "Dodaj aplikacijo za preverjanje",
                  "Vklopi enkratna gesla SMS"):
        assert words in html
    assert "Dodaj kvalificirano digitalno potrdilo" not in html  # no TLS proxy here
    assert person.add_sms(sms_sink).status_code == 302
    assert person.add_passkey(SoftAuthenticator(uv=True)).status_code == 302
    html = client.get("/methods").get_data(as_text=True)
    assert "Enkratno geslo SMS · +38641123123" in html
    assert "Ključ za prijavo (passkey) ali varnostni ključ · preveri, da ste to vi" in html
    assert "Vklopi enkratna gesla SMS" not in html  # on already
    alone = client.get("/login/passkey").headers["Location"]  # its alone_title
    assert "<h1>Prijava s ključem za prijavo</h1>" in client.get(alone).get_data(as_text=True)

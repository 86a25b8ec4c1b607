"""A person at a browser (the Flask test client): logs in, adds login methods
and answers second-factor pages, the way the pages ask for it."""

import json
import re

import pyotp

from helpers import PASSWORD, csrf_token

ORIGIN = "http://localhost:5000"  # the test apps' default issuer
PHONE = "+38641123123"  # make_user's number


def options_on(html):
    match = re.search(r'<script type="application/json" id="webauthn-options">(.*?)</script>',
                      html, re.S)
    assert match, "no WebAuthn options on the page"
    return json.loads(match.group(1))


def totp_secret_on(html):
    match = re.search(r'<code class="secret" id="totp-secret">([A-Z2-7 ]+)</code>', html)
    assert match, "no TOTP secret on the page"
    return match.group(1).replace(" ", "")


class Person:
    def __init__(self, client, email, password=PASSWORD):
        self.http, self.email, self.password = client, email, password
        self.totp_secret = None

    def token(self, url="/login"):
        return csrf_token(self.http.get(url).get_data(as_text=True))

    def login(self, password=None, interaction=""):
        """The password step; returns its response (a redirect)."""
        return self.http.post("/login", data={
            "csrf_token": self.token(), "email": self.email,
            "password": password or self.password, "interaction": interaction})

    def post(self, url, **data):
        """POST to a page as its own form would (CSRF token from that page)."""
        page = self.http.get(url)
        assert page.status_code == 200, (url, page.status_code)
        return self.http.post(url, data={"csrf_token": csrf_token(page.get_data(as_text=True)),
                                         **data})

    def follow(self, response):
        while response.status_code == 302 and response.headers["Location"].startswith("/"):
            response = self.http.get(response.headers["Location"])
        return response

    # -- adding methods ------------------------------------------------------------

    def enrol_url(self, kind):
        response = self.http.get(f"/methods/add/{kind}")
        assert response.status_code == 302, response.status_code
        return response.headers["Location"]

    def add_totp(self, at, name="Telefon"):
        url = self.enrol_url("totp")
        self.totp_secret = totp_secret_on(self.http.get(url).get_data(as_text=True))
        return self.post(url, code=pyotp.TOTP(self.totp_secret).at(at), name=name)

    def add_passkey(self, authenticator, name="Ključ", origin=ORIGIN, rp_id=None):
        url = self.enrol_url("passkey")
        html = self.http.get(url).get_data(as_text=True)
        credential = authenticator.create(options_on(html), origin=origin, rp_id=rp_id)
        return self.http.post(url, data={"csrf_token": csrf_token(html), "name": name,
                                         "credential": json.dumps(credential)})

    def add_sms(self, sms_sink, number=PHONE):
        url = self.enrol_url("sms")
        self.http.get(url)
        return self.post(url, code=sms_sink.last_code(number))

    # -- second-factor pages -------------------------------------------------------

    def answer_totp(self, url, at):
        return self.post(_with_method(url, "totp"), method="totp",
                         code=pyotp.TOTP(self.totp_secret).at(at))

    def answer_passkey(self, url, authenticator, origin=ORIGIN, **kwargs):
        url = _with_method(url, "passkey")
        html = self.http.get(url).get_data(as_text=True)
        assertion = authenticator.get(options_on(html), origin=origin, **kwargs)
        return self.http.post(url, data={"csrf_token": csrf_token(html), "method": "passkey",
                                         "credential": json.dumps(assertion)})


def _with_method(url, kind):
    return url.split("?")[0] + "?method=" + kind

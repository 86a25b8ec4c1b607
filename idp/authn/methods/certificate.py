"""A qualified digital certificate as a login method: the TLS proxy proves
that the browser holds the private key; we check the certificate itself
(trusted CA, dates, usage, revocation) and find the account it was bound to.
Phishing-resistant, so strength high, alone or after a password."""

from flask import current_app, request
from ...i18n import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import HiddenField, StringField, SubmitField
from wtforms.validators import Length

from ... import audit
from ...extensions import db
from ... import certificates
from ...levels import HIGH
from ...names import names_differ
from ...forms import PRINTABLE
from .base import POSSESSION, VERIFIED, Method, Outcome
from .models import LoginMethod

# RFC 8176 has no value for certificates; the proof is of a key the person holds.
CERTIFICATE_AMR = "swk"

PROBLEMS = {
    "missing": _l("Your browser did not present a certificate. Insert your card or choose "
                  "the certificate when the browser asks, then try again."),
    "malformed": _l("The certificate could not be read."),
    "untrusted": _l("This certificate was not issued by a trusted certification authority."),
    "expired": _l("This certificate has expired."),
    "not_yet_valid": _l("This certificate is not valid yet."),
    "revoked": _l("This certificate has been revoked."),
    "usage": _l("This certificate cannot be used to log in (it is not for client "
                "authentication)."),
    "revocation_unknown": _l("We cannot check now whether this certificate was revoked. "
                             "Try again later."),
    "unavailable": _l("Certificates are not accepted on this server."),
}
UNKNOWN = _l("This certificate is not registered with any account here. Log in another "
             "way and add it under login methods.")
NAME_MISMATCH = _l("The name on the certificate is not the name on your account.")


def available(app):
    """Certificates work only behind a TLS proxy that forwards them."""
    return bool(app.config.get("TRUSTED_CA_DIR") and app.config.get("CLIENT_CERT_HEADER"))


def presented(user_id=None):
    """The verified identity of the presented certificate and None, or None
    and the message why it cannot be used (rejections are audited)."""
    try:
        return certificates.presented_certificate(current_app, request), None
    except certificates.CertificateError as error:
        if error.reason != "missing":
            audit.record("certificate_rejected", user_id=user_id, ip=request.remote_addr,
                         reason=error.reason)
        return None, PROBLEMS[error.reason]


def name_problem(user, identity):
    """Why this certificate cannot be the account's, by name, or None."""
    if not (identity.given_name and identity.family_name):
        return PROBLEMS["usage"]
    if names_differ(user, identity.given_name, identity.family_name):
        return NAME_MISMATCH
    return None


class CertificateLoginForm(FlaskForm):
    credential = HiddenField(_l("Certificate"))
    submit = SubmitField(_l("Log in with my certificate"))


class CertificateEnrolForm(CertificateLoginForm):
    name = StringField(_l("Name of this certificate"), default="",
                       validators=[Length(max=64), PRINTABLE])
    submit = SubmitField(_l("Add this certificate"))


class CertificateMethod(Method):
    kind = "certificate"
    amr = (CERTIFICATE_AMR,)
    # The key is protected by the holder's PIN or password: two factors.
    factors = frozenset({POSSESSION, VERIFIED})
    amr_factors = {CERTIFICATE_AMR: POSSESSION}
    strength = HIGH
    form_class = CertificateLoginForm
    enrol_form_class = CertificateEnrolForm
    answer = "credential"
    label = _l("Qualified digital certificate")
    chooser = 20
    enrol_rank = 30
    add_label = _l("Add a qualified digital certificate")
    added = _l("A qualified digital certificate was added to your account.")
    alone_title = _l("Log in with a certificate")

    def available(self, app):
        return available(app)

    def prepare(self, flow, user):
        identity, problem = presented(user.id if user else None)
        return {"certificate": identity, "certificate_problem": problem}

    def verify(self, flow, user, form):
        identity, problem = presented(user.id if user else None)
        if identity is None:
            return Outcome(error=problem)
        query = db.select(LoginMethod).filter_by(
            kind=self.kind, credential_id=bytes.fromhex(identity.fingerprint))
        if user is not None:
            query = query.filter_by(user_id=user.id)
        row = db.session.execute(query).scalar_one_or_none()
        if row is None:
            return Outcome(error=UNKNOWN)
        return Outcome(self.proof(), method=row, user_id=row.user_id)

    def begin_enrolment(self, flow, user):
        return self.prepare(flow, user)

    def finish_enrolment(self, flow, user, form):
        identity, problem = presented(user.id)
        problem = problem or name_problem(user, identity)
        if problem:
            return Outcome(error=problem)
        name = (form.name.data or "").strip() or identity.common_name or str(self.label)
        return Outcome(self.proof(), user_id=user.id, method=LoginMethod(
            user_id=user.id, kind=self.kind, name=name[:64],
            credential_id=bytes.fromhex(identity.fingerprint)))

"""Passkeys and security keys (WebAuthn Level 3) with py_webauthn.

Challenges are kept server-side in the flow and are single-use; the origin and
RP id are checked; the sign counter is stored and must grow (py_webauthn
refuses a counter that does not, and the stored one only moves forward).
A passkey with user verification is phishing-resistant: strength high."""

import json

from flask import current_app, request
from ...i18n import lazy_gettext as _l
from flask_wtf import FlaskForm
from webauthn import (generate_authentication_options, generate_registration_options,
                      options_to_json, verify_authentication_response,
                      verify_registration_response)
from webauthn.helpers import base64url_to_bytes, bytes_to_base64url
from webauthn.helpers.exceptions import (InvalidAuthenticationResponse,
                                         InvalidRegistrationResponse, WebAuthnException)
from webauthn.helpers.structs import (AuthenticatorSelectionCriteria,
                                      AuthenticatorTransport, PublicKeyCredentialDescriptor,
                                      ResidentKeyRequirement, UserVerificationRequirement)
from wtforms import HiddenField, StringField, SubmitField
from wtforms.validators import DataRequired, Length

from ... import audit
from ...accounts.models import User
from ...extensions import db
from ...levels import HIGH, SUBSTANTIAL
from ...forms import PRINTABLE
from .base import (POSSESSION, VERIFIED, Method, Outcome, Proof, advance_counter,
               methods_of)
from .models import LoginMethod

HARDWARE_KEY_AMR, SOFTWARE_KEY_AMR, PRESENCE_AMR = "hwk", "swk", "user"
MAX_CREDENTIAL_JSON = 16 * 1024

FAILED = _l("The key could not be verified. Try again, or choose another way.")
UNKNOWN = _l("This key is not registered with any account here.")


class PasskeyForm(FlaskForm):
    # Filled by static/webauthn.js with the browser's PublicKeyCredential.toJSON().
    credential = HiddenField(validators=[DataRequired(_l("Use your passkey first.")),
                                         Length(max=MAX_CREDENTIAL_JSON)])
    submit = SubmitField(_l("Use my passkey"))


class PasskeyEnrolForm(PasskeyForm):
    name = StringField(_l("Name of this key"), default="", validators=[Length(max=64), PRINTABLE])
    submit = SubmitField(_l("Add the key"))


def _rp():
    cfg = current_app.config
    return cfg["WEBAUTHN_RP_ID"], cfg["WEBAUTHN_ORIGIN"]


def _descriptors(rows):
    descriptors = []
    for row in rows:
        transports = []
        for name in row.transports or []:
            try:
                transports.append(AuthenticatorTransport(name))
            except ValueError:
                pass  # a transport newer than our library
        descriptors.append(PublicKeyCredentialDescriptor(id=row.credential_id,
                                                         transports=transports or None))
    return descriptors


def _parse(raw):
    """The credential JSON and its raw id, or None when it is not one."""
    try:
        data = json.loads(raw)
        if not isinstance(data, dict) or not isinstance(data.get("response"), dict):
            return None, None
        return data, base64url_to_bytes(data["rawId"])
    except (ValueError, TypeError, KeyError):
        return None, None


def proof_of(user_verified, backed_up):
    """A passkey's proof: a synced (backed-up) passkey is a software key; user
    verification (PIN or biometrics) adds a second factor and makes it
    phishing-resistant in the sense of "high"."""
    amr = (SOFTWARE_KEY_AMR if backed_up else HARDWARE_KEY_AMR, PRESENCE_AMR)
    factors = {POSSESSION} | ({VERIFIED} if user_verified else set())
    return Proof(amr, frozenset(factors), HIGH if user_verified else SUBSTANTIAL)


def _must_verify(flow, user):
    # A step-up to high (the factor flow's typed state; enrolment has none).
    return user is None or getattr(flow.data, "required", None) == HIGH


class PasskeyMethod(Method):
    kind = "passkey"
    amr = (HARDWARE_KEY_AMR, PRESENCE_AMR)
    factors = frozenset({POSSESSION, VERIFIED})
    # "user" is only presence; a verifying key's session carries its strength.
    amr_factors = {HARDWARE_KEY_AMR: POSSESSION, SOFTWARE_KEY_AMR: POSSESSION}
    strength = HIGH  # with user verification; without, proof_of gives substantial
    form_class = PasskeyForm
    enrol_form_class = PasskeyEnrolForm
    answer = "credential"
    label = _l("Passkey or security key")
    chooser = 10
    enrol_rank = 10
    add_label = _l("Add a passkey or security key")
    added = _l("A passkey or security key was added to your account.")
    alone_title = _l("Log in with a passkey")

    def detail(self, row, user):
        return _l("verifies you (PIN or biometrics)") if row.user_verified else None

    def whole_login(self, row):
        # "Prijava s ključem" offers no list of keys: the key must name the
        # account (discoverable) and verify the person.
        return bool(row.user_verified and row.discoverable)

    # -- authentication ---------------------------------------------------------

    def prepare(self, flow, user):
        """A fresh challenge for this page. Without a user (a passwordless
        login) the browser offers its discoverable credentials and must verify
        the person, as for a step-up to high."""
        rp_id, _ = _rp()
        rows = methods_of(user.id, self.kind) if user else []
        options = generate_authentication_options(
            rp_id=rp_id, allow_credentials=_descriptors(rows),
            user_verification=(UserVerificationRequirement.REQUIRED if _must_verify(flow, user)
                               else UserVerificationRequirement.PREFERRED))
        flow.scratch["challenge"] = bytes_to_base64url(options.challenge)
        return {"webauthn_options": json.loads(options_to_json(options)), "ceremony": "get"}

    def verify(self, flow, user, form):
        challenge = flow.scratch.pop("challenge", None)  # single use, whatever happens
        data, credential_id = _parse(form.credential.data)
        if challenge is None or data is None:
            return Outcome(error=FAILED)
        query = db.select(LoginMethod).filter_by(kind=self.kind, credential_id=credential_id)
        if user is not None:
            query = query.filter_by(user_id=user.id)
        row = db.session.execute(query).scalar_one_or_none()
        if row is None:
            return Outcome(error=UNKNOWN if user is None else FAILED)
        handle = data["response"].get("userHandle")
        owner = db.session.get(User, row.user_id)
        # Required when the key itself named the account (WebAuthn L3 7.2 step 6).
        if (handle or user is None) and handle != bytes_to_base64url(owner.sub.encode()):
            return Outcome(error=FAILED, failed=True, user_id=row.user_id)
        rp_id, origin = _rp()
        try:
            verified = verify_authentication_response(
                credential=data, expected_challenge=base64url_to_bytes(challenge),
                expected_rp_id=rp_id, expected_origin=origin,
                credential_public_key=row.secret, credential_current_sign_count=row.counter,
                require_user_verification=_must_verify(flow, user))
        except (InvalidAuthenticationResponse, WebAuthnException, ValueError) as error:
            if "sign count" in str(error).lower():
                # A counter that went backwards may mean a cloned key.
                audit.record("passkey_counter_regressed", user_id=row.user_id,
                             ip=request.remote_addr, method_id=row.id)
            return Outcome(error=FAILED, failed=True, user_id=row.user_id)
        # Authenticators that keep no counter always send 0.
        counted = verified.new_sign_count == 0 == row.counter
        if not counted and not advance_counter(row, verified.new_sign_count):
            return Outcome(error=FAILED, failed=True, user_id=row.user_id)
        return Outcome(proof_of(verified.user_verified, verified.credential_backed_up),
                       method=row, user_id=row.user_id)

    # -- enrolment ----------------------------------------------------------------

    def begin_enrolment(self, flow, user):
        rp_id, _ = _rp()
        options = generate_registration_options(
            rp_id=rp_id, rp_name=current_app.config["WEBAUTHN_RP_NAME"],
            user_name=user.email, user_id=user.sub.encode(),
            user_display_name=user.name or user.email,
            authenticator_selection=AuthenticatorSelectionCriteria(
                resident_key=ResidentKeyRequirement.PREFERRED,
                user_verification=UserVerificationRequirement.PREFERRED),
            exclude_credentials=_descriptors(methods_of(user.id, self.kind)))
        flow.scratch["challenge"] = bytes_to_base64url(options.challenge)
        public_key = json.loads(options_to_json(options))
        # credProps tells whether the key stored a discoverable credential.
        public_key["extensions"] = {"credProps": True}
        return {"webauthn_options": public_key, "ceremony": "create"}

    def finish_enrolment(self, flow, user, form):
        challenge = flow.scratch.pop("challenge", None)
        data, _ = _parse(form.credential.data)
        if challenge is None or data is None:
            return Outcome(error=FAILED)
        rp_id, origin = _rp()
        try:
            verified = verify_registration_response(
                credential=data, expected_challenge=base64url_to_bytes(challenge),
                expected_rp_id=rp_id, expected_origin=origin)
        except (InvalidRegistrationResponse, WebAuthnException, ValueError):
            return Outcome(error=FAILED)
        transports = data["response"].get("transports") or []
        extensions = data.get("clientExtensionResults")
        cred_props = extensions.get("credProps") if isinstance(extensions, dict) else None
        discoverable = isinstance(cred_props, dict) and cred_props.get("rk") is True
        name = (form.name.data or "").strip() or str(_l("My key"))
        row = LoginMethod(user_id=user.id, kind=self.kind, name=name,
                          credential_id=verified.credential_id,
                          secret=verified.credential_public_key, counter=verified.sign_count,
                          transports=[t for t in transports if isinstance(t, str)][:8],
                          user_verified=verified.user_verified,
                          backed_up=verified.credential_backed_up, discoverable=discoverable)
        return Outcome(proof_of(verified.user_verified, verified.credential_backed_up),
                       method=row, user_id=user.id)



"""Checks the software authenticator directly against py_webauthn."""
import json

import pytest
from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers.exceptions import (
    InvalidAuthenticationResponse,
    InvalidRegistrationResponse,
)
from webauthn.helpers.structs import PublicKeyCredentialDescriptor

from tests.softauthn import SoftAuthenticator, b64url

RP_ID = "localhost"
ORIGIN = "http://localhost:5000"


def reg_options():
    opts = generate_registration_options(
        rp_id=RP_ID, rp_name="Test", user_name="ana@example.si",
        user_id=b"user-handle-1")
    return opts, json.loads(options_to_json(opts))


def register(auth, **kw):
    opts, opts_json = reg_options()
    response = auth.create(opts_json, origin=ORIGIN, **kw)
    return opts, response


def verify_reg(opts, response, **kw):
    return verify_registration_response(
        credential=response, expected_challenge=opts.challenge,
        expected_rp_id=RP_ID, expected_origin=ORIGIN, **kw)


def auth_options(cred_ids=()):
    opts = generate_authentication_options(
        rp_id=RP_ID,
        allow_credentials=[PublicKeyCredentialDescriptor(id=c) for c in cred_ids])
    return opts, json.loads(options_to_json(opts))


def verify_auth(opts, response, verified_reg, current_sign_count=0, **kw):
    return verify_authentication_response(
        credential=response, expected_challenge=opts.challenge,
        expected_rp_id=RP_ID, expected_origin=ORIGIN,
        credential_public_key=verified_reg.credential_public_key,
        credential_current_sign_count=current_sign_count, **kw)


@pytest.mark.parametrize("fmt", ["none", "packed"])
def test_registration_verifies(fmt):
    auth = SoftAuthenticator(attestation=fmt)
    opts, response = register(auth)
    verified = verify_reg(opts, response, require_user_verification=True)
    assert verified.fmt == fmt
    assert verified.credential_id in auth.credentials
    assert b64url(verified.credential_id) == response["id"]
    assert verified.sign_count == 0
    assert verified.user_verified is True


def test_user_verified_reflects_uv():
    opts, response = register(SoftAuthenticator(uv=False))
    assert verify_reg(opts, response).user_verified is False


def test_backup_flags():
    opts, response = register(SoftAuthenticator(backup_eligible=True, backed_up=True))
    verified = verify_reg(opts, response)
    assert verified.credential_device_type.value == "multi_device"
    assert verified.credential_backed_up is True


def test_registration_wrong_origin_fails():
    opts, opts_json = reg_options()
    response = SoftAuthenticator().create(opts_json, origin="https://evil.example")
    with pytest.raises(InvalidRegistrationResponse):
        verify_reg(opts, response)


def test_registration_wrong_rp_id_fails():
    opts, response = register(SoftAuthenticator(), rp_id="evil.example")
    with pytest.raises(InvalidRegistrationResponse):
        verify_reg(opts, response)


def test_authentication_verifies():
    auth = SoftAuthenticator()
    reg_opts, reg = register(auth)
    verified_reg = verify_reg(reg_opts, reg)
    opts, opts_json = auth_options([verified_reg.credential_id])
    response = auth.get(opts_json, origin=ORIGIN)
    verified = verify_auth(opts, response, verified_reg,
                           require_user_verification=True)
    assert verified.new_sign_count == 1
    assert verified.credential_id == verified_reg.credential_id
    assert verified.user_verified is True
    assert response["response"]["userHandle"] == b64url(b"user-handle-1")


def test_sign_count_not_increasing_fails():
    auth = SoftAuthenticator()
    reg_opts, reg = register(auth)
    verified_reg = verify_reg(reg_opts, reg)
    opts, opts_json = auth_options([verified_reg.credential_id])
    response = auth.get(opts_json, origin=ORIGIN, sign_count=5)
    with pytest.raises(InvalidAuthenticationResponse):
        verify_auth(opts, response, verified_reg, current_sign_count=5)
    assert auth.credentials[verified_reg.credential_id]["sign_count"] == 5


def test_require_user_verification_fails_without_uv():
    auth = SoftAuthenticator(uv=False)
    reg_opts, reg = register(auth)
    verified_reg = verify_reg(reg_opts, reg)
    opts, opts_json = auth_options([verified_reg.credential_id])
    response = auth.get(opts_json, origin=ORIGIN)
    with pytest.raises(InvalidAuthenticationResponse):
        verify_auth(opts, response, verified_reg, require_user_verification=True)
    assert verify_auth(opts, response, verified_reg).user_verified is False


def test_discoverable_login_returns_user_handle():
    auth = SoftAuthenticator()
    reg_opts, reg = register(auth)
    verified_reg = verify_reg(reg_opts, reg)
    opts, opts_json = auth_options()
    assert opts_json["allowCredentials"] == []
    response = auth.get(opts_json, origin=ORIGIN)
    assert response["id"] == reg["id"]
    assert response["response"]["userHandle"] == b64url(b"user-handle-1")
    assert verify_auth(opts, response, verified_reg).new_sign_count == 1

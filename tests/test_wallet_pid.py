"""The PID verifier on its own (``idp.trust.wallet.pid``): one test per
refusal reason, with PIDs made by the test provider (the ``sd-jwt`` reference
implementation) and status lists served over real HTTP."""

import base64
import hashlib
import json
import time
from datetime import date, datetime, timedelta, timezone

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from joserfc import jws
from joserfc.jwk import ECKey
from jwcrypto.jwk import JWK
from sd_jwt.holder import SDJWTHolder

from idp.store import MemoryStore
from idp.trust.wallet import pid
from idp.trust.wallet.pid import PidRefused, TrustAnchors, verify_pid
from idp.trust.wallet.status import StatusLists, encode_status_list, read_status
from pid_provider import ANA, INVALID, SUSPENDED, PidProvider, b64der, holder_key

NONCE = "n-0S6_WzA2Mj"
AUDIENCE = "x509_hash:Uvo3HtuIxuhC92rShpgqcT3YXwrqRxWEviRiA0OZszk"
ALL = {name: True for name in ANA}


@pytest.fixture(scope="module")
def provider(tmp_path_factory):
    p = PidProvider(tmp_path_factory.mktemp("pid-providers"))
    yield p
    p.stop()


@pytest.fixture(scope="module")
def anchors(provider):
    return TrustAnchors.of([provider.root.cert])


@pytest.fixture
def holder():
    return holder_key()


def status_lists(anchors):
    return StatusLists(anchors, MemoryStore(), timeout=2)


def now():
    return datetime.now(timezone.utc)


def present(provider, holder, disclose=ALL, nonce=NONCE, aud=AUDIENCE, **issue):
    holder_obj = SDJWTHolder(provider.issue(holder, **issue))
    holder_obj.create_presentation(disclose, nonce, aud, holder, "ES256")
    return holder_obj.sd_jwt_presentation


def verify(presentation, anchors, at=None, **overrides):
    kwargs = {"nonce": NONCE, "audience": AUDIENCE, "anchors": anchors,
              "vcts": ["urn:eudi:pid:1"], "now": at or now(), "status_of": status_lists(anchors)}
    kwargs.update(overrides)
    return verify_pid(presentation, **kwargs)


def refused(reason, presentation, anchors, **kwargs):
    with pytest.raises(PidRefused) as caught:
        verify(presentation, anchors, **kwargs)
    assert caught.value.reason == reason, caught.value
    return caught.value


def kb_jwt(holder, sd_jwt_part, nonce=NONCE, aud=AUDIENCE, iat=None, alg="ES256"):
    """A key-binding JWT made by hand over ``sd_jwt_part`` (ending in ``~``)."""
    key = ECKey.import_key(json.loads(holder.export_private()))
    sd_hash = base64.urlsafe_b64encode(
        hashlib.sha256(sd_jwt_part.encode()).digest()).rstrip(b"=").decode()
    payload = {"nonce": nonce, "aud": aud, "iat": int(time.time()) if iat is None else iat,
               "sd_hash": sd_hash}
    return jws.serialize_compact({"alg": alg, "typ": "kb+jwt"}, json.dumps(payload), key,
                                 algorithms=[alg])


def split(presentation):
    parts = presentation.split("~")
    return parts[0], parts[1:-1], parts[-1]


def rebind(holder, jwt, disclosures, **kb):
    body = "~".join([jwt, *disclosures]) + "~"
    return body + kb_jwt(holder, body, **kb)


# -- the good case ------------------------------------------------------------------------

def test_a_good_pid_gives_its_claims_and_evidence(provider, anchors, holder):
    result = verify(present(provider, holder), anchors)
    assert (result.given_name, result.family_name, result.birthdate) == (
        "Ana", "Novak", date(1990, 5, 17))
    assert (result.issuing_country, result.administrative_number) == ("SI", "21111103")
    assert result.vct == "urn:eudi:pid:1" and result.issuer == "https://pid.test"
    assert result.issuer_subject == "CN=Test PID Signer,O=Test PID Provider,C=SI"
    assert result.trust_anchor == "CN=Test PID Root CA,O=Test PID Provider,C=SI"
    assert result.status == {"uri": provider.status_uri, "idx": provider.last_index, "value": 0}
    jwt = present(provider, holder).split("~")[0]
    assert len(result.credential_digest) == 43 and jwt.count(".") == 2


def test_a_pid_without_the_administrative_number_still_works(provider, anchors, holder):
    disclose = {"given_name": True, "family_name": True, "birthdate": True}
    result = verify(present(provider, holder, disclose=disclose), anchors)
    assert result.administrative_number is None and result.issuing_country is None
    result = verify(present(provider, holder, drop=["personal_administrative_number"]), anchors)
    assert result.administrative_number is None and result.issuing_country == "SI"


def test_missing_names_or_birth_date_are_refused(provider, anchors, holder):
    refused(pid.CLAIMS_MISSING, present(provider, holder, disclose={"given_name": True,
                                                                   "family_name": True}), anchors)


# -- disclosures ----------------------------------------------------------------------------

def test_a_modified_disclosure_is_refused(provider, anchors, holder):
    jwt, disclosures, _ = split(present(provider, holder))
    for i, text in enumerate(disclosures):
        salt, name, value = json.loads(pid.b64url_decode(text))
        if name == "family_name":
            disclosures[i] = pid.b64url(json.dumps([salt, name, "Kralj"]).encode())
    # Even re-signed by the holder, the altered disclosure is nobody's commitment.
    refused(pid.DISCLOSURE, rebind(holder, jwt, disclosures), anchors)


def test_an_extra_disclosure_is_refused(provider, anchors, holder):
    jwt, disclosures, _ = split(present(provider, holder))
    _, others, _ = split(present(provider, holder, claims={**ANA, "given_name": "Eva"}))
    refused(pid.DISCLOSURE, rebind(holder, jwt, disclosures + others[:1]), anchors)


def test_a_disclosure_given_twice_is_refused(provider, anchors, holder):
    jwt, disclosures, _ = split(present(provider, holder))
    refused(pid.DISCLOSURE, rebind(holder, jwt, disclosures + disclosures[:1]), anchors)


def test_a_dropped_disclosure_breaks_the_sd_hash(provider, anchors, holder):
    jwt, disclosures, kb = split(present(provider, holder))
    dropped = "~".join([jwt, *disclosures[:-1]]) + "~" + kb
    refused(pid.SD_HASH, dropped, anchors)


# -- key binding ----------------------------------------------------------------------------

def test_a_wrong_nonce_is_refused(provider, anchors, holder):
    refused(pid.WRONG_NONCE, present(provider, holder, nonce="another"), anchors)


def test_a_wrong_audience_is_refused(provider, anchors, holder):
    refused(pid.WRONG_AUDIENCE, present(provider, holder, aud="x509_hash:someone-else"),
            anchors)


def test_a_key_binding_jwt_by_another_key_is_refused(provider, anchors, holder):
    jwt, disclosures, _ = split(present(provider, holder))
    refused(pid.NO_KEY_BINDING, rebind(holder_key(), jwt, disclosures), anchors)


def test_a_presentation_without_key_binding_is_refused(provider, anchors, holder):
    jwt, disclosures, _ = split(present(provider, holder))
    refused(pid.NO_KEY_BINDING, "~".join([jwt, *disclosures]) + "~", anchors)


def test_a_stale_key_binding_jwt_is_refused(provider, anchors, holder):
    presentation = present(provider, holder)
    refused(pid.STALE_KEY_BINDING, presentation, anchors, at=now() + timedelta(minutes=10))
    jwt, disclosures, _ = split(presentation)
    refused(pid.STALE_KEY_BINDING,
            rebind(holder, jwt, disclosures, iat=int(time.time()) + 3600), anchors)


# -- the credential ---------------------------------------------------------------------------

def test_an_expired_credential_is_refused(provider, anchors, holder):
    refused(pid.EXPIRED, present(provider, holder, exp=int(time.time()) - 3600), anchors)


def test_a_not_yet_valid_credential_is_refused(provider, anchors, holder):
    later = int(time.time()) + 3600
    refused(pid.NOT_YET_VALID, present(provider, holder, nbf=later), anchors)
    refused(pid.NOT_YET_VALID, present(provider, holder, iat=later), anchors)


def test_an_untrusted_issuer_is_refused(tmp_path, anchors, holder):
    stranger = PidProvider(tmp_path / "elsewhere")
    try:
        refused(pid.UNTRUSTED_ISSUER, present(stranger, holder), anchors)
    finally:
        stranger.stop()


def test_an_anchor_inside_x5c_is_refused(provider, anchors, holder):
    chain = provider.x5c + [b64der(provider.root.cert)]
    refused(pid.ANCHOR_IN_CHAIN, present(provider, holder, x5c=chain), anchors)


def test_a_self_signed_issuer_is_refused(provider, anchors, holder):
    from pid_provider import make_cert, _name

    key = ec.generate_private_key(ec.SECP256R1())
    cert = make_cert(_name("Self"), key, not_before=now() - timedelta(days=1),
                     not_after=now() + timedelta(days=1), dns=("pid.test",))
    refused(pid.ANCHOR_IN_CHAIN, present(provider, holder, x5c=[b64der(cert)], key=key),
            anchors)


def test_an_expired_signing_certificate_is_refused(provider, anchors, holder):
    old = provider.sign_cert(not_before=now() - timedelta(days=30),
                             not_after=now() - timedelta(days=1))
    x5c = [b64der(old), b64der(provider.issuing.cert)]
    refused(pid.UNTRUSTED_ISSUER, present(provider, holder, x5c=x5c), anchors)


def test_an_issuer_that_is_not_the_certificate_is_refused(provider, anchors, holder):
    refused(pid.ISSUER_MISMATCH, present(provider, holder, iss="https://other.test"), anchors)


def test_a_signature_by_another_key_is_refused(provider, anchors, holder):
    other = ec.generate_private_key(ec.SECP256R1())
    refused(pid.BAD_SIGNATURE, present(provider, holder, key=other), anchors)


def test_a_wrong_vct_is_refused(provider, anchors, holder):
    refused(pid.WRONG_VCT, present(provider, holder, vct="urn:eudi:pid:de:1"), anchors)
    assert verify(present(provider, holder, vct="urn:eudi:pid:de:1"), anchors,
                  vcts=["urn:eudi:pid:1", "urn:eudi:pid:de:1"])


def test_refused_algorithms(provider, anchors, holder):
    p384 = ec.generate_private_key(ec.SECP384R1())
    refused(pid.WRONG_ALGORITHM, present(provider, holder, key=p384, alg="ES384"), anchors)
    refused(pid.MALFORMED, present(provider, holder, typ="vc+sd-jwt"), anchors)
    jwt, disclosures, _ = split(present(provider, holder))
    refused(pid.WRONG_ALGORITHM, rebind(JWK.generate(kty="EC", crv="P-384"), jwt, disclosures,
                                        alg="ES384"), anchors)


# -- status -----------------------------------------------------------------------------------

def test_a_revoked_credential_is_refused(provider, anchors, holder):
    presentation = present(provider, holder)
    provider.statuses[provider.last_index] = INVALID
    refused(pid.REVOKED, presentation, anchors)


def test_a_suspended_credential_is_refused(provider, anchors, holder):
    presentation = present(provider, holder)
    provider.statuses[provider.last_index] = SUSPENDED
    refused(pid.SUSPENDED, presentation, anchors)


def test_an_unreachable_status_list_is_refused(provider, anchors, holder):
    presentation = present(provider, holder)
    provider.down = True
    try:
        refused(pid.STATUS_UNAVAILABLE, presentation, anchors)
    finally:
        provider.down = False


def test_a_credential_without_status_is_refused(provider, anchors, holder):
    refused(pid.NO_STATUS, present(provider, holder, status=False), anchors)


def test_the_status_list_is_cached_for_its_ttl(provider, anchors, holder):
    lists = status_lists(anchors)
    first, second = present(provider, holder), present(provider, holder)
    before = provider.fetches
    verify(first, anchors, status_of=lists)
    provider.statuses[provider.last_index] = INVALID  # not seen until the ttl passes
    verify(second, anchors, status_of=lists)
    assert provider.fetches == before + 1
    lists.store.clear()
    refused(pid.REVOKED, second, anchors, status_of=lists)


def test_status_list_encoding_reads_back():
    import zlib

    values = [0, 1, 2, 3, 0, 2, 1]
    lst = zlib.decompress(pid.b64url_decode(encode_status_list(values, bits=2)))
    assert [read_status(lst, 2, i) for i in range(len(values))] == values


# -- the specification's own encrypted response ---------------------------------------------

SPEC_KEY = {  # OpenID4VP 1.0 §8.3: the example's private key
    "kty": "EC", "kid": "ac", "use": "enc", "crv": "P-256", "alg": "ECDH-ES",
    "x": "YO4epjifD-KWeq1sL2tNmm36BhXnkJ0He-WqMYrp9Fk",
    "y": "Hekpm0zfK7C-YccH5iBjcIXgf6YdUvNUac_0At55Okk",
    "d": "Et-3ce0omz8_TuZ96Df9lp0GAaaDoUnDe6X-CRO7Aww"}
SPEC_RESPONSE = (  # §8.3's example response, its display line breaks removed
    "eyJhbGciOiJFQ0RILUVTIiwiZW5jIjoiQTEyOEdDTSIsImtpZCI6ImFjIiwiZXBrIjp7Imt"
    "0eSI6IkVDIiwieCI6Im5ubVZwbTNWM2piaGNhZlFhUkJrU1ZOSGx3Wkh3dC05ck9wSnVmeVlJdWsiLCJ5I"
    "joicjRmakRxd0p5czlxVU9QLV9iM21SNVNaRy0tQ3dPMm1pYzVWU05UWU45ZyIsImNydiI6IlAtMjU2In1"
    "9..uAYcHRUSSn2X0WPX.yVzlGSYG4qbg0bq18JcUiDRw56yVnbKR8E7S7YlEtzT00RqE3Pw5oTpUG3hdLN"
    "4taHZ9gC1kwak8JOnJgQ.1wR024_3-qtAlx1oFIUpQQ")


def test_the_specifications_example_response_decrypts():
    from idp.trust.wallet.openid4vp import open_response

    payload = open_response({"key": SPEC_KEY}, SPEC_RESPONSE)
    assert payload == {"vp_token": {"example_credential_id": ["eyJhb...YMetA"]}}

"""Client certificate verification: every outcome, on a throw-away test PKI."""

import hashlib
import os
from datetime import timedelta, timezone
from urllib.parse import quote

import flask
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from pki import CRL_URL, Authority, TestPKI

from idp.certificates import (
    CertificateError,
    TrustStore,
    certificate_from_request,
    tax_number,
    trust_store,
    verify_certificate,
)


@pytest.fixture
def pki(tmp_path):
    return TestPKI(tmp_path / "trust")


def verify(pki, pem, **kwargs):
    return verify_certificate(pem, TrustStore.from_folder(pki.folder), **kwargs)


def reason_of(pki, pem, **kwargs):
    with pytest.raises(CertificateError) as caught:
        verify(pki, pem, **kwargs)
    return caught.value.reason


# -- the good certificate ----------------------------------------------------


def test_good_certificate_gives_the_identity(pki):
    pem = pki.person()
    cert = x509.load_pem_x509_certificate(pem)
    der = cert.public_bytes(serialization.Encoding.DER)

    identity = verify(pki, pem)

    assert identity.common_name == "Ana Novak"
    assert identity.given_name == "Ana"
    assert identity.family_name == "Novak"
    assert identity.tax_number == "12345678"
    assert identity.fingerprint == hashlib.sha256(der).hexdigest()
    assert identity.serial == format(cert.serial_number, "X")
    assert "CN=Ana Novak" in identity.subject
    assert "serialNumber=TINSI-12345678" in identity.subject
    assert identity.issuer == "CN=Test Issuing CA,O=Test,C=SI"
    assert identity.not_after == cert.not_valid_after_utc
    assert identity.not_after.tzinfo == timezone.utc


def test_der_input_is_accepted(pki):
    der = x509.load_pem_x509_certificate(pki.person()).public_bytes(serialization.Encoding.DER)
    assert verify(pki, der).tax_number == "12345678"


def test_certificate_without_tax_number(pki):
    identity = verify(pki, pki.without_tax())
    assert identity.tax_number is None
    assert identity.common_name == "Ana Novak"


@pytest.mark.parametrize("value, expected", [
    ("TINSI-12345678", "12345678"),
    ("TINHR-12345678", None),  # another country's tax number
    ("PNOSI-12345678", None),  # a personal number, not a tax number
    ("TINSI-1234", None),
    ("12345678", None),
    (None, None),
])
def test_tax_number(value, expected):
    assert tax_number(value) == expected


# -- every way to fail ---------------------------------------------------------


@pytest.mark.parametrize("make, reason", [
    ("expired", "expired"),
    ("not_yet_valid", "not_yet_valid"),
    ("revoked", "revoked"),
    ("untrusted", "untrusted"),
    ("without_client_auth", "usage"),
    ("under_expired_intermediate", "expired"),
])
def test_refused_certificates(pki, make, reason):
    assert reason_of(pki, getattr(pki, make)()) == reason


def test_expired_leaf_of_a_since_renewed_ca(pki):
    # At the leaf's start the CA certificate in the folder was not yet valid.
    renewed = pki.add_intermediate("Renewed CA", pki.now - timedelta(days=10),
                                   pki.now + timedelta(days=900))
    pem = pki.person(issuer=renewed, not_before=pki.now - timedelta(days=400),
                     not_after=pki.now - timedelta(days=1))
    assert reason_of(pki, pem) == "expired"


def test_revoked_issuing_ca(pki):
    pki.root.revoked.append(pki.intermediate.cert.serial_number)
    pki.write_crl("root")
    assert reason_of(pki, pki.person()) == "revoked"


def test_expiry_is_judged_at_the_given_time(pki):
    pem = pki.person()
    assert reason_of(pki, pem, now=pki.now + timedelta(days=400)) == "expired"


@pytest.mark.parametrize("data, reason", [
    (b"garbage", "malformed"),
    (b"", "malformed"),
    (b"-----BEGIN CERTIFICATE-----\n!!not*base64!!\n-----END CERTIFICATE-----\n", "malformed"),
    (None, "missing"),
])
def test_malformed_input(pki, data, reason):
    assert reason_of(pki, data) == reason


def test_empty_trust_folder_trusts_nobody(pki, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(CertificateError) as caught:
        verify_certificate(pki.person(), TrustStore.from_folder(empty))
    assert caught.value.reason == "untrusted"


# -- revocation status -----------------------------------------------------------


@pytest.mark.parametrize("which", ["intermediate", "root"])
def test_no_crl_for_an_issuer(pki, which):
    pki.drop_crl(which)
    assert reason_of(pki, pki.person()) == "revocation_unknown"


def test_stale_crl(pki):
    pki.write_stale_crl("intermediate")
    assert reason_of(pki, pki.person()) == "revocation_unknown"


def test_revoked_even_when_the_crl_is_stale(pki):
    pem = pki.revoked()
    pki.write_stale_crl("intermediate")
    assert reason_of(pki, pem) == "revoked"


def test_crl_with_the_issuers_name_but_not_its_signature(pki):
    forger = Authority("Test Issuing CA", pki.now - timedelta(days=1), pki.now + timedelta(days=9))
    crl = forger.crl(pki.now - timedelta(hours=1), pki.now + timedelta(days=7))
    (pki.folder / "intermediate.crl").write_bytes(crl.public_bytes(serialization.Encoding.PEM))
    assert reason_of(pki, pki.person()) == "revocation_unknown"


def test_partitioned_crl_counts_only_for_its_own_certificates(pki):
    pem = pki.person()
    pki.write_crl("intermediate", partition="http://crl.test/another-partition.crl")
    assert reason_of(pki, pem) == "revocation_unknown"
    pki.write_crl("intermediate", partition=CRL_URL)
    assert verify(pki, pem).tax_number == "12345678"


# -- the trust folder of the app ---------------------------------------------------


def app_with(folder):
    app = flask.Flask(__name__)
    if folder is not None:
        app.config["TRUSTED_CA_DIR"] = str(folder)
    return app


@pytest.mark.parametrize("folder", [None, "/nonexistent/trust"])
def test_missing_trust_folder(folder):
    with pytest.raises(CertificateError) as caught:
        trust_store(app_with(folder))
    assert caught.value.reason == "unavailable"


def test_trust_store_is_cached(pki):
    app = app_with(pki.folder)
    assert trust_store(app) is trust_store(app)
    assert app.extensions["idp_trust_store"] is trust_store(app)


def test_trust_store_reloads_when_a_crl_is_written(pki):
    app = app_with(pki.folder)
    pki.drop_crl("intermediate")
    pem = pki.person()
    with pytest.raises(CertificateError) as caught:
        verify_certificate(pem, trust_store(app))
    assert caught.value.reason == "revocation_unknown"

    pki.write_crl("intermediate")
    assert verify_certificate(pem, trust_store(app)).common_name == "Ana Novak"

    revoked = pki.revoked()  # rewrites the intermediate CRL
    with pytest.raises(CertificateError) as caught:
        verify_certificate(revoked, trust_store(app))
    assert caught.value.reason == "revoked"


def test_trust_store_reloads_on_a_new_mtime_alone(pki):
    app = app_with(pki.folder)
    before = trust_store(app)
    crl = pki.folder / "root.crl"
    stat = crl.stat()
    os.utime(crl, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    assert trust_store(app) is not before


# -- reading the certificate from the request ---------------------------------------

HEADER = "X-SSL-Client-Cert"


def read(headers=None, environ=None, header=HEADER):
    app = flask.Flask(__name__)
    with app.test_request_context(headers=headers or {}, environ_base=environ or {}):
        return certificate_from_request(flask.request, {"CLIENT_CERT_HEADER": header})


@pytest.mark.parametrize("safe", ["", "/=+"])  # with and without "+" escaped
def test_url_encoded_pem_header(pki, safe):
    pem = pki.person()
    assert read({HEADER: quote(pem.decode(), safe=safe)}) == pem.strip()
    assert verify(pki, read({HEADER: quote(pem.decode(), safe=safe)})).tax_number == "12345678"


def test_header_is_ignored_unless_configured(pki):
    assert read({HEADER: quote(pki.person().decode(), safe="")}, header=None) is None


@pytest.mark.parametrize("value", ["", "(null)"])
def test_no_certificate_in_the_header(value):
    assert read({HEADER: value}) is None


def test_no_header_at_all():
    assert read() is None


def test_certificate_from_the_environ(pki):
    pem = pki.person()
    assert read(environ={"SSL_CLIENT_CERT": pem.decode()}, header=None) == pem.strip()

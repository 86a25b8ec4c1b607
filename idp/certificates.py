"""Verifying a person's qualified client TLS certificate.

The TLS proxy only asks for the certificate and passes it on; every check that
decides a login (path to a trusted CA, dates, usage, revocation) happens here,
against the CAs and CRLs of one folder (``TRUSTED_CA_DIR``).
"""

import logging
import os
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import unquote

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from cryptography.x509.verification import (
    Criticality, ExtensionPolicy, PolicyBuilder, Store, VerificationError,
)

log = logging.getLogger(__name__)

CERT_SUFFIXES = {".pem", ".crt", ".cer"}
CRL_SUFFIX = ".crl"
NO_CERTIFICATE = {"", "(null)"}  # what nginx and Apache send when there is none
# ETSI EN 319 412-1 semantics identifier: TIN + SI + "-" + the 8-digit tax number.
TAX_NUMBER = re.compile(r"TINSI-(\d{8})")
NAME_LABELS = {
    NameOID.SERIAL_NUMBER: "serialNumber",
    NameOID.GIVEN_NAME: "givenName",
    NameOID.SURNAME: "SN",
    NameOID.ORGANIZATION_IDENTIFIER: "organizationIdentifier",
}


class CertificateError(Exception):
    """reason is one of: "missing", "malformed", "untrusted", "expired",
    "not_yet_valid", "revoked", "usage", "revocation_unknown", "unavailable"."""

    def __init__(self, reason, detail=""):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class CertificateIdentity:
    subject: str
    issuer: str
    serial: str
    fingerprint: str
    common_name: str | None
    given_name: str | None
    family_name: str | None
    tax_number: str | None
    not_after: datetime


def _pem_or_der(data, from_pem, from_der):
    return from_pem(data) if b"-----BEGIN" in data else from_der(data)


def _load_certificates(data):
    return _pem_or_der(data, x509.load_pem_x509_certificates,
                       lambda der: [x509.load_der_x509_certificate(der)])


def _self_signed(cert):
    try:
        cert.verify_directly_issued_by(cert)
        return True
    except Exception:  # wrong name, wrong signature or an unsupported key: not an anchor
        return False


def _folder_stamp(path):
    """Changes whenever a file in the folder is added, removed or rewritten."""
    with os.scandir(path) as entries:
        return tuple(sorted(
            (e.name, e.stat().st_mtime_ns, e.stat().st_size) for e in entries if e.is_file()
        ))


class TrustStore:
    """The CAs and CRLs loaded from one folder."""

    def __init__(self, anchors, intermediates, crls, path=None, stamp=None):
        self.anchors, self.intermediates, self.crls = list(anchors), list(intermediates), list(crls)
        self.path, self.stamp = path, stamp
        self.store = Store(self.anchors) if self.anchors else None

    @classmethod
    def from_folder(cls, path):
        stamp = _folder_stamp(path)  # before reading, so a write during loading reloads
        anchors, intermediates, crls = [], [], []
        for file in sorted(Path(path).iterdir()):
            suffix = file.suffix.lower()
            try:
                if suffix == CRL_SUFFIX:
                    crls.append(_pem_or_der(file.read_bytes(), x509.load_pem_x509_crl,
                                            x509.load_der_x509_crl))
                elif suffix in CERT_SUFFIXES:
                    for cert in _load_certificates(file.read_bytes()):
                        (anchors if _self_signed(cert) else intermediates).append(cert)
            except ValueError as exc:
                # One unreadable file must not take certificate login down with it.
                log.warning("trust folder: skipping %s: %s", file, exc)
        return cls(anchors, intermediates, crls, path=str(path), stamp=stamp)

    def crls_for(self, cert, issuer):
        """Complete CRLs signed by ``issuer`` that speak for ``cert`` (a matching
        name alone proves nothing: anybody can write a name)."""
        return [
            crl for crl in self.crls
            if crl.issuer == issuer.subject
            and crl.is_signature_valid(issuer.public_key())
            and _covers(crl, cert)
        ]


def trust_store(app):
    """The app's trust store, reloaded when a file in the folder changes."""
    path = app.config.get("TRUSTED_CA_DIR")
    if not path or not os.path.isdir(path):
        raise CertificateError("unavailable", "TRUSTED_CA_DIR is unset or not a folder")
    cached = app.extensions.get("idp_trust_store")
    if cached is None or cached.path != str(path) or cached.stamp != _folder_stamp(path):
        cached = app.extensions["idp_trust_store"] = TrustStore.from_folder(path)
    return cached


def certificate_from_request(request, config):
    """The PEM bytes of the client certificate, or None."""
    # A TLS-terminating server puts it in the environ, out of the client's reach.
    value = (request.environ.get("SSL_CLIENT_CERT") or "").strip()
    if value in NO_CERTIFICATE:
        # Only a header that the TLS proxy always sets or overwrites can be
        # trusted, else anybody could paste someone's public certificate; so
        # reading it stays off until CLIENT_CERT_HEADER names it.
        header = config.get("CLIENT_CERT_HEADER")
        value = unquote(request.headers.get(header, "")).strip() if header else ""
    return None if value in NO_CERTIFICATE else value.encode()


def _extension(obj, kind):
    try:
        return obj.extensions.get_extension_for_class(kind).value
    except x509.ExtensionNotFound:
        return None


def _covers(crl, cert):
    """A delta CRL is never complete; a partitioned one (issuingDistributionPoint)
    speaks only for certificates that point at it."""
    if _extension(crl, x509.DeltaCRLIndicator) is not None:
        return False
    idp = _extension(crl, x509.IssuingDistributionPoint)
    if idp is None:
        return True
    is_ca = getattr(_extension(cert, x509.BasicConstraints), "ca", False)
    if idp.only_some_reasons or idp.indirect_crl or idp.only_contains_attribute_certs:
        return False
    if (idp.only_contains_ca_certs and not is_ca) or (idp.only_contains_user_certs and is_ca):
        return False
    if not idp.full_name:
        return True
    points = _extension(cert, x509.CRLDistributionPoints) or []
    return any(set(p.full_name or ()) & set(idp.full_name) for p in points)


def _parse(data):
    if data is None:
        raise CertificateError("missing")
    if isinstance(data, str):
        data = data.encode()
    try:
        return _pem_or_der(data, x509.load_pem_x509_certificate, x509.load_der_x509_certificate)
    except ValueError as exc:
        raise CertificateError("malformed", str(exc)) from None


def _verifier(store, when):
    # Person certificates often lack the subjectAltName the web-PKI client
    # profile demands; EKU is checked by us once the path is known, so that a
    # wrong usage reads "usage" rather than "untrusted".
    ee_policy = (
        ExtensionPolicy.webpki_defaults_ee()
        .may_be_present(x509.SubjectAlternativeName, Criticality.AGNOSTIC, None)
        .may_be_present(x509.ExtendedKeyUsage, Criticality.AGNOSTIC, None)
    )
    return (
        PolicyBuilder().store(store.store).time(when)
        .extension_policies(ca_policy=ExtensionPolicy.webpki_defaults_ca(), ee_policy=ee_policy)
        .build_client_verifier()
    )


def _build_path(leaf, store, now):
    """leaf, intermediates..., anchor; or the most precise reason why not."""
    if store.store is None:
        raise CertificateError("untrusted", "no trust anchors in the folder")
    try:
        return _verifier(store, now).verify(leaf, store.intermediates).chain
    except VerificationError as exc:
        failure = str(exc)
    # The library only says "not valid at validation time": build again at the
    # start and the end of the leaf's life to tell an out-of-date chain from a
    # stranger's (a CA certificate may have been renewed or have expired since).
    for when in (leaf.not_valid_before_utc, leaf.not_valid_after_utc):
        try:
            chain = _verifier(store, when).verify(leaf, store.intermediates).chain
            break
        except VerificationError:
            continue
    else:
        raise CertificateError("untrusted", failure)
    for cert in chain:
        name = cert.subject.rfc4514_string(NAME_LABELS)
        if now > cert.not_valid_after_utc:
            raise CertificateError("expired", name)
        if now < cert.not_valid_before_utc:
            raise CertificateError("not_yet_valid", name)
    raise CertificateError("untrusted", failure)


def _check_usage(leaf):
    eku = _extension(leaf, x509.ExtendedKeyUsage)
    if eku is not None and ExtendedKeyUsageOID.CLIENT_AUTH not in eku:
        raise CertificateError("usage", "extendedKeyUsage lacks clientAuth")
    key_usage = _extension(leaf, x509.KeyUsage)
    if key_usage is not None and not key_usage.digital_signature:
        raise CertificateError("usage", "keyUsage lacks digitalSignature")


def _check_revocation(chain, store, now):
    # Every certificate but the anchor: a revoked issuing CA takes its people along.
    for cert, issuer in zip(chain, chain[1:]):
        issuer_name = issuer.subject.rfc4514_string(NAME_LABELS)
        crls = store.crls_for(cert, issuer)
        if not crls:
            raise CertificateError("revocation_unknown", f"no CRL from {issuer_name}")
        # Revocation is final, so even an out-of-date CRL that lists it counts.
        if any(crl.get_revoked_certificate_by_serial_number(cert.serial_number) for crl in crls):
            raise CertificateError("revoked", cert.subject.rfc4514_string(NAME_LABELS))
        newest = max(crls, key=lambda crl: crl.last_update_utc)
        if newest.next_update_utc is None or newest.next_update_utc < now:
            raise CertificateError("revocation_unknown", f"the CRL from {issuer_name} is stale")


def _attribute(name, oid):
    values = name.get_attributes_for_oid(oid)
    return values[0].value if values else None


def tax_number(serial_number_attribute):
    """"TINSI-12345678" -> "12345678"; other schemes or countries -> None."""
    match = TAX_NUMBER.fullmatch(serial_number_attribute or "")
    return match.group(1) if match else None


def _identity(cert):
    subject = cert.subject
    return CertificateIdentity(
        subject=subject.rfc4514_string(NAME_LABELS),
        issuer=cert.issuer.rfc4514_string(NAME_LABELS),
        serial=format(cert.serial_number, "X"),
        fingerprint=cert.fingerprint(hashes.SHA256()).hex(),
        common_name=_attribute(subject, NameOID.COMMON_NAME),
        given_name=_attribute(subject, NameOID.GIVEN_NAME),
        family_name=_attribute(subject, NameOID.SURNAME),
        tax_number=tax_number(_attribute(subject, NameOID.SERIAL_NUMBER)),
        not_after=cert.not_valid_after_utc,
    )


def verify_certificate(pem_or_der_bytes, store, now=None):
    """The identity in a certificate that passes every check, else CertificateError."""
    now = now or datetime.now(timezone.utc)
    if now.tzinfo is None:
        now = now.replace(tzinfo=timezone.utc)
    leaf = _parse(pem_or_der_bytes)
    chain = _build_path(leaf, store, now)
    _check_usage(leaf)
    _check_revocation(chain, store, now)
    return _identity(leaf)


def presented_certificate(app, request):
    """The verified identity of the certificate this request presents;
    CertificateError("missing") when there is none, or why it fails."""
    store = trust_store(app)
    pem = certificate_from_request(request, app.config)
    if pem is None:
        raise CertificateError("missing")
    return verify_certificate(pem, store)

"""Verifying a PID presented as an SD-JWT VC with a key-binding JWT (SD-JWT is
RFC 9901; the PID rules are the EUDI PID rulebook's SD-JWT VC encoding).

Pure: the presentation, what the transaction expects (nonce, client id), the
trust anchors, the allowed types and the time go in; verified claims or a
``PidRefused`` with a typed reason come out. The only outside call is the
``status_of`` callback that reads the credential's Token Status List.

Every check fails closed: a missing claim, header or disclosure that a check
needs is a refusal, never a skipped check."""

import base64
import binascii
import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.verification import (
    Criticality, ExtensionPolicy, PolicyBuilder, Store, VerificationError,
)
from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import ECKey
from joserfc.jws import JWSRegistry

SD_JWT_TYP = "dc+sd-jwt"
KB_JWT_TYP = "kb+jwt"
ALGORITHM = "ES256"  # HAIP 1.0: the only one a verifier must accept, the only one we do
CLOCK_SKEW = 60  # seconds of disagreement between clocks that we tolerate
KEY_BINDING_MAX_AGE = 300  # a key-binding JWT older than this is stale
REQUIRED_CLAIMS = ("given_name", "family_name", "birthdate")
COUNTRY = re.compile(r"[A-Z]{2}")

# Status values of a Token Status List (draft-ietf-oauth-status-list §7.1).
STATUS_VALID, STATUS_INVALID, STATUS_SUSPENDED = 0, 1, 2

# -- refusal reasons ------------------------------------------------------------------

MALFORMED = "malformed"                    # not an SD-JWT+KB at all
WRONG_ALGORITHM = "algorithm"              # not ES256 / sha-256, or not a P-256 key
UNTRUSTED_ISSUER = "untrusted_issuer"      # no path from x5c to a configured anchor
ANCHOR_IN_CHAIN = "anchor_in_chain"        # x5c carries a trust anchor or a self-signed cert
BAD_SIGNATURE = "signature"                # the issuer's signature does not verify
ISSUER_MISMATCH = "issuer_mismatch"        # iss is not the certificate's name
WRONG_VCT = "vct"                          # not an allowed PID type
EXPIRED = "expired"                        # exp has passed
NOT_YET_VALID = "not_yet_valid"            # nbf or iat lie in the future
DISCLOSURE = "disclosure"                  # a disclosure extra, modified, repeated or malformed
NO_KEY_BINDING = "key_binding"             # no key-binding JWT, or not signed by cnf.jwk
WRONG_NONCE = "nonce"                      # the key-binding JWT answers another request
WRONG_AUDIENCE = "audience"                # ... or was made for another verifier
STALE_KEY_BINDING = "stale_key_binding"    # its iat is outside the short window
SD_HASH = "sd_hash"                        # it does not cover this presentation (dropped part)
CLAIMS_MISSING = "claims_missing"          # names or birth date not disclosed or not valid
NO_STATUS = "no_status"                    # no Token Status List reference
REVOKED = "revoked"
SUSPENDED = "suspended"
STATUS_UNAVAILABLE = "status_unavailable"  # the status list could not be read or trusted

# What the person is told: one plain sentence per class (see the views).
REASON_CLASS = {
    MALFORMED: "unreadable", WRONG_ALGORITHM: "unreadable", DISCLOSURE: "unreadable",
    NO_KEY_BINDING: "unreadable", WRONG_NONCE: "unreadable", WRONG_AUDIENCE: "unreadable",
    STALE_KEY_BINDING: "unreadable", SD_HASH: "unreadable", BAD_SIGNATURE: "unreadable",
    UNTRUSTED_ISSUER: "untrusted", ANCHOR_IN_CHAIN: "untrusted", ISSUER_MISMATCH: "untrusted",
    WRONG_VCT: "untrusted", NO_STATUS: "untrusted",
    EXPIRED: "not_valid", NOT_YET_VALID: "not_valid",
    REVOKED: "revoked", SUSPENDED: "revoked",
    STATUS_UNAVAILABLE: "unavailable",
    CLAIMS_MISSING: "incomplete",
}


class PidRefused(Exception):
    """The presentation is not accepted; ``reason`` is one of the constants above,
    ``detail`` is for logs only (never shown, never audited: it may hold data)."""

    def __init__(self, reason, detail=""):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail

    @property
    def reason_class(self):
        return REASON_CLASS[self.reason]


class StatusUnavailable(Exception):
    """The status list could not be fetched, was not trusted or did not cover the index."""


# -- trust anchors --------------------------------------------------------------------

@dataclass(frozen=True)
class TrustAnchors:
    """The PID providers' root certificates (PEM files of one folder)."""

    certificates: tuple
    fingerprints: frozenset = field(default=frozenset())

    @classmethod
    def of(cls, certificates):
        certificates = tuple(certificates)
        return cls(certificates, frozenset(c.fingerprint(hashes.SHA256()) for c in certificates))

    @property
    def key_identifiers(self):
        """base64url key identifiers of the anchors, as certificates they issue
        name them in AuthorityKeyIdentifier (DCQL ``trusted_authorities`` "aki")."""
        found = []
        for cert in self.certificates:
            try:
                ski = cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
            except x509.ExtensionNotFound:
                ski = x509.SubjectKeyIdentifier.from_public_key(cert.public_key())
            found.append(b64url(ski.digest))
        return found

    @classmethod
    def from_folder(cls, path):
        found = []
        for file in sorted(Path(path).iterdir()):
            if file.suffix.lower() in (".pem", ".crt", ".cer"):
                data = file.read_bytes()
                found.extend(x509.load_pem_x509_certificates(data) if b"-----BEGIN" in data
                             else [x509.load_der_x509_certificate(data)])
        return cls.of(found)


@dataclass(frozen=True)
class IssuerChain:
    leaf: x509.Certificate
    anchor: x509.Certificate

    @property
    def subject(self):
        return self.leaf.subject.rfc4514_string()

    @property
    def anchor_subject(self):
        return self.anchor.subject.rfc4514_string()


def _self_signed(cert):
    try:
        cert.verify_directly_issued_by(cert)
        return True
    except Exception:  # another issuer, or a key type that cannot say: not self-signed
        return False


def verify_chain(x5c, anchors, now):
    """The path from an ``x5c`` header (base64 DER, leaf first) to one of the
    anchors, checked at ``now``; PidRefused otherwise. The anchor must come
    from our folder: one inside ``x5c`` proves nothing."""
    if not isinstance(x5c, list) or not x5c or not all(isinstance(c, str) for c in x5c):
        raise PidRefused(UNTRUSTED_ISSUER, "no x5c header")
    try:
        chain = [x509.load_der_x509_certificate(base64.b64decode(c, validate=True)) for c in x5c]
    except (ValueError, binascii.Error) as exc:
        raise PidRefused(UNTRUSTED_ISSUER, f"unreadable x5c: {exc}") from None
    for cert in chain:
        if cert.fingerprint(hashes.SHA256()) in anchors.fingerprints or _self_signed(cert):
            raise PidRefused(ANCHOR_IN_CHAIN, cert.subject.rfc4514_string())
    if not anchors.certificates:
        raise PidRefused(UNTRUSTED_ISSUER, "no trust anchors configured")
    leaf = chain[0]
    # Signing certificates of credentials carry no TLS names or usages.
    ee_policy = (ExtensionPolicy.webpki_defaults_ee()
                 .may_be_present(x509.SubjectAlternativeName, Criticality.AGNOSTIC, None)
                 .may_be_present(x509.ExtendedKeyUsage, Criticality.AGNOSTIC, None))
    verifier = (PolicyBuilder().store(Store(list(anchors.certificates))).time(now)
                .extension_policies(ca_policy=ExtensionPolicy.webpki_defaults_ca(),
                                    ee_policy=ee_policy)
                .build_client_verifier())
    try:
        path = verifier.verify(leaf, chain[1:]).chain
    except VerificationError as exc:
        raise PidRefused(UNTRUSTED_ISSUER, str(exc)) from None
    except Exception as exc:  # an unsupported extension or key: no path, so refused
        raise PidRefused(UNTRUSTED_ISSUER, f"{type(exc).__name__}: {exc}") from None
    key = leaf.public_key()
    if not (isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP256R1)):
        raise PidRefused(WRONG_ALGORITHM, "the issuer key is not P-256")
    return IssuerChain(leaf=leaf, anchor=path[-1])


# -- JOSE helpers ---------------------------------------------------------------------

class _Registry(JWSRegistry):
    # joserfc caps a JWS header at 512 bytes; an x5c chain is a few kilobytes.
    max_header_length = 16 * 1024


REGISTRY = _Registry(algorithms=[ALGORITHM], strict_check_header=False)


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text):
    if not isinstance(text, str) or not re.fullmatch(r"[A-Za-z0-9_-]*", text):
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def digest(text):
    """base64url SHA-256 of an ASCII string (disclosures, sd_hash)."""
    return b64url(hashlib.sha256(text.encode("ascii")).digest())


def _unverified(token, what):
    """Header and payload of a compact JWS, before its signature is checked."""
    try:
        obj = jws.extract_compact(token.encode("ascii"), registry=REGISTRY)
        payload = json.loads(obj.payload)
    except (JoseError, ValueError, UnicodeError) as exc:
        raise PidRefused(MALFORMED, f"{what}: {exc}") from None
    if not isinstance(payload, dict):
        raise PidRefused(MALFORMED, f"{what}: the payload is not an object")
    return obj.headers(), payload


def _signature_ok(token, key):
    try:
        jws.deserialize_compact(token, key, algorithms=[ALGORITHM], registry=REGISTRY)
        return True
    except (JoseError, ValueError):
        return False


def _public_jwk(cert):
    return ECKey.import_key(cert.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))


def verify_signed_by_chain(token, anchors, now, typ):
    """Header, payload and chain of a JWS signed by a certificate under one of
    the anchors (the PID, a status list token)."""
    header, payload = _unverified(token, typ)
    if header.get("alg") != ALGORITHM:
        raise PidRefused(WRONG_ALGORITHM, f"{typ}: alg {header.get('alg')!r}")
    if header.get("typ") != typ:
        raise PidRefused(MALFORMED, f"typ {header.get('typ')!r}, not {typ}")
    chain = verify_chain(header.get("x5c"), anchors, now)
    if not _signature_ok(token, _public_jwk(chain.leaf)):
        raise PidRefused(BAD_SIGNATURE, typ)
    return header, payload, chain


# -- the verified PID -----------------------------------------------------------------

@dataclass(frozen=True)
class VerifiedPid:
    given_name: str
    family_name: str
    birthdate: date
    issuing_country: str | None
    administrative_number: str | None
    vct: str
    issuer: str  # the iss claim
    issuer_subject: str  # the signing certificate's subject
    trust_anchor: str  # the anchor's subject
    credential_digest: str  # base64url SHA-256 of the issuer-signed JWT
    status: dict  # {"uri", "idx", "value"} of the Token Status List entry checked

    def evidence(self, flow):
        """What the account's evidence keeps of it."""
        return {"issuing_country": self.issuing_country,
                "administrative_number": self.administrative_number,
                "issuer": self.issuer_subject, "trust_anchor": self.trust_anchor,
                "iss": self.issuer, "vct": self.vct, "credential_digest": self.credential_digest,
                "status_checked": f"{self.status['uri']}#{self.status['idx']}", "flow": flow}


def verify_pid(presentation, *, nonce, audience, anchors, vcts, now, status_of,
               key_binding_max_age=KEY_BINDING_MAX_AGE):
    """The PID in ``presentation`` (an SD-JWT with its key-binding JWT), or
    PidRefused. ``status_of(uri, idx, now)`` answers the Token Status List value
    of the credential or raises StatusUnavailable."""
    try:
        return _verify(presentation, nonce, audience, anchors, vcts, now, status_of,
                       key_binding_max_age)
    except RecursionError:  # JSON nested deeper than anyone's PID
        raise PidRefused(MALFORMED, "nested too deeply") from None


def _verify(presentation, nonce, audience, anchors, vcts, now, status_of, key_binding_max_age):
    if now.tzinfo is None:
        now = now.replace(tzinfo=timezone.utc)
    moment = int(now.timestamp())
    if not isinstance(presentation, str) or "~" not in presentation:
        raise PidRefused(MALFORMED, "not an SD-JWT")
    parts = presentation.split("~")
    issuer_jwt, disclosures, kb_jwt = parts[0], parts[1:-1], parts[-1]
    if not kb_jwt:
        raise PidRefused(NO_KEY_BINDING, "no key-binding JWT")
    if any(not d for d in disclosures):
        raise PidRefused(MALFORMED, "an empty disclosure")

    _header, payload, chain = verify_signed_by_chain(issuer_jwt, anchors, now, SD_JWT_TYP)
    _check_issuer(payload.get("iss"), chain.leaf)
    if payload.get("vct") not in vcts:
        raise PidRefused(WRONG_VCT, str(payload.get("vct")))
    _check_times(payload, moment)
    if payload.get("_sd_alg", "sha-256") != "sha-256":
        raise PidRefused(WRONG_ALGORITHM, f"_sd_alg {payload.get('_sd_alg')!r}")
    claims = _disclose(payload, disclosures)
    holder_key = _holder_key(payload)
    _check_key_binding(kb_jwt, holder_key, nonce=nonce, audience=audience, moment=moment,
                       max_age=key_binding_max_age,
                       sd_hash=digest(presentation[:-len(kb_jwt)]))
    person = _person(claims)
    status = _check_status(payload.get("status"), now, status_of)
    return VerifiedPid(**person, vct=payload["vct"], issuer=payload["iss"],
                       issuer_subject=chain.subject, trust_anchor=chain.anchor_subject,
                       credential_digest=digest(issuer_jwt), status=status)


def _check_issuer(iss, leaf):
    """``iss`` must name the signing certificate: an https URL whose host is a
    DNS name of it, or exactly one of its URI names."""
    if not isinstance(iss, str) or not iss:
        raise PidRefused(ISSUER_MISMATCH, "no iss")
    try:
        names = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        raise PidRefused(ISSUER_MISMATCH, "the certificate names nobody") from None
    if iss in names.get_values_for_type(x509.UniformResourceIdentifier):
        return
    parts = urlsplit(iss)
    if parts.scheme == "https" and parts.hostname and \
            parts.hostname in names.get_values_for_type(x509.DNSName):
        return
    raise PidRefused(ISSUER_MISMATCH, iss)


def _number(payload, name):
    value = payload.get(name)
    if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
        raise PidRefused(MALFORMED, f"{name} is not a number")
    return value


def _check_times(payload, moment):
    exp, nbf, iat = (_number(payload, n) for n in ("exp", "nbf", "iat"))
    if exp is None:
        raise PidRefused(EXPIRED, "no exp")  # a PID that never expires is not one we accept
    if moment >= exp + CLOCK_SKEW:
        raise PidRefused(EXPIRED, "exp")
    for value in (nbf, iat):
        if value is not None and value > moment + CLOCK_SKEW:
            raise PidRefused(NOT_YET_VALID, "nbf/iat")


def _disclose(payload, disclosures):
    """The payload with every disclosure put in its place. Each must be
    committed to exactly once; an extra or altered one (whose digest nobody
    committed to) is an error, not a silently missing claim."""
    by_digest = {}
    for text in disclosures:
        d = digest(text)
        if d in by_digest:
            raise PidRefused(DISCLOSURE, "a disclosure given twice")
        try:
            value = json.loads(b64url_decode(text))
        except (ValueError, UnicodeDecodeError):
            raise PidRefused(DISCLOSURE, "an unreadable disclosure") from None
        if not (isinstance(value, list) and len(value) in (2, 3) and isinstance(value[0], str)):
            raise PidRefused(DISCLOSURE, "not a disclosure")
        if len(value) == 3 and (not isinstance(value[1], str) or value[1] in ("_sd", "...")):
            raise PidRefused(DISCLOSURE, "a disclosure with a reserved or no name")
        by_digest[d] = value
    used = set()

    def take(d):
        if not isinstance(d, str):
            raise PidRefused(DISCLOSURE, "a digest that is not a string")
        if d in used:
            raise PidRefused(DISCLOSURE, "a digest committed twice")
        used.add(d)
        return by_digest.get(d)

    def walk(node):
        if isinstance(node, dict):
            out = {}
            for key, value in node.items():
                if key in ("_sd", "_sd_alg"):
                    continue
                out[key] = walk(value)
            sd = node.get("_sd", [])
            if not isinstance(sd, list):
                raise PidRefused(DISCLOSURE, "_sd is not a list")
            for d in sd:
                found = take(d)
                if found is None:
                    continue  # a decoy, or a claim not disclosed
                if len(found) != 3:
                    raise PidRefused(DISCLOSURE, "an array disclosure in an object")
                if found[1] in out:
                    raise PidRefused(DISCLOSURE, "a disclosed claim that is also plain")
                out[found[1]] = walk(found[2])
            return out
        if isinstance(node, list):
            out = []
            for item in node:
                if isinstance(item, dict) and set(item) == {"..."}:
                    found = take(item["..."])
                    if found is None:
                        continue
                    if len(found) != 2:
                        raise PidRefused(DISCLOSURE, "an object disclosure in an array")
                    out.append(walk(found[1]))
                else:
                    out.append(walk(item))
            return out
        return node

    claims = walk(payload)
    if set(by_digest) - used:
        raise PidRefused(DISCLOSURE, "a disclosure the credential does not commit to")
    return claims


def _holder_key(payload):
    jwk = (payload.get("cnf") or {}).get("jwk") if isinstance(payload.get("cnf"), dict) else None
    if not isinstance(jwk, dict):
        raise PidRefused(NO_KEY_BINDING, "no cnf.jwk")
    if jwk.get("kty") != "EC" or jwk.get("crv") != "P-256" or "d" in jwk:
        raise PidRefused(WRONG_ALGORITHM, "cnf.jwk is not a public P-256 key")
    try:
        return ECKey.import_key(jwk)
    except (JoseError, ValueError) as exc:
        raise PidRefused(NO_KEY_BINDING, f"cnf.jwk: {exc}") from None


def _check_key_binding(kb_jwt, key, *, nonce, audience, moment, max_age, sd_hash):
    header, payload = _unverified(kb_jwt, KB_JWT_TYP)
    if header.get("alg") != ALGORITHM:
        raise PidRefused(WRONG_ALGORITHM, f"kb: alg {header.get('alg')!r}")
    if header.get("typ") != KB_JWT_TYP:
        raise PidRefused(NO_KEY_BINDING, "typ")
    if not _signature_ok(kb_jwt, key):
        raise PidRefused(NO_KEY_BINDING, "not signed by cnf.jwk")
    if not isinstance(payload.get("nonce"), str) or payload["nonce"] != nonce:
        raise PidRefused(WRONG_NONCE)
    if not isinstance(payload.get("aud"), str) or payload["aud"] != audience:
        raise PidRefused(WRONG_AUDIENCE)
    iat = _number(payload, "iat")
    if iat is None or not moment - max_age <= iat <= moment + CLOCK_SKEW:
        raise PidRefused(STALE_KEY_BINDING)
    if payload.get("sd_hash") != sd_hash:
        raise PidRefused(SD_HASH)


def _text(claims, name):
    value = claims.get(name)
    return value.strip() if isinstance(value, str) and value.strip() else None


def _person(claims):
    given, family, born = (_text(claims, n) for n in REQUIRED_CLAIMS)
    if not (given and family and born):
        raise PidRefused(CLAIMS_MISSING, "names or birth date")
    try:
        birthdate = date.fromisoformat(born)
    except ValueError:
        raise PidRefused(CLAIMS_MISSING, "birthdate is not a date") from None
    country = _text(claims, "issuing_country")
    if country is not None and not COUNTRY.fullmatch(country):
        raise PidRefused(MALFORMED, "issuing_country")
    return {"given_name": given, "family_name": family, "birthdate": birthdate,
            "issuing_country": country,
            "administrative_number": _text(claims, "personal_administrative_number")}


def _check_status(status, now, status_of):
    entry = status.get("status_list") if isinstance(status, dict) else None
    if not isinstance(entry, dict):
        raise PidRefused(NO_STATUS)
    uri, idx = entry.get("uri"), entry.get("idx")
    if not isinstance(uri, str) or isinstance(idx, bool) or not isinstance(idx, int) or idx < 0:
        raise PidRefused(NO_STATUS, "a malformed status_list reference")
    try:
        value = status_of(uri, idx, now)
    except StatusUnavailable as exc:
        raise PidRefused(STATUS_UNAVAILABLE, str(exc)) from None
    if value == STATUS_SUSPENDED:
        raise PidRefused(SUSPENDED)
    if value != STATUS_VALID:
        raise PidRefused(REVOKED, f"status {value}")
    return {"uri": uri, "idx": idx, "value": value}


def utc(timestamp):
    return datetime.fromtimestamp(timestamp, timezone.utc)

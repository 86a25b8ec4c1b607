"""A test PID provider: its own root CA (written into the trust folder), an
issuing CA and a signing certificate, PIDs as SD-JWT VCs made with the
``sd-jwt`` reference implementation, and a Token Status List served over real
HTTP. Independent of the verifier's code, so that the two can disagree.

Also the verifier's development access certificate (``verifier_certificate``)."""

import base64
import json
import threading
import time
import zlib
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from joserfc import jws
from joserfc.jwk import ECKey
from joserfc.jws import JWSRegistry
from jwcrypto.jwk import JWK
from sd_jwt.common import SDObj
from sd_jwt.issuer import SDJWTIssuer

from sinks import free_port

PEM = serialization.Encoding.PEM
DER = serialization.Encoding.DER
DAY = timedelta(days=1)
PID_VCT = "urn:eudi:pid:1"
VALID, INVALID, SUSPENDED = 0, 1, 2
ANA = {"given_name": "Ana", "family_name": "Novak", "birthdate": "1990-05-17",
       "issuing_country": "SI", "personal_administrative_number": "21111103"}


class BigHeaders(JWSRegistry):
    max_header_length = 16 * 1024  # x5c


REGISTRY = BigHeaders(algorithms=["ES256"], strict_check_header=False)


def _name(cn):
    return x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "SI"),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Test PID Provider"),
                      x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _usage(sign=False, certs=False):
    return x509.KeyUsage(digital_signature=sign, content_commitment=False,
                         key_encipherment=False, data_encipherment=False, key_agreement=False,
                         key_cert_sign=certs, crl_sign=certs, encipher_only=False,
                         decipher_only=False)


def make_cert(subject, key, issuer_cert=None, issuer_key=None, *, ca=False, not_before,
              not_after, dns=(), uris=(), path_length=None):
    """A certificate for ``key``; self-signed without an issuer."""
    issuer_key = issuer_key or key
    builder = (x509.CertificateBuilder().subject_name(subject)
               .issuer_name(issuer_cert.subject if issuer_cert else subject)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(not_before).not_valid_after(not_after)
               .add_extension(x509.BasicConstraints(ca=ca, path_length=path_length if ca else None),
                              critical=True)
               .add_extension(_usage(sign=True, certs=ca), critical=True)
               .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                              critical=False)
               .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                   issuer_key.public_key()), critical=False))
    names = [x509.DNSName(d) for d in dns] + [x509.UniformResourceIdentifier(u) for u in uris]
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def b64der(cert):
    return base64.b64encode(cert.public_bytes(DER)).decode()


def holder_key():
    """A wallet's device key (jwcrypto, as the reference implementation wants)."""
    return JWK.generate(kty="EC", crv="P-256")


class Authority:
    def __init__(self, cn, now, parent=None, days=(1000, 3650), path_length=None):
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.cert = make_cert(_name(cn), self.key, parent.cert if parent else None,
                              parent.key if parent else None, ca=True,
                              not_before=now - days[0] * DAY, not_after=now + days[1] * DAY,
                              path_length=path_length)


class PidProvider:
    """Root CA -> issuing CA -> signing certificate; PIDs and a status list."""

    __test__ = False

    def __init__(self, folder=None, host="pid.test", now=None):
        self.now = now or datetime.now(timezone.utc)
        self.host = host
        self.iss = f"https://{host}"
        self.root = Authority("Test PID Root CA", self.now)
        self.issuing = Authority("Test PID Issuing CA", self.now, parent=self.root,
                                 days=(500, 1825), path_length=0)
        self.signer_key = ec.generate_private_key(ec.SECP256R1())
        self.signer = self.sign_cert()
        if folder is not None:
            folder = Path(folder)
            folder.mkdir(parents=True, exist_ok=True)
            (folder / "test-pid-root.pem").write_bytes(self.root.cert.public_bytes(PEM))
        self.statuses = [VALID] * 64
        self.server = None
        self.next_index = 0

    def sign_cert(self, not_before=None, not_after=None, dns=None, key=None):
        return make_cert(_name("Test PID Signer"), key or self.signer_key, self.issuing.cert,
                         self.issuing.key, not_before=not_before or self.now - DAY,
                         not_after=not_after or self.now + 365 * DAY,
                         dns=dns if dns is not None else (self.host,))

    @property
    def x5c(self):
        return [b64der(self.signer), b64der(self.issuing.cert)]

    # -- PIDs -------------------------------------------------------------------------

    def issue(self, holder, claims=None, *, vct=PID_VCT, exp=None, nbf=None, iat=None,
              iss=None, x5c=None, key=None, status=True, idx=None, drop=(), alg="ES256",
              typ="dc+sd-jwt"):
        """An SD-JWT VC issuance (``jwt~disclosure~...~``) bound to ``holder``."""
        moment = int(time.time())
        person = dict(ANA if claims is None else claims)
        for name in drop:
            person.pop(name, None)
        user_claims = {SDObj(k): v for k, v in person.items()}
        user_claims.update({"iss": iss or self.iss, "vct": vct,
                            "iat": moment - 60 if iat is None else iat,
                            "exp": moment + 30 * 24 * 3600 if exp is None else exp})
        if nbf is not None:
            user_claims["nbf"] = nbf
        if status:
            if idx is None:
                idx, self.next_index = self.next_index, self.next_index + 1
            user_claims["status"] = {"status_list": {"idx": idx, "uri": self.status_uri}}
        user_claims = {k: v for k, v in user_claims.items() if v is not None}
        signing_key = JWK.from_pyca(key or self.signer_key)
        issuer = SDJWTIssuer(user_claims, signing_key, holder, sign_alg=alg,
                             add_decoy_claims=True,
                             extra_header_parameters={"typ": typ,
                                                      "x5c": x5c if x5c is not None else self.x5c})
        self.last_index = idx
        return issuer.sd_jwt_issuance

    # -- the status list over HTTP ----------------------------------------------------

    @property
    def status_uri(self):
        self.serve()
        return f"http://127.0.0.1:{self.port}/statuslists/1"

    def status_token(self, ttl=300, sub=None):
        raw = bytearray(len(self.statuses) // 4)  # 2 bits per entry
        for i, value in enumerate(self.statuses):
            raw[i // 4] |= value << ((i % 4) * 2)
        lst = base64.urlsafe_b64encode(zlib.compress(bytes(raw))).rstrip(b"=").decode()
        moment = int(time.time())
        payload = {"sub": sub or self.status_uri, "iat": moment, "exp": moment + 3600,
                   "ttl": ttl, "status_list": {"bits": 2, "lst": lst}}
        key = ECKey.import_key(self.signer_key.private_bytes(
            PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
        return jws.serialize_compact({"alg": "ES256", "typ": "statuslist+jwt", "x5c": self.x5c},
                                     json.dumps(payload), key, registry=REGISTRY)

    def serve(self, port=None):
        if self.server is not None:
            return
        provider = self
        self.fetches = 0
        self.down = False

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                provider.fetches += 1
                if provider.down or self.path != "/statuslists/1":
                    self.send_response(503 if provider.down else 404)
                    self.end_headers()
                    return
                body = provider.status_token().encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/statuslist+jwt")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.port = port or free_port()
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None


def verifier_certificate(folder, host="localhost"):
    """A development access certificate for the verifier (its own small CA),
    written as ``verifier.pem`` (leaf, CA) and ``verifier.key``; returns paths."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    now = datetime.now(timezone.utc)
    ca = Authority("Test Verifier CA", now)
    key = ec.generate_private_key(ec.SECP256R1())
    cert = make_cert(_name(f"Verifier {host}"), key, ca.cert, ca.key, not_before=now - DAY,
                     not_after=now + 365 * DAY, dns=(host,))
    cert_file, key_file = folder / "verifier.pem", folder / "verifier.key"
    cert_file.write_bytes(cert.public_bytes(PEM) + ca.cert.public_bytes(PEM))
    key_file.write_bytes(key.private_bytes(PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_file, key_file


# -- a provider kept on disk (the development wallet, tests/wallet_cli.py) ---------------

def _save_key(path, key):
    path.write_bytes(key.private_bytes(PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    path.chmod(0o600)


def save_provider(provider, folder):
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for name, key, cert in (("root", provider.root.key, provider.root.cert),
                            ("issuing", provider.issuing.key, provider.issuing.cert),
                            ("signer", provider.signer_key, provider.signer)):
        _save_key(folder / f"{name}.key", key)
        (folder / f"{name}.pem").write_bytes(cert.public_bytes(PEM))


def load_provider(folder, port=None):
    """The provider saved in ``folder``; its status list served on ``port``."""
    folder = Path(folder)
    provider = PidProvider.__new__(PidProvider)
    provider.now = datetime.now(timezone.utc)
    provider.host = "pid.test"
    provider.iss = f"https://{provider.host}"

    def part(name):
        auth = Authority.__new__(Authority)
        auth.key = serialization.load_pem_private_key((folder / f"{name}.key").read_bytes(), None)
        auth.cert = x509.load_pem_x509_certificate((folder / f"{name}.pem").read_bytes())
        return auth

    provider.root, provider.issuing, signer = part("root"), part("issuing"), part("signer")
    provider.signer_key, provider.signer = signer.key, signer.cert
    provider.statuses = [VALID] * 64
    provider.server = None
    provider.next_index = 0
    if port:
        provider.serve(port)
    return provider

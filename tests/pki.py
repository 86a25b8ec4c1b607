"""A small test PKI: a root CA, an issuing (intermediate) CA and their CRLs in
one folder, and person certificates for every outcome of verification.

Files are written in both encodings on purpose (root: PEM cert + DER CRL,
intermediate: DER cert + PEM CRL) so the trust store's loaders are exercised.
"""

from datetime import datetime, timedelta, timezone
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

PEM = serialization.Encoding.PEM
DER = serialization.Encoding.DER
DAY = timedelta(days=1)
CRL_URL = "http://crl.test/issuing.crl"  # where person certificates say their CRL is


def _key():
    return ec.generate_private_key(ec.SECP256R1())


def _name(**attrs):
    return x509.Name([x509.NameAttribute(getattr(NameOID, k), v) for k, v in attrs.items()])


def _key_usage(*, digital_signature=False, cert_sign=False):
    return x509.KeyUsage(
        digital_signature=digital_signature, content_commitment=False,
        key_encipherment=False, data_encipherment=False, key_agreement=False,
        key_cert_sign=cert_sign, crl_sign=cert_sign, encipher_only=False, decipher_only=False,
    )


class Authority:
    """A CA: its key and certificate, and the serials it has revoked."""

    def __init__(self, name, not_before, not_after, parent=None, path_length=None):
        self.key = _key()
        self.revoked = []
        issuer = parent or self
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(COUNTRY_NAME="SI", ORGANIZATION_NAME="Test", COMMON_NAME=name))
            .issuer_name(parent.cert.subject if parent else
                         _name(COUNTRY_NAME="SI", ORGANIZATION_NAME="Test", COMMON_NAME=name))
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before)
            .not_valid_after(not_after)
            .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
            .add_extension(_key_usage(digital_signature=True, cert_sign=True), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(self.key.public_key()),
                           critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                issuer.key.public_key()), critical=False)
        )
        self.cert = builder.sign(issuer.key, hashes.SHA256())

    def issue(self, subject, not_before, not_after, eku, crl_url=CRL_URL):
        key = _key()
        point = x509.DistributionPoint([x509.UniformResourceIdentifier(crl_url)], None, None, None)
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before)
            .not_valid_after(not_after)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_key_usage(digital_signature=True), critical=True)
            .add_extension(x509.ExtendedKeyUsage(list(eku)), critical=False)
            .add_extension(x509.CRLDistributionPoints([point]), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                           critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                self.key.public_key()), critical=False)
        )
        return builder.sign(self.key, hashes.SHA256())

    def crl(self, last_update, next_update, partition=None):
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(self.cert.subject)
            .last_update(last_update)
            .next_update(next_update)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                self.key.public_key()), critical=False)
        )
        if partition:  # a CRL that speaks only for certificates pointing at `partition`
            builder = builder.add_extension(x509.IssuingDistributionPoint(
                [x509.UniformResourceIdentifier(partition)], None, False, False, None, False, False,
            ), critical=True)
        for serial in self.revoked:
            builder = builder.add_revoked_certificate(
                x509.RevokedCertificateBuilder()
                .serial_number(serial).revocation_date(last_update).build())
        return builder.sign(self.key, hashes.SHA256())


class TestPKI:
    """Writes the trust folder and hands out PEM person certificates."""

    __test__ = False  # a helper, not a test class

    def __init__(self, folder, now=None):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.now = now or datetime.now(timezone.utc)
        self.root = Authority("Test Root CA", self.now - 1000 * DAY, self.now + 3650 * DAY)
        self.intermediate = Authority("Test Issuing CA", self.now - 500 * DAY,
                                      self.now + 1825 * DAY, parent=self.root, path_length=0)
        self._write("root.pem", self.root.cert.public_bytes(PEM))
        self._write("intermediate.cer", self.intermediate.cert.public_bytes(DER))
        self.write_crl("root")
        self.write_crl("intermediate")

    # -- the folder ---------------------------------------------------------

    def _write(self, name, data):
        (self.folder / name).write_bytes(data)

    def write_crl(self, which="intermediate", last_update=None, next_update=None, partition=None):
        """(Re)write the CRL of "root" or "intermediate"; ``partition`` makes it
        a partitioned CRL (issuingDistributionPoint) for that URL only."""
        ca = getattr(self, which)
        last_update = last_update or self.now - timedelta(hours=1)
        crl = ca.crl(last_update, next_update or self.now + 7 * DAY, partition)
        encoding = PEM if which == "intermediate" else DER
        self._write(f"{which}.crl", crl.public_bytes(encoding))

    def write_stale_crl(self, which="intermediate"):
        """A CRL whose next_update has passed: revocation status unknown."""
        self.write_crl(which, last_update=self.now - 10 * DAY, next_update=self.now - DAY)

    def drop_crl(self, which="intermediate"):
        (self.folder / f"{which}.crl").unlink()

    # -- person certificates (PEM bytes) -------------------------------------

    def person(self, given="Ana", family="Novak", tax="12345678", *, issuer=None,
               not_before=None, not_after=None, eku=(ExtendedKeyUsageOID.CLIENT_AUTH,)):
        attrs = [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "SI"),
            x509.NameAttribute(NameOID.GIVEN_NAME, given),
            x509.NameAttribute(NameOID.SURNAME, family),
            x509.NameAttribute(NameOID.COMMON_NAME, f"{given} {family}"),
        ]
        if tax:
            attrs.append(x509.NameAttribute(NameOID.SERIAL_NUMBER, f"TINSI-{tax}"))
        cert = (issuer or self.intermediate).issue(
            x509.Name(attrs),
            not_before or self.now - timedelta(hours=1),
            not_after or self.now + 365 * DAY,
            eku,
        )
        return cert.public_bytes(PEM)

    def expired(self):
        return self.person(not_before=self.now - 400 * DAY, not_after=self.now - DAY)

    def not_yet_valid(self):
        return self.person(not_before=self.now + DAY, not_after=self.now + 365 * DAY)

    def revoked(self):
        pem = self.person()
        self.intermediate.revoked.append(x509.load_pem_x509_certificate(pem).serial_number)
        self.write_crl("intermediate")
        return pem

    def untrusted(self):
        stranger = Authority("Stranger CA", self.now - DAY, self.now + 365 * DAY)
        return self.person(issuer=stranger)

    def without_client_auth(self):
        return self.person(eku=(ExtendedKeyUsageOID.EMAIL_PROTECTION,))

    def without_tax(self):
        return self.person(tax=None)

    def add_intermediate(self, name, not_before, not_after):
        """Another issuing CA under the root, written into the folder (no CRL)."""
        ca = Authority(name, not_before, not_after, parent=self.root, path_length=0)
        self._write(f"{name.lower().replace(' ', '-')}.pem", ca.cert.public_bytes(PEM))
        return ca

    def under_expired_intermediate(self):
        """A valid-looking leaf whose issuing CA (in the folder) has expired."""
        old = self.add_intermediate("Old Issuing CA", self.now - 900 * DAY, self.now - DAY)
        return self.person(issuer=old, not_before=self.now - 800 * DAY)

"""The dev org's key material: a private CA, a server certificate it signs, and the JWT key pair.

Everything is generated with `cryptography` into one directory and reused when already present,
so a restart with the same data directory keeps the same CA (clients keep trusting it) and the
same connected-app key. Clients trust `ca.pem` explicitly; nothing here is meant for production.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

DEFAULT_HOSTS = ("127.0.0.1", "localhost", "::1")

CA_CERT = "ca.pem"
CA_KEY = "ca-key.pem"
SERVER_CERT = "server.pem"
SERVER_KEY = "server-key.pem"
JWT_PRIVATE_KEY = "jwt-private-key.pem"
JWT_PUBLIC_KEY = "jwt-public-key.pem"


@dataclass(frozen=True)
class KeyFiles:
    """Paths of the generated key material in one directory."""

    directory: Path

    @property
    def ca_cert(self) -> Path:
        return self.directory / CA_CERT

    @property
    def ca_key(self) -> Path:
        return self.directory / CA_KEY

    @property
    def server_cert(self) -> Path:
        return self.directory / SERVER_CERT

    @property
    def server_key(self) -> Path:
        return self.directory / SERVER_KEY

    @property
    def jwt_private_key(self) -> Path:
        return self.directory / JWT_PRIVATE_KEY

    @property
    def jwt_public_key(self) -> Path:
        return self.directory / JWT_PUBLIC_KEY


def _pem_private(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _write(path: Path, data: bytes, private: bool = False) -> None:
    path.write_bytes(data)
    if private:
        path.chmod(0o600)


def _san_entries(hosts: tuple[str, ...]) -> list[x509.GeneralName]:
    out: list[x509.GeneralName] = []
    for host in hosts:
        try:
            out.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            out.append(x509.DNSName(host))
    return out


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def generate_ca(files: KeyFiles) -> None:
    """A self-signed CA (EC P-256: fast to generate, accepted by OpenSSL's default policy)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "salesops devorg local CA")])
    now = _now()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    _write(files.ca_key, _pem_private(key), private=True)
    _write(files.ca_cert, cert.public_bytes(serialization.Encoding.PEM))


def generate_server_cert(files: KeyFiles, hosts: tuple[str, ...]) -> None:
    """A server certificate for `hosts` (IP and DNS SANs), signed by the CA in `files`."""
    ca_key = serialization.load_pem_private_key(files.ca_key.read_bytes(), password=None)
    ca_cert = x509.load_pem_x509_certificate(files.ca_cert.read_bytes())
    key = ec.generate_private_key(ec.SECP256R1())
    now = _now()
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0])]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=825))
        .add_extension(x509.SubjectAlternativeName(_san_entries(hosts)), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_cert.public_key()),  # type: ignore[arg-type]
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())  # type: ignore[arg-type]
    )
    _write(files.server_key, _pem_private(key), private=True)
    _write(files.server_cert, cert.public_bytes(serialization.Encoding.PEM))


def generate_jwt_keys(files: KeyFiles) -> None:
    """The connected app's RSA key pair (RS256 needs RSA): the client signs, the org verifies."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    _write(files.jwt_private_key, _pem_private(key), private=True)
    _write(
        files.jwt_public_key,
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
    )


def _server_cert_covers(files: KeyFiles, hosts: tuple[str, ...]) -> bool:
    try:
        cert = x509.load_pem_x509_certificate(files.server_cert.read_bytes())
        ca_cert = x509.load_pem_x509_certificate(files.ca_cert.read_bytes())
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (OSError, ValueError, x509.ExtensionNotFound):
        return False
    if cert.issuer != ca_cert.subject or cert.not_valid_after_utc < _now() + dt.timedelta(days=1):
        return False
    present = set(san) if san else set()
    return all(entry in present for entry in _san_entries(hosts))


def ensure_key_files(directory: Path, hosts: tuple[str, ...] = DEFAULT_HOSTS) -> KeyFiles:
    """Create (or reuse) the CA, a server certificate covering `hosts`, and the JWT key pair."""
    directory.mkdir(parents=True, exist_ok=True)
    files = KeyFiles(directory)
    all_hosts = tuple(dict.fromkeys((*hosts, *DEFAULT_HOSTS)))
    new_ca = not (files.ca_cert.exists() and files.ca_key.exists())
    if new_ca:
        generate_ca(files)
    if new_ca or not files.server_key.exists() or not _server_cert_covers(files, all_hosts):
        generate_server_cert(files, all_hosts)
    if not (files.jwt_private_key.exists() and files.jwt_public_key.exists()):
        generate_jwt_keys(files)
    return files

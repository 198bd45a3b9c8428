"""Throwaway certificates for the TLS servers the suite starts itself.

`TestAuthority` makes a private CA with trustme and issues one server
certificate from it, valid for 127.0.0.1, localhost and any extra names. The
embedded aiosmtpd server and the suite's own tests use it in memory. Servers in
other processes (Postfix in CI, the standalone aiosmtpd) read the PEM files
that `TestAuthority.write` or ``python -m conformance.certs DIR`` produce, and
the suite verifies them with ``--tls-ca DIR/ca.pem``.

These certificates are for tests on 127.0.0.1 only: the CA key lives in memory
and is never written, so nothing else can be signed with it later.
"""

from __future__ import annotations

import argparse
import os
import ssl
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import trustme

#: Names every server certificate of a `TestAuthority` is valid for.
DEFAULT_NAMES = ("127.0.0.1", "localhost")


@dataclass(frozen=True)
class CertificateFiles:
    """Paths of the PEM files written by `TestAuthority.write`.

    Attributes:
        ca: the CA certificate, for clients (``--tls-ca``).
        cert: the server certificate, leaf first.
        key: the server's private key, readable by the owner only.
    """

    ca: Path
    cert: Path
    key: Path


class TestAuthority:
    """A private CA and one server certificate issued by it.

    Args:
        names: host names or IP addresses the server certificate is valid
            for, in addition to `DEFAULT_NAMES`.
    """

    # The name starts with "Test", so keep pytest from collecting it.
    __test__ = False

    def __init__(self, names: Sequence[str] = ()) -> None:
        self._ca = trustme.CA(organization_name="SMTP conformance suite test CA")
        identities = list(dict.fromkeys([*DEFAULT_NAMES, *names]))
        self._leaf = self._ca.issue_cert(*identities)
        self.names = tuple(identities)

    @property
    def ca_pem(self) -> bytes:
        """The CA certificate in PEM form."""
        return self._ca.cert_pem.bytes()

    def server_context(self) -> ssl.SSLContext:
        """Return a server-side context that presents the server certificate.

        It requests no client certificate, as aiosmtpd expects of a
        ``tls_context``.
        """
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self._leaf.configure_cert(context)
        return context

    def client_context(self) -> ssl.SSLContext:
        """Return a client-side context that trusts only this CA."""
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
        self._ca.configure_trust(context)
        return context

    def write(self, directory: Path) -> CertificateFiles:
        """Write ca.pem, cert.pem and key.pem into `directory`.

        The directory is created if missing, and existing files of those
        names are replaced. key.pem gets mode 0600.

        Raises:
            OSError: a file could not be written.
        """
        directory.mkdir(parents=True, exist_ok=True)
        files = CertificateFiles(
            ca=directory / "ca.pem",
            cert=directory / "cert.pem",
            key=directory / "key.pem",
        )
        files.ca.write_bytes(self.ca_pem)
        files.cert.write_bytes(
            b"".join(pem.bytes() for pem in self._leaf.cert_chain_pems)
        )
        _write_private(files.key, self._leaf.private_key_pem.bytes())
        return files


def _write_private(path: Path, data: bytes) -> None:
    # Replace the file instead of rewriting it, so the new key never lands in
    # an older key.pem with wider permissions.
    path.unlink(missing_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as file:
        file.write(data)


def write_for_cli(authority: TestAuthority, directory: Path) -> CertificateFiles | None:
    """Write the authority's files for a command-line tool.

    Returns None, after printing why to stderr, when they cannot be written.
    """
    try:
        return authority.write(directory)
    except OSError as error:
        print(f"cannot write the certificates to {directory}: {error}", file=sys.stderr)
        return None


def main(argv: Sequence[str] | None = None) -> int:
    """Write a fresh CA and server certificate for a test server."""
    parser = argparse.ArgumentParser(
        prog="python -m conformance.certs",
        description="Write ca.pem, cert.pem and key.pem for a TLS test server "
        "into DIR. The server certificate is valid for 127.0.0.1, localhost "
        "and every --name; give ca.pem to the suite with --tls-ca.",
    )
    parser.add_argument("directory", metavar="DIR", type=Path)
    parser.add_argument(
        "--name",
        action="append",
        default=[],
        help="another host name or IP address for the certificate; repeat for several",
    )
    args = parser.parse_args(argv)
    try:
        authority = TestAuthority(args.name)
    except ValueError as error:
        print(f"invalid --name: {error}", file=sys.stderr)
        return 2
    files = write_for_cli(authority, args.directory)
    if files is None:
        return 1
    print(f"CA certificate: {files.ca}")
    print(f"server certificate: {files.cert}")
    print(f"server key: {files.key}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The socket side: one blocking TCP connection to the target per session.

Every read has a deadline and every reply a size bound, so a hung or hostile
server ends in a `TargetMisbehaved` exception, never in a hang. A reply ends at
its final line (RFC 5321 §4.2): the runner never waits for an idle timeout to
decide that a reply is complete. The idle timeout applies to each wait for
bytes, and a longer limit to each whole reply, so a server that slows its
replies on purpose is waited for while one that trickles bytes forever is not.

TLS starts either right after the TCP connection (`Target.implicit_tls`, the
port-465 style of RFC 8314) or when the caller calls `Connection.start_tls`
after a 220 reply to STARTTLS (RFC 3207). The same bounds apply over TLS, and
the whole handshake must end within the idle timeout.
"""

from __future__ import annotations

import contextlib
import logging
import re
import socket
import ssl
import time
from dataclasses import dataclass, field
from types import TracebackType
from typing import NoReturn

from conformance.errors import (
    ConnectionLost,
    ReplyTimeout,
    TargetUnreachable,
    TlsFailed,
)
from conformance.replies import Reply, ReplyParser
from conformance.transcript import Transcript

logger = logging.getLogger(__name__)

_RECEIVE_SIZE = 65536

#: OpenSSL verification codes for a certificate that does not name the host
#: (X509_V_ERR_HOSTNAME_MISMATCH and X509_V_ERR_IP_ADDRESS_MISMATCH).
_NAME_MISMATCH_CODES = (62, 64)


@dataclass(frozen=True)
class Target:
    """Where the server under test listens, and how long to wait for it.

    Attributes:
        host: host name or IP address.
        port: TCP port.
        timeout: seconds to wait for the connection, for the first byte of a
            reply and between the bytes of a reply.
        reply_time_limit: seconds one whole reply may take, however steadily
            its bytes arrive. Servers may slow their replies on purpose (RFC
            5321 §4.5.3.2 lets clients wait minutes), but a reply trickled a
            byte at a time must still end.
        max_reply_line: longest reply line accepted, in octets.
        max_reply_lines: most lines one reply may have.
        tls_ca: a PEM file of CA certificates that verify the server's
            certificate, or None for the system's default CAs.
        tls_verify: verify the server's certificate and name. False accepts
            any certificate.
        implicit_tls: start TLS right after connecting, before the greeting
            (port 465 style), instead of only after STARTTLS.
        server_name: the name sent as SNI and checked against the
            certificate, or None for `host`.
        timeout_hint: advice appended to a "no reply" message.
    """

    host: str
    port: int
    timeout: float = 10.0
    reply_time_limit: float = 120.0
    max_reply_line: int = 64 * 1024
    max_reply_lines: int = 1000
    tls_ca: str | None = None
    tls_verify: bool = True
    implicit_tls: bool = False
    server_name: str | None = None
    timeout_hint: str = "raise --smtp-timeout if the server is just slow"

    @property
    def address(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    @property
    def tls_server_name(self) -> str:
        """The name the server's certificate must be valid for."""
        return self.server_name or self.host

    def client_context(self) -> ssl.SSLContext:
        """Return the client-side TLS context for this target.

        With `tls_verify`, the server's certificate must chain to a CA in
        `tls_ca` (or to a system CA when `tls_ca` is None) and be valid for
        `tls_server_name`, which may be an IP address. Without it, any
        certificate is accepted.

        Raises:
            OSError: `tls_ca` could not be read.
            ssl.SSLError: `tls_ca` contains no valid PEM certificate.
        """
        if not self.tls_verify:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            return context
        return ssl.create_default_context(cafile=self.tls_ca)


@dataclass
class Connection:
    """One SMTP connection with its transcript.

    Use `Connection.open` to connect; the greeting is not read until
    `read_reply` is called, so the caller judges it like any other reply.
    """

    target: Target
    sock: socket.socket
    transcript: Transcript = field(default_factory=Transcript)
    closed_by_peer: bool = False
    #: True once a TLS handshake succeeded on this connection.
    tls_active: bool = False
    #: Seconds from the last send to the end of the reply that followed it.
    last_reply_seconds: float = 0.0
    _sent_at: float = field(default=0.0, init=False)
    _parser: ReplyParser = field(init=False)

    def __post_init__(self) -> None:
        self._parser = ReplyParser(
            max_line=self.target.max_reply_line,
            max_lines=self.target.max_reply_lines,
        )

    @classmethod
    def open(cls, target: Target) -> Connection:
        """Connect to the target, and with `Target.implicit_tls` start TLS.

        Raises:
            TargetUnreachable: the TCP connection could not be made.
            TlsFailed: the implicit TLS handshake failed.
        """
        try:
            sock = socket.create_connection(
                (target.host, target.port), timeout=target.timeout
            )
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except socket.gaierror as error:
            raise TargetUnreachable(
                f"cannot resolve the host name {target.host!r}: {error.strerror}"
            ) from error
        except OSError as error:
            raise TargetUnreachable(
                f"cannot connect to {target.address}: {error.strerror or error}"
            ) from error
        logger.info("connected to %s", target.address)
        connection = cls(target, sock)
        if target.implicit_tls:
            try:
                connection._handshake()
            except TlsFailed:
                connection.close()
                raise
        return connection

    def __enter__(self) -> Connection:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()

    @property
    def pending(self) -> bytes:
        """Bytes received but not yet parsed as a complete reply."""
        return self._parser.pending

    def send(self, data: bytes, shown: bytes | None = None) -> None:
        """Send bytes and record them.

        Args:
            data: the bytes to send.
            shown: what the transcript and the debug log record in place of
                `data`, such as the command with its credentials masked.
                None records `data` itself.

        Raises:
            ConnectionLost: the target had closed or reset the connection.
        """
        recorded = data if shown is None else shown
        self.transcript.client(recorded)
        self._sent_at = time.monotonic()
        logger.debug("%s C: %r", self.target.address, recorded[:200])
        try:
            self.sock.sendall(data)
        except OSError as error:
            self.transcript.note(f"send failed: {error.strerror or error}")
            raise ConnectionLost(
                f"the connection failed while sending: {error.strerror or error}"
            ) from error

    def start_tls(self) -> None:
        """Start TLS on this connection, after a 220 reply to STARTTLS.

        Bytes already received after the 220 reply (see `pending`) were sent
        in plain text, so they are discarded, never read as replies over TLS
        (RFC 3207 §4.2 has the client discard what it learned before TLS).
        Check `pending` first to report them.

        Raises:
            TlsFailed: the handshake failed or timed out.
            RuntimeError: TLS is already active on this connection.
        """
        if self.tls_active:
            raise RuntimeError("start_tls called on a connection that uses TLS")
        self._handshake()

    def _handshake(self) -> None:
        discarded = self._parser.pending
        if discarded:
            self.transcript.note(
                f"{len(discarded)} plain-text octets received before TLS "
                "started were discarded"
            )
        self._parser = ReplyParser(
            max_line=self.target.max_reply_line,
            max_lines=self.target.max_reply_lines,
        )
        try:
            wrapped = self._wrap()
        except TlsFailed as error:
            self.transcript.note(f"TLS handshake failed: {error}")
            logger.info("%s TLS handshake failed: %s", self.target.address, error)
            raise
        self.tls_active = True
        cipher = wrapped.cipher()
        description = f"{wrapped.version()} {cipher[0] if cipher else ''}".strip()
        self.transcript.note(f"TLS handshake done: {description}")
        logger.info("%s TLS started: %s", self.target.address, description)

    def _wrap(self) -> ssl.SSLSocket:
        target = self.target
        name = target.tls_server_name
        try:
            context = target.client_context()
        except (OSError, ssl.SSLError) as error:
            raise TlsFailed(
                f"cannot load the CA certificates in {target.tls_ca}: "
                f"{_ssl_reason(error)}. Pass --tls-ca FILE with a readable "
                "PEM file"
            ) from None
        try:
            # wrap_socket takes over the descriptor: from here on the plain
            # socket object is detached and only the wrapped one is usable.
            wrapped = context.wrap_socket(
                self.sock, server_hostname=name, do_handshake_on_connect=False
            )
        except ValueError as error:
            raise TlsFailed(
                f"cannot start TLS with the server name {name!r}: {error}"
            ) from None
        self.sock = wrapped
        # The ssl module (CPython 3.11) applies the timeout to the whole
        # handshake, not to each read within it, so a server that trickles
        # its handshake records cannot stretch it; a test checks this.
        wrapped.settimeout(target.timeout)
        try:
            wrapped.do_handshake()
        except ssl.SSLCertVerificationError as error:
            raise TlsFailed(
                _certificate_message(target, error), certificate_rejected=True
            ) from None
        except TimeoutError:
            raise TlsFailed(
                f"the TLS handshake with {target.address} timed out: it did not "
                f"finish within {target.timeout:g} s (raise --smtp-timeout if "
                "the server is just slow)"
            ) from None
        except (ssl.SSLEOFError, ssl.SSLZeroReturnError, ConnectionError):
            raise TlsFailed(
                f"the server at {target.address} closed the connection during "
                f"the TLS handshake. {_mode_hint(target)}"
            ) from None
        except ssl.SSLError as error:
            raise TlsFailed(
                f"the TLS handshake with {target.address} failed: "
                f"{_ssl_reason(error)}. {_mode_hint(target)}"
            ) from None
        except OSError as error:
            raise TlsFailed(
                f"the connection to {target.address} failed during the TLS "
                f"handshake: {error.strerror or error}"
            ) from None
        return wrapped

    def read_reply(self) -> Reply:
        """Read one complete reply within the target's timeout.

        Raises:
            ReplyTimeout: no complete reply arrived in time.
            ConnectionLost: the target closed or reset the connection first.
            MalformedReply: the reply broke the RFC 5321 grammar.
            ReplyTooLarge: the reply exceeded the size bounds.
        """
        limit = time.monotonic() + self.target.reply_time_limit
        while True:
            reply = self._parser.next_reply()
            if reply is not None:
                logger.debug("%s S: %r", self.target.address, reply.raw[:200])
                self.last_reply_seconds = time.monotonic() - self._sent_at
                return reply
            self._receive(limit)

    def _receive(self, limit: float) -> None:
        remaining = limit - time.monotonic()
        if remaining <= 0:
            self._over_time_limit()
        self.sock.settimeout(min(remaining, self.target.timeout))
        try:
            chunk = self.sock.recv(_RECEIVE_SIZE)
        except TimeoutError:
            if time.monotonic() >= limit:
                self._over_time_limit()
            idle = self.target.timeout
            self.transcript.note(f"nothing received for {idle:g} s")
            raise ReplyTimeout(
                f"no reply: nothing received for {idle:g} s "
                f"({self.target.timeout_hint})"
            ) from None
        except ssl.SSLError as error:
            self.closed_by_peer = True
            reason = _ssl_reason(error)
            self.transcript.note(f"TLS error: {reason}")
            raise ConnectionLost(
                f"the TLS connection failed while reading: {reason}"
            ) from error
        except OSError as error:
            self.closed_by_peer = True
            self.transcript.note(f"connection reset: {error.strerror or error}")
            raise ConnectionLost(
                f"the connection was reset: {error.strerror or error}"
            ) from error
        if not chunk:
            self.closed_by_peer = True
            pending = self._parser.pending
            self.transcript.note("connection closed by the server")
            detail = f" after a partial reply {pending[:80]!r}" if pending else ""
            raise ConnectionLost(f"the server closed the connection{detail}")
        self.transcript.server(chunk)
        self._parser.feed(chunk)

    def _over_time_limit(self) -> NoReturn:
        seconds = self.target.reply_time_limit
        self.transcript.note(f"reply still incomplete after {seconds:g} s")
        raise ReplyTimeout(
            f"the reply was still incomplete after {seconds:g} s, although "
            "bytes kept arriving"
        )

    def bytes_within(self, seconds: float) -> bytes:
        """Return bytes that arrive within `seconds`, or are already buffered.

        Used where a conforming server sends nothing more: any bytes mean
        replies the client did not ask for.
        """
        extra = self._parser.pending
        deadline = time.monotonic() + seconds
        while len(extra) <= self.target.max_reply_line:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            self.sock.settimeout(remaining)
            try:
                chunk = self.sock.recv(_RECEIVE_SIZE)
            except TimeoutError:
                break
            except OSError:
                self.closed_by_peer = True
                break
            if not chunk:
                self.closed_by_peer = True
                break
            self.transcript.server(chunk)
            extra += chunk
        return extra

    def wait_for_close(self) -> bytes | None:
        """Wait up to the timeout for the server to close the connection.

        Returns None when it closed (or reset) the connection, otherwise the
        bytes it sent instead, which may be empty if it simply kept it open.
        """
        deadline = time.monotonic() + self.target.timeout
        unexpected = self._parser.pending
        while time.monotonic() < deadline:
            self.sock.settimeout(max(deadline - time.monotonic(), 0.001))
            try:
                chunk = self.sock.recv(_RECEIVE_SIZE)
            except TimeoutError:
                break
            except OSError:
                self.closed_by_peer = True
                return None
            if not chunk:
                self.closed_by_peer = True
                if unexpected:
                    return unexpected
                return None
            self.transcript.server(chunk)
            unexpected += chunk
            if len(unexpected) > self.target.max_reply_line:
                self.transcript.note(
                    f"stopped reading after {len(unexpected)} octets that came "
                    "instead of the close"
                )
                return unexpected
        self.transcript.note(
            f"connection still open {self.target.timeout:g} s after the reply"
        )
        return unexpected


def _ssl_reason(error: OSError) -> str:
    """Return an ssl error as words, without OpenSSL's source location."""
    reason = getattr(error, "reason", None)
    if isinstance(reason, str):
        return reason.lower().replace("_", " ")
    text = str(error.strerror or error)
    return re.sub(r"\s*\(_ssl\.c:\d+\)", "", text)


def _mode_hint(target: Target) -> str:
    if target.implicit_tls:
        return (
            "Check that this port expects TLS right after connecting, or leave "
            "out --implicit-tls if it offers STARTTLS"
        )
    return "Check that the server's TLS set-up (certificate, key, versions) works"


def _certificate_message(target: Target, error: ssl.SSLCertVerificationError) -> str:
    detail = error.verify_message or _ssl_reason(error)
    failed = (
        f"the TLS handshake with {target.address} failed: the server's "
        f"certificate was rejected ({detail})"
    )
    if error.verify_code in _NAME_MISMATCH_CODES:
        return (
            f"{failed}. It is not valid for {target.tls_server_name!r}: pass "
            "--tls-server-name NAME with a name the certificate lists, or "
            "--tls-no-verify"
        )
    trusted = target.tls_ca or "the system's CA certificates"
    return (
        f"{failed}. Pass --tls-ca FILE with the CA that signed the server's "
        f"certificate (the CAs used were {trusted}), or --tls-no-verify"
    )

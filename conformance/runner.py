"""The socket side: one blocking TCP connection to the target per session.

Every read has a deadline and every reply a size bound, so a hung or hostile
server ends in a `TargetMisbehaved` exception, never in a hang. A reply ends at
its final line (RFC 5321 §4.2): the runner never waits for an idle timeout to
decide that a reply is complete. The idle timeout applies to each wait for
bytes, and a longer limit to each whole reply, so a server that slows its
replies on purpose is waited for while one that trickles bytes forever is not.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import time
from dataclasses import dataclass, field
from types import TracebackType
from typing import NoReturn

from conformance.errors import (
    ConnectionLost,
    ReplyTimeout,
    TargetUnreachable,
)
from conformance.replies import Reply, ReplyParser
from conformance.transcript import Transcript

logger = logging.getLogger(__name__)

_RECEIVE_SIZE = 65536


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
    """

    host: str
    port: int
    timeout: float = 10.0
    reply_time_limit: float = 120.0
    max_reply_line: int = 64 * 1024
    max_reply_lines: int = 1000

    @property
    def address(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


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
        """Connect to the target.

        Raises:
            TargetUnreachable: the TCP connection could not be made.
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
        return cls(target, sock)

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

    def send(self, data: bytes) -> None:
        """Send bytes and record them.

        Raises:
            ConnectionLost: the target had closed or reset the connection.
        """
        self.transcript.client(data)
        self._sent_at = time.monotonic()
        logger.debug("%s C: %r", self.target.address, data[:200])
        try:
            self.sock.sendall(data)
        except OSError as error:
            self.transcript.note(f"send failed: {error.strerror or error}")
            raise ConnectionLost(
                f"the connection failed while sending: {error.strerror or error}"
            ) from error

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
                f"no reply: nothing received for {idle:g} s (raise "
                "--smtp-timeout if the server is just slow)"
            ) from None
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
                break
        self.transcript.note(
            f"connection still open {self.target.timeout:g} s after the reply"
        )
        return unexpected

"""The embedded default target: an aiosmtpd server on a 127.0.0.1 port.

When the suite runs without --target it checks this server, so that a newcomer
sees every property run with no set-up. The server runs its own event loop in a
daemon thread and keeps each accepted message in memory.

By default it offers the ESMTP extensions the suite tests: STARTTLS with a
certificate from a `TestAuthority`, AUTH PLAIN and LOGIN for one test account
(offered only after STARTTLS, aiosmtpd's default), and SMTPUTF8.

``python -m conformance.embedded --port PORT --cert-dir DIR`` runs the same
server as a process of its own, as CI does.
"""

from __future__ import annotations

import argparse
import asyncio
import hmac
import logging
import signal
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword
from aiosmtpd.smtp import Session as AioSession

from conformance.certs import TestAuthority, write_for_cli

logger = logging.getLogger(__name__)

#: How long start() waits for the server thread to bind its socket, in seconds.
START_TIMEOUT = 10.0
#: The one account the embedded server accepts with AUTH.
TEST_USER = "conformance"
#: Its password, fixed because the server listens on 127.0.0.1 only and
#: delivers no mail.
TEST_PASSWORD = "conformance-test-password"


@dataclass
class MemoryHandler:
    """An aiosmtpd handler that stores the content of every accepted message.

    Attributes:
        messages: the content of each accepted message, oldest first.
        keep: store messages. A long-running server turns this off so that
            its memory does not grow with every message.
    """

    messages: list[bytes] = field(default_factory=list)
    keep: bool = True

    async def handle_DATA(
        self, server: SMTP, session: AioSession, envelope: Envelope
    ) -> str:
        if self.keep:
            self.messages.append(envelope.original_content or b"")
        return "250 2.0.0 Message accepted"


def authenticate(
    server: SMTP,
    session: AioSession,
    envelope: Envelope,
    mechanism: str,
    auth_data: Any,
) -> AuthResult:
    """Accept the test account, with any mechanism aiosmtpd offers.

    An aiosmtpd ``authenticator``: its PLAIN and LOGIN mechanisms pass the
    decoded credentials as a `LoginPassword`.
    """
    if not isinstance(auth_data, LoginPassword):
        return AuthResult(success=False, handled=False)
    user_matches = hmac.compare_digest(auth_data.login, TEST_USER.encode())
    password_matches = hmac.compare_digest(auth_data.password, TEST_PASSWORD.encode())
    return AuthResult(success=user_matches and password_matches, handled=False)


class EmbeddedServer:
    """An aiosmtpd server on 127.0.0.1, run in a thread of its own.

    Use as a context manager, or call `start` and `stop`.

    Args:
        authority: issues the server certificate; a new one if None.
        port: the TCP port, or 0 for a free one.
        implicit_tls: speak TLS from the first byte (port 465 style) instead
            of offering STARTTLS. AUTH is then offered at once.
        **smtp_options: keyword arguments for aiosmtpd's `SMTP`, which
            override the defaults described in the module docstring (for
            example ``tls_context=None`` to turn STARTTLS off).
    """

    def __init__(
        self,
        authority: TestAuthority | None = None,
        port: int = 0,
        implicit_tls: bool = False,
        **smtp_options: Any,
    ) -> None:
        self.handler = MemoryHandler()
        self.host = "127.0.0.1"
        self.port = port
        self.authority = authority or TestAuthority()
        self._listen_tls = self.authority.server_context() if implicit_tls else None
        defaults: dict[str, Any] = {
            "hostname": "embedded.conformance.test",
            "authenticator": authenticate,
            "enable_SMTPUTF8": True,
        }
        if implicit_tls:
            # aiosmtpd counts only STARTTLS as TLS, so let it offer AUTH on a
            # connection that is encrypted from the start.
            defaults["auth_require_tls"] = False
        else:
            defaults["tls_context"] = self.authority.server_context()
        self._options = {**defaults, **smtp_options}
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._run, name="embedded-smtp", daemon=True
        )
        self._ready = threading.Event()
        self._server: asyncio.base_events.Server | None = None
        self._error: BaseException | None = None

    def __enter__(self) -> EmbeddedServer:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def start(self) -> int:
        """Start serving and return the bound port."""
        self._thread.start()
        if not self._ready.wait(START_TIMEOUT):
            raise RuntimeError(
                f"the embedded SMTP server did not start within {START_TIMEOUT:g} s"
            )
        if self._error is not None:
            raise RuntimeError(
                f"the embedded SMTP server failed to start: {self._error}"
            ) from self._error
        return self.port

    def stop(self) -> None:
        if not self._thread.is_alive():
            return
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=START_TIMEOUT)

    def _factory(self) -> SMTP:
        return SMTP(self.handler, loop=self._loop, **self._options)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._server = self._loop.run_until_complete(
                self._loop.create_server(
                    self._factory, self.host, self.port, ssl=self._listen_tls
                )
            )
            self.port = self._server.sockets[0].getsockname()[1]
        except OSError as error:
            self._error = error
            self._ready.set()
            return
        self._ready.set()
        try:
            self._loop.run_forever()
        finally:
            self._server.close()
            self._loop.run_until_complete(self._server.wait_closed())
            self._loop.close()


def main(argv: Sequence[str] | None = None) -> int:
    """Run the embedded server until SIGTERM or SIGINT."""
    parser = argparse.ArgumentParser(
        prog="python -m conformance.embedded",
        description="Run the suite's default aiosmtpd server on 127.0.0.1 "
        "(STARTTLS, AUTH PLAIN and LOGIN, SMTPUTF8) until SIGTERM or Ctrl-C. "
        f"The AUTH test account is user {TEST_USER!r} with the password in "
        "conformance.embedded.TEST_PASSWORD.",
    )
    parser.add_argument("--port", type=int, required=True, help="TCP port to listen on")
    parser.add_argument(
        "--cert-dir",
        metavar="DIR",
        type=Path,
        required=True,
        help="directory to write ca.pem, cert.pem and key.pem into; pass "
        "DIR/ca.pem to the suite with --tls-ca",
    )
    parser.add_argument(
        "--implicit-tls",
        action="store_true",
        help="speak TLS from the first byte (port 465 style) instead of "
        "offering STARTTLS",
    )
    args = parser.parse_args(argv)
    if not 0 < args.port < 65536:
        parser.error(f"--port {args.port} is outside 1-65535")
    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(name)s %(message)s"
    )
    # aiosmtpd 1.4.6 logs a warning that Session.login_data is deprecated on
    # every successful AUTH, from its own code; keep its errors only.
    logging.getLogger("mail.log").setLevel(logging.ERROR)

    authority = TestAuthority()
    files = write_for_cli(authority, args.cert_dir)
    if files is None:
        return 1

    # Block the signals before the server thread starts, so that the thread
    # inherits the mask and only sigwait below receives them.
    stop_signals = {signal.SIGINT, signal.SIGTERM}
    signal.pthread_sigmask(signal.SIG_BLOCK, stop_signals)
    server = EmbeddedServer(authority, port=args.port, implicit_tls=args.implicit_tls)
    server.handler.keep = False
    try:
        server.start()
    except RuntimeError as error:
        print(str(error), file=sys.stderr)
        return 1
    mode = "implicit TLS" if args.implicit_tls else "STARTTLS"
    print(
        f"aiosmtpd listening on 127.0.0.1:{server.port} ({mode}); CA "
        f"certificate in {files.ca}",
        flush=True,
    )
    received = signal.sigwait(stop_signals)
    server.stop()
    print(f"stopped on {signal.Signals(received).name}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

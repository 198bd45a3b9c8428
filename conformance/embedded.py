"""The embedded default target: an aiosmtpd server on a free 127.0.0.1 port.

When the suite runs without --target it checks this server, so that a newcomer
sees every property run with no set-up. The server runs its own event loop in a
daemon thread and keeps each accepted message in memory.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, field
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope
from aiosmtpd.smtp import Session as AioSession

#: How long start() waits for the server thread to bind its socket, in seconds.
START_TIMEOUT = 10.0


@dataclass
class MemoryHandler:
    """An aiosmtpd handler that stores the content of every accepted message."""

    messages: list[bytes] = field(default_factory=list)

    async def handle_DATA(
        self, server: SMTP, session: AioSession, envelope: Envelope
    ) -> str:
        content = envelope.original_content or b""
        self.messages.append(content)
        return "250 2.0.0 Message accepted"


class EmbeddedServer:
    """An aiosmtpd server on 127.0.0.1, run in a thread of its own.

    Use as a context manager, or call `start` and `stop`.
    """

    def __init__(self, **smtp_options: Any) -> None:
        self.handler = MemoryHandler()
        self.host = "127.0.0.1"
        self.port = 0
        self._options = {"hostname": "embedded.conformance.test", **smtp_options}
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
                self._loop.create_server(self._factory, self.host, 0)
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

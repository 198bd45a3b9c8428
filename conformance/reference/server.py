"""A reference SMTP server driven by the model, with injectable faults.

The server runs the same `conformance.model.Session` the suite judges with: for
each line it asks the model what a conforming server may reply, picks one reply
by its `Policy`, sends it, and feeds it back to the model to advance. A
`Fault` can then change the reply or the state, so each fault is one precise
departure from the RFC that the suite must find, and each policy is one legal
choice the suite must accept.

The server runs an asyncio loop in a daemon thread and listens on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from dataclasses import dataclass, field, replace

from conformance.commands import Rcpt, parse_command
from conformance.model import Session
from conformance.state import Phase, SessionState
from conformance.reference.faults import EndOfData, Fault
from conformance.reference.faults import Reply as FaultReply
from conformance.replies import Reply, ReplyCode
from conformance.rules import Expectation, Verdict
from strategies.commands import has_bare_line_end

logger = logging.getLogger(__name__)

HOSTNAME = "reference.conformance.test"
#: Longest command line the server reads before it answers "line too long".
MAX_LINE = 4096
#: Maximum message content the server keeps, in octets.
MAX_CONTENT = 1024 * 1024
#: Seconds the server waits for a command before it closes the connection.
IDLE_TIMEOUT = 60.0

#: When several codes are legal, the server sends the first of these it may.
PREFERRED_CODES = (250, 354, 221, 220, 214, 252, 501, 503, 500, 550, 554, 502)


@dataclass(frozen=True)
class Policy:
    """Legal choices that RFC 5321 leaves to the server.

    Attributes:
        helo_required: answer MAIL before EHLO/HELO with 503 (else accept it).
        vrfy_code: 252 ("cannot verify") or 502 ("not implemented").
        error_limit: once this many error replies were sent, answer the next
            failing command with 421 and close.
        close_after_errors: once this many error replies were sent, close the
            connection instead of sending another.
        error_delay: seconds to wait before each reply once the session has
            seen 3 or more error replies (a tarpit).
        reject_recipients: answer every RCPT but <Postmaster> with 550.
        reject_bare_line_ends: answer message content holding a bare CR or
            LF with 554 at its end, instead of accepting it.
    """

    helo_required: bool = True
    vrfy_code: int = 252
    error_limit: int | None = None
    close_after_errors: int | None = None
    error_delay: float = 0.0
    reject_recipients: bool = False
    reject_bare_line_ends: bool = False


@dataclass
class Connection:
    """The per-connection state the server and a fault can see."""

    session: Session = field(default_factory=Session)
    messages: list[bytes] = field(default_factory=list)

    @property
    def state(self) -> SessionState:
        return self.session.state


class ReferenceServer:
    """The model-driven SMTP server. Use as a context manager.

    Args:
        fault: a departure from the RFC to inject, or None for a conforming
            server.
        policy: the legal choices to make.
    """

    def __init__(self, fault: Fault | None = None, policy: Policy | None = None):
        self.fault = fault
        self.policy = policy or Policy()
        self.host = "127.0.0.1"
        self.port = 0
        self.messages: list[bytes] = []
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._run, name="reference-smtp", daemon=True
        )
        self._ready = threading.Event()
        self._server: asyncio.base_events.Server | None = None

    def __enter__(self) -> ReferenceServer:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def start(self) -> int:
        """Start serving on a free port and return it."""
        self._thread.start()
        if not self._ready.wait(10) or self._server is None:
            raise RuntimeError("the reference SMTP server did not start")
        return self.port

    def stop(self) -> None:
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)

    def serve_forever(self, port: int = 0) -> None:
        """Serve on `port` in the calling thread until interrupted."""
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(
            asyncio.start_server(self._handle, self.host, port, limit=MAX_LINE)
        )
        self.port = server.sockets[0].getsockname()[1]
        print(f"reference server listening on {self.host}:{self.port}", flush=True)
        try:
            self._loop.run_forever()
        except KeyboardInterrupt:
            pass
        finally:
            server.close()
            _cancel_pending(self._loop)
            self._loop.close()

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._server = self._loop.run_until_complete(
                asyncio.start_server(self._handle, self.host, 0, limit=MAX_LINE)
            )
            self.port = self._server.sockets[0].getsockname()[1]
        finally:
            self._ready.set()
        try:
            self._loop.run_forever()
        finally:
            self._server.close()
            _cancel_pending(self._loop)
            self._loop.close()

    async def _handle(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        connection = Connection()
        try:
            await self._converse(connection, reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, TimeoutError):
            pass
        except asyncio.CancelledError:
            # The server is stopping. Ending normally keeps asyncio's stream
            # callback from logging the cancellation as an error.
            writer.transport.abort()
            return
        finally:
            self.messages.extend(connection.messages)
        writer.close()
        with contextlib.suppress(ConnectionError, asyncio.CancelledError):
            await writer.wait_closed()

    async def _converse(
        self,
        connection: Connection,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        await self._respond(connection, writer, None)
        while connection.state.phase is not Phase.CLOSED:
            if connection.state.phase is Phase.CONTENT:
                ends = self.fault.end_of_data if self.fault else None
                data = await _read_content(reader, ends)
            else:
                data = await _read_line(reader)
            if data is None:
                return
            if self.fault is not None and self.fault.on_receive(connection, data):
                return  # the fault closed the connection
            await self._respond(connection, writer, data)
        if self.fault is None or not self.fault.keeps_open_after_close:
            return
        await asyncio.sleep(IDLE_TIMEOUT)

    async def _respond(
        self,
        connection: Connection,
        writer: asyncio.StreamWriter,
        data: bytes | None,
    ) -> None:
        state = connection.state
        expectation = connection.session.expect(data)
        code, lines = self._choose(state, data, expectation)
        if state.phase is Phase.CONTENT and data is not None and code == 250:
            connection.messages.append(unstuff(data))
        if self.fault is not None:
            code, lines = self.fault.on_reply(state, data, FaultReply(code, lines))

        is_error = code >= 400
        limit = self.policy.close_after_errors
        if limit is not None and is_error and state.errors >= limit:
            connection.session.state = replace(state, phase=Phase.CLOSED)
            return
        limit = self.policy.error_limit
        if limit is not None and is_error and state.errors >= limit:
            code, lines = 421, [f"{HOSTNAME} too many errors, closing"]
        if self.policy.error_delay and state.errors >= 3:
            await asyncio.sleep(self.policy.error_delay)

        raw = _format_reply(code, lines)
        if self.fault is not None:
            raw = self.fault.on_send(state, data, raw)
        writer.write(raw)
        await writer.drain()
        reply = Reply(code, tuple(lines), raw)
        connection.session.observe(data, reply)
        if self.fault is not None:
            connection.session.state = self.fault.on_advance(
                state, data, reply, connection.session.state
            )

    def _choose(
        self, state: SessionState, data: bytes | None, expectation: Expectation
    ) -> tuple[int, list[str]]:
        if data is None:
            return 220, [f"{HOSTNAME} ESMTP reference server"]
        if state.phase is not Phase.CONTENT:
            choice = self._policy_choice(state, data)
            if choice is not None:
                return choice
        elif self.policy.reject_bare_line_ends and has_bare_line_end(data):
            return 554, ["Message rejected: bare CR or LF in content"]
        for outcome in expectation.outcomes:
            if outcome.verdict is Verdict.CONFORMS and 421 not in outcome.codes:
                code = _preferred(outcome.codes)
                return code, _text(code, data)
        raise AssertionError(f"no conforming reply for {data!r} in {state}")

    def _policy_choice(
        self, state: SessionState, data: bytes
    ) -> tuple[int, list[str]] | None:
        command = parse_command(data)
        verb = type(command).__name__
        if (
            verb == "Mail"
            and state.phase is Phase.HELLO
            and not self.policy.helo_required
        ):
            return 250, ["OK"]
        if verb == "Vrfy":
            code = self.policy.vrfy_code
            return code, [_TEXTS.get(code, "OK")]
        if verb == "Expn":
            return 502, ["EXPN not implemented"]
        if verb == "Rcpt" and self.policy.reject_recipients:
            assert isinstance(command, Rcpt)
            postmaster = command.forward_path.lower() == "postmaster"
            if state.phase in (Phase.RCPT, Phase.RCPT_OR_DATA) and not postmaster:
                return 550, ["Recipient rejected by policy"]
        if verb == "Hello" and data[:4].upper() == b"EHLO":
            return 250, [HOSTNAME, "HELP"]
        return None


def unstuff(content: bytes) -> bytes:
    """Return the message a content block carries (RFC 5321 §4.5.2).

    Drops the final ".\r\n" and the first dot of every line starting with one.
    """
    body = content[: -len(b".\r\n")] if content.endswith(b".\r\n") else content
    lines = body.split(b"\r\n")
    return b"\r\n".join(line[1:] if line.startswith(b".") else line for line in lines)


def _cancel_pending(loop: asyncio.AbstractEventLoop) -> None:
    tasks = asyncio.all_tasks(loop)
    for task in tasks:
        task.cancel()
    if tasks:
        loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))


_TEXTS: dict[int, str] = {
    ReplyCode.OK: "OK",
    ReplyCode.START_MAIL_INPUT: "Start mail input; end with <CRLF>.<CRLF>",
    ReplyCode.CLOSING: f"{HOSTNAME} closing connection",
    ReplyCode.HELP_MESSAGE: "Commands: EHLO HELO MAIL RCPT DATA RSET NOOP QUIT VRFY",
    ReplyCode.CANNOT_VERIFY: "Cannot verify, but will accept and attempt delivery",
    ReplyCode.ARGUMENT_SYNTAX_ERROR: "Syntax error in parameters or arguments",
    ReplyCode.BAD_SEQUENCE: "Bad sequence of commands",
    ReplyCode.SYNTAX_ERROR: "Syntax error, command unrecognized",
    ReplyCode.NOT_IMPLEMENTED: "Command not implemented",
    ReplyCode.MAILBOX_UNAVAILABLE: "Mailbox unavailable",
    ReplyCode.TRANSACTION_FAILED: "Transaction failed",
}


def _preferred(codes: frozenset[int]) -> int:
    for code in PREFERRED_CODES:
        if code in codes:
            return code
    return min(codes)


def _text(code: int, data: bytes) -> list[str]:
    del data
    return [_TEXTS.get(code, "OK")]


def _format_reply(code: int, lines: list[str]) -> bytes:
    out = []
    for index, line in enumerate(lines):
        separator = " " if index == len(lines) - 1 else "-"
        out.append(f"{code}{separator}{line}\r\n")
    return "".join(out).encode("ascii", "replace")


async def _read_line(reader: asyncio.StreamReader) -> bytes | None:
    try:
        line = await asyncio.wait_for(reader.readuntil(b"\n"), IDLE_TIMEOUT)
    except asyncio.IncompleteReadError:
        return None
    except asyncio.LimitOverrunError as error:
        # Keep reading to the line end so the rest is not taken as commands;
        # the parser sees the length and the model allows "line too long".
        head = await reader.readexactly(error.consumed)
        while True:
            try:
                await reader.readuntil(b"\n")
                break
            except asyncio.LimitOverrunError as more:
                await reader.readexactly(more.consumed)
        return head + b"\r\n"
    return line


async def _read_content(
    reader: asyncio.StreamReader, ends: EndOfData | None = None
) -> bytes | None:
    """Read message content up to and including the CRLF.CRLF that ends it.

    Lines are read up to each LF, so a line "." only ends the content when the
    line before it ended in CRLF too (or it is the first line): a bare LF
    before the dot must not end it (RFC 5321 §4.1.1.4). `ends`, when given,
    replaces that rule, which is how faults end the data early.
    """
    content = bytearray()
    previous = b"\r\n"
    while True:
        line = await _read_line(reader)
        if line is None:
            return None
        if len(content) < MAX_CONTENT:
            content += line
        if ends is not None and ends(previous, line):
            return bytes(content)
        if ends is None and line == b".\r\n" and previous.endswith(b"\r\n"):
            return bytes(content)
        previous = line

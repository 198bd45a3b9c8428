"""A reference SMTP server driven by the model, with injectable faults.

The server runs the same `conformance.model.Session` the suite judges with: for
each input it asks the model what a conforming server may reply, picks one
reply by its `Policy`, sends it, and feeds it back to the model to advance. A
`Fault` can then change the reply or the state, so each fault is one precise
departure from the RFC that the suite must find, and each policy is one legal
choice the suite must accept.

An input is a command line, the message content after 354, one SASL response
line after 334, or a BDAT line together with its chunk. The server offers the
ESMTP extensions the model knows (PIPELINING, SIZE, 8BITMIME, SMTPUTF8,
ENHANCEDSTATUSCODES, DSN, CHUNKING, BINARYMIME, STARTTLS when it has a TLS
context, and AUTH PLAIN LOGIN). The model decides which reply codes are legal;
the server adds what only it has: the credentials, the message size and the
chunks it assembled.

The server runs an asyncio loop in a daemon thread and listens on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import logging
import ssl
import threading
from dataclasses import dataclass, field, replace

from conformance.commands import (
    Auth,
    Bdat,
    Command,
    Hello,
    Invalid,
    Problem,
    Rcpt,
    Starttls,
    parse_command,
    verb_of,
)
from conformance.model import Session, command_line
from conformance.reference.faults import EndOfData, Fault
from conformance.reference.faults import Reply as FaultReply
from conformance.replies import Reply, ReplyCode
from conformance.rules import Effect, Expectation, Verdict
from conformance.state import Phase, SessionState
from strategies.commands import has_bare_line_end

logger = logging.getLogger(__name__)

HOSTNAME = "reference.conformance.test"
#: Longest command line the server reads before it answers "line too long".
MAX_LINE = 4096
#: Maximum message content the server keeps, in octets. Longer content and
#: chunks are still read to their end, but only this much is stored.
MAX_CONTENT = 1024 * 1024
#: Seconds the server waits for a command before it closes the connection.
IDLE_TIMEOUT = 60.0
#: Octets of a BDAT chunk read at a time.
CHUNK_READ_SIZE = 64 * 1024

#: When several codes are legal, the server sends the first of these it may.
PREFERRED_CODES = (250, 354, 221, 220, 214, 252, 501, 503, 500, 550, 554, 502)

#: Every EHLO keyword the server can offer, in the order its EHLO reply lists
#: them. STARTTLS is listed only with a TLS context and outside TLS.
ALL_EXTENSIONS = (
    "PIPELINING",
    "SIZE",
    "8BITMIME",
    "SMTPUTF8",
    "ENHANCEDSTATUSCODES",
    "DSN",
    "CHUNKING",
    "BINARYMIME",
    "STARTTLS",
    "AUTH",
)
#: SASL mechanisms of the AUTH keyword (RFC 4616 PLAIN, and LOGIN).
AUTH_MECHANISMS = ("PLAIN", "LOGIN")
DEFAULT_USER = "conformance"
#: The default AUTH password. It guards nothing: the server listens only on
#: 127.0.0.1 and stores messages in memory.
DEFAULT_PASSWORD = "reference-password"

#: The LOGIN mechanism's prompts, "Username:" and "Password:" in base64.
LOGIN_USER_PROMPT = "VXNlcm5hbWU6"
LOGIN_PASSWORD_PROMPT = "UGFzc3dvcmQ6"


@dataclass(frozen=True)
class Policy:
    """Legal choices that the RFCs leave to the server.

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
        extensions: the EHLO keywords to offer, from `ALL_EXTENSIONS`.
        size_limit: the fixed maximum message size in octets, advertised as
            "SIZE n" and enforced with 552 at the end of the message (RFC
            1870). 0 means no fixed maximum. The default of 64 KiB keeps the
            oversized messages of the SIZE property cheap to send.
        auth_after_tls: offer and accept AUTH only inside a TLS session.
    """

    helo_required: bool = True
    vrfy_code: int = 252
    error_limit: int | None = None
    close_after_errors: int | None = None
    error_delay: float = 0.0
    reject_recipients: bool = False
    reject_bare_line_ends: bool = False
    extensions: tuple[str, ...] = ALL_EXTENSIONS
    size_limit: int = 64 * 1024
    auth_after_tls: bool = False


@dataclass
class Connection:
    """The per-connection state the server and a fault can see.

    Attributes:
        session: the model of this connection, fed with every reply sent.
        messages: messages accepted on this connection.
        message_size: the size of the message content just read, without the
            final "." line and without stuffed dots (RFC 1870 §5).
        chunks: the chunks accepted so far in the open BDAT transaction.
        chunk_octets: the size of those chunks, counted in full even when
            `chunks` keeps only `MAX_CONTENT` octets.
        login_user: the user name given in a LOGIN exchange, until the
            password follows.
    """

    session: Session = field(default_factory=Session)
    messages: list[bytes] = field(default_factory=list)
    message_size: int = 0
    chunks: bytearray = field(default_factory=bytearray)
    chunk_octets: int = 0
    login_user: str | None = None

    @property
    def state(self) -> SessionState:
        return self.session.state


class ReferenceServer:
    """The model-driven SMTP server. Use as a context manager.

    Args:
        fault: a departure from the RFC to inject, or None for a conforming
            server.
        policy: the legal choices to make.
        tls_context: a server-side TLS context; with one the server offers
            STARTTLS (RFC 3207).
        user: the user name AUTH accepts.
        password: the password AUTH accepts.
    """

    def __init__(
        self,
        fault: Fault | None = None,
        policy: Policy | None = None,
        *,
        tls_context: ssl.SSLContext | None = None,
        user: str = DEFAULT_USER,
        password: str = DEFAULT_PASSWORD,
    ) -> None:
        self.fault = fault
        self.policy = policy or Policy()
        self.tls_context = tls_context
        self.user = user
        self.password = password
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
        except ssl.SSLError as error:
            logger.info("TLS failed, closing the connection: %s", error)
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
        with contextlib.suppress(ConnectionError, ssl.SSLError, asyncio.CancelledError):
            await writer.wait_closed()

    async def _converse(
        self,
        connection: Connection,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        await self._respond(connection, writer, None)
        while connection.state.phase is not Phase.CLOSED:
            data = await self._read_input(connection, reader)
            if data is None:
                return
            if self.fault is not None and self.fault.on_receive(connection, data):
                return  # the fault closed the connection
            start_tls = await self._respond(connection, writer, data)
            if self.fault is not None and self.fault.drops_pipelined_input:
                _discard_buffered(reader)
            if start_tls:
                await self._start_tls(reader, writer)
        if self.fault is None or not self.fault.keeps_open_after_close:
            return
        await asyncio.sleep(IDLE_TIMEOUT)

    async def _read_input(
        self, connection: Connection, reader: asyncio.StreamReader
    ) -> bytes | None:
        state = connection.state
        if state.phase is Phase.CONTENT:
            ends = self.fault.end_of_data if self.fault else None
            content = await _read_content(reader, ends)
            if content is None:
                return None
            data, connection.message_size = content
            return data
        line = await _read_line(reader)
        if line is None or state.phase is Phase.AUTH:
            return line
        command = parse_command(line)
        if not isinstance(command, Bdat):
            return line
        if self.fault is not None and not self.fault.reads_chunk(state, command):
            return line
        # RFC 3030 §2: the chunk is read in full before any reply, also when
        # the reply rejects it, so that its octets are never taken as commands.
        chunk = await _read_chunk(reader, command.size)
        return None if chunk is None else line + chunk

    async def _start_tls(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        """Negotiate TLS after 220 to STARTTLS (RFC 3207 §4).

        Bytes the client sent after STARTTLS, before the handshake, arrived in
        plaintext and MUST be discarded (RFC 3207 §4.2): answering them inside
        TLS would let an attacker inject commands.
        """
        assert self.tls_context is not None
        if self.fault is None or not self.fault.keeps_input_across_starttls:
            dropped = _discard_buffered(reader)
            if dropped:
                logger.info("discarded %d octets sent before TLS started", dropped)
        await writer.start_tls(self.tls_context)
        logger.debug("TLS started")

    async def _respond(
        self,
        connection: Connection,
        writer: asyncio.StreamWriter,
        data: bytes | None,
    ) -> bool:
        """Reply to `data` and advance the model; return whether TLS starts."""
        state = connection.state
        decided_in = state
        expectation = connection.session.expect(data)
        if self.fault is not None and data is not None:
            decided_in = self.fault.decision_state(state, data)
            if decided_in is not state:
                expectation = Session(state=decided_in).expect(data)
        code, lines = self._choose(connection, decided_in, data, expectation)
        self._keep_message(connection, state, data, code)
        if self.fault is not None:
            code, lines = self.fault.on_reply(state, data, FaultReply(code, lines))

        is_error = code >= 400
        limit = self.policy.close_after_errors
        if limit is not None and is_error and state.errors >= limit:
            connection.session.state = replace(state, phase=Phase.CLOSED)
            return False
        limit = self.policy.error_limit
        if limit is not None and is_error and state.errors >= limit:
            code, lines = 421, [f"{HOSTNAME} too many errors, closing"]
        if self.policy.error_delay and state.errors >= 3:
            await asyncio.sleep(self.policy.error_delay)

        if _needs_enhanced_code(state, data):
            lines = _with_enhanced_code(code, lines, state, data)
        raw = _format_reply(code, lines)
        if self.fault is not None:
            raw = self.fault.on_send(state, data, raw)
        writer.write(raw)
        await writer.drain()
        reply = Reply(code, tuple(lines), raw)
        step = connection.session.observe(data, reply)
        if self.fault is not None:
            connection.session.state = self.fault.on_advance(
                state, data, reply, connection.session.state
            )
        after = connection.state
        if after.phase is not Phase.CHUNKS:
            connection.chunks.clear()
            connection.chunk_octets = 0
        if after.phase is not Phase.AUTH:
            connection.login_user = None
        return step.judgement.effect is Effect.START_TLS and after.tls

    def _keep_message(
        self, connection: Connection, state: SessionState, data: bytes | None, code: int
    ) -> None:
        """Store accepted content, and collect accepted chunks (RFC 3030 §2)."""
        if data is None or code != 250:
            return
        if state.phase is Phase.CONTENT:
            connection.messages.append(unstuff(data))
            return
        if state.phase is Phase.AUTH:
            return
        line = command_line(data)
        command = parse_command(line)
        if not isinstance(command, Bdat):
            return
        room = max(MAX_CONTENT - len(connection.chunks), 0)
        connection.chunks += data[len(line) :][:room]
        connection.chunk_octets += command.size
        if command.last:
            connection.messages.append(bytes(connection.chunks))

    def _choose(
        self,
        connection: Connection,
        state: SessionState,
        data: bytes | None,
        expectation: Expectation,
    ) -> tuple[int, list[str]]:
        if data is None:
            return 220, [f"{HOSTNAME} ESMTP reference server"]
        choice: tuple[int, list[str]] | None = None
        if state.phase is Phase.CONTENT:
            choice = self._content_choice(connection, data)
        elif state.phase is Phase.AUTH:
            choice = self._sasl_choice(connection, state, data)
        else:
            command = parse_command(command_line(data))
            policy_choice = self._policy_choice(state, command)
            if policy_choice is not None:
                return policy_choice
            choice = self._extension_choice(connection, state, command)
        # A choice from the credentials, the size or the chunks stands only
        # where the model lets a conforming server make it.
        if choice is not None and choice[0] in _conforming_codes(expectation):
            return choice
        # 421 would close the session, which only the error limits choose.
        for outcome in expectation.outcomes:
            codes = outcome.codes - {421}
            if outcome.verdict is Verdict.CONFORMS and codes:
                code = _preferred(codes)
                return code, _text(code, data)
        raise AssertionError(f"no conforming reply for {data!r} in {state}")

    def _content_choice(
        self, connection: Connection, data: bytes
    ) -> tuple[int, list[str]] | None:
        if self.policy.reject_bare_line_ends and has_bare_line_end(data):
            return 554, ["Message rejected: bare CR or LF in content"]
        limit = self.policy.size_limit
        if limit and connection.message_size > limit:
            return 552, [f"Message exceeds the fixed maximum size of {limit}"]
        return None

    def _policy_choice(
        self, state: SessionState, command: Command
    ) -> tuple[int, list[str]] | None:
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
        if isinstance(command, Hello) and command.verb == "EHLO":
            return 250, [HOSTNAME, *self._ehlo_keywords(state), "HELP"]
        return None

    def _ehlo_keywords(self, state: SessionState) -> list[str]:
        keywords = []
        for keyword in self.policy.extensions:
            if keyword == "SIZE":
                keywords.append(f"SIZE {self.policy.size_limit}")
            elif keyword == "STARTTLS":
                if self.tls_context is not None and not state.tls:
                    keywords.append(keyword)
            elif keyword == "AUTH":
                if state.tls or not self.policy.auth_after_tls:
                    keywords.append("AUTH " + " ".join(AUTH_MECHANISMS))
            else:
                keywords.append(keyword)
        return keywords

    def _extension_choice(
        self, connection: Connection, state: SessionState, command: Command
    ) -> tuple[int, list[str]] | None:
        if state.phase is Phase.UNSETTLED and verb_of(command) in _UNSETTLED_VERBS:
            return 503, ["Send RSET: the state after the failed chunk is unknown"]
        if isinstance(command, Starttls):
            if self.tls_context is None:
                return 502, ["STARTTLS not available"]
            if state.tls:
                return 503, ["TLS already active"]
            return 220, ["Ready to start TLS"]
        if isinstance(command, Auth):
            return self._auth_choice(connection, state, command)
        if isinstance(command, Bdat):
            return self._bdat_choice(connection, state, command)
        return None

    def _bdat_choice(
        self, connection: Connection, state: SessionState, command: Bdat
    ) -> tuple[int, list[str]] | None:
        if state.phase not in (Phase.RCPT_OR_DATA, Phase.CHUNKS):
            return 503, ["BDAT needs MAIL and an accepted RCPT first"]
        limit = self.policy.size_limit
        if limit and connection.chunk_octets + command.size > limit:
            return 552, [f"Message exceeds the fixed maximum size of {limit}"]
        if command.last:
            return 250, [f"Message of {connection.chunk_octets + command.size} octets"]
        return 250, [f"{command.size} octets received"]

    def _auth_choice(
        self, connection: Connection, state: SessionState, command: Auth
    ) -> tuple[int, list[str]] | None:
        if not state.advertises("AUTH"):
            if self.policy.auth_after_tls and not state.tls:
                return 530, ["Must issue a STARTTLS command first"]
            return 503, ["AUTH not available"]
        if state.authenticated:
            return 503, ["Already authenticated"]
        if state.in_transaction:
            return 503, ["AUTH not allowed during a mail transaction"]
        if command.mechanism not in AUTH_MECHANISMS:
            return 504, ["Unrecognized authentication mechanism"]
        response = command.initial_response
        if response is None:
            if command.mechanism == "LOGIN":
                return 334, [LOGIN_USER_PROMPT]
            return 334, [""]
        decoded = _decode_base64(response)
        if decoded is None:
            return None  # the model's choice: 501
        if command.mechanism == "LOGIN":
            connection.login_user = decoded.decode("utf-8", "replace")
            return 334, [LOGIN_PASSWORD_PROMPT]
        return self._verify_plain(decoded)

    def _sasl_choice(
        self, connection: Connection, state: SessionState, data: bytes
    ) -> tuple[int, list[str]] | None:
        text = data.removesuffix(b"\r\n")
        decoded = _decode_base64(text.decode("ascii", "replace"))
        if text == b"*" or decoded is None or state.sasl is None:
            return None  # cancelled or not base64: the model's choice, 501
        mechanism, _ = state.sasl
        if mechanism != "LOGIN":
            return self._verify_plain(decoded)
        if connection.login_user is None:
            connection.login_user = decoded.decode("utf-8", "replace")
            return 334, [LOGIN_PASSWORD_PROMPT]
        password = decoded.decode("utf-8", "replace")
        return self._verify(connection.login_user, password)

    def _verify_plain(self, message: bytes) -> tuple[int, list[str]]:
        # RFC 4616 §2: [authzid] NUL authcid NUL passwd. The authorization
        # identity may be empty or equal to the user; no other is granted.
        parts = message.split(b"\0")
        if len(parts) != 3:
            return 535, ["Authentication credentials invalid"]
        authzid, user, password = (part.decode("utf-8", "replace") for part in parts)
        if authzid not in ("", user):
            return 535, ["Authentication credentials invalid"]
        return self._verify(user, password)

    def _verify(self, user: str, password: str) -> tuple[int, list[str]]:
        if user == self.user and password == self.password:
            return 235, ["Authentication successful"]
        return 535, ["Authentication credentials invalid"]


#: Verbs that get 503 while the state is indeterminate after a failed chunk;
#: RSET, EHLO, HELO and QUIT settle it, and NOOP, HELP, VRFY and EXPN are
#: answered as always.
_UNSETTLED_VERBS = frozenset({"MAIL", "RCPT", "DATA", "BDAT", "AUTH", "STARTTLS"})


def _conforming_codes(expectation: Expectation) -> frozenset[int]:
    codes: set[int] = set()
    for outcome in expectation.outcomes:
        if outcome.verdict is Verdict.CONFORMS:
            codes |= outcome.codes
    return frozenset(codes)


def _decode_base64(text: str) -> bytes | None:
    if text == "=":
        return b""  # RFC 4954 §4: "=" is an empty initial response
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        return None


def unstuff(content: bytes) -> bytes:
    """Return the message a content block carries (RFC 5321 §4.5.2).

    Drops the final ".\r\n" and the first dot of every line starting with one.
    """
    body = content[: -len(b".\r\n")] if content.endswith(b".\r\n") else content
    lines = body.split(b"\r\n")
    return b"\r\n".join(line[1:] if line.startswith(b".") else line for line in lines)


def _cancel_pending(loop: asyncio.AbstractEventLoop) -> None:
    # A connection accepted while the first tasks wind down starts a task of
    # its own, so this repeats until none is left.
    while tasks := asyncio.all_tasks(loop):
        for task in tasks:
            task.cancel()
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
    504: "Command parameter not implemented",
    552: "Message size exceeds fixed maximum message size",
    553: "Mailbox name not allowed",
    555: "MAIL FROM/RCPT TO parameters not recognized or not implemented",
}

#: Enhanced status codes (RFC 3463) sent with each reply code once EHLO
#: offered ENHANCEDSTATUSCODES (RFC 2034). A code missing here gets
#: "class.0.0".
ENHANCED_CODES: dict[int, str] = {
    211: "2.0.0",
    214: "2.0.0",
    220: "2.0.0",
    221: "2.0.0",
    235: "2.7.0",
    250: "2.0.0",
    251: "2.1.5",
    252: "2.0.0",
    421: "4.7.0",
    450: "4.2.0",
    451: "4.3.0",
    452: "4.3.1",
    454: "4.7.0",
    500: "5.5.2",
    501: "5.5.4",
    502: "5.5.1",
    503: "5.5.1",
    504: "5.5.4",
    521: "5.3.2",
    530: "5.7.0",
    535: "5.7.8",
    550: "5.1.1",
    552: "5.3.4",
    553: "5.1.3",
    554: "5.6.0",
    555: "5.5.4",
}

#: The enhanced code for a UTF-8 path rejected without SMTPUTF8 (RFC 6531 §3.5).
UTF8_REJECTED = "5.6.7"


def _needs_enhanced_code(state: SessionState, data: bytes | None) -> bool:
    # RFC 2034 §4: every 2xx, 4xx and 5xx reply line carries one, except the
    # greeting and the replies to EHLO and HELO.
    if data is None or not state.advertises("ENHANCEDSTATUSCODES"):
        return False
    if state.phase in (Phase.CONTENT, Phase.AUTH):
        return True
    return not isinstance(parse_command(command_line(data)), Hello)


def _with_enhanced_code(
    code: int, lines: list[str], state: SessionState, data: bytes | None
) -> list[str]:
    if code // 100 not in (2, 4, 5):
        return lines
    enhanced = ENHANCED_CODES.get(code, f"{code // 100}.0.0")
    if code in (550, 553) and data is not None and state.phase is not Phase.CONTENT:
        command = parse_command(command_line(data))
        if isinstance(command, Invalid) and command.problem is Problem.NEEDS_SMTPUTF8:
            enhanced = UTF8_REJECTED
    return [f"{enhanced} {line}" for line in lines]


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


def _discard_buffered(reader: asyncio.StreamReader) -> int:
    """Drop the bytes `reader` holds but has not returned; return their count.

    asyncio's StreamReader (CPython 3.11) has no public call that takes what
    is buffered without waiting for more, so this clears its private
    `_buffer` bytearray. Bytes still in the kernel's socket buffer are not
    touched.
    """
    buffered = getattr(reader, "_buffer", None)
    if not isinstance(buffered, bytearray):
        raise RuntimeError("asyncio.StreamReader no longer keeps a _buffer")
    count = len(buffered)
    buffered.clear()
    return count


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


async def _read_chunk(reader: asyncio.StreamReader, size: int) -> bytes | None:
    """Read exactly `size` octets of a BDAT chunk; keep at most `MAX_CONTENT`.

    Returns None when the connection ends first.
    """
    kept = bytearray()
    remaining = size
    while remaining:
        piece = await asyncio.wait_for(
            reader.read(min(remaining, CHUNK_READ_SIZE)), IDLE_TIMEOUT
        )
        if not piece:
            return None
        remaining -= len(piece)
        room = max(MAX_CONTENT - len(kept), 0)
        kept += piece[:room]
    return bytes(kept)


async def _read_content(
    reader: asyncio.StreamReader, ends: EndOfData | None = None
) -> tuple[bytes, int] | None:
    """Read message content up to and including the CRLF.CRLF that ends it.

    Lines are read up to each LF, so a line "." only ends the content when the
    line before it ended in CRLF too (or it is the first line): a bare LF
    before the dot must not end it (RFC 5321 §4.1.1.4). `ends`, when given,
    replaces that rule, which is how faults end the data early.

    Returns the content, of which at most about `MAX_CONTENT` octets and the
    final line are kept, and the message size as RFC 1870 §5 counts it.
    """
    content = bytearray()
    size = 0
    previous = b"\r\n"
    while True:
        line = await _read_line(reader)
        if line is None:
            return None
        if ends is not None:
            done = ends(previous, line)
        else:
            done = line == b".\r\n" and previous.endswith(b"\r\n")
        if done or len(content) < MAX_CONTENT:
            content += line
        if done:
            return bytes(content), size
        size += len(line) - 1 if line.startswith(b".") else len(line)
        previous = line

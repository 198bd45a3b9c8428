"""Single injected faults for the reference server.

Each fault is one precise departure from RFC 5321 or from one of its service
extensions. `shortest` is the number of writes the client makes in the
shortest session that exposes it: a command line, message content, a BDAT
line with its chunk, or a pipelined group each count as one. The
fault-finding tests check that the suite's shrunk transcript is at most one
write longer. `strict` marks faults that break only a SHOULD, which the suite
reports as failures only under --strict. `plans` names the EHLO keywords
whose extension plans expose the fault (see `conformance.hunt.extension_plans`);
without them the base protocol's plans hunt it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import NamedTuple

from conformance.commands import (
    Auth,
    Bdat,
    Command,
    Hello,
    Invalid,
    Mail,
    Noop,
    Problem,
    Rcpt,
    Rset,
    Unknown,
    parse_command,
)
from conformance.extensions import parse_parameters
from conformance.replies import Reply as ModelReply
from conformance.state import Phase, SessionState

#: Decides whether a content line ends the data, given the line before it.
EndOfData = Callable[[bytes, bytes], bool]


class Reply(NamedTuple):
    """The reply the server is about to send: code and text lines."""

    code: int
    lines: list[str]


@dataclass(frozen=True)
class Fault:
    """A departure from the RFC, applied through the server's hooks.

    Subclasses override the hooks they need; the defaults change nothing.

    Attributes:
        keeps_open_after_close: the connection stays open after 221 or 421.
        end_of_data: replaces the rule that only CRLF.CRLF ends the content.
        plans: EHLO keywords whose extension plans expose the fault.
        drops_pipelined_input: after each reply the server drops the input
            it has received but not yet read, so pipelined commands are lost.
        keeps_input_across_starttls: input received in plaintext after
            STARTTLS is kept and read as commands inside TLS.
    """

    name: str
    description: str
    shortest: int
    strict: bool = False
    keeps_open_after_close: bool = False
    end_of_data: EndOfData | None = None
    plans: tuple[str, ...] = ()
    drops_pipelined_input: bool = False
    keeps_input_across_starttls: bool = False

    def decision_state(self, state: SessionState, data: bytes) -> SessionState:
        """Return the state the server chooses its reply to `data` in."""
        return state

    def reads_chunk(self, state: SessionState, command: Bdat) -> bool:
        """Return whether the server reads the chunk that follows a BDAT line."""
        return True

    def on_receive(self, connection: object, data: bytes) -> bool:
        """Return True to close the connection instead of replying to `data`."""
        return False

    def on_reply(self, state: SessionState, data: bytes | None, reply: Reply) -> Reply:
        """Return the reply to send instead of the conforming one."""
        return reply

    def on_send(self, state: SessionState, data: bytes | None, raw: bytes) -> bytes:
        """Return the bytes to send instead of the formatted reply."""
        return raw

    def on_advance(
        self,
        before: SessionState,
        data: bytes | None,
        reply: ModelReply,
        after: SessionState,
    ) -> SessionState:
        """Return the state the server moves to instead of the model's."""
        return after


def _command(data: bytes | None, state: SessionState) -> Command | None:
    if data is None or state.phase in (Phase.CONTENT, Phase.AUTH):
        return None
    if data[:5].upper() == b"BDAT ":
        data = data.partition(b"\r\n")[0]
    return parse_command(data)


def _path_command(data: bytes | None, state: SessionState) -> Mail | Rcpt | None:
    """Return MAIL or RCPT as read, also when the parser marked it invalid."""
    command = _command(data, state)
    if isinstance(command, Invalid):
        command = command.lenient_reading
    return command if isinstance(command, Mail | Rcpt) else None


def _parameter(command: Mail | Rcpt, key: str) -> str | None:
    for name, value in parse_parameters(command.parameters):
        if name == key:
            return value or ""
    return None


@dataclass(frozen=True)
class AcceptRcptWithoutMail(Fault):
    def on_reply(self, state: SessionState, data: bytes | None, reply: Reply) -> Reply:
        if isinstance(_command(data, state), Rcpt) and reply.code == 503:
            return Reply(250, ["OK"])
        return reply


@dataclass(frozen=True)
class AcceptDataWithoutMail(Fault):
    def on_reply(self, state: SessionState, data: bytes | None, reply: Reply) -> Reply:
        command = _command(data, state)
        no_mail = state.phase in (Phase.HELLO, Phase.MAIL)
        if type(command).__name__ == "Data" and no_mail:
            return Reply(354, ["Start mail input"])
        return reply


@dataclass(frozen=True)
class RsetKeepsTransaction(Fault):
    def on_advance(
        self,
        before: SessionState,
        data: bytes | None,
        reply: ModelReply,
        after: SessionState,
    ) -> SessionState:
        if isinstance(_command(data, before), Rset):
            return replace(before, errors=after.errors)
        return after


@dataclass(frozen=True)
class RejectRsetBeforeHello(Fault):
    def on_reply(self, state: SessionState, data: bytes | None, reply: Reply) -> Reply:
        if isinstance(_command(data, state), Rset) and state.phase is Phase.HELLO:
            return Reply(503, ["Send HELO first"])
        return reply


@dataclass(frozen=True)
class CloseOnRset(Fault):
    def on_receive(self, connection: object, data: bytes) -> bool:
        state: SessionState = connection.state  # type: ignore[attr-defined]
        return isinstance(_command(data, state), Rset)


@dataclass(frozen=True)
class QuitWithout221(Fault):
    def on_reply(self, state: SessionState, data: bytes | None, reply: Reply) -> Reply:
        if reply.code == 221:
            return Reply(250, ["Bye"])
        return reply


@dataclass(frozen=True)
class QuitKeepsConnection(Fault):
    pass


@dataclass(frozen=True)
class EhloKeepsTransaction(Fault):
    def on_advance(
        self,
        before: SessionState,
        data: bytes | None,
        reply: ModelReply,
        after: SessionState,
    ) -> SessionState:
        command = _command(data, before)
        if isinstance(command, Hello) and before.in_transaction:
            return replace(before, errors=after.errors)
        return after


@dataclass(frozen=True)
class CaseSensitiveVerbs(Fault):
    def on_reply(self, state: SessionState, data: bytes | None, reply: Reply) -> Reply:
        if data is None or state.phase in (Phase.CONTENT, Phase.AUTH):
            return reply
        verb = data.split(b" ", 1)[0].rstrip(b"\r\n")
        if verb != verb.upper():
            return Reply(500, ["Command unrecognized"])
        return reply

    def on_advance(
        self,
        before: SessionState,
        data: bytes | None,
        reply: ModelReply,
        after: SessionState,
    ) -> SessionState:
        return before if reply.code == 500 else after


@dataclass(frozen=True)
class MixedCodesInMultiline(Fault):
    def on_send(self, state: SessionState, data: bytes | None, raw: bytes) -> bytes:
        if raw.startswith(b"250-"):
            head, _, rest = raw.partition(b"\r\n")
            return head + b"\r\n" + b"251" + rest[3:]
        return raw


@dataclass(frozen=True)
class BareLineFeedReplies(Fault):
    def on_send(self, state: SessionState, data: bytes | None, raw: bytes) -> bytes:
        if data is None:
            return raw
        return raw.replace(b"\r\n", b"\n")


@dataclass(frozen=True)
class NoopNotRecognized(Fault):
    def on_reply(self, state: SessionState, data: bytes | None, reply: Reply) -> Reply:
        if isinstance(_command(data, state), Noop):
            return Reply(500, ["Command unrecognized"])
        return reply


@dataclass(frozen=True)
class ShortLineLimit(Fault):
    def on_reply(self, state: SessionState, data: bytes | None, reply: Reply) -> Reply:
        if data is not None and state.phase is not Phase.CONTENT and len(data) > 500:
            return Reply(500, ["Line too long"])
        return reply


@dataclass(frozen=True)
class HeloGetsEhloReply(Fault):
    def on_reply(self, state: SessionState, data: bytes | None, reply: Reply) -> Reply:
        command = _command(data, state)
        if isinstance(command, Hello) and command.verb == "HELO" and reply.code == 250:
            return Reply(250, ["reference.conformance.test", "8BITMIME", "SIZE"])
        return reply


@dataclass(frozen=True)
class CloseOnUnknownVerb(Fault):
    def on_receive(self, connection: object, data: bytes) -> bool:
        state: SessionState = connection.state  # type: ignore[attr-defined]
        return isinstance(_command(data, state), Unknown)


@dataclass(frozen=True)
class AcceptUnknownVerb(Fault):
    def on_reply(self, state: SessionState, data: bytes | None, reply: Reply) -> Reply:
        if isinstance(_command(data, state), Unknown):
            return Reply(250, ["OK"])
        return reply


@dataclass(frozen=True)
class RejectPostmaster(Fault):
    def on_reply(self, state: SessionState, data: bytes | None, reply: Reply) -> Reply:
        command = _command(data, state)
        if not isinstance(command, Rcpt) or reply.code != 250:
            return reply
        if command.forward_path.lower() == "postmaster":
            return Reply(550, ["No such user"])
        return reply


@dataclass(frozen=True)
class TransactionKeptAfterData(Fault):
    def on_advance(
        self,
        before: SessionState,
        data: bytes | None,
        reply: ModelReply,
        after: SessionState,
    ) -> SessionState:
        if before.phase is Phase.CONTENT:
            return replace(after, phase=Phase.RCPT_OR_DATA, recipients=1)
        return after


@dataclass(frozen=True)
class AcceptNestedMail(Fault):
    def on_reply(self, state: SessionState, data: bytes | None, reply: Reply) -> Reply:
        command = type(_command(data, state)).__name__
        if command == "Mail" and state.phase in (Phase.RCPT, Phase.RCPT_OR_DATA):
            return Reply(250, ["OK"])
        return reply


@dataclass(frozen=True)
class RejectSecondHello(Fault):
    def on_reply(self, state: SessionState, data: bytes | None, reply: Reply) -> Reply:
        if isinstance(_command(data, state), Hello) and state.identified:
            return Reply(503, ["Duplicate HELO"])
        return reply


@dataclass(frozen=True)
class IgnoreSizeLimit(Fault):
    def on_reply(self, state: SessionState, data: bytes | None, reply: Reply) -> Reply:
        command = _path_command(data, state)
        if isinstance(command, Mail) and reply.code == 552:
            size = _parameter(command, "SIZE")
            if size is not None and size.isdigit():
                return Reply(250, ["OK"])
        return reply


@dataclass(frozen=True)
class Reject8BitMime(Fault):
    def on_reply(self, state: SessionState, data: bytes | None, reply: Reply) -> Reply:
        command = _path_command(data, state)
        if not isinstance(command, Mail) or reply.code != 250:
            return reply
        if (_parameter(command, "BODY") or "").upper() == "8BITMIME":
            return Reply(555, ["BODY=8BITMIME not supported"])
        return reply


@dataclass(frozen=True)
class RejectUtf8Path(Fault):
    def on_reply(self, state: SessionState, data: bytes | None, reply: Reply) -> Reply:
        command = _command(data, state)
        needs_utf8 = (
            isinstance(command, Invalid) and command.problem is Problem.NEEDS_SMTPUTF8
        )
        if needs_utf8 and reply.code == 250:
            return Reply(501, ["Syntax error in mailbox address"])
        return reply


@dataclass(frozen=True)
class WrongEnhancedCodeClass(Fault):
    def on_send(self, state: SessionState, data: bytes | None, raw: bytes) -> bytes:
        # A reply table that files "bad sequence" under the success class.
        if raw.startswith(b"503 5.5.1 "):
            return b"503 2.5.1 " + raw[len(b"503 5.5.1 ") :]
        return raw


@dataclass(frozen=True)
class RejectDsnNotify(Fault):
    def on_reply(self, state: SessionState, data: bytes | None, reply: Reply) -> Reply:
        command = _path_command(data, state)
        if not isinstance(command, Rcpt) or reply.code != 250:
            return reply
        if _parameter(command, "NOTIFY") is not None:
            return Reply(501, ["Invalid NOTIFY parameter"])
        return reply


@dataclass(frozen=True)
class RejectedChunkNotRead(Fault):
    def reads_chunk(self, state: SessionState, command: Bdat) -> bool:
        # The sequence check sends 503 and returns before reading the chunk.
        return state.phase in (Phase.RCPT_OR_DATA, Phase.CHUNKS)


@dataclass(frozen=True)
class StarttlsKeepsTransaction(Fault):
    def on_advance(
        self,
        before: SessionState,
        data: bytes | None,
        reply: ModelReply,
        after: SessionState,
    ) -> SessionState:
        if after.tls and not before.tls:
            return replace(before, tls=True, errors=after.errors)
        return after


@dataclass(frozen=True)
class AuthInTransaction(Fault):
    def decision_state(self, state: SessionState, data: bytes) -> SessionState:
        # The AUTH handler never checks for an open transaction.
        if isinstance(_command(data, state), Auth) and state.in_transaction:
            return replace(state, phase=Phase.MAIL, recipients=0)
        return state


def _ends_at_lf_dot_lf(previous: bytes, line: bytes) -> bool:
    # Accepts "." ended by a bare LF after a bare LF: the SMTP smuggling bug.
    return line in (b".\r\n", b".\n") and previous.endswith(b"\n")


def _ends_at_any_dot_crlf(previous: bytes, line: bytes) -> bool:
    # Ignores how the line before the dot ended, so <LF>.<CR><LF> ends it.
    return line == b".\r\n"


#: The catalogue, by name. Each entry's `shortest` was worked out by hand from
#: the server's default policy (HELO required before MAIL, every extension
#: offered).
FAULTS: dict[str, Fault] = {
    fault.name: fault
    for fault in [
        AcceptRcptWithoutMail(
            "rcpt-without-mail-accepted", "RCPT before MAIL gets 250, not 503", 1
        ),
        AcceptDataWithoutMail(
            "data-without-mail-accepted", "DATA with no transaction gets 354", 1
        ),
        RsetKeepsTransaction(
            "rset-keeps-transaction", "RSET answers 250 but keeps the transaction", 4
        ),
        RejectRsetBeforeHello(
            "rset-rejected-before-hello", "RSET before EHLO/HELO gets 503", 1
        ),
        CloseOnRset("rset-closes-connection", "RSET closes the connection", 1),
        QuitWithout221("quit-without-221", "QUIT gets 250 instead of 221", 1),
        QuitKeepsConnection(
            "quit-keeps-connection",
            "QUIT gets 221 but the connection stays open",
            1,
            keeps_open_after_close=True,
        ),
        EhloKeepsTransaction(
            "ehlo-keeps-transaction", "a mid-session EHLO does not reset", 4
        ),
        CaseSensitiveVerbs(
            "case-sensitive-verbs", "verbs not in upper case get 500", 1
        ),
        MixedCodesInMultiline(
            "mixed-codes-in-multiline", "a multi-line reply changes code", 1
        ),
        BareLineFeedReplies(
            "bare-lf-replies", "replies after the greeting end in LF only", 1
        ),
        NoopNotRecognized("noop-not-recognized", "NOOP gets 500", 1),
        ShortLineLimit("short-line-limit", "command lines over 500 octets get 500", 1),
        HeloGetsEhloReply(
            "helo-gets-ehlo-reply", "HELO is answered with an extension list", 1
        ),
        CloseOnUnknownVerb(
            "close-on-unknown-verb", "an unknown verb closes the connection", 1
        ),
        AcceptUnknownVerb("unknown-verb-accepted", "an unknown verb gets 250", 1),
        RejectPostmaster("postmaster-rejected", "RCPT TO:<Postmaster> gets 550", 3),
        TransactionKeptAfterData(
            "transaction-kept-after-data",
            "the end of data does not end the transaction",
            6,
        ),
        RejectSecondHello("second-hello-rejected", "a second EHLO/HELO gets 503", 2),
        Fault(
            "data-ends-at-lf-dot-lf",
            "<LF>.<LF> ends the message content",
            5,
            end_of_data=_ends_at_lf_dot_lf,
        ),
        Fault(
            "data-ends-at-lf-dot-crlf",
            "<LF>.<CR><LF> ends the message content",
            5,
            end_of_data=_ends_at_any_dot_crlf,
        ),
        AcceptNestedMail(
            "nested-mail-accepted",
            "MAIL inside a transaction gets 250",
            3,
            strict=True,
        ),
        Fault(
            "pipelining-input-discarded",
            "input received after a command is dropped, so a pipelined group "
            "gets one reply",
            2,
            plans=("PIPELINING",),
            drops_pipelined_input=True,
        ),
        IgnoreSizeLimit(
            "size-limit-ignored",
            "MAIL with SIZE over the advertised limit gets 250",
            2,
            plans=("SIZE",),
        ),
        Reject8BitMime(
            "body-8bitmime-rejected",
            "MAIL with BODY=8BITMIME gets 555 although 8BITMIME is offered",
            2,
            plans=("8BITMIME",),
        ),
        RejectUtf8Path(
            "utf8-path-rejected",
            "a UTF-8 path gets 501 even with SMTPUTF8",
            2,
            plans=("SMTPUTF8",),
        ),
        WrongEnhancedCodeClass(
            "enhanced-code-wrong-class",
            "503 replies carry the enhanced code 2.5.1",
            2,
            plans=("ENHANCEDSTATUSCODES",),
        ),
        RejectDsnNotify(
            "dsn-notify-rejected",
            "RCPT with a valid NOTIFY gets 501 although DSN is offered",
            3,
            plans=("DSN",),
        ),
        RejectedChunkNotRead(
            "bdat-chunk-not-discarded",
            "a rejected BDAT's chunk is not read, so its lines run as commands",
            # BDAT before EHLO is rejected too, so no EHLO is needed.
            1,
            plans=("CHUNKING",),
        ),
        Fault(
            "starttls-command-injection",
            "plaintext sent with STARTTLS is answered inside TLS",
            2,
            plans=("STARTTLS",),
            keeps_input_across_starttls=True,
        ),
        StarttlsKeepsTransaction(
            "starttls-keeps-transaction",
            "the transaction opened before STARTTLS survives the handshake",
            4,
            plans=("STARTTLS",),
        ),
        AuthInTransaction(
            "auth-in-transaction-accepted",
            "AUTH during a mail transaction starts the SASL exchange instead "
            "of getting 503",
            3,
            plans=("AUTH",),
        ),
    ]
}

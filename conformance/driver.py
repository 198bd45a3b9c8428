"""Run one model-checked SMTP session against a live target.

`run_session` connects, judges the greeting, then asks a `choose` callback for
each next input given the model's state, sends it, and judges the reply. The
callback is where Hypothesis draws from the strategies; this module itself knows
nothing of Hypothesis, so the reference server's tests and the replay tool can
drive sessions too.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from conformance.commands import Bdat, parse_command
from conformance.errors import (
    ConnectionLost,
    MalformedReply,
    ReplyTimeout,
    ReplyTooLarge,
    TlsFailed,
)
from conformance.findings import Finding, Violation, describe_command
from conformance.model import Session, Step, command_line, split_group
from conformance.replies import Reply
from conformance.rules import Effect, Expectation, Verdict
from conformance.runner import Connection, Target
from conformance.state import Phase, SessionState
from conformance.transcript import Entry, escape
from strategies.commands import has_bare_line_end

logger = logging.getLogger(__name__)

#: Called with the model's state; returns the next bytes to send, or None to end
#: the session politely with QUIT. Bytes holding several command lines are a
#: pipelined group: they go out in one write, and each line gets its reply.
Chooser = Callable[[SessionState], bytes | None]

QUIT = b"QUIT\r\n"

#: Bounds, in seconds, of the wait for stray replies after commands injected
#: with STARTTLS. The wait is three times the latency of the last reply,
#: because replies to injected commands would leave the server at once.
#: NOTE: a server that delays only the replies to injected commands escapes.
INJECTION_WINDOW = (0.05, 1.0)


@dataclass
class SessionRecord:
    """What one session produced apart from a failing finding.

    Attributes:
        findings: SHOULD deviations (below the failing level) and policy
            observations, in the order they were seen.
        commands: how many inputs were sent.
        final_state: the model's state when the session ended.
        banner: the text of the greeting.
        extensions: every EHLO keyword the server advertised in the session.
        transcript: the whole session, once it ended without an exception.
    """

    findings: list[Finding] = field(default_factory=list)
    commands: int = 0
    final_state: SessionState = field(default_factory=SessionState)
    banner: str = ""
    extensions: frozenset[str] = frozenset()
    transcript: tuple[Entry, ...] = ()


def run_session(
    target: Target,
    choose: Chooser,
    *,
    max_steps: int = 40,
    fail_at: Verdict = Verdict.MUST,
    waive: Callable[[Finding], str] | None = None,
    record: SessionRecord | None = None,
    secrets: dict[bytes, bytes] | None = None,
    while_waiting: Callable[[], None] | None = None,
) -> SessionRecord:
    """Run one session and return what it observed.

    Args:
        target: the server under test.
        choose: supplies each next input; see `Chooser`.
        max_steps: inputs sent before the session is ended with QUIT.
        fail_at: the lowest verdict that raises `Violation`.
        waive: returns the waiver that covers a finding, or "" if none does;
            a waived finding is recorded instead of raised.
        record: filled in as the session goes, so that the caller keeps the
            counts of a session that ends in an exception; a new one if None.
        secrets: byte strings to keep out of transcripts and findings, each
            with the text shown in its place (credentials for AUTH).
        while_waiting: called after the connection is made and after each
            write, before the reply is read, so that work which does not
            need the reply (drawing the next step) runs while the server
            works on the command.

    Raises:
        Violation: a reply earned a verdict at or above `fail_at`.
        TargetUnreachable: the connection could not be made.
        TlsFailed: the suite could not verify the server's certificate
            (`certificate_rejected`), which the TLS options must fix.
    """
    record = record if record is not None else SessionRecord()
    session = Session()
    with Connection.open(target) as connection:
        checker = _Checker(
            connection,
            session,
            record,
            fail_at,
            waive,
            dict(secrets or {}),
            while_waiting,
        )
        if while_waiting is not None:
            while_waiting()
        checker.exchange(None)
        if session.steps and session.steps[0].reply is not None:
            record.banner = session.steps[0].reply.text
        while session.state.phase is not Phase.CLOSED:
            if record.commands >= max_steps:
                data = _ending(session.state)
            else:
                data = choose(session.state) or _ending(session.state)
            checker.exchange(data)
            record.extensions |= session.state.extensions
        record.transcript = tuple(connection.transcript.entries)
    record.final_state = session.state
    return record


def _rejected_chunk_has_lines(before: SessionState, data: bytes) -> bool:
    if before.phase in (Phase.CONTENT, Phase.AUTH):
        return False
    line = command_line(data)
    chunk = data[len(line) :]
    return isinstance(parse_command(line), Bdat) and b"\r\n" in chunk


def _ending(state: SessionState) -> bytes:
    if state.phase is Phase.CONTENT:
        return b".\r\n"
    if state.phase is Phase.AUTH:
        return b"*\r\n"  # cancels the SASL exchange (RFC 4954 §4)
    return QUIT


@dataclass
class _Checker:
    connection: Connection
    session: Session
    record: SessionRecord
    fail_at: Verdict
    waive: Callable[[Finding], str] | None = None
    secrets: dict[bytes, bytes] = field(default_factory=dict)
    while_waiting: Callable[[], None] | None = None

    def exchange(self, data: bytes | None) -> None:
        """Send `data` (None: nothing, await the greeting) and judge the reply.

        A pipelined group is sent in one write and its replies are judged one
        by one, in order (RFC 2920 §3.2).
        """
        if data is None:
            self._receive(None)
            return
        inputs = split_group(self.session.state, data)
        self.record.commands += len(inputs)
        try:
            self._send(data)
        except ConnectionLost:
            self._closed(inputs[0])
            return
        if self.while_waiting is not None:
            self.while_waiting()
        for index, unit in enumerate(inputs):
            if self.session.state.phase is Phase.CLOSED:
                return
            tls = self._receive(unit)
            if tls:
                self._start_tls(unit, injected=inputs[index + 1 :])
                return

    def _send(self, data: bytes) -> None:
        shown = data
        for secret, label in self.secrets.items():
            shown = shown.replace(secret, label)
        if shown == data:
            self.connection.send(data)
        else:
            self.connection.send(data, shown=shown)

    def _receive(self, data: bytes | None) -> bool:
        """Read and judge the reply to `data`; return whether TLS starts now."""
        # Worked out before the read, while the server works on the command.
        expectation = self.session.expect(data)
        reply = self._read(data)
        if reply is None:
            return False
        before = self.session.state
        step = self.session.observe(data, reply, expectation)
        self._judge(step, data)
        effect = step.judgement.effect
        if effect is Effect.CLOSE:
            self._check_closed(data, reply)
        elif data is None:
            pass
        elif before.phase is Phase.CONTENT and has_bare_line_end(data):
            self._quit_counting_replies(
                data,
                step.expectation,
                "RFC 5321 §4.1.1.4, §2.3.8",
                "replies came to commands the client never sent: the server "
                "ended the content at a bare CR or LF and ran the bytes after "
                "it as commands (SMTP smuggling)",
            )
        elif reply.code >= 400 and _rejected_chunk_has_lines(before, data):
            self._quit_counting_replies(
                data,
                step.expectation,
                "RFC 3030 §2",
                "replies came to commands the client never sent: the server ran "
                "the lines of a rejected BDAT chunk as commands instead of "
                "reading and discarding the chunk",
            )
        return effect is Effect.START_TLS

    def _quit_counting_replies(
        self, data: bytes, expectation: Expectation, section: str, reason: str
    ) -> None:
        """End the session with QUIT and fail if more than one reply comes.

        The input that got the last reply contained lines that a conforming
        server never runs as commands. If the server ran them, their replies
        come before the reply to QUIT, because a server replies in order. It
        closes the connection after 221, so every reply up to the close is
        counted without guessing how long to wait. A finding names `data`,
        the input that carried the lines, with the replies it may get.
        """
        allowed = tuple(expectation.describe_allowed())
        early = self.connection.pending
        if early:
            actual = escape(early[:300])
            self._fail(data, Verdict.MUST, section, reason, actual, allowed)
            return
        self.record.commands += 1
        try:
            self._send(QUIT)
        except ConnectionLost:
            self._closed(QUIT)
            return
        reply = self._read(QUIT)
        if reply is None:
            return
        leftover = self.connection.wait_for_close()
        if leftover:
            actual = escape((reply.raw + leftover)[:300])
            self._fail(data, Verdict.MUST, section, reason, actual, allowed)
            return
        step = self.session.observe(QUIT, reply)
        self._judge(step, QUIT)
        if step.judgement.effect is Effect.CLOSE:
            self._report_close(QUIT, reply, leftover)
        # Whatever the reply, the session ends here.
        self.session.state = SessionState(phase=Phase.CLOSED)

    def _read(self, data: bytes | None) -> Reply | None:
        try:
            return self.connection.read_reply()
        except ConnectionLost:
            self._closed(data)
        except ReplyTimeout as error:
            self._fail(data, Verdict.MISBEHAVED, "", str(error), "no reply")
        except MalformedReply as error:
            self._fail(
                data,
                Verdict.MUST,
                "RFC 5321 §4.2",
                f"malformed reply: {error}",
                escape(error.raw[:300]),
            )
        except ReplyTooLarge as error:
            self._fail(data, Verdict.MISBEHAVED, "", str(error), "oversized reply")
        return None

    def _closed(self, data: bytes | None) -> None:
        step = self.session.judge_close(data)
        self._judge(step, data)

    def _check_closed(self, data: bytes | None, reply: Reply) -> None:
        self._report_close(data, reply, self.connection.wait_for_close())

    def _report_close(
        self, data: bytes | None, reply: Reply, leftover: bytes | None
    ) -> None:
        """Fail unless the server closed the connection (`leftover` is None)."""
        if leftover is None:
            return
        what = "kept the connection open" if not leftover else "sent more bytes"
        if reply.code == 221:
            self._fail(
                data,
                Verdict.MUST,
                "RFC 5321 §4.1.1.10",
                f"after 221 the server {what} instead of closing it",
                escape(leftover[:200]) or "connection still open",
            )
        else:
            self._fail(
                data,
                Verdict.SHOULD,
                "RFC 5321 §3.8, §4.2.3",
                f"after 421 the server {what} instead of closing it",
                escape(leftover[:200]) or "connection still open",
            )

    def _check_no_stray_replies(self, data: bytes, section: str, reason: str) -> None:
        # A conforming server sends nothing until the next command. Bytes
        # that arrive now are replies to commands the client never sent as
        # such, the lines sent in plaintext with STARTTLS. They follow the reply just
        # read, so the wait scales with how long that reply took.
        shortest, longest = INJECTION_WINDOW
        window = min(longest, max(shortest, 3 * self.connection.last_reply_seconds))
        extra = self.connection.bytes_within(window)
        if extra:
            self._fail(data, Verdict.MUST, section, reason, escape(extra[:300]))

    def _start_tls(self, data: bytes, injected: list[bytes]) -> None:
        """Negotiate TLS after 220 to STARTTLS, then check for injection.

        Lines sent in the same write after STARTTLS arrived before TLS; the
        server MUST discard them (RFC 3207 §4.2). A server that answers them
        inside the TLS session lets an attacker inject commands.
        """
        if self.connection.tls_active:
            # The model already judged the 220; a TLS layer inside TLS would
            # test nothing more, so the session ends here.
            self.connection.transcript.note("no second TLS layer started")
            self.session.state = SessionState(phase=Phase.CLOSED)
            return
        early = self.connection.pending
        if early:
            self._fail(
                data,
                Verdict.MUST,
                "RFC 3207 §4",
                "the server sent more bytes after 220 instead of waiting for "
                "the TLS handshake",
                escape(early[:300]),
            )
            return
        try:
            self.connection.start_tls()
        except TlsFailed as error:
            if error.certificate_rejected:
                raise  # the suite's TLS options, not the server, are at fault
            self._fail(data, Verdict.MISBEHAVED, "RFC 3207 §4", str(error), "")
            return
        except ConnectionLost as error:
            self._fail(data, Verdict.MISBEHAVED, "RFC 3207 §4", str(error), "")
            return
        if injected:
            self._check_no_stray_replies(
                data,
                "RFC 3207 §4.2, §6",
                "the server answered, inside the TLS session, commands that "
                "were sent in plaintext together with STARTTLS (STARTTLS "
                "command injection)",
            )

    def _judge(self, step: Step, data: bytes | None) -> None:
        verdict = step.judgement.verdict
        if verdict is Verdict.CONFORMS:
            return
        actual = (
            "connection closed"
            if step.reply is None
            else escape(step.reply.raw.rstrip(b"\r\n"))
        )
        finding = self._finding(
            data,
            verdict,
            step.judgement.section,
            step.judgement.reason,
            actual,
            tuple(step.expectation.describe_allowed()),
        )
        self._report(finding)

    def _fail(
        self,
        data: bytes | None,
        verdict: Verdict,
        section: str,
        reason: str,
        actual: str,
        expected: tuple[str, ...] | None = None,
    ) -> None:
        """Report a failure that no judged reply shows, and end the session.

        `expected` lists the replies `data` could get. It defaults to those
        the model allows for `data` in the current state.
        """
        if expected is None:
            expected = tuple(self.session.expect(data).describe_allowed())
        finding = self._finding(data, verdict, section, reason, actual, expected)
        # The connection is unusable after a transport failure.
        self.session.state = SessionState(phase=Phase.CLOSED)
        self._report(finding)

    def _finding(
        self,
        data: bytes | None,
        verdict: Verdict,
        section: str,
        reason: str,
        actual: str,
        expected: tuple[str, ...],
    ) -> Finding:
        shown = data
        for secret, label in self.secrets.items():
            shown = shown.replace(secret, label) if shown is not None else None
        return Finding(
            verdict=verdict,
            section=section,
            reason=reason,
            command=describe_command(shown),
            expected=expected,
            actual=actual,
            transcript=tuple(self.connection.transcript.entries),
        )

    def _report(self, finding: Finding) -> None:
        if finding.verdict >= self.fail_at:
            waiver = self.waive(finding) if self.waive else ""
            if not waiver:
                raise Violation(replace(finding, failed=True))
            finding = replace(finding, waived=waiver)
        logger.info("%s: %s", finding.verdict.label, finding.reason)
        self.record.findings.append(finding)

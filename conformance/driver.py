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

from conformance.errors import (
    ConnectionLost,
    MalformedReply,
    ReplyTimeout,
    ReplyTooLarge,
)
from conformance.findings import Finding, Violation, describe_command
from conformance.model import Phase, Session, SessionState, Step
from conformance.replies import Reply
from conformance.rules import Effect, Verdict
from conformance.runner import Connection, Target
from conformance.transcript import Entry, escape
from strategies.commands import has_bare_line_end

logger = logging.getLogger(__name__)

#: Called with the model's state; returns the next bytes to send, or None to end
#: the session politely with QUIT.
Chooser = Callable[[SessionState], bytes | None]

QUIT = b"QUIT\r\n"

#: Bounds, in seconds, of the wait for stray replies after content with a bare
#: CR or LF. The wait is three times the time the final reply took, because
#: replies to smuggled commands leave the server right after that reply.
#: NOTE: a server that delays only the replies to smuggled commands escapes.
SMUGGLING_WINDOW = (0.05, 1.0)


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

    Raises:
        Violation: a reply earned a verdict at or above `fail_at`.
        TargetUnreachable: the connection could not be made.
    """
    record = record if record is not None else SessionRecord()
    session = Session()
    with Connection.open(target) as connection:
        checker = _Checker(connection, session, record, fail_at, waive)
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


def _ending(state: SessionState) -> bytes:
    if state.phase is Phase.CONTENT:
        return b".\r\n"
    return QUIT


@dataclass
class _Checker:
    connection: Connection
    session: Session
    record: SessionRecord
    fail_at: Verdict
    waive: Callable[[Finding], str] | None = None

    def exchange(self, data: bytes | None) -> None:
        """Send `data` (None: nothing, await the greeting) and judge the reply."""
        if data is not None:
            self.record.commands += 1
            try:
                self.connection.send(data)
            except ConnectionLost:
                self._closed(data)
                return
        reply = self._read(data)
        if reply is None:
            return
        content = self.session.state.phase is Phase.CONTENT
        step = self.session.observe(data, reply)
        self._judge(step, data)
        if step.judgement.effect is Effect.CLOSE:
            self._check_closed(data, reply)
        elif content and data is not None and has_bare_line_end(data):
            self._check_no_smuggling(data)

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
        leftover = self.connection.wait_for_close()
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

    def _check_no_smuggling(self, data: bytes) -> None:
        # Only CRLF.CRLF ends the content (§4.1.1.4, §2.3.8). A server that
        # ended it at a bare CR or LF before the real end answered too early
        # and then ran the rest of the content as commands, whose replies
        # follow the one just read.
        shortest, longest = SMUGGLING_WINDOW
        window = min(longest, max(shortest, 3 * self.connection.last_reply_seconds))
        extra = self.connection.bytes_within(window)
        if not extra:
            return
        self._fail(
            data,
            Verdict.MUST,
            "RFC 5321 §4.1.1.4, §2.3.8",
            "more replies followed the reply to the end of data: the server "
            "ended the content at a bare CR or LF and ran the bytes after it "
            "as commands (SMTP smuggling)",
            escape(extra[:300]),
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
    ) -> None:
        expectation = self.session.expect(data)
        finding = self._finding(
            data,
            verdict,
            section,
            reason,
            actual,
            tuple(expectation.describe_allowed()),
        )
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
        return Finding(
            verdict=verdict,
            section=section,
            reason=reason,
            command=describe_command(data),
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

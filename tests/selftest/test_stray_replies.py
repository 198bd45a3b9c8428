"""After content with a bare line end, the driver ends the session with QUIT
and counts the replies up to the close, however late they come."""

from __future__ import annotations

import socket
import time

import pytest

from conformance.driver import run_session
from conformance.findings import Finding, Violation
from conformance.rules import Verdict
from conformance.runner import Target
from conformance.state import SessionState
from conformance.transcript import Entry
from tests.selftest.scripted import Script, ScriptedServer

INPUTS = [
    b"EHLO client.conformance.test\r\n",
    b"MAIL FROM:<a@conformance.test>\r\n",
    b"RCPT TO:<b@conformance.test>\r\n",
    b"DATA\r\n",
    b"Subject: x\r\n\r\ntext\n.\nNOOP\r\n.\r\n",
]


def server(*, smuggles: bool, delay: float = 0.0, closes: bool = True) -> Script:
    """Serve one transaction. With `smuggles`, end the content at LF.LF.

    The replies to the lines after the false ending come `delay` seconds
    after the reply to the content.
    """

    def script(conn: socket.socket) -> None:
        conn.sendall(b"220 scripted\r\n")
        reader = conn.makefile("rb")
        in_content = False
        while line := reader.readline():
            if in_content:
                if smuggles and line == b".\n":
                    conn.sendall(b"250 queued\r\n")
                    time.sleep(delay)
                    conn.sendall(b"250 smuggled NOOP\r\n500 what is .?\r\n")
                    in_content = False
                    reader.readline()  # NOOP, replied to above
                    reader.readline()  # the real ending, replied to above
                elif line == b".\r\n":
                    conn.sendall(b"250 queued\r\n")
                    in_content = False
                continue
            verb = line[:4].upper()
            if verb == b"DATA":
                conn.sendall(b"354 go on\r\n")
                in_content = True
            elif verb == b"QUIT":
                conn.sendall(b"221 bye\r\n")
                if closes:
                    return
            else:
                conn.sendall(b"250 ok\r\n")

    return script


def run(script: Script) -> tuple[Finding | None, list[bytes]]:
    remaining = list(INPUTS)

    def choose(state: SessionState) -> bytes | None:
        return remaining.pop(0) if remaining else None

    with ScriptedServer(script) as scripted:
        target = Target("127.0.0.1", scripted.port, timeout=1.0)
        try:
            record = run_session(target, choose, fail_at=Verdict.SHOULD)
        except Violation as violation:
            return violation.finding, _sent(violation.finding.transcript)
    return None, _sent(record.transcript)


def _sent(transcript: tuple[Entry, ...]) -> list[bytes]:
    return [entry.data for entry in transcript if entry.direction == "C"]


def test_conforming_server_passes_and_gets_quit() -> None:
    finding, sent = run(server(smuggles=False))
    assert finding is None
    assert sent == [*INPUTS, b"QUIT\r\n"]


@pytest.mark.parametrize("delay", [0.0, 0.3])
def test_smuggled_replies_found_however_late(delay: float) -> None:
    finding, sent = run(server(smuggles=True, delay=delay))
    assert finding is not None
    assert finding.verdict is Verdict.MUST
    assert finding.section == "RFC 5321 §4.1.1.4, §2.3.8"
    assert "SMTP smuggling" in finding.reason
    assert "smuggled NOOP" in finding.actual
    assert sent[-1] in (INPUTS[-1], b"QUIT\r\n")


def test_open_connection_after_quit_reported() -> None:
    finding, sent = run(server(smuggles=False, closes=False))
    assert finding is not None
    assert finding.verdict is Verdict.MUST
    assert finding.section == "RFC 5321 §4.1.1.10"
    assert sent[-1] == b"QUIT\r\n"

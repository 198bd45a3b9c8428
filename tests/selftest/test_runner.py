"""The runner against servers that break the transport or the reply grammar.

Every case must end in a finding within the timeout, never in a hang or an
uncaught exception.
"""

from __future__ import annotations

import socket
import time

import pytest

from conformance.driver import run_session
from conformance.errors import TargetUnreachable
from conformance.findings import Violation
from conformance.rules import Verdict
from conformance.runner import Target
from tests.selftest.scripted import ScriptedServer, replies

GREETING = b"220 scripted.test ready\r\n"


def _violation(
    server: ScriptedServer, lines: list[bytes], reply_time_limit: float = 5.0
) -> Violation:
    commands = iter(lines)
    target = Target("127.0.0.1", server.port, 0.5, reply_time_limit)
    with pytest.raises(Violation) as caught:
        run_session(target, lambda state: next(commands, None))
    return caught.value


def test_silent_server_is_reported_as_misbehaving() -> None:
    def silent(conn: socket.socket) -> None:
        time.sleep(1.5)

    start = time.monotonic()
    with ScriptedServer(silent) as server:
        violation = _violation(server, [])

    assert violation.finding.verdict is Verdict.MISBEHAVED
    assert "nothing received for 0.5 s" in violation.finding.reason
    assert time.monotonic() - start < 2.5


def test_trickling_reply_hits_reply_time_limit() -> None:
    def trickle(conn: socket.socket) -> None:
        for octet in b"220 slow but steady greeting\r\n":
            conn.sendall(bytes([octet]))
            time.sleep(0.1)

    start = time.monotonic()
    with ScriptedServer(trickle) as server:
        violation = _violation(server, [], reply_time_limit=1.0)

    assert violation.finding.verdict is Verdict.MISBEHAVED
    assert "still incomplete after 1 s" in violation.finding.reason
    assert time.monotonic() - start < 2.5


def test_slow_but_steady_reply_is_accepted() -> None:
    def slow(conn: socket.socket) -> None:
        for line in [b"220-slow\r\n", b"220-but\r\n", b"220 steady\r\n"]:
            time.sleep(0.3)
            conn.sendall(line)
        reader = conn.makefile("rb")
        reader.readline()
        conn.sendall(b"221 bye\r\n")

    with ScriptedServer(slow) as server:
        target = Target("127.0.0.1", server.port, timeout=0.5)
        record = run_session(target, lambda state: None)

    assert record.commands == 1


def test_reply_with_changing_code_is_malformed() -> None:
    script = replies(GREETING, b"250-first\r\n251 second\r\n")
    with ScriptedServer(script) as server:
        violation = _violation(server, [b"EHLO client.test\r\n"])

    assert violation.finding.verdict is Verdict.MUST
    assert "every line of a reply MUST carry the same code" in violation.finding.reason


def test_non_smtp_text_is_malformed() -> None:
    with ScriptedServer(replies(b"HTTP/1.1 400 Bad Request\r\n")) as server:
        violation = _violation(server, [])

    assert violation.finding.verdict is Verdict.MUST
    assert "three-digit code" in violation.finding.reason


def test_close_mid_reply_is_reported() -> None:
    script = replies(GREETING, b"250-partial\r\n")
    with ScriptedServer(script) as server:
        violation = _violation(server, [b"EHLO client.test\r\n"])

    assert violation.finding.verdict is Verdict.MUST
    assert "closed the connection" in violation.finding.reason


def test_endless_line_is_bounded() -> None:
    def flood(conn: socket.socket) -> None:
        conn.sendall(b"220 " + b"x" * (200 * 1024))
        time.sleep(1)

    with ScriptedServer(flood) as server:
        violation = _violation(server, [])

    assert violation.finding.verdict is Verdict.MISBEHAVED
    assert "exceeded" in violation.finding.reason


def test_endless_multiline_reply_is_bounded() -> None:
    def flood(conn: socket.socket) -> None:
        conn.sendall(b"220-more\r\n" * 2000)
        time.sleep(1)

    with ScriptedServer(flood) as server:
        violation = _violation(server, [])

    assert violation.finding.verdict is Verdict.MISBEHAVED
    assert "lines without a final line" in violation.finding.reason


def test_code_change_in_endless_reply_is_found_at_once() -> None:
    def flood(conn: socket.socket) -> None:
        conn.sendall(b"220-first\r\n250-second\r\n")
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline:
            conn.sendall(b"250-more\r\n" * 100)

    with ScriptedServer(flood) as server:
        violation = _violation(server, [])

    assert violation.finding.verdict is Verdict.MUST
    assert "has code 250, but the reply began with 220" in violation.finding.reason


def test_reply_of_many_long_lines_is_bounded() -> None:
    def flood(conn: socket.socket) -> None:
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline:
            conn.sendall(b"220-" + b"x" * 60000 + b"\r\n")

    with ScriptedServer(flood) as server:
        violation = _violation(server, [])

    assert violation.finding.verdict is Verdict.MISBEHAVED
    assert "octets without a final line" in violation.finding.reason


def test_control_characters_are_escaped_in_findings() -> None:
    script = replies(GREETING, b"250 \x1b[31mred<script>\r\n")
    with ScriptedServer(script) as server:
        violation = _violation(server, [b"RCPT TO:<a@b.test>\r\n"])

    text = violation.finding.format()
    assert "\x1b" not in text
    assert "\\x1b[31mred<script>" in text


def test_connection_refused_is_unreachable() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    with pytest.raises(TargetUnreachable, match=r"cannot connect to 127\.0\.0\.1"):
        run_session(Target("127.0.0.1", port, timeout=0.5), lambda state: None)


def test_server_open_after_221_is_a_violation() -> None:
    script = replies(GREETING, b"221 bye\r\n", hold=1.0)
    with ScriptedServer(script) as server:
        violation = _violation(server, [b"QUIT\r\n"])

    assert violation.finding.verdict is Verdict.MUST
    assert "after 221 the server kept the connection open" in violation.finding.reason

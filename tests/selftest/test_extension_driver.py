"""The driver's handling of pipelined groups and BDAT chunks, over real sockets.

Scripted servers play exact byte sequences, so each test shows one behaviour:
a group answered in order, a group whose tail the server loses, a rejected
chunk that the server reads and discards, and one whose lines it runs.
"""

from __future__ import annotations

import socket

import pytest

from conformance.driver import run_session
from conformance.findings import Violation
from conformance.rules import Verdict
from conformance.runner import Target
from tests.selftest.scripted import Script, ScriptedServer

GREETING = b"220 scripted.test ready\r\n"
EHLO_REPLY = b"250-scripted.test\r\n250-PIPELINING\r\n250 CHUNKING\r\n"
GROUP = b"MAIL FROM:<a@b.test>\r\nRCPT TO:<c@d.test>\r\nNOOP\r\n"


def _run(server: ScriptedServer, inputs: list[bytes], timeout: float = 1.0) -> int:
    """Run a session sending `inputs`, then QUIT; return the inputs counted."""
    pending = iter(inputs)
    target = Target("127.0.0.1", server.port, timeout)
    record = run_session(target, lambda state: next(pending, None))
    return record.commands


def _violation(server: ScriptedServer, inputs: list[bytes]) -> Violation:
    with pytest.raises(Violation) as caught:
        _run(server, inputs)
    return caught.value


def _answer_each_line(conn: socket.socket) -> None:
    """Greet, answer EHLO, then answer every line as it arrives, in order."""
    conn.sendall(GREETING)
    reader = conn.makefile("rb")
    while line := reader.readline():
        if line.upper().startswith(b"EHLO"):
            conn.sendall(EHLO_REPLY)
        elif line.upper().startswith(b"QUIT"):
            conn.sendall(b"221 bye\r\n")
            return
        else:
            conn.sendall(b"250 ok\r\n")


def test_group_gets_one_reply_per_command() -> None:
    with ScriptedServer(_answer_each_line) as server:
        counted = _run(server, [b"EHLO c.test\r\n", GROUP])

    assert counted == 5  # EHLO, three commands of the group, QUIT


def test_group_with_lost_tail_times_out() -> None:
    def lose_tail(conn: socket.socket) -> None:
        conn.sendall(GREETING)
        conn.recv(1024)
        conn.sendall(EHLO_REPLY)
        conn.recv(1024)  # the whole group, answered once
        conn.sendall(b"250 ok\r\n")
        conn.recv(1024)

    with ScriptedServer(lose_tail) as server:
        violation = _violation(server, [b"EHLO c.test\r\n", GROUP])

    assert violation.finding.verdict is Verdict.MISBEHAVED
    assert violation.finding.command == "RCPT TO:<c@d.test>"


CHUNKED = b"BDAT 12 LAST\r\nNOOP\r\nRSET\r\n"


def _reject_bdat(discard: bool) -> Script:
    def script(conn: socket.socket) -> None:
        conn.sendall(GREETING)
        reader = conn.makefile("rb")
        while line := reader.readline():
            if line.upper().startswith(b"EHLO"):
                conn.sendall(EHLO_REPLY)
            elif line.upper().startswith(b"BDAT"):
                if discard:
                    reader.read(12)
                conn.sendall(b"503 need MAIL first\r\n")
            elif line.upper().startswith(b"QUIT"):
                conn.sendall(b"221 bye\r\n")
                return
            else:
                conn.sendall(b"250 ok\r\n")

    return script


def test_rejected_chunk_discarded_passes() -> None:
    with ScriptedServer(_reject_bdat(discard=True)) as server:
        counted = _run(server, [b"EHLO c.test\r\n", CHUNKED])

    assert counted == 3


def test_rejected_chunk_run_as_commands_is_found() -> None:
    with ScriptedServer(_reject_bdat(discard=False)) as server:
        violation = _violation(server, [b"EHLO c.test\r\n", CHUNKED])

    assert violation.finding.verdict is Verdict.MUST
    assert violation.finding.section == "RFC 3030 §2"
    assert "250 ok" in violation.finding.actual

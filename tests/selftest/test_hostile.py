"""The suite against hostile servers: a finding every time, never a hang.

Each case starts a small misbehaving server on 127.0.0.1 and runs the real
properties against it in a pytest subprocess. The run must end within its
timeouts with a clear verdict naming what happened, print no traceback, and
escape whatever the server sent. The peak memory of all the runs is printed
at the end of the test run.
"""

from __future__ import annotations

import resource
import socket
import struct
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.selftest.conftest import PEAK_MEMORY
from tests.selftest.scripted import Script, ScriptedServer

RecordProperty = Callable[[str, Any], None]

PROPERTIES = Path(__file__).parents[1] / "conformance" / "test_sessions.py"
GREETING = b"220 hostile.test ready\r\n"
#: Wall-clock bound for one run; the timeouts below make runs far shorter.
RUN_LIMIT = 60.0


def _sleep(conn: socket.socket, seconds: float = 5.0) -> None:
    del conn
    time.sleep(seconds)


def never_greets(conn: socket.socket) -> None:
    _sleep(conn)


def greets_then_silent(conn: socket.socket) -> None:
    conn.sendall(GREETING)
    _sleep(conn)


def never_reads(conn: socket.socket) -> None:
    conn.sendall(GREETING)
    _sleep(conn)


def endless_multiline(conn: socket.socket) -> None:
    conn.sendall(b"220-hostile.test\r\n")
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        conn.sendall(b"220-more and more\r\n" * 100)


def megabyte_line(conn: socket.socket) -> None:
    conn.sendall(b"220 " + b"x" * (4 * 1024 * 1024))
    _sleep(conn, 2)


def one_byte_per_second(conn: socket.socket) -> None:
    for octet in GREETING:
        conn.sendall(bytes([octet]))
        time.sleep(1)


def steady_trickle(conn: socket.socket) -> None:
    # Fast enough for the idle timeout, too slow for the reply time limit.
    for octet in GREETING:
        conn.sendall(bytes([octet]))
        time.sleep(0.25)


def binary_garbage(conn: socket.socket) -> None:
    conn.sendall(bytes(range(256)) * 4 + b"\r\n")
    _sleep(conn, 1)


def not_smtp(conn: socket.socket) -> None:
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n<html>")
    _sleep(conn, 1)


def closes_mid_reply(conn: socket.socket) -> None:
    conn.sendall(GREETING)
    conn.recv(1024)
    conn.sendall(b"250-first line of many\r\n")


def resets_after_greeting(conn: socket.socket) -> None:
    conn.sendall(GREETING)
    conn.recv(1024)
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def shuts_down_midway(conn: socket.socket) -> None:
    conn.sendall(GREETING)
    reader = conn.makefile("rb")
    if reader.readline():
        conn.sendall(b"421 hostile.test shutting down\r\n")


def tls_only(conn: socket.socket) -> None:
    # An implicit-TLS port (465 style): waits for a TLS ClientHello, and
    # answers plain text with a TLS "protocol version" alert, then closes.
    conn.recv(1024)
    conn.sendall(b"\x15\x03\x01\x00\x02\x02\x46")


def terminal_escapes(conn: socket.socket) -> None:
    conn.sendall(b"220 \x1b[2J\x1b[31mred <script>alert(1)</script>\r\n")
    reader = conn.makefile("rb")
    while reader.readline():
        conn.sendall(b"999 \x1b]0;title\x07 odd code\r\n")


class CrashAfter:
    """Serve `limit` connections with `script`, then refuse every connection."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.served = 0
        self.server: ScriptedServer | None = None

    def __call__(self, conn: socket.socket) -> None:
        self.served += 1
        if self.served >= self.limit and self.server is not None:
            self.server.stop_listening()
        conn.sendall(GREETING)
        reader = conn.makefile("rb")
        while line := reader.readline():
            code = b"221 bye" if line.upper().startswith(b"QUIT") else b"250 ok"
            conn.sendall(code + b"\r\n")
            if code.startswith(b"221"):
                return


CASES: dict[str, tuple[Script, str]] = {
    "never-greets": (never_greets, "target misbehaved: no reply"),
    "greets-then-silent": (greets_then_silent, "target misbehaved: no reply"),
    "never-reads": (never_reads, "target misbehaved: no reply"),
    "endless-multiline-reply": (endless_multiline, "lines without a final line"),
    "megabyte-line": (megabyte_line, "octets without a line end"),
    "one-byte-per-second": (one_byte_per_second, "nothing received for 0.5 s"),
    "steady-trickle": (steady_trickle, "still incomplete after 3 s"),
    "binary-garbage": (binary_garbage, "malformed reply"),
    "not-smtp": (not_smtp, "malformed reply"),
    "closes-mid-reply": (closes_mid_reply, "closed the connection"),
    "resets-after-greeting": (resets_after_greeting, "MUST violation"),
    "shuts-down-midway": (shuts_down_midway, "passed"),
    "terminal-escapes": (terminal_escapes, "malformed reply"),
    "tls-only-port": (tls_only, "target misbehaved: no reply"),
    "crashes-after-5-connections": (CrashAfter(5), "target misbehaved"),
}


@pytest.mark.slow
@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_hostile_server_gives_verdict(
    pytester: pytest.Pytester, record_property: RecordProperty, case: str
) -> None:
    script, expected = CASES[case]
    pytester.makepyfile(test_sessions=PROPERTIES.read_text())
    start = time.monotonic()
    with ScriptedServer(script) as server:
        if isinstance(script, CrashAfter):
            script.server = server
        result = pytester.runpytest_subprocess(
            "--target",
            f"127.0.0.1:{server.port}",
            "--smtp-timeout",
            "0.5",
            "--smtp-reply-limit",
            "3",
            "--smtp-examples",
            "10",
            "-k",
            "command_order",
            "-p",
            "no:cacheprovider",
            timeout=RUN_LIMIT,
        )
    output = result.stdout.str() + result.stderr.str()
    # ru_maxrss of children covers every pytest run of this process so far;
    # tests/selftest/conftest.py prints the largest at the end of the run.
    record_property(PEAK_MEMORY, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)

    assert result.ret in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED), output
    assert time.monotonic() - start < RUN_LIMIT
    assert "Traceback" not in output
    assert "INTERNALERROR" not in output
    assert "\x1b" not in output
    assert expected in output

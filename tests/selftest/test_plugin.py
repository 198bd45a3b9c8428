"""The pytest plugin as a user meets it: options, usage errors, findings.

These tests run pytest in a subprocess on a copy of the conformance
properties, against reference servers started here on 127.0.0.1.
"""

from __future__ import annotations

import itertools
import socket
import threading
from pathlib import Path

import pytest

from conformance.reference import FAULTS, ReferenceServer
from tests.selftest.scripted import Script, ScriptedServer

PROPERTIES = Path(__file__).parents[1] / "conformance" / "test_sessions.py"


@pytest.fixture
def suite(pytester: pytest.Pytester) -> pytest.Pytester:
    """A pytester directory holding the conformance properties."""
    pytester.makepyfile(test_sessions=PROPERTIES.read_text())
    return pytester


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--target", "localhost"], "--target 'localhost' is invalid"),
        (["--target", "127.0.0.1:99999"], "port 99999 is outside 1-65535"),
        (["--target", "host:port"], "expected HOST:PORT"),
        (["--smtp-timeout", "soon"], "--smtp-timeout 'soon' is invalid"),
        (["--smtp-timeout", "-1"], "greater than 0"),
        (["--smtp-examples", "0"], "--smtp-examples '0' is invalid"),
        (["--mail-from", "<a@b.test>"], "without angle brackets"),
        (["--rcpt", "nobody"], "--rcpt 'nobody' is invalid"),
        (["--helo-name", "bad name"], "--helo-name 'bad name' is invalid"),
        (["--smtp-timeout", "nan"], "--smtp-timeout 'nan' is invalid"),
        (["--smtp-timeout", "inf"], "--smtp-timeout 'inf' is invalid"),
        (["--target", ""], "--target is empty"),
        (["--target", "127.0.0.1:\u0662\u0665"], "expected HOST:PORT"),
        (["--target", "::1:2525"], "[ADDRESS]:PORT for IPv6"),
    ],
    ids=[
        "target-without-port",
        "port-out-of-range",
        "port-not-a-number",
        "timeout-not-a-number",
        "timeout-negative",
        "examples-zero",
        "mail-from-in-brackets",
        "rcpt-without-domain",
        "helo-name-with-space",
        "timeout-nan",
        "timeout-infinite",
        "target-empty",
        "port-in-arabic-digits",
        "ipv6-without-brackets",
    ],
)
def test_bad_option_is_usage_error(
    suite: pytest.Pytester, options: list[str], message: str
) -> None:
    result = suite.runpytest_subprocess(*options)

    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert message in result.stderr.str()
    assert "Traceback" not in result.stderr.str() + result.stdout.str()


def test_unresolvable_host_is_usage_error(suite: pytest.Pytester) -> None:
    result = suite.runpytest_subprocess("--target", "nosuchhost.invalid:25")

    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "cannot resolve the host name 'nosuchhost.invalid'" in result.stderr.str()


def test_postmaster_is_a_valid_rcpt(suite: pytest.Pytester) -> None:
    with ReferenceServer() as server:
        result = suite.runpytest_subprocess(
            "--target",
            f"127.0.0.1:{server.port}",
            "--rcpt",
            "Postmaster",
            "--smtp-examples",
            "5",
            "-k",
            "complete_transactions",
        )

    result.assert_outcomes(passed=1)


def test_unreachable_target_is_usage_error(suite: pytest.Pytester) -> None:
    port = _closed_port()

    result = suite.runpytest_subprocess("--target", f"127.0.0.1:{port}")

    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert f"cannot connect to 127.0.0.1:{port}" in result.stderr.str()
    assert "Check that the server is running" in result.stderr.str()
    assert "Traceback" not in result.stderr.str() + result.stdout.str()


def test_embedded_default_target_passes(suite: pytest.Pytester) -> None:
    result = suite.runpytest_subprocess("--smtp-examples", "10")

    result.assert_outcomes(passed=10)
    result.stdout.fnmatch_lines(["*SMTP conformance*", "*embedded aiosmtpd*"])


def test_conforming_server_passes(suite: pytest.Pytester) -> None:
    with ReferenceServer() as server:
        result = suite.runpytest_subprocess(
            "--target", f"127.0.0.1:{server.port}", "--smtp-examples", "20"
        )

    result.assert_outcomes(passed=10)


def test_fault_shows_transcript_and_allowed_replies(suite: pytest.Pytester) -> None:
    with ReferenceServer(FAULTS["rcpt-without-mail-accepted"]) as server:
        result = suite.runpytest_subprocess(
            "--target", f"127.0.0.1:{server.port}", "-k", "command_order"
        )

    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*MUST violation*",
            "*clause: RFC 5321 §3.3*",
            "*allowed replies:*",
            "*503 (MUST, RFC 5321 §3.3)*",
            "*actual: 250 OK*",
            "*S: 220 reference.conformance.test*",
        ]
    )
    assert "C: RCPT TO:<" in result.stdout.str().upper()
    assert "Traceback" not in result.stdout.str()


def test_should_deviation_fails_only_when_strict(suite: pytest.Pytester) -> None:
    with ReferenceServer(FAULTS["nested-mail-accepted"]) as server:
        target = f"127.0.0.1:{server.port}"
        lenient = suite.runpytest_subprocess(
            "--target", target, "-k", "command_order", "--smtp-examples", "100"
        )
        strict = suite.runpytest_subprocess(
            "--target", target, "-k", "command_order", "--smtp-strict"
        )

    lenient.assert_outcomes(passed=1)
    lenient.stdout.fnmatch_lines(["*SHOULD deviation: a nested MAIL was accepted*"])
    strict.assert_outcomes(failed=1)
    strict.stdout.fnmatch_lines(["*SHOULD deviation: a nested MAIL was accepted*"])


def test_xdist_workers_share_one_summary(suite: pytest.Pytester) -> None:
    with ReferenceServer(FAULTS["nested-mail-accepted"]) as server:
        result = suite.runpytest_subprocess(
            "--target", f"127.0.0.1:{server.port}", "-n", "2", "--smtp-examples", "50"
        )

    result.assert_outcomes(passed=10)
    result.stdout.fnmatch_lines(["*sessions*commands sent*", "*SHOULD deviation*"])


def test_many_findings_keep_replay_stable(pytester: pytest.Pytester) -> None:
    # When Hypothesis replays a failing example it prints the test's
    # arguments, the `smtp` runner among them. Printed field by field, a
    # runner holding many findings made Hypothesis warn about the size, and
    # under -W error the replay then failed differently from the first run.
    pytester.makepyfile(
        test_many="""
from hypothesis import given, strategies as st
from conformance.findings import Finding
from conformance.plugin import SessionRunner, property_settings
from conformance.rules import Verdict

NOTE = Finding(Verdict.SHOULD, "RFC 5321 §4.2", "x" * 100, "NOOP", (), "250")

@property_settings()
@given(st.integers(0, 10))
def test_many(smtp: SessionRunner, number: int) -> None:
    smtp.findings.extend([NOTE] * 400)
    assert number < 5
"""
    )
    with ReferenceServer() as server:
        result = pytester.runpytest_subprocess(
            "--target", f"127.0.0.1:{server.port}", "-W", "error"
        )

    result.assert_outcomes(failed=1)
    output = result.stdout.str()
    assert "Flaky" not in output
    assert "overly large repr" not in output
    assert "assert 5 < 5" in output


def _noop_fails_once() -> Script:
    """Serve a plain SMTP server whose second valid NOOP, and only that, gets 500.

    The first NOOP comes from the sanity session before the run. A NOOP with
    trailing white space does not count: refusing it is only a SHOULD
    deviation, which would not fail the property.
    """
    noops = itertools.count(1)
    lock = threading.Lock()

    def script(conn: socket.socket) -> None:
        reader = conn.makefile("rb")
        conn.sendall(b"220 moody.test ESMTP\r\n")
        sender = recipient = False
        for line in reader:
            verb = line[:4].upper()
            reply = b"500 unknown command"
            if verb in (b"EHLO", b"HELO", b"RSET"):
                sender = recipient = False
                reply = b"250 ok"
            elif verb == b"NOOP" and line.rstrip(b"\r\n").endswith((b" ", b"\t")):
                reply = b"250 ok"
            elif verb == b"NOOP":
                with lock:
                    number = next(noops)
                reply = b"500 not today" if number == 2 else b"250 ok"
            elif verb == b"MAIL":
                reply = b"503 nested MAIL" if sender else b"250 ok"
                sender = True
            elif verb == b"RCPT":
                recipient = sender
                reply = b"250 ok" if sender else b"503 MAIL first"
            elif verb == b"DATA" and recipient:
                conn.sendall(b"354 go on\r\n")
                for content in reader:
                    if content == b".\r\n":
                        break
                sender = recipient = False
                reply = b"250 queued"
            elif verb == b"DATA":
                reply = b"503 RCPT first"
            elif verb == b"VRFY":
                reply = b"252 cannot verify"
            elif verb == b"HELP":
                reply = b"214 see RFC 5321"
            elif verb == b"EXPN":
                reply = b"502 not implemented"
            elif verb == b"QUIT":
                conn.sendall(b"221 bye\r\n")
                return
            conn.sendall(reply + b"\r\n")

    return script


def test_flaky_failure_still_reported(suite: pytest.Pytester) -> None:
    # Only one NOOP fails, so Hypothesis cannot reproduce its failing
    # example. The failure is a finding all the same.
    with ScriptedServer(_noop_fails_once()) as server:
        result = suite.runpytest_subprocess(
            "--target",
            f"127.0.0.1:{server.port}",
            "-k",
            "commands_legal_anywhere",
            "--smtp-examples",
            "30",
            "-p",
            "no:randomly",
        )

    result.assert_outcomes(failed=1)
    output = result.stdout.str()
    assert "actual: 500 not today" in output
    assert "re-run: flaky" in output
    assert "findings: 1 MUST violation" in output
    assert "replay the first finding:" in output

"""TLS and AUTH plumbing: the runner's handshakes, redaction and TLS options.

Every test talks to a real server on 127.0.0.1: the embedded aiosmtpd server
(STARTTLS, or implicit TLS), or a scripted server that breaks the handshake.
"""

from __future__ import annotations

import base64
import socket
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from conformance.certs import TestAuthority
from conformance.embedded import TEST_PASSWORD, TEST_USER, EmbeddedServer
from conformance.errors import TlsFailed
from conformance.runner import Connection, Target
from tests.selftest.scripted import Script, ScriptedServer

PROPERTIES = Path(__file__).parents[1] / "conformance" / "test_sessions.py"
GREETING = b"220 scripted.test ready\r\n"


@pytest.fixture(scope="module")
def authority() -> TestAuthority:
    return TestAuthority()


@pytest.fixture(scope="module")
def ca_file(authority: TestAuthority, tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(authority.write(tmp_path_factory.mktemp("ca")).ca)


@pytest.fixture(scope="module")
def server(authority: TestAuthority) -> Iterator[EmbeddedServer]:
    with EmbeddedServer(authority) as embedded:
        yield embedded


def _ehlo_keywords(connection: Connection) -> set[str]:
    connection.send(b"EHLO client.test\r\n")
    reply = connection.read_reply()
    assert reply.code == 250
    return {line.split(" ")[0].upper() for line in reply.lines[1:]}


def _starttls(connection: Connection) -> None:
    assert connection.read_reply().code == 220
    assert "STARTTLS" in _ehlo_keywords(connection)
    connection.send(b"STARTTLS\r\n")
    assert connection.read_reply().code == 220
    assert connection.pending == b""
    connection.start_tls()


def test_starttls_then_ehlo_offers_auth(server: EmbeddedServer, ca_file: str) -> None:
    target = Target(server.host, server.port, timeout=2.0, tls_ca=ca_file)
    with Connection.open(target) as connection:
        _starttls(connection)
        keywords = _ehlo_keywords(connection)
        connection.send(b"EHLO client.test\r\n")
        ehlo = connection.read_reply()

    assert connection.tls_active
    assert "STARTTLS" not in keywords
    assert "AUTH" in keywords
    auth_line = next(line for line in ehlo.lines if line.startswith("AUTH "))
    assert set(auth_line.split()[1:]) == {"PLAIN", "LOGIN"}
    assert "SMTPUTF8" in keywords
    notes = [
        e.data.decode() for e in connection.transcript.entries if e.direction == "*"
    ]
    assert any(note.startswith("TLS handshake done: TLSv1.") for note in notes)


def test_auth_before_starttls_is_not_offered(server: EmbeddedServer) -> None:
    target = Target(server.host, server.port, timeout=2.0)
    with Connection.open(target) as connection:
        connection.read_reply()
        keywords = _ehlo_keywords(connection)

    assert "AUTH" not in keywords
    assert not connection.tls_active


def test_test_account_authenticates(server: EmbeddedServer, ca_file: str) -> None:
    credentials = base64.b64encode(f"\0{TEST_USER}\0{TEST_PASSWORD}".encode())
    wrong = base64.b64encode(f"\0{TEST_USER}\0wrong".encode())
    target = Target(server.host, server.port, timeout=2.0, tls_ca=ca_file)
    with Connection.open(target) as connection:
        _starttls(connection)
        _ehlo_keywords(connection)
        connection.send(b"AUTH PLAIN " + wrong + b"\r\n")
        rejected = connection.read_reply()
        connection.send(b"AUTH PLAIN " + credentials + b"\r\n")
        accepted = connection.read_reply()

    assert rejected.code == 535
    assert accepted.code == 235


def test_unknown_ca_fails_with_hint(server: EmbeddedServer, tmp_path: Path) -> None:
    other_ca = TestAuthority().write(tmp_path).ca
    target = Target(server.host, server.port, timeout=2.0, tls_ca=str(other_ca))
    with Connection.open(target) as connection, pytest.raises(TlsFailed) as caught:
        _starttls(connection)

    message = str(caught.value)
    assert caught.value.certificate_rejected
    assert "certificate was rejected" in message
    assert "Pass --tls-ca FILE with the CA that signed" in message
    assert "--tls-no-verify" in message
    assert not connection.tls_active
    assert "TLS handshake failed" in connection.transcript.format()


def test_wrong_server_name_fails_with_hint(
    server: EmbeddedServer, ca_file: str
) -> None:
    target = Target(
        server.host,
        server.port,
        timeout=2.0,
        tls_ca=ca_file,
        server_name="mail.elsewhere.test",
    )
    with Connection.open(target) as connection, pytest.raises(TlsFailed) as caught:
        _starttls(connection)

    assert caught.value.certificate_rejected
    assert "not valid for 'mail.elsewhere.test'" in str(caught.value)
    assert "--tls-server-name NAME" in str(caught.value)


def test_localhost_name_is_verified(server: EmbeddedServer, ca_file: str) -> None:
    target = Target(
        server.host, server.port, timeout=2.0, tls_ca=ca_file, server_name="localhost"
    )
    with Connection.open(target) as connection:
        _starttls(connection)

    assert connection.tls_active


def test_no_verify_accepts_unknown_ca(server: EmbeddedServer) -> None:
    target = Target(server.host, server.port, timeout=2.0, tls_verify=False)
    with Connection.open(target) as connection:
        _starttls(connection)
        keywords = _ehlo_keywords(connection)

    assert connection.tls_active
    assert "AUTH" in keywords


def test_implicit_tls_reads_greeting_over_tls(
    authority: TestAuthority, ca_file: str
) -> None:
    with EmbeddedServer(authority, implicit_tls=True) as implicit:
        target = Target(
            implicit.host, implicit.port, timeout=2.0, tls_ca=ca_file, implicit_tls=True
        )
        with Connection.open(target) as connection:
            assert connection.tls_active
            greeting = connection.read_reply()
            keywords = _ehlo_keywords(connection)

    assert greeting.code == 220
    assert "STARTTLS" not in keywords
    assert "AUTH" in keywords


def test_implicit_tls_against_plain_port_fails(server: EmbeddedServer) -> None:
    target = Target(
        server.host, server.port, timeout=1.0, tls_verify=False, implicit_tls=True
    )
    start = time.monotonic()
    with pytest.raises(TlsFailed) as caught:
        Connection.open(target)

    assert "leave out --implicit-tls" in str(caught.value)
    assert not caught.value.certificate_rejected
    assert time.monotonic() - start < 1.5


def _answers_220_then_garbage(conn: socket.socket) -> None:
    conn.sendall(GREETING)
    reader = conn.makefile("rb")
    reader.readline()
    conn.sendall(b"220 go ahead\r\n")
    conn.recv(4096)
    conn.sendall(b"this is no TLS record at all\r\n")
    time.sleep(2)


def _answers_220_then_silence(conn: socket.socket) -> None:
    conn.sendall(GREETING)
    conn.makefile("rb").readline()
    conn.sendall(b"220 go ahead\r\n")
    time.sleep(2)


def _answers_220_then_closes(conn: socket.socket) -> None:
    conn.sendall(GREETING)
    conn.makefile("rb").readline()
    conn.sendall(b"220 go ahead\r\n")
    conn.recv(4096)


def _answers_220_then_trickles(conn: socket.socket) -> None:
    conn.sendall(GREETING)
    conn.makefile("rb").readline()
    conn.sendall(b"220 go ahead\r\n")
    conn.recv(4096)
    # A handshake record header announcing 16 KiB, then one octet every 0.1 s.
    for octet in b"\x16\x03\x03\x40\x00" + b"\x02" * 40:
        conn.sendall(bytes([octet]))
        time.sleep(0.1)


def _answers_220_with_plain_text_after(conn: socket.socket) -> None:
    conn.sendall(GREETING)
    conn.makefile("rb").readline()
    conn.sendall(b"220 go ahead\r\n250 injected\r\n")
    time.sleep(1)


def _scripted_starttls(script: ScriptedServer) -> Connection:
    target = Target("127.0.0.1", script.port, timeout=0.5, tls_verify=False)
    connection = Connection.open(target)
    connection.read_reply()
    connection.send(b"STARTTLS\r\n")
    assert connection.read_reply().code == 220
    return connection


@pytest.mark.parametrize(
    ("script", "message"),
    [
        (_answers_220_then_garbage, "the TLS handshake with 127.0.0.1:"),
        (_answers_220_then_silence, "timed out: it did not finish within 0.5 s"),
        (_answers_220_then_closes, "closed the connection during the TLS handshake"),
        (_answers_220_then_trickles, "timed out: it did not finish within 0.5 s"),
    ],
    ids=["garbage", "silence", "close", "trickle"],
)
def test_broken_handshake_fails_in_time(script: Script, message: str) -> None:
    start = time.monotonic()
    with ScriptedServer(script) as server:
        connection = _scripted_starttls(server)
        with connection, pytest.raises(TlsFailed) as caught:
            connection.start_tls()

    assert message in str(caught.value)
    assert "Traceback" not in str(caught.value)
    assert not caught.value.certificate_rejected
    assert time.monotonic() - start < 1.5


def test_plain_text_after_220_is_pending() -> None:
    with ScriptedServer(_answers_220_with_plain_text_after) as server:
        connection = _scripted_starttls(server)
        with connection:
            pending = connection.pending

    assert pending == b"250 injected\r\n"


def test_shown_bytes_replace_secret_in_transcript(
    server: EmbeddedServer, ca_file: str, caplog: pytest.LogCaptureFixture
) -> None:
    secret = base64.b64encode(f"\0{TEST_USER}\0{TEST_PASSWORD}".encode())
    caplog.set_level("DEBUG", logger="conformance.runner")
    target = Target(server.host, server.port, timeout=2.0, tls_ca=ca_file)
    with Connection.open(target) as connection:
        _starttls(connection)
        _ehlo_keywords(connection)
        connection.send(b"AUTH PLAIN " + secret + b"\r\n", shown=b"AUTH PLAIN ***\r\n")
        reply = connection.read_reply()

    text = connection.transcript.format()
    assert reply.code == 235
    assert "C: AUTH PLAIN ***" in text
    assert secret.decode() not in text
    assert secret.decode() not in caplog.text
    assert "AUTH PLAIN ***" in caplog.text


def test_certificate_files_are_written(tmp_path: Path) -> None:
    files = TestAuthority(["mail.test"]).write(tmp_path / "certs")

    assert files.ca.read_bytes().startswith(b"-----BEGIN CERTIFICATE-----")
    assert files.cert.read_bytes().startswith(b"-----BEGIN CERTIFICATE-----")
    assert b"PRIVATE KEY" in files.key.read_bytes()
    assert files.key.stat().st_mode & 0o077 == 0


@pytest.fixture
def suite(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makepyfile(test_sessions=PROPERTIES.read_text())
    return pytester


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            ["--tls-ca", "missing.pem"],
            "--tls-ca 'missing.pem' is invalid: no such file",
        ),
        (["--tls-ca", "."], "--tls-ca '.' is invalid: not a regular file"),
        (["--tls-ca", "empty.pem"], "cannot load CA certificates from it"),
        (["--auth-user", "someone"], "--auth-user 'someone' needs a password"),
        (["--auth-password", "hunter2"], "--auth-password is set but --auth-user"),
        (["--auth-user", "", "--auth-password", "x"], "--auth-user '' is invalid"),
        (["--implicit-tls"], "--implicit-tls needs --target"),
        (["--tls-ca", "empty.pem", "--tls-no-verify"], "exclude each other"),
    ],
    ids=[
        "ca-missing",
        "ca-directory",
        "ca-not-pem",
        "user-without-password",
        "password-without-user",
        "user-empty",
        "implicit-tls-without-target",
        "ca-and-no-verify",
    ],
)
def test_bad_tls_option_is_usage_error(
    suite: pytest.Pytester, server: EmbeddedServer, options: list[str], message: str
) -> None:
    (suite.path / "empty.pem").write_text("")
    needs_target = "--implicit-tls" not in options
    target = ["--target", f"127.0.0.1:{server.port}"] if needs_target else []

    result = suite.runpytest_subprocess(*target, *options)

    output = result.stderr.str() + result.stdout.str()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert message in result.stderr.str()
    assert "Traceback" not in output
    assert "hunter2" not in output


def test_password_variable_needs_user(
    suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SMTP_AUTH_PASSWORD", "hunter2")

    result = suite.runpytest_subprocess()

    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "SMTP_AUTH_PASSWORD is set but --auth-user is missing" in result.stderr.str()
    assert "hunter2" not in result.stderr.str() + result.stdout.str()


def test_implicit_tls_unknown_ca_is_usage_error(
    suite: pytest.Pytester, authority: TestAuthority, tmp_path: Path
) -> None:
    other_ca = TestAuthority().write(tmp_path).ca

    with EmbeddedServer(authority, implicit_tls=True) as implicit:
        result = suite.runpytest_subprocess(
            "--target",
            f"127.0.0.1:{implicit.port}",
            "--implicit-tls",
            "--tls-ca",
            str(other_ca),
        )

    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "certificate was rejected" in result.stderr.str()
    assert "--tls-ca FILE" in result.stderr.str()
    assert "Traceback" not in result.stderr.str() + result.stdout.str()


def test_password_stays_out_of_report(
    suite: pytest.Pytester,
    server: EmbeddedServer,
    ca_file: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    report_dir = suite.path / "report"
    password = "not-in-any-output-7d1f"
    monkeypatch.setenv("SMTP_AUTH_PASSWORD", password)

    result = suite.runpytest_subprocess(
        "--target",
        f"127.0.0.1:{server.port}",
        "--tls-ca",
        ca_file,
        "--auth-user",
        TEST_USER,
        "--smtp-examples",
        "3",
        "-k",
        "command_order",
        "--report-dir",
        str(report_dir),
    )

    result.assert_outcomes(passed=1)
    report = (report_dir / "report.json").read_text()
    assert '"auth_user": "conformance"' in report
    assert password not in report
    assert password not in (report_dir / "report.html").read_text()
    assert password not in result.stdout.str() + result.stderr.str()


def test_target_replace_keeps_tls_settings() -> None:
    target = Target("127.0.0.1", 25, tls_ca="ca.pem", implicit_tls=True)

    shorter = replace(target, timeout=0.25)

    assert shorter.tls_ca == "ca.pem"
    assert shorter.implicit_tls
    assert shorter.tls_server_name == "127.0.0.1"


def test_unverifiable_starttls_certificate_stops_run(
    pytester: pytest.Pytester,
) -> None:
    """A certificate the suite cannot verify is a usage error, before any test."""
    pytester.makepyfile(test_sessions=PROPERTIES.read_text())
    with EmbeddedServer(TestAuthority()) as embedded:
        result = pytester.runpytest_subprocess(
            "--target", f"127.0.0.1:{embedded.port}", "-p", "no:cacheprovider"
        )

    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*certificate was rejected*--tls-ca FILE*"])
    assert "Traceback" not in result.stdout.str() + result.stderr.str()

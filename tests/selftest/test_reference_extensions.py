"""The reference server's ESMTP extensions, over real sockets.

Each test talks to a `ReferenceServer` on 127.0.0.1 with a plain socket, and
the ssl module for STARTTLS, and checks the exact replies. A regression in the
server then shows up here first, not as a missed or false finding in the
fault hunts.
"""

from __future__ import annotations

import base64
import socket
import ssl
from collections.abc import Iterator

import pytest

from conformance.certs import TestAuthority
from conformance.reference import Policy, ReferenceServer
from conformance.reference.server import DEFAULT_PASSWORD, DEFAULT_USER
from conformance.replies import Reply, ReplyParser

TIMEOUT = 5.0
EHLO = "EHLO client.conformance.test"
MAIL = "MAIL FROM:<sender@conformance.test>"
RCPT = "RCPT TO:<recipient@conformance.test>"


class Client:
    """A blocking SMTP client that reads one complete reply per call."""

    def __init__(self, server: ReferenceServer) -> None:
        self.sock: socket.socket = socket.create_connection(
            (server.host, server.port), timeout=TIMEOUT
        )
        self.parser = ReplyParser()

    def reply(self) -> Reply:
        while (reply := self.parser.next_reply()) is None:
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionError("the server closed the connection")
            self.parser.feed(data)
        return reply

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def command(self, line: str) -> Reply:
        self.send(line.encode("utf-8") + b"\r\n")
        return self.reply()

    def start_tls(self, context: ssl.SSLContext) -> None:
        self.sock = context.wrap_socket(self.sock, server_hostname="127.0.0.1")
        self.parser = ReplyParser()

    def close(self) -> None:
        self.sock.close()


@pytest.fixture(scope="module")
def authority() -> TestAuthority:
    return TestAuthority()


@pytest.fixture
def server() -> Iterator[ReferenceServer]:
    with ReferenceServer() as running:
        yield running


@pytest.fixture
def tls_server(authority: TestAuthority) -> Iterator[ReferenceServer]:
    with ReferenceServer(tls_context=authority.server_context()) as running:
        yield running


def _greeted(server: ReferenceServer) -> Client:
    client = Client(server)
    assert client.reply().code == 220
    assert client.command(EHLO).code == 250
    return client


def _keywords(reply: Reply) -> list[str]:
    return [line.split(" ")[0] for line in reply.lines[1:]]


def _b64(text: str) -> str:
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


# --- EHLO ---------------------------------------------------------------------


def test_ehlo_lists_every_extension(server: ReferenceServer) -> None:
    client = Client(server)
    client.reply()
    reply = client.command(EHLO)
    client.close()

    assert reply.code == 250
    assert _keywords(reply) == [
        "PIPELINING",
        "SIZE",
        "8BITMIME",
        "SMTPUTF8",
        "ENHANCEDSTATUSCODES",
        "DSN",
        "CHUNKING",
        "BINARYMIME",
        "AUTH",
        "HELP",
    ]
    assert "SIZE 65536" in reply.lines
    assert "AUTH PLAIN LOGIN" in reply.lines


def test_ehlo_lists_starttls_with_tls_context(tls_server: ReferenceServer) -> None:
    client = Client(tls_server)
    client.reply()
    reply = client.command(EHLO)
    client.close()

    assert "STARTTLS" in _keywords(reply)


def test_ehlo_lists_only_policy_extensions() -> None:
    policy = Policy(extensions=("SIZE",), size_limit=5000)
    with ReferenceServer(policy=policy) as server:
        client = Client(server)
        client.reply()
        reply = client.command(EHLO)
        client.close()

    assert reply.lines[1:] == ("SIZE 5000", "HELP")


def test_helo_reply_lists_no_extensions(server: ReferenceServer) -> None:
    client = Client(server)
    client.reply()
    reply = client.command("HELO client.conformance.test")
    client.close()

    assert reply.code == 250
    assert len(reply.lines) == 1


# --- ENHANCEDSTATUSCODES -------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("NOOP", "250 2.0.0 "),
        ("RCPT TO:<recipient@conformance.test>", "503 5.5.1 "),
        ("NOSUCHVERB", "500 5.5.2 "),
        ("MAIL FROM:<sender@conformance.test> SIZE=99999999", "552 5.3.4 "),
        ("MAIL FROM:<j\u00f6rg@conformance.test>", "550 5.6.7 "),
        ("QUIT", "221 2.0.0 "),
    ],
    ids=["noop", "bad-sequence", "unknown-verb", "over-size", "utf8-path", "quit"],
)
def test_reply_carries_enhanced_code(
    server: ReferenceServer, line: str, expected: str
) -> None:
    client = _greeted(server)
    reply = client.command(line)
    client.close()

    assert reply.raw.decode("ascii").startswith(expected)


def test_no_enhanced_codes_without_ehlo(server: ReferenceServer) -> None:
    client = Client(server)
    client.reply()
    client.command("HELO client.conformance.test")
    reply = client.command("NOOP")
    client.close()

    assert reply.raw == b"250 OK\r\n"


# --- PIPELINING and CHUNKING ---------------------------------------------------


def test_pipelined_group_gets_replies_in_order(server: ReferenceServer) -> None:
    client = _greeted(server)
    client.send(f"{MAIL}\r\n{RCPT}\r\nRCPT TO:<no-at-sign>\r\nDATA\r\n".encode())
    codes = [client.reply().code for _ in range(4)]
    client.close()

    assert codes == [250, 250, 501, 354]


def test_rejected_bdat_chunk_is_read_and_discarded(server: ReferenceServer) -> None:
    client = _greeted(server)
    client.send(b"BDAT 12 LAST\r\nNOOP\r\nRSET\r\n")
    rejected = client.reply()
    after = client.command("HELP")
    client.close()

    assert rejected.code == 503
    assert after.code == 214  # not the reply to the NOOP inside the chunk


def test_chunks_are_assembled_into_one_message() -> None:
    with ReferenceServer() as server:
        client = _greeted(server)
        client.command(MAIL)
        client.command(RCPT)
        client.send(b"BDAT 6\r\nHello,BDAT 0\r\nBDAT 8 LAST\r\n world\r\n")
        codes = [client.reply().code for _ in range(3)]
        client.command("QUIT")
        client.close()

    # Stopping the server ends its connections, which store their messages.
    assert codes == [250, 250, 250]
    assert server.messages == [b"Hello, world\r\n"]


def test_data_after_bdat_gets_503(server: ReferenceServer) -> None:
    client = _greeted(server)
    client.command(MAIL)
    client.command(RCPT)
    client.send(b"BDAT 3\r\nabc")
    client.reply()
    reply = client.command("DATA")
    reset = client.command("RSET")
    client.close()

    assert reply.code == 503
    assert reset.code == 250


def test_bdat_over_size_limit_gets_552() -> None:
    with ReferenceServer(policy=Policy(size_limit=10)) as server:
        client = _greeted(server)
        client.command(MAIL)
        client.command(RCPT)
        client.send(b"BDAT 11 LAST\r\n01234567890")
        reply = client.reply()
        client.close()

    assert reply.code == 552
    assert server.messages == []


def test_data_over_size_limit_gets_552() -> None:
    with ReferenceServer(policy=Policy(size_limit=10)) as server:
        client = _greeted(server)
        client.command(MAIL)
        client.command(RCPT)
        client.command("DATA")
        client.send(b"0123456789\r\n.\r\n")
        reply = client.reply()
        client.close()

    assert reply.code == 552


# --- STARTTLS -----------------------------------------------------------------


def test_starttls_handshake_resets_session(
    tls_server: ReferenceServer, authority: TestAuthority
) -> None:
    client = _greeted(tls_server)
    client.command(MAIL)
    ready = client.command("STARTTLS")
    client.start_tls(authority.client_context())
    rcpt = client.command(RCPT)
    ehlo = client.command(EHLO)
    client.close()

    assert ready.code == 220
    assert rcpt.code == 503  # the transaction before TLS is gone
    assert ehlo.code == 250
    assert "STARTTLS" not in _keywords(ehlo)


def test_starttls_discards_injected_commands(
    tls_server: ReferenceServer, authority: TestAuthority
) -> None:
    client = _greeted(tls_server)
    client.send(b"STARTTLS\r\nNOOP\r\n")
    ready = client.reply()
    client.start_tls(authority.client_context())
    reply = client.command("HELP")  # would be the NOOP's 250 if it were kept
    client.close()

    assert ready.code == 220
    assert reply.code == 214


def test_starttls_without_tls_context_gets_502(server: ReferenceServer) -> None:
    client = _greeted(server)
    reply = client.command("STARTTLS")
    client.close()

    assert reply.code == 502


# --- AUTH -----------------------------------------------------------------------


def test_auth_plain_initial_response_succeeds(server: ReferenceServer) -> None:
    client = _greeted(server)
    response = _b64(f"\0{DEFAULT_USER}\0{DEFAULT_PASSWORD}")
    reply = client.command(f"AUTH PLAIN {response}")
    client.close()

    assert reply.raw.startswith(b"235 2.7.0 ")


def test_auth_plain_after_challenge_fails(server: ReferenceServer) -> None:
    client = _greeted(server)
    challenge = client.command("AUTH PLAIN")
    reply = client.command(_b64(f"\0{DEFAULT_USER}\0wrong"))
    client.close()

    assert challenge.raw == b"334 \r\n"
    assert reply.raw.startswith(b"535 5.7.8 ")


def test_auth_login_succeeds(server: ReferenceServer) -> None:
    client = _greeted(server)
    user_prompt = client.command("AUTH LOGIN")
    password_prompt = client.command(_b64(DEFAULT_USER))
    reply = client.command(_b64(DEFAULT_PASSWORD))
    again = client.command("AUTH LOGIN")
    client.close()

    assert user_prompt.raw == b"334 VXNlcm5hbWU6\r\n"
    assert password_prompt.raw == b"334 UGFzc3dvcmQ6\r\n"
    assert reply.code == 235
    assert again.code == 503


def test_auth_login_wrong_password_fails(server: ReferenceServer) -> None:
    client = _greeted(server)
    client.command("AUTH LOGIN")
    client.command(_b64(DEFAULT_USER))
    reply = client.command(_b64("wrong"))
    client.close()

    assert reply.code == 535


def test_auth_cancel_gets_501(server: ReferenceServer) -> None:
    client = _greeted(server)
    client.command("AUTH LOGIN")
    reply = client.command("*")
    client.close()

    assert reply.code == 501


def test_auth_in_transaction_gets_503(server: ReferenceServer) -> None:
    client = _greeted(server)
    client.command(MAIL)
    reply = client.command("AUTH PLAIN")
    client.close()

    assert reply.code == 503


def test_auth_only_after_tls_when_required(
    authority: TestAuthority,
) -> None:
    policy = Policy(auth_after_tls=True)
    context = authority.server_context()
    with ReferenceServer(policy=policy, tls_context=context) as server:
        client = Client(server)
        client.reply()
        before = client.command(EHLO)
        refused = client.command("AUTH PLAIN")
        client.command("STARTTLS")
        client.start_tls(authority.client_context())
        after = client.command(EHLO)
        client.close()

    assert "AUTH" not in _keywords(before)
    assert refused.code == 530
    assert "AUTH" in _keywords(after)

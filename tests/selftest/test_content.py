"""Message content reaches the server byte for byte (RFC 5321 §4.5.2).

Dot-stuffing is the client's job and its undoing the server's: the message
the server stores must equal the message the client meant, with no dot added
or lost, whatever the content holds.
"""

from __future__ import annotations

import pytest

from conformance.driver import run_session
from conformance.embedded import EmbeddedServer
from conformance.reference import ReferenceServer
from conformance.runner import Target
from conformance.state import SessionState

MESSAGES = {
    "plain": b"Subject: plain\r\n\r\nHello.\r\n",
    "leading-dots": b"Subject: dots\r\n\r\n.one dot\r\n..two dots\r\n.\r\nend\r\n",
    "long-line": b"Subject: long\r\n\r\n" + b"x" * 998 + b"\r\n",
    "command-text": b"Subject: commands\r\n\r\nQUIT\r\nMAIL FROM:<a@b.test>\r\n",
}


def stuff(message: bytes) -> bytes:
    """Dot-stuff a message and add the end of data, as a client must."""
    lines = message.split(b"\r\n")[:-1]
    stuffed = [b"." + line if line.startswith(b".") else line for line in lines]
    return b"\r\n".join(stuffed) + b"\r\n.\r\n"


def send(target: Target, message: bytes) -> None:
    inputs = [
        b"EHLO client.conformance.test\r\n",
        b"MAIL FROM:<sender@conformance.test>\r\n",
        b"RCPT TO:<recipient@conformance.test>\r\n",
        b"DATA\r\n",
        stuff(message),
    ]

    def choose(state: SessionState) -> bytes | None:
        return inputs.pop(0) if inputs else None

    run_session(target, choose)


@pytest.mark.parametrize("message", list(MESSAGES.values()), ids=list(MESSAGES))
def test_aiosmtpd_stores_message_unchanged(message: bytes) -> None:
    with EmbeddedServer() as server:
        send(Target(server.host, server.port, timeout=2), message)

    assert server.handler.messages == [message]


@pytest.mark.parametrize("message", list(MESSAGES.values()), ids=list(MESSAGES))
def test_reference_server_stores_message_unchanged(message: bytes) -> None:
    with ReferenceServer() as server:
        send(Target(server.host, server.port, timeout=2), message)

    assert server.messages == [message]

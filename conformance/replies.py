"""SMTP replies: the value type, codes by meaning, and a bounded parser.

The parser is sans-IO: feed it bytes as they arrive and it returns complete
replies. It enforces the RFC 5321 §4.2 grammar, so a malformed reply is reported
as a `MalformedReply` carrying the offending line, and it enforces size bounds so
that a hostile server cannot make the suite buffer without limit.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field

from conformance.errors import MalformedReply, ReplyTooLarge
from conformance.rules import Level

#: RFC 5321 §4.5.3.1.5: a reply line, code and CRLF included, is at most this long.
MAX_REPLY_LINE = 512


class ReplyCode(enum.IntEnum):
    """The reply codes RFC 5321 §4.2.2 defines, named by meaning."""

    SYSTEM_STATUS = 211
    HELP_MESSAGE = 214
    SERVICE_READY = 220
    CLOSING = 221
    OK = 250
    USER_NOT_LOCAL_WILL_FORWARD = 251
    CANNOT_VERIFY = 252
    START_MAIL_INPUT = 354
    SERVICE_NOT_AVAILABLE = 421
    MAILBOX_BUSY = 450
    LOCAL_ERROR = 451
    INSUFFICIENT_STORAGE = 452
    PARAMETERS_TEMPORARILY_UNAVAILABLE = 455
    SYNTAX_ERROR = 500
    ARGUMENT_SYNTAX_ERROR = 501
    NOT_IMPLEMENTED = 502
    BAD_SEQUENCE = 503
    PARAMETER_NOT_IMPLEMENTED = 504
    AUTHENTICATION_REQUIRED = 530
    MAILBOX_UNAVAILABLE = 550
    USER_NOT_LOCAL = 551
    EXCEEDED_STORAGE = 552
    MAILBOX_NAME_NOT_ALLOWED = 553
    TRANSACTION_FAILED = 554
    PARAMETERS_NOT_RECOGNIZED = 555


@dataclass(frozen=True)
class SyntaxNote:
    """A departure from the reply grammar that still leaves the reply readable."""

    level: Level
    section: str
    text: str


@dataclass(frozen=True)
class Reply:
    """One complete reply: its code, the text of each line, and the raw bytes."""

    code: int
    lines: tuple[str, ...]
    raw: bytes
    notes: tuple[SyntaxNote, ...] = field(default=(), compare=False)

    @property
    def text(self) -> str:
        """Return the text of all lines joined by spaces."""
        return " ".join(self.lines)

    @property
    def is_multiline(self) -> bool:
        return len(self.lines) > 1

    def __str__(self) -> str:
        return f"{self.code} {self.lines[0] if self.lines else ''}".rstrip()


# Reply-line = *( Reply-code "-" [ textstring ] CRLF )
#              Reply-code [ SP textstring ] CRLF          (RFC 5321 §4.2)
_LINE_RE = re.compile(rb"([0-9]{3})([ -]?)(.*)", re.DOTALL)
_TEXT_RE = re.compile(rb"[\x09\x20-\x7e]*")


@dataclass
class ReplyParser:
    """Assemble replies from a byte stream, one complete reply at a time.

    Args:
        max_line: longest reply line accepted before the parser gives up.
        max_lines: most lines one reply may have.
        max_bytes: most octets one reply may have, all lines together.
    """

    max_line: int = 64 * 1024
    max_lines: int = 1000
    max_bytes: int = 1024 * 1024
    _buffer: bytearray = field(default_factory=bytearray)
    _lines: list[bytes] = field(default_factory=list)
    _size: int = 0

    def feed(self, data: bytes) -> None:
        """Add bytes received from the server."""
        self._buffer += data

    @property
    def pending(self) -> bytes:
        """Return bytes received but not yet part of a complete reply."""
        return b"".join(self._lines) + bytes(self._buffer)

    def next_reply(self) -> Reply | None:
        """Return the next complete reply, or None if more bytes are needed.

        Raises:
            MalformedReply: a line breaks the RFC 5321 §4.2 grammar.
            ReplyTooLarge: a line or the whole reply exceeds the bounds.
        """
        while True:
            end = self._buffer.find(b"\n")
            if end < 0:
                if len(self._buffer) > self.max_line:
                    raise ReplyTooLarge(
                        f"a reply line exceeded {self.max_line} octets "
                        "without a line end"
                    )
                return None
            line = bytes(self._buffer[: end + 1])
            del self._buffer[: end + 1]
            if self._lines and line[:3] != self._lines[0][:3] and line[:3].isdigit():
                # Report a code change at once rather than when the reply ends,
                # which an endless reply never does.
                self._lines.append(line)
                lines, self._lines, self._size = self._lines, [], 0
                return _build_reply(lines)
            self._lines.append(line)
            self._size += len(line)
            if len(self._lines) > self.max_lines:
                raise ReplyTooLarge(
                    f"a reply exceeded {self.max_lines} lines without a final line"
                )
            if self._size > self.max_bytes:
                raise ReplyTooLarge(
                    f"a reply exceeded {self.max_bytes} octets without a final line"
                )
            if _is_final(line):
                lines, self._lines, self._size = self._lines, [], 0
                return _build_reply(lines)

    def has_unread_bytes(self) -> bool:
        return bool(self._buffer) or bool(self._lines)


def _is_final(line: bytes) -> bool:
    # A line whose fourth octet is not "-" ends the reply (RFC 2920 §3.1).
    # Malformed lines also end it, so that the caller sees the problem at once.
    match = _LINE_RE.match(line)
    return match is None or match.group(2) != b"-"


def _build_reply(lines: list[bytes]) -> Reply:
    raw = b"".join(lines)
    notes: list[SyntaxNote] = []
    texts: list[str] = []
    code: int | None = None

    for number, line in enumerate(lines, start=1):
        if _LINE_RE.match(line) is None:
            raise MalformedReply(
                f"reply line {number} does not start with a three-digit code "
                "(RFC 5321 §4.2)",
                raw,
            )
        if not line.endswith(b"\r\n"):
            raise MalformedReply(
                f"reply line {number} ends in a bare LF instead of CRLF "
                "(RFC 5321 §2.3.8, §4.2)",
                raw,
            )
        content = line[:-2]
        match = _LINE_RE.fullmatch(content)
        assert match is not None  # the pattern matches any line with a code
        line_code = int(match.group(1))
        separator, text = match.group(2), match.group(3)
        if separator == b"" and text:
            raise MalformedReply(
                f"reply line {number} has no space or hyphen after the code "
                "(RFC 5321 §4.2)",
                raw,
            )
        if code is None:
            code = line_code
        elif line_code != code:
            raise MalformedReply(
                f"reply line {number} has code {line_code}, but the reply began "
                f"with {code}: every line of a reply MUST carry the same code "
                "(RFC 5321 §4.2.1)",
                raw,
            )
        notes.extend(_line_notes(number, line, separator, text))
        texts.append(text.decode("latin-1"))

    assert code is not None
    if not 2 <= code // 100 <= 5:
        raise MalformedReply(
            f"reply code {code} does not start with 2, 3, 4 or 5 (RFC 5321 §4.2.1, "
            "§4.3.2)",
            raw,
        )
    if (code // 10) % 10 > 5:
        notes.append(
            SyntaxNote(
                Level.SHOULD,
                "RFC 5321 §4.2",
                f"reply code {code} has a second digit above 5, outside the "
                "Reply-code grammar",
            )
        )
    return Reply(code=code, lines=tuple(texts), raw=raw, notes=tuple(notes))


def _line_notes(
    number: int, line: bytes, separator: bytes, text: bytes
) -> list[SyntaxNote]:
    notes = []
    if len(line) > MAX_REPLY_LINE:
        notes.append(
            SyntaxNote(
                Level.SHOULD,
                "RFC 5321 §4.5.3.1.5",
                f"reply line {number} is {len(line)} octets long; the limit is "
                f"{MAX_REPLY_LINE}",
            )
        )
    if not _TEXT_RE.fullmatch(text):
        notes.append(
            SyntaxNote(
                Level.SHOULD,
                "RFC 5321 §4.2",
                f"reply line {number} has characters outside printable US-ASCII "
                "and tab",
            )
        )
    if separator == b"":
        notes.append(
            SyntaxNote(
                Level.SHOULD,
                "RFC 5321 §4.2",
                f"reply line {number} is a bare code: servers SHOULD send the "
                "space even when there is no text",
            )
        )
    return notes

"""Tests of `conformance.transcript`.

Server bytes are untrusted, so every octet outside printable US-ASCII is shown
escaped, and long output is cut.
"""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conformance.transcript import (
    MAX_SHOWN_LINE,
    MAX_SHOWN_LINES,
    Transcript,
    escape,
    split_lines,
)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        pytest.param(b"\x00", "\\x00", id="NUL"),
        pytest.param(b"\x07", "\\x07", id="BEL"),
        pytest.param(b"\x08", "\\x08", id="BS"),
        pytest.param(b"\x1b", "\\x1b", id="ESC"),
        pytest.param(b"\x7f", "\\x7f", id="DEL"),
        pytest.param(b"\t", "\\t", id="TAB"),
        pytest.param(b"\r", "\\r", id="CR"),
        pytest.param(b"\n", "\\n", id="LF"),
    ],
)
def test_control_byte_is_escaped(data: bytes, expected: str) -> None:
    assert escape(data) == expected


def test_terminal_escape_sequence_is_shown_as_text() -> None:
    """A reply cannot recolour or clear the terminal that shows it."""
    escaped = escape(b"250 \x1b[31mred\x1b[0m \x1b]0;title\x07")
    assert escaped == "250 \\x1b[31mred\\x1b[0m \\x1b]0;title\\x07"


def test_backslash_is_doubled() -> None:
    """A literal backslash cannot be mistaken for the start of an escape."""
    assert escape(b"C:\\x1b") == "C:\\\\x1b"


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        pytest.param(b"caf\xc3\xa9", "caf\\xc3\\xa9", id="utf-8"),
        pytest.param(b"\x80\xff", "\\x80\\xff", id="high-octets"),
        pytest.param(b"\xe2\x80\xae", "\\xe2\\x80\\xae", id="right-to-left-override"),
    ],
)
def test_non_ascii_byte_is_escaped(data: bytes, expected: str) -> None:
    assert escape(data) == expected


def test_printable_ascii_is_unchanged() -> None:
    printable = bytes(range(0x20, 0x7F)).replace(b"\\", b"")
    assert escape(printable) == printable.decode("ascii")


# --- Long lines and many lines -----------------------------------------------


def test_line_at_limit_is_shown_whole() -> None:
    assert escape(b"x" * MAX_SHOWN_LINE) == "x" * MAX_SHOWN_LINE


def test_long_line_is_shortened_with_octet_count() -> None:
    escaped = escape(b"x" * (MAX_SHOWN_LINE + 1))
    assert escaped == "x" * MAX_SHOWN_LINE + f"... ({MAX_SHOWN_LINE + 1} octets)"


def test_very_long_line_reports_full_octet_count() -> None:
    """The count is of the original octets, not of what is shown."""
    escaped = escape(b"x" * 100_000)
    assert escaped == "x" * MAX_SHOWN_LINE + "... (100000 octets)"


def test_line_over_limit_after_escaping_is_shortened() -> None:
    """The limit applies to the escaped text, and 60 NULs escape to 240 characters."""
    escaped = escape(b"\x00" * 60)
    assert escaped == "\\x00" * 50 + "... (60 octets)"


def test_shortening_keeps_escape_sequences_whole() -> None:
    """A cut "\\x0" before "..." would read as a different, broken escape."""
    escaped = escape(b"a" + b"\x00" * 60)
    prefix = escaped.rpartition("... (")[0]
    assert re.fullmatch(r"a(\\x00)+", prefix), prefix


def server_lines(count: int) -> bytes:
    return b"".join(b"250-line %d\r\n" % number for number in range(count))


def test_lines_at_cap_are_all_shown() -> None:
    transcript = Transcript()
    transcript.server(server_lines(MAX_SHOWN_LINES))
    lines = transcript.format().splitlines()
    assert len(lines) == MAX_SHOWN_LINES
    assert lines[-1] == f"S: 250-line {MAX_SHOWN_LINES - 1}"


def test_many_lines_are_capped() -> None:
    transcript = Transcript()
    transcript.server(server_lines(MAX_SHOWN_LINES + 10))
    lines = transcript.format().splitlines()
    assert len(lines) == MAX_SHOWN_LINES + 1
    assert lines[-2] == f"S: 250-line {MAX_SHOWN_LINES - 1}"
    assert lines[-1] == "S: ... (10 more lines)"


# --- Layout ------------------------------------------------------------------


def test_lines_carry_direction_prefixes() -> None:
    transcript = Transcript()
    transcript.server(b"220 mail.example.com ESMTP\r\n")
    transcript.client(b"EHLO client.example\r\n")
    transcript.server(b"250-mail.example.com\r\n250 SIZE 1000\r\n")
    assert transcript.format().splitlines() == [
        "S: 220 mail.example.com ESMTP",
        "C: EHLO client.example",
        "S: 250-mail.example.com",
        "S: 250 SIZE 1000",
    ]


def test_consecutive_server_reads_join_into_one_entry() -> None:
    """A reply that arrives in pieces is shown line by line, not per read."""
    transcript = Transcript()
    transcript.server(b"250-mail.exa")
    transcript.server(b"mple.com\r\n250 OK\r\n")
    assert len(transcript.entries) == 1
    assert transcript.format().splitlines() == ["S: 250-mail.example.com", "S: 250 OK"]


def test_bare_lf_stays_visible() -> None:
    """Only CRLF splits lines, so a bare LF from the server shows as \\n."""
    assert split_lines(b"250 one\n250 two\r\n") == ["250 one\\n250 two"]


def test_note_is_shown_in_parentheses() -> None:
    transcript = Transcript()
    transcript.client(b"DATA\r\n")
    transcript.note("connection closed by the server")
    assert transcript.format().splitlines() == [
        "C: DATA",
        "   (connection closed by the server)",
    ]


def test_commands_sent_counts_client_entries() -> None:
    transcript = Transcript()
    transcript.server(b"220 ready\r\n")
    transcript.client(b"EHLO client.example\r\n")
    transcript.server(b"250 OK\r\n")
    transcript.client(b"QUIT\r\n")
    assert transcript.commands_sent == 2


@given(st.lists(st.tuples(st.sampled_from("CS"), st.binary(max_size=600))))
def test_formatted_transcript_is_printable_ascii(
    entries: list[tuple[str, bytes]],
) -> None:
    """Whatever the bytes, the output holds only printable ASCII and newlines."""
    transcript = Transcript()
    for direction, data in entries:
        if direction == "C":
            transcript.client(data)
        else:
            transcript.server(data)
    formatted = transcript.format()
    assert all(" " <= char <= "~" or char == "\n" for char in formatted)

"""Tests of `conformance.replies.ReplyParser` against the RFC 5321 §4.2 grammar."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conformance.errors import MalformedReply, ReplyTooLarge
from conformance.replies import MAX_REPLY_LINE, Reply, ReplyParser
from conformance.rules import Level


def read_replies(parser: ReplyParser) -> list[Reply]:
    """Return every complete reply the parser can assemble from its buffer."""
    replies = []
    while (reply := parser.next_reply()) is not None:
        replies.append(reply)
    return replies


def parse_replies(data: bytes) -> list[Reply]:
    """Feed `data` to a fresh parser in one call and return its replies."""
    parser = ReplyParser()
    parser.feed(data)
    return read_replies(parser)


def parse_one(data: bytes) -> Reply:
    """Parse `data` and fail the test unless it contains exactly one reply."""
    replies = parse_replies(data)
    assert len(replies) == 1, f"{data!r} gave {len(replies)} replies"
    return replies[0]


def format_reply(code: int, texts: list[str]) -> bytes:
    """Format a reply with "-" after the code on every line but the last."""
    lines = [f"{code}-{text}\r\n" for text in texts[:-1]]
    lines.append(f"{code} {texts[-1]}\r\n")
    return "".join(lines).encode("ascii")


# --- Well-formed replies -----------------------------------------------------


def test_single_line_reply_parses() -> None:
    reply = parse_one(b"250 OK\r\n")
    assert reply.code == 250
    assert reply.lines == ("OK",)
    assert reply.raw == b"250 OK\r\n"
    assert reply.notes == ()


def test_multiline_reply_parses() -> None:
    """Lines with "-" after the code continue the reply, "250 " ends it."""
    data = b"250-mail.example.com\r\n250-SIZE 1000\r\n250 8BITMIME\r\n"
    reply = parse_one(data)
    assert reply.code == 250
    assert reply.lines == ("mail.example.com", "SIZE 1000", "8BITMIME")
    assert reply.raw == data


def test_reply_fed_byte_by_byte() -> None:
    """The parser waits for the final line's LF before it returns a reply."""
    data = b"250-first\r\n250 second\r\n"
    parser = ReplyParser()
    for octet in data[:-1]:
        parser.feed(bytes([octet]))
        assert parser.next_reply() is None
    parser.feed(data[-1:])
    reply = parser.next_reply()
    assert reply is not None
    assert reply.lines == ("first", "second")


def test_several_replies_in_one_feed() -> None:
    """Pipelined replies (RFC 2920) may arrive in one read."""
    replies = parse_replies(b"250 sender ok\r\n250-rcpt\r\n250 ok\r\n354 go on\r\n")
    assert [reply.code for reply in replies] == [250, 250, 354]
    assert [reply.lines for reply in replies] == [
        ("sender ok",),
        ("rcpt", "ok"),
        ("go on",),
    ]


def test_partial_reply_stays_pending() -> None:
    parser = ReplyParser()
    parser.feed(b"250-first\r\n250 sec")
    assert parser.next_reply() is None
    assert parser.pending == b"250-first\r\n250 sec"
    assert parser.has_unread_bytes()


def test_bare_code_parses_with_should_note() -> None:
    """A code without the space is readable, but servers SHOULD send it (§4.2)."""
    reply = parse_one(b"250\r\n")
    assert reply.code == 250
    assert reply.lines == ("",)
    assert [note.level for note in reply.notes] == [Level.SHOULD]


def test_bare_code_with_space_has_no_note() -> None:
    reply = parse_one(b"250 \r\n")
    assert reply.lines == ("",)
    assert reply.notes == ()


def test_text_starting_with_digits_is_text() -> None:
    """Only the first three digits are the code, so "234 text" is line text."""
    reply = parse_one(b"250-234 text\r\n250 done\r\n")
    assert reply.code == 250
    assert reply.lines == ("234 text", "done")


def test_tab_in_text_has_no_note() -> None:
    reply = parse_one(b"250 a\tb\r\n")
    assert reply.notes == ()


# --- Malformed replies -------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"250 OK\n", id="bare-lf"),
        pytest.param(b"250-first\n250 last\r\n", id="bare-lf-on-first-line"),
        pytest.param(b"250-first\r\n251 last\r\n", id="code-changes"),
        pytest.param(b"25x OK\r\n", id="non-digit-code"),
        pytest.param(b"OK\r\n", id="no-code"),
        pytest.param(b"\r\n", id="empty-line"),
        pytest.param(b"150 OK\r\n", id="first-digit-1"),
        pytest.param(b"650 OK\r\n", id="first-digit-6"),
        pytest.param(b"050 OK\r\n", id="first-digit-0"),
        pytest.param(b"250abc\r\n", id="missing-separator"),
        pytest.param(b"2500 OK\r\n", id="four-digits"),
    ],
)
def test_malformed_reply_raises(data: bytes) -> None:
    parser = ReplyParser()
    parser.feed(data)
    with pytest.raises(MalformedReply):
        parser.next_reply()


def test_malformed_reply_carries_raw_bytes() -> None:
    parser = ReplyParser()
    parser.feed(b"250-first\r\n251 last\r\n")
    with pytest.raises(MalformedReply) as caught:
        parser.next_reply()
    assert caught.value.raw == b"250-first\r\n251 last\r\n"


def test_endless_line_raises_reply_too_large() -> None:
    parser = ReplyParser(max_line=100)
    parser.feed(b"250 " + b"x" * 100)
    with pytest.raises(ReplyTooLarge):
        parser.next_reply()


def test_line_at_max_line_without_end_waits() -> None:
    parser = ReplyParser(max_line=100)
    parser.feed(b"250 " + b"x" * 96)
    assert parser.next_reply() is None


def test_too_many_lines_raise_reply_too_large() -> None:
    parser = ReplyParser(max_lines=3)
    parser.feed(b"250-x\r\n" * 4)
    with pytest.raises(ReplyTooLarge):
        parser.next_reply()


def test_reply_of_max_lines_parses() -> None:
    parser = ReplyParser(max_lines=3)
    parser.feed(b"250-x\r\n250-x\r\n250 x\r\n")
    reply = parser.next_reply()
    assert reply is not None
    assert len(reply.lines) == 3


# --- SHOULD notes ------------------------------------------------------------


def test_line_over_512_octets_gets_should_note() -> None:
    """A reply line, code and CRLF included, is at most 512 octets (§4.5.3.1.5)."""
    line = b"250 " + b"x" * (MAX_REPLY_LINE + 1 - 6) + b"\r\n"
    assert len(line) == 513
    reply = parse_one(line)
    assert [note.level for note in reply.notes] == [Level.SHOULD]
    assert [note.section for note in reply.notes] == ["RFC 5321 §4.5.3.1.5"]


def test_line_of_512_octets_has_no_note() -> None:
    line = b"250 " + b"x" * (MAX_REPLY_LINE - 6) + b"\r\n"
    assert len(line) == 512
    reply = parse_one(line)
    assert reply.notes == ()


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"250 caf\xc3\xa9\r\n", id="utf-8"),
        pytest.param(b"250 \xff\r\n", id="high-octet"),
        pytest.param(b"250 \x1b[2J\r\n", id="escape-sequence"),
        pytest.param(b"250 a\rb\r\n", id="bare-cr"),
    ],
)
def test_text_outside_printable_ascii_gets_should_note(data: bytes) -> None:
    """Reply text is printable US-ASCII and tab (§4.2, textstring)."""
    reply = parse_one(data)
    assert [note.level for note in reply.notes] == [Level.SHOULD]
    assert [note.section for note in reply.notes] == ["RFC 5321 §4.2"]


def test_second_digit_above_5_gets_should_note() -> None:
    """The Reply-code grammar limits the second digit to 0-5 (§4.2)."""
    reply = parse_one(b"270 OK\r\n")
    assert reply.code == 270
    assert [note.level for note in reply.notes] == [Level.SHOULD]


# --- Properties --------------------------------------------------------------

codes = st.builds(
    lambda first, second, third: first * 100 + second * 10 + third,
    st.integers(2, 5),
    st.integers(0, 5),
    st.integers(0, 9),
)
texts = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E))
reply_texts = st.lists(
    texts.filter(lambda text: len(text) < 200), min_size=1, max_size=5
)


def split_into_chunks(data: bytes, sizes: list[int]) -> list[bytes]:
    """Cut `data` into pieces whose lengths cycle through `sizes`."""
    chunks: list[bytes] = []
    index = 0
    while index < len(data):
        size = sizes[len(chunks) % len(sizes)]
        chunks.append(data[index : index + size])
        index += size
    return chunks


@given(codes, reply_texts, st.lists(st.integers(1, 40), min_size=1, max_size=10))
def test_well_formed_reply_round_trips(
    code: int, lines: list[str], sizes: list[int]
) -> None:
    """A reply fed in any chunk sizes comes back with its code and line texts."""
    data = format_reply(code, lines)
    parser = ReplyParser()
    replies = []
    for chunk in split_into_chunks(data, sizes):
        parser.feed(chunk)
        replies.extend(read_replies(parser))
    assert [reply.code for reply in replies] == [code]
    assert replies[0].lines == tuple(lines)
    assert replies[0].raw == data
    assert not parser.has_unread_bytes()

"""Tests of `conformance.commands.parse_command` against the RFC 5321 grammar.

Section numbers refer to RFC 5321: commands are in §4.1.1, paths and domains in
§4.1.2, address literals in §4.1.3 and the 512-octet line limit in §4.5.3.1.4.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conformance.commands import (
    MAX_COMMAND_LINE,
    Auth,
    Bdat,
    Command,
    Data,
    Expn,
    Hello,
    Help,
    Invalid,
    Mail,
    Noop,
    Obsolete,
    Problem,
    Quit,
    Rcpt,
    Rset,
    Starttls,
    TooLong,
    Unknown,
    Vrfy,
    is_domain,
    is_mailbox,
    parse_command,
    verb_of,
)


def parse(line: str) -> Command:
    """Parse `line` as an ASCII command line sent with its CRLF."""
    return parse_command(line.encode("ascii") + b"\r\n")


def parse_invalid(line: bytes) -> Invalid:
    """Parse `line` and fail the test unless the result is `Invalid`."""
    command = parse_command(line)
    assert isinstance(command, Invalid), f"{line!r} parsed as {command!r}"
    return command


# --- Valid commands ----------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        pytest.param("EHLO example.com", Hello("EHLO", "example.com"), id="ehlo"),
        pytest.param(
            "HELO mail.example.org", Hello("HELO", "mail.example.org"), id="helo"
        ),
        pytest.param("EHLO localhost", Hello("EHLO", "localhost"), id="one-label"),
        pytest.param(
            "EHLO a-b.example", Hello("EHLO", "a-b.example"), id="hyphen-in-label"
        ),
        pytest.param("EHLO [192.0.2.1]", Hello("EHLO", "[192.0.2.1]"), id="ipv4"),
        pytest.param("HELO [IPv6:::1]", Hello("HELO", "[IPv6:::1]"), id="ipv6-::1"),
        pytest.param(
            "EHLO [IPv6:2001:db8::25]",
            Hello("EHLO", "[IPv6:2001:db8::25]"),
            id="ipv6-compressed",
        ),
        pytest.param(
            "EHLO [x-tag:opaque]", Hello("EHLO", "[x-tag:opaque]"), id="general"
        ),
    ],
)
def test_hello_accepts_domains_and_literals(line: str, expected: Hello) -> None:
    """EHLO and HELO take a Domain or an address literal (§4.1.1.1, §4.1.3)."""
    assert parse(line) == expected


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        pytest.param("MAIL FROM:<>", Mail(""), id="null-path"),
        pytest.param(
            "MAIL FROM:<user@example.com>", Mail("user@example.com"), id="mailbox"
        ),
        pytest.param(
            "MAIL FROM:<first.last@example.com>",
            Mail("first.last@example.com"),
            id="dot-string",
        ),
        pytest.param(
            'MAIL FROM:<"a b>c"@example.com>',
            Mail('"a b>c"@example.com'),
            id="quoted-space-and-angle",
        ),
        pytest.param(
            'MAIL FROM:<"a\\"b"@example.com>',
            Mail('"a\\"b"@example.com'),
            id="quoted-pair",
        ),
        pytest.param(
            "MAIL FROM:<@relay.example,@hop.example:user@example.com>",
            Mail("@relay.example,@hop.example:user@example.com"),
            id="source-route",
        ),
        pytest.param(
            "MAIL FROM:<user@[192.0.2.1]>", Mail("user@[192.0.2.1]"), id="literal"
        ),
    ],
)
def test_mail_parses_reverse_path(line: str, expected: Mail) -> None:
    """MAIL FROM: takes a Reverse-path, which may be null (§4.1.1.2, §4.1.2)."""
    assert parse(line) == expected


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        pytest.param(
            "RCPT TO:<user@example.com>", Rcpt("user@example.com"), id="mailbox"
        ),
        pytest.param(
            'RCPT TO:<"x y"@example.com>', Rcpt('"x y"@example.com'), id="quoted"
        ),
        pytest.param(
            "RCPT TO:<@hop.example:user@example.com>",
            Rcpt("@hop.example:user@example.com"),
            id="source-route",
        ),
        pytest.param("RCPT TO:<Postmaster>", Rcpt("Postmaster"), id="Postmaster"),
        pytest.param("RCPT TO:<postmaster>", Rcpt("postmaster"), id="postmaster"),
        pytest.param("RCPT TO:<POSTMASTER>", Rcpt("POSTMASTER"), id="POSTMASTER"),
        pytest.param("RCPT TO:<pOsTmAsTeR>", Rcpt("pOsTmAsTeR"), id="mixed-case"),
    ],
)
def test_rcpt_parses_forward_path(line: str, expected: Rcpt) -> None:
    """RCPT TO: takes a mailbox, or <Postmaster> in any case (§4.1.1.3)."""
    assert parse(line) == expected


def test_rcpt_rejects_null_forward_path() -> None:
    """Only the reverse path may be null, so RCPT TO:<> breaks §4.1.2."""
    command = parse_invalid(b"RCPT TO:<>\r\n")
    assert command.problem is Problem.BAD_ARGUMENT


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        pytest.param("DATA", Data(), id="DATA"),
        pytest.param("RSET", Rset(), id="RSET"),
        pytest.param("QUIT", Quit(), id="QUIT"),
        pytest.param("NOOP", Noop(), id="NOOP"),
        pytest.param("NOOP are you there", Noop("are you there"), id="NOOP-text"),
        pytest.param("VRFY postmaster", Vrfy("postmaster"), id="VRFY"),
        pytest.param("EXPN staff", Expn("staff"), id="EXPN"),
        pytest.param("HELP", Help(), id="HELP"),
        pytest.param("HELP MAIL", Help("MAIL"), id="HELP-topic"),
    ],
)
def test_other_verbs_parse(line: str, expected: Command) -> None:
    """Each remaining verb of §4.1.1 parses to its own command type."""
    assert parse(line) == expected


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        pytest.param("ehlo example.com", Hello("EHLO", "example.com"), id="ehlo"),
        pytest.param("Helo example.com", Hello("HELO", "example.com"), id="Helo"),
        pytest.param("mail from:<a@example.com>", Mail("a@example.com"), id="mail"),
        pytest.param("MAIL From:<a@example.com>", Mail("a@example.com"), id="From"),
        pytest.param("rcpt to:<a@example.com>", Rcpt("a@example.com"), id="rcpt"),
        pytest.param("RCPT tO:<a@example.com>", Rcpt("a@example.com"), id="tO"),
        pytest.param("data", Data(), id="data"),
        pytest.param("Rset", Rset(), id="Rset"),
        pytest.param("quit", Quit(), id="quit"),
        pytest.param("noop", Noop(), id="noop"),
        pytest.param("vrfy user", Vrfy("user"), id="vrfy"),
        pytest.param("help", Help(), id="help"),
    ],
)
def test_verbs_and_keywords_ignore_case(line: str, expected: Command) -> None:
    """Verbs and the FROM:/TO: keywords are case-insensitive (§2.4)."""
    assert parse(line) == expected


@pytest.mark.parametrize("verb", ["SEND", "SOML", "SAML", "TURN"])
def test_retired_verbs_parse_as_obsolete(verb: str) -> None:
    """RFC 821 verbs that RFC 5321 retired (Appendix F) are `Obsolete`."""
    assert parse(verb) == Obsolete(verb)


@pytest.mark.parametrize(
    ("line", "verb"),
    [
        pytest.param(b"XYZZY\r\n", "XYZZY", id="bare"),
        pytest.param(b"xyzzy with argument\r\n", "xyzzy", id="lower-with-argument"),
        pytest.param(
            b"MAILFROM:<a@example.com>\r\n", "MAILFROM:<a@example.com>", id="no-space"
        ),
        pytest.param(b"\r\n", "", id="empty-line"),
        pytest.param(b"\xc9HLO example.com\r\n", "\xc9HLO", id="non-ascii-verb"),
    ],
)
def test_unknown_verb_keeps_its_spelling(line: bytes, verb: str) -> None:
    """A first word that is no SMTP verb becomes `Unknown`, spelled as sent."""
    assert parse_command(line) == Unknown(verb)


# --- Invalid commands --------------------------------------------------------

INVALID_CASES = [
    pytest.param(
        b"MAIL FROM: <a@example.com>",
        Problem.BAD_ARGUMENT,
        Mail("a@example.com"),
        True,
        id="MAIL-space-after-colon",
    ),
    pytest.param(
        b"RCPT TO: <a@example.com>",
        Problem.BAD_ARGUMENT,
        Rcpt("a@example.com"),
        True,
        id="RCPT-space-after-colon",
    ),
    pytest.param(
        b"MAIL FROM:a@example.com",
        Problem.BAD_ARGUMENT,
        Mail("a@example.com"),
        True,
        id="MAIL-missing-brackets",
    ),
    pytest.param(
        b"RCPT TO:a@example.com",
        Problem.BAD_ARGUMENT,
        Rcpt("a@example.com"),
        True,
        id="RCPT-missing-brackets",
    ),
    pytest.param(
        b"MAIL", Problem.MISSING_ARGUMENT, Mail(""), False, id="MAIL-no-argument"
    ),
    pytest.param(
        b"MAIL FROM:", Problem.MISSING_ARGUMENT, Mail(""), False, id="MAIL-no-path"
    ),
    pytest.param(
        b"RCPT TO:", Problem.MISSING_ARGUMENT, Rcpt(""), False, id="RCPT-no-path"
    ),
    pytest.param(
        b"EHLO",
        Problem.MISSING_ARGUMENT,
        Hello("EHLO", ""),
        False,
        id="EHLO-no-argument",
    ),
    pytest.param(
        b"HELO",
        Problem.MISSING_ARGUMENT,
        Hello("HELO", ""),
        False,
        id="HELO-no-argument",
    ),
    pytest.param(
        b"VRFY", Problem.MISSING_ARGUMENT, Vrfy(""), False, id="VRFY-no-argument"
    ),
    pytest.param(
        b"EXPN", Problem.MISSING_ARGUMENT, Expn(""), False, id="EXPN-no-argument"
    ),
    pytest.param(
        b"DATA now",
        Problem.UNEXPECTED_ARGUMENT,
        Data(),
        False,
        id="DATA-with-argument",
    ),
    pytest.param(
        b"RSET all",
        Problem.UNEXPECTED_ARGUMENT,
        Rset(),
        False,
        id="RSET-with-argument",
    ),
    pytest.param(
        b"QUIT now",
        Problem.UNEXPECTED_ARGUMENT,
        Quit(),
        False,
        id="QUIT-with-argument",
    ),
    pytest.param(b"RSET ", Problem.TRAILING_WHITESPACE, Rset(), False, id="RSET-space"),
    pytest.param(b"QUIT\t", Problem.TRAILING_WHITESPACE, Quit(), False, id="QUIT-tab"),
    pytest.param(
        b"NOOP  ", Problem.TRAILING_WHITESPACE, Noop(), False, id="NOOP-spaces"
    ),
    pytest.param(
        b"EHLO example.com ",
        Problem.TRAILING_WHITESPACE,
        Hello("EHLO", "example.com"),
        False,
        id="EHLO-space",
    ),
    pytest.param(
        b"MAIL FROM:<a@example.com> ",
        Problem.TRAILING_WHITESPACE,
        Mail("a@example.com"),
        False,
        id="MAIL-space",
    ),
    pytest.param(
        b"MAIL FROM:<a@example.com> SIZE=1000",
        Problem.UNKNOWN_PARAMETER,
        Mail("a@example.com", ("SIZE=1000",)),
        False,
        id="MAIL-SIZE",
    ),
    pytest.param(
        b"MAIL FROM:<> BODY=8BITMIME SMTPUTF8",
        Problem.UNKNOWN_PARAMETER,
        Mail("", ("BODY=8BITMIME", "SMTPUTF8")),
        False,
        id="MAIL-two-parameters",
    ),
    pytest.param(
        b"RCPT TO:<Postmaster> NOTIFY=NEVER",
        Problem.UNKNOWN_PARAMETER,
        Rcpt("Postmaster", ("NOTIFY=NEVER",)),
        False,
        id="RCPT-NOTIFY",
    ),
    pytest.param(
        b"EHLO bad_name.example",
        Problem.BAD_ARGUMENT,
        Hello("EHLO", "bad_name.example"),
        True,
        id="EHLO-underscore",
    ),
    pytest.param(
        b"HELO example.com extra",
        Problem.BAD_ARGUMENT,
        Hello("HELO", "example.com"),
        True,
        id="HELO-trailing-text",
    ),
    pytest.param(
        b"EHLO [192.0.2.300]",
        Problem.BAD_ARGUMENT,
        Hello("EHLO", "[192.0.2.300]"),
        True,
        id="EHLO-bad-ipv4",
    ),
]


@pytest.mark.parametrize(("line", "problem", "reading", "tolerated"), INVALID_CASES)
def test_invalid_line_is_classified(
    line: bytes, problem: Problem, reading: Command, tolerated: bool
) -> None:
    """A known verb with bad arguments is `Invalid`. The result names the
    problem, the command a lenient server would act on, and whether servers
    commonly accept the departure."""
    command = parse_invalid(line + b"\r\n")
    assert command.problem is problem
    assert command.lenient_reading == reading
    assert command.tolerated is tolerated


@pytest.mark.parametrize(
    ("line", "verb"),
    [
        pytest.param(b"MAIL <a@example.com>\r\n", "MAIL", id="MAIL-no-FROM"),
        pytest.param(b"MAIL TO:<a@example.com>\r\n", "MAIL", id="MAIL-with-TO"),
        pytest.param(b"RCPT FROM:<a@example.com>\r\n", "RCPT", id="RCPT-with-FROM"),
    ],
)
def test_missing_keyword_is_bad_argument(line: bytes, verb: str) -> None:
    """MAIL needs "FROM:" and RCPT needs "TO:" before the path (§4.1.1.2, §4.1.1.3)."""
    command = parse_invalid(line)
    assert command.verb == verb
    assert command.problem is Problem.BAD_ARGUMENT
    assert command.tolerated is False


def test_malformed_parameter_keeps_path_in_lenient_reading() -> None:
    """A server that ignores a malformed parameter acts on the path alone."""
    command = parse_invalid(b"MAIL FROM:<a@example.com> =bad\r\n")
    assert command.lenient_reading == Mail("a@example.com")


def test_trailing_whitespace_after_parameter_keeps_path() -> None:
    """White space after the last parameter leaves path and parameters intact."""
    command = parse_invalid(b"MAIL FROM:<a@example.com> SIZE=1000 \r\n")
    assert command.problem is Problem.TRAILING_WHITESPACE
    inner = command.lenient_reading
    assert isinstance(inner, Invalid)
    assert inner.problem is Problem.UNKNOWN_PARAMETER
    assert inner.lenient_reading == Mail("a@example.com", ("SIZE=1000",))


# --- Line length -------------------------------------------------------------


def noop_line(length: int) -> bytes:
    """Return a NOOP command line of exactly `length` octets, CRLF included."""
    return b"NOOP " + b"x" * (length - len(b"NOOP ") - 2) + b"\r\n"


def test_512_octet_line_is_not_too_long() -> None:
    """A 512-octet line, CRLF included, is within §4.5.3.1.4."""
    line = noop_line(MAX_COMMAND_LINE)
    assert len(line) == 512
    assert isinstance(parse_command(line), Noop)


def test_513_octet_line_is_too_long() -> None:
    """One octet beyond §4.5.3.1.4 makes the line `TooLong`."""
    line = noop_line(MAX_COMMAND_LINE + 1)
    command = parse_command(line)
    assert isinstance(command, TooLong)
    assert command.length == 513


def test_too_long_line_keeps_its_reading() -> None:
    """`TooLong` wraps what the line would mean if the server processed it."""
    line = noop_line(600)
    command = parse_command(line)
    assert isinstance(command, TooLong)
    assert command.reading == Noop("x" * (600 - len(b"NOOP ") - 2))


def test_line_length_counts_crlf_when_absent() -> None:
    """A line passed without CRLF is measured as if it had one."""
    body = noop_line(MAX_COMMAND_LINE + 1)[:-2]
    command = parse_command(body)
    assert isinstance(command, TooLong)
    assert command.length == 513


# --- Non-ASCII bytes ---------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "verb"),
    [
        pytest.param(b"MAIL FROM:<caf\xe9@example.com>\r\n", "MAIL", id="MAIL"),
        pytest.param(b"RCPT TO:<user@b\xfccher.example>\r\n", "RCPT", id="RCPT"),
        pytest.param(b"EHLO b\xc3\xbccher.example\r\n", "EHLO", id="EHLO"),
        pytest.param(b"VRFY caf\xc3\xa9\r\n", "VRFY", id="VRFY"),
        pytest.param(b"NOOP \xff\r\n", "NOOP", id="NOOP"),
        pytest.param(b"HELP \x80\r\n", "HELP", id="HELP"),
    ],
)
def test_non_ascii_argument_is_bad_argument(line: bytes, verb: str) -> None:
    """Bytes outside US-ASCII never match the grammar of §4.1.2."""
    command = parse_invalid(line)
    assert command.verb == verb
    assert command.problem is Problem.BAD_ARGUMENT


def test_non_ascii_path_is_not_tolerated() -> None:
    """Servers do not commonly accept an 8-bit path without SMTPUTF8."""
    command = parse_invalid(b"MAIL FROM:<caf\xc3\xa9@example.com>\r\n")
    assert command.tolerated is False


@pytest.mark.parametrize(
    ("line", "reading"),
    [
        pytest.param(
            b"MAIL FROM:<caf\xc3\xa9@example.com> SMTPUTF8\r\n",
            Mail("caf\u00e9@example.com", ("SMTPUTF8",)),
            id="MAIL",
        ),
        pytest.param(
            b"RCPT TO:<user@b\xc3\xbccher.example>\r\n",
            Rcpt("user@b\u00fccher.example"),
            id="RCPT",
        ),
    ],
)
def test_utf8_path_needs_smtputf8(line: bytes, reading: Mail | Rcpt) -> None:
    """A UTF-8 path is valid only under RFC 6531, decoded as UTF-8."""
    command = parse_invalid(line)
    assert command.problem is Problem.NEEDS_SMTPUTF8
    assert command.lenient_reading == reading


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (b"STARTTLS\r\n", Starttls()),
        (b"starttls\r\n", Starttls()),
        (b"AUTH PLAIN\r\n", Auth("PLAIN")),
        (b"auth login dXNlcg==\r\n", Auth("LOGIN", "dXNlcg==")),
        (b"AUTH PLAIN =\r\n", Auth("PLAIN", "=")),
        (b"BDAT 10\r\n", Bdat(10)),
        (b"BDAT 0 LAST\r\n", Bdat(0, last=True)),
        (b"bdat 5 last\r\n", Bdat(5, last=True)),
    ],
)
def test_extension_commands(line: bytes, expected: Command) -> None:
    assert parse_command(line) == expected


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        (b"STARTTLS now\r\n", Problem.UNEXPECTED_ARGUMENT),
        (b"AUTH\r\n", Problem.MISSING_ARGUMENT),
        (b"AUTH PLAIN !!!\r\n", Problem.BAD_ARGUMENT),
        (b"BDAT\r\n", Problem.MISSING_ARGUMENT),
        (b"BDAT ten\r\n", Problem.BAD_ARGUMENT),
        (b"BDAT 10 FIRST\r\n", Problem.BAD_ARGUMENT),
    ],
)
def test_invalid_extension_commands(line: bytes, problem: Problem) -> None:
    assert parse_invalid(line).problem is problem


# --- Helpers -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("command", "verb"),
    [
        pytest.param(Hello("HELO", "example.com"), "HELO", id="Hello"),
        pytest.param(Mail(""), "MAIL", id="Mail"),
        pytest.param(Rcpt("a@example.com"), "RCPT", id="Rcpt"),
        pytest.param(Data(), "DATA", id="Data"),
        pytest.param(Unknown("xyzzy"), "XYZZY", id="Unknown"),
        pytest.param(Obsolete("TURN"), "TURN", id="Obsolete"),
        pytest.param(
            Invalid("QUIT", Problem.UNEXPECTED_ARGUMENT), "QUIT", id="Invalid"
        ),
        pytest.param(TooLong(600, Noop("x")), "NOOP", id="TooLong"),
    ],
)
def test_verb_of_returns_upper_case_verb(command: Command, verb: str) -> None:
    assert verb_of(command) == verb


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("user@example.com", True, id="mailbox"),
        pytest.param('"a b"@example.com', True, id="quoted"),
        pytest.param("user@[192.0.2.1]", True, id="literal"),
        pytest.param("user", False, id="no-domain"),
        pytest.param("user@", False, id="empty-domain"),
        pytest.param("a..b@example.com", False, id="double-dot"),
        pytest.param("caf\xe9@example.com", False, id="non-ascii"),
    ],
)
def test_is_mailbox_follows_grammar(text: str, expected: bool) -> None:
    assert is_mailbox(text) is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("example.com", True, id="domain"),
        pytest.param("[IPv6:::1]", True, id="ipv6"),
        pytest.param("-example.com", False, id="leading-hyphen"),
        pytest.param("example-.com", False, id="trailing-hyphen"),
        pytest.param("example..com", False, id="empty-label"),
        pytest.param("b\xfccher.example", False, id="non-ascii"),
    ],
)
def test_is_domain_follows_grammar(text: str, expected: bool) -> None:
    assert is_domain(text) is expected


# --- Properties --------------------------------------------------------------

ATEXT = (
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&'*+/=?^_`{|}~-"
)

local_parts = st.lists(
    st.text(alphabet=ATEXT, min_size=1, max_size=10), min_size=1, max_size=3
).map(".".join)
labels = st.from_regex(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,8}[A-Za-z0-9])?", fullmatch=True)
domains = st.lists(labels, min_size=1, max_size=4).map(".".join)
mailboxes = st.builds(lambda local, domain: f"{local}@{domain}", local_parts, domains)


@given(mailboxes)
def test_generated_mail_from_parses_to_mail(mailbox: str) -> None:
    """Every Dot-string@Domain path parses to `Mail` with that path."""
    assert parse(f"MAIL FROM:<{mailbox}>") == Mail(mailbox)


@given(mailboxes, st.lists(st.booleans(), min_size=10, max_size=10))
def test_mail_keyword_case_never_matters(mailbox: str, upper: list[bool]) -> None:
    """Any mix of cases in "MAIL FROM:" parses like the upper-case form."""
    keyword = "".join(
        char.upper() if make_upper else char.lower()
        for char, make_upper in zip("MAIL FROM:", upper, strict=True)
    )
    assert parse(f"{keyword}<{mailbox}>") == Mail(mailbox)


@given(st.binary(max_size=2000))
def test_parse_command_never_raises(line: bytes) -> None:
    """Arbitrary bytes always parse to some command with a verb."""
    command = parse_command(line)
    assert isinstance(verb_of(command), str)


@given(st.binary(max_size=1000))
def test_too_long_exactly_beyond_512_octets(body: bytes) -> None:
    """A line is `TooLong` exactly when it exceeds 512 octets with its CRLF."""
    line = body + b"\r\n"
    command = parse_command(line)
    assert isinstance(command, TooLong) is (len(line) > MAX_COMMAND_LINE)

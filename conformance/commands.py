"""Command lines as the RFC 5321 grammar reads them.

`parse_command` turns one command line into a typed command. The model judges the
server by what the bytes on the wire mean, not by what a strategy meant to send, so
a "malformed" line that happens to be valid is judged as valid. The reference
server parses with the same function.

Grammar references are to RFC 5321 §4.1.1 (commands) and §4.1.2 (paths and
domains). The parser is deliberately strict: anything the ABNF does not allow is
`Invalid`, and where servers commonly accept a departure (a space after
``FROM:``, a bare address without angle brackets, a malformed HELO name) the
`Invalid` carries the `lenient_reading` a tolerant server would act on.
"""

from __future__ import annotations

import enum
import functools
import re
from dataclasses import dataclass

#: RFC 5321 §4.5.3.1.4: a command line, verb and CRLF included, may be this long.
MAX_COMMAND_LINE = 512

#: Verbs every RFC 5321 server MUST support (§4.5.1). Answering one of these
#: with "command not recognized" is a violation (§4.3.2).
REQUIRED_VERBS = frozenset(
    {"EHLO", "HELO", "MAIL", "RCPT", "DATA", "RSET", "NOOP", "QUIT", "VRFY"}
)

#: Verbs defined by RFC 5321 or its predecessors that a server may recognise and
#: answer with 502 "not implemented" (§4.2.4, Appendix F).
OPTIONAL_VERBS = frozenset({"EXPN", "HELP", "SEND", "SOML", "SAML", "TURN"})


class Problem(enum.Enum):
    """Why a line with a known verb is not valid RFC 5321 syntax."""

    MISSING_ARGUMENT = "the argument is missing"
    BAD_ARGUMENT = "the argument does not match the RFC 5321 grammar"
    UNEXPECTED_ARGUMENT = "the command takes no argument"
    UNKNOWN_PARAMETER = "it carries a parameter no extension defines here"
    TRAILING_WHITESPACE = "white space precedes the CRLF"
    NEEDS_SMTPUTF8 = "the path holds UTF-8, which only SMTPUTF8 allows"


@dataclass(frozen=True)
class Hello:
    """EHLO or HELO with a syntactically valid domain or address literal."""

    verb: str  # "EHLO" or "HELO"
    domain: str


@dataclass(frozen=True)
class Mail:
    """MAIL FROM:<reverse-path> [parameters]."""

    reverse_path: str  # "" for the null path <>
    parameters: tuple[str, ...] = ()


@dataclass(frozen=True)
class Rcpt:
    """RCPT TO:<forward-path> [parameters]."""

    forward_path: str
    parameters: tuple[str, ...] = ()


@dataclass(frozen=True)
class Data:
    """DATA with no argument."""


@dataclass(frozen=True)
class Rset:
    """RSET with no argument."""


@dataclass(frozen=True)
class Noop:
    """NOOP with optional text, which servers SHOULD ignore (§4.1.1.9)."""

    text: str = ""


@dataclass(frozen=True)
class Quit:
    """QUIT with no argument."""


@dataclass(frozen=True)
class Vrfy:
    """VRFY with its string argument."""

    argument: str


@dataclass(frozen=True)
class Expn:
    """EXPN with its string argument."""

    argument: str


@dataclass(frozen=True)
class Help:
    """HELP with an optional topic."""

    topic: str = ""


@dataclass(frozen=True)
class Starttls:
    """STARTTLS with no argument (RFC 3207 §4)."""


@dataclass(frozen=True)
class Auth:
    """AUTH mechanism [initial-response] (RFC 4954 §4).

    `initial_response` is None when the line carries none; "=" stands for an
    empty initial response.
    """

    mechanism: str
    initial_response: str | None = None


@dataclass(frozen=True)
class Bdat:
    """BDAT chunk-size [LAST] (RFC 3030 §2); the chunk follows the CRLF."""

    size: int
    last: bool = False


@dataclass(frozen=True)
class Obsolete:
    """A verb from RFC 821 that RFC 5321 retired (SEND, SOML, SAML, TURN)."""

    verb: str


@dataclass(frozen=True)
class Unknown:
    """A line whose first word is no SMTP verb at all."""

    verb: str


@dataclass(frozen=True)
class Invalid:
    """A known verb whose arguments break the grammar.

    `lenient_reading` is the command a server that accepts the line acts on.
    `tolerated` marks departures that servers commonly accept and RFC 5321 does
    not require them to reject (a space after "FROM:", a malformed HELO name).
    The model accepts a syntax error reply, and also the replies the lenient
    reading would get: as conforming when `tolerated`, as a SHOULD deviation
    otherwise.
    """

    verb: str
    problem: Problem
    lenient_reading: Command | None = None
    tolerated: bool = False


@dataclass(frozen=True)
class TooLong:
    """A line longer than the 512 octets every server must accept.

    A server MAY reject it as too long or process it as `reading` (§4.5.3.1).
    """

    length: int
    reading: Command


Command = (
    Hello
    | Mail
    | Rcpt
    | Data
    | Rset
    | Noop
    | Quit
    | Vrfy
    | Expn
    | Help
    | Starttls
    | Auth
    | Bdat
    | Obsolete
    | Unknown
    | Invalid
    | TooLong
)

# RFC 5321 §4.1.2 and §4.1.3, written as regular expressions.
_LET_DIG = r"[A-Za-z0-9]"
_SUB_DOMAIN = rf"{_LET_DIG}(?:[A-Za-z0-9-]*{_LET_DIG})?"
_DOMAIN = rf"{_SUB_DOMAIN}(?:\.{_SUB_DOMAIN})*"
_SNUM = r"(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])"
_IPV4 = rf"{_SNUM}(?:\.{_SNUM}){{3}}"
# IPv6 and general literals are checked loosely: the shape, not every variant.
_IPV6 = r"IPv6:[0-9A-Fa-f:.]{2,45}"
_GENERAL = r"[A-Za-z0-9-]*[A-Za-z0-9]:[\x21-\x5a\x5e-\x7e]+"
_ADDRESS_LITERAL = rf"\[(?:{_IPV4}|{_IPV6}|{_GENERAL})\]"
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]"
_DOT_STRING = rf"{_ATEXT}+(?:\.{_ATEXT}+)*"
_QUOTED_STRING = r'"(?:[\x20\x21\x23-\x5b\x5d-\x7e]|\\[\x20-\x7e])*"'
_LOCAL_PART = rf"(?:{_DOT_STRING}|{_QUOTED_STRING})"
_MAILBOX = rf"{_LOCAL_PART}@(?:{_DOMAIN}|{_ADDRESS_LITERAL})"
_AT_DOMAIN = rf"@{_DOMAIN}"
_ADL = rf"{_AT_DOMAIN}(?:,{_AT_DOMAIN})*"
_PATH = rf"<(?:{_ADL}:)?{_MAILBOX}>"
_ESMTP_PARAM = r"[A-Za-z0-9][A-Za-z0-9-]*(?:=[\x21-\x3c\x3e-\x7e]+)?"

# RFC 6531 §3.3 adds UTF8-non-ascii to atext and qtext, and U-labels to
# sub-domains; the U-label rules of IDNA are not checked.
_NON_ASCII = "\u0080-\U0010ffff"
_UTF8_LET_DIG = rf"[A-Za-z0-9{_NON_ASCII}]"
_UTF8_SUB_DOMAIN = rf"{_UTF8_LET_DIG}(?:[A-Za-z0-9{_NON_ASCII}-]*{_UTF8_LET_DIG})?"
_UTF8_DOMAIN = rf"{_UTF8_SUB_DOMAIN}(?:\.{_UTF8_SUB_DOMAIN})*"
_UTF8_ATEXT = rf"[A-Za-z0-9!#$%&'*+/=?^_`{{|}}~{_NON_ASCII}-]"
_UTF8_LOCAL_PART = rf"{_UTF8_ATEXT}+(?:\.{_UTF8_ATEXT}+)*"
_UTF8_PATH_RE = re.compile(rf"<{_UTF8_LOCAL_PART}@{_UTF8_DOMAIN}>")

_DOMAIN_RE = re.compile(rf"(?:{_DOMAIN}|{_ADDRESS_LITERAL})")
_REVERSE_PATH_RE = re.compile(rf"(?:{_PATH}|<>)")
_FORWARD_PATH_RE = re.compile(
    rf"(?:{_PATH}|<[Pp][Oo][Ss][Tt][Mm][Aa][Ss][Tt][Ee][Rr]>)"
)
_PARAM_RE = re.compile(_ESMTP_PARAM)
_MAILBOX_RE = re.compile(_MAILBOX)
_STRING_RE = re.compile(r"[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?")


def is_mailbox(text: str) -> bool:
    """Return whether `text` is a Mailbox by the RFC 5321 §4.1.2 grammar."""
    return text.isascii() and _MAILBOX_RE.fullmatch(text) is not None


def is_domain(text: str) -> bool:
    """Return whether `text` is a Domain or address literal (§4.1.2, §4.1.3)."""
    return text.isascii() and _DOMAIN_RE.fullmatch(text) is not None


# Cached, because the driver parses each line up to three times: to split a
# pipelined group, to work out the expectation and to advance the state.
# Commands are frozen, so callers share them safely.
@functools.lru_cache(maxsize=4096)
def parse_command(line: bytes) -> Command:
    """Parse one command line, CRLF included or not, into a typed command.

    Lines over 512 octets (counting a CRLF) become `TooLong` wrapping the reading
    of the same line. Bytes outside US-ASCII never match the grammar, so they turn
    a known verb into `Invalid`; its lenient reading, if any, keeps those bytes
    as Latin-1 characters.
    """
    body = line[:-2] if line.endswith(b"\r\n") else line
    reading = _parse_body(body)
    length = len(body) + 2
    if length > MAX_COMMAND_LINE:
        return TooLong(length=length, reading=reading)
    return reading


def _parse_body(body: bytes) -> Command:
    text = body.decode("latin-1")
    stripped = text.rstrip(" \t")
    if stripped != text and stripped:
        # Receivers SHOULD tolerate trailing white space (§4.1.1), so the reading
        # of the line without it is what a conforming server acts on, even
        # when that reading has problems of its own.
        reading = _parse_text(stripped)
        if not isinstance(reading, Unknown):
            return Invalid(verb_of(reading), Problem.TRAILING_WHITESPACE, reading)
    return _parse_text(text)


def _parse_text(text: str) -> Command:
    verb_text, _, argument = text.partition(" ")
    verb = verb_text.upper()
    ascii_only = text.isascii()

    if verb in ("EHLO", "HELO"):
        return _parse_hello(verb, argument, ascii_only)
    if verb == "MAIL":
        return _parse_path_command(verb, argument, ascii_only)
    if verb == "RCPT":
        return _parse_path_command(verb, argument, ascii_only)
    if verb in ("DATA", "RSET", "QUIT"):
        return _parse_bare(verb, text)
    if verb == "NOOP":
        return _parse_noop(argument, text, ascii_only)
    if verb in ("VRFY", "EXPN"):
        return _parse_string_command(verb, argument, text, ascii_only)
    if verb == "HELP":
        return _parse_help(argument, text, ascii_only)
    if verb == "STARTTLS":
        return Starttls() if text.upper() == verb else _unexpected(verb, Starttls())
    if verb == "AUTH":
        return _parse_auth(argument, ascii_only)
    if verb == "BDAT":
        return _parse_bdat(argument, text)
    if verb in ("SEND", "SOML", "SAML", "TURN"):
        return Obsolete(verb)
    return Unknown(verb_text)


def _parse_hello(verb: str, argument: str, ascii_only: bool) -> Command:
    if not argument.strip():
        return Invalid(verb, Problem.MISSING_ARGUMENT, Hello(verb, ""))
    # The grammar is "EHLO" SP ( Domain / address-literal ) CRLF. Servers widely
    # accept names that break it (underscores, trailing text), and RFC 5321 puts
    # the duty on the client (§4.1.1.1), so a bad name has a lenient reading.
    if ascii_only and _DOMAIN_RE.fullmatch(argument):
        return Hello(verb, argument)
    name = argument.strip().split(" ")[0]
    return Invalid(verb, Problem.BAD_ARGUMENT, Hello(verb, name), tolerated=True)


def _parse_path_command(verb: str, argument: str, ascii_only: bool) -> Command:
    keyword = "FROM:" if verb == "MAIL" else "TO:"
    path_re = _REVERSE_PATH_RE if verb == "MAIL" else _FORWARD_PATH_RE
    if not argument:
        return Invalid(verb, Problem.MISSING_ARGUMENT, _path_command(verb, "<>"))
    if argument[: len(keyword)].upper() != keyword:
        reading = _path_command(verb, f"<{argument.strip()}>")
        return Invalid(verb, Problem.BAD_ARGUMENT, reading)
    rest = argument[len(keyword) :]
    if not rest.strip():
        return Invalid(verb, Problem.MISSING_ARGUMENT, _path_command(verb, "<>"))

    path, parameter_text = _split_path(rest)
    parameters = tuple(parameter_text.split(" ")) if parameter_text else ()
    valid_path = ascii_only and path_re.fullmatch(path) is not None
    valid_parameters = all(_PARAM_RE.fullmatch(p) for p in parameters)

    if not valid_path and valid_parameters:
        utf8_path = _utf8_path(path)
        if utf8_path is not None:
            reading = _path_command(verb, utf8_path, parameters)
            return Invalid(verb, Problem.NEEDS_SMTPUTF8, reading)
    if valid_path and valid_parameters:
        command = _path_command(verb, path, parameters)
        if parameters:
            # The base protocol defines no MAIL or RCPT parameters: each comes
            # with an EHLO keyword (§4.1.1.11), so whether the reading applies
            # depends on what the server advertised, which the model knows.
            return Invalid(verb, Problem.UNKNOWN_PARAMETER, command)
        return command

    # Common departures that tolerant servers accept: "FROM: <a@b>" with a space
    # after the colon, and "FROM:a@b" without angle brackets.
    stripped = rest.strip()
    if ascii_only and path_re.fullmatch(stripped):
        reading = _path_command(verb, stripped)
        return Invalid(verb, Problem.BAD_ARGUMENT, reading, tolerated=True)
    if ascii_only and path_re.fullmatch(f"<{stripped}>"):
        reading = _path_command(verb, f"<{stripped}>")
        return Invalid(verb, Problem.BAD_ARGUMENT, reading, tolerated=True)
    if path.startswith("<") and path.endswith(">"):
        # The path is fine but a parameter is not: a lenient server acts on
        # the path alone.
        return Invalid(verb, Problem.BAD_ARGUMENT, _path_command(verb, path))
    reading = _path_command(verb, f"<{stripped.strip('<>')}>")
    return Invalid(verb, Problem.BAD_ARGUMENT, reading)


def _utf8_path(path: str) -> str | None:
    """Return the path decoded as UTF-8 if RFC 6531 makes it valid, else None."""
    if path.isascii():
        return None
    try:
        decoded = path.encode("latin-1").decode("utf-8")
    except UnicodeDecodeError:
        return None
    if _UTF8_PATH_RE.fullmatch(decoded) is None:
        return None
    return decoded


def _split_path(rest: str) -> tuple[str, str]:
    """Split "<path> params" at the ">" that closes the path.

    A quoted local part may contain spaces and ">" (RFC 5321 §4.1.2), so the
    split skips over quoted text instead of cutting at the first space.
    """
    if not rest.startswith("<"):
        path, _, parameters = rest.partition(" ")
        return path, parameters
    quoted = escaped = False
    for index, char in enumerate(rest):
        if escaped:
            escaped = False
        elif char == "\\" and quoted:
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif char == ">" and not quoted:
            after = rest[index + 1 :]
            if after.startswith(" "):
                return rest[: index + 1], after[1:]
            return rest[: index + 1] + after, ""
    return rest, ""


def _path_command(
    verb: str, path: str, parameters: tuple[str, ...] = ()
) -> Mail | Rcpt:
    address = path[1:-1]
    if verb == "MAIL":
        return Mail(address, parameters)
    return Rcpt(address, parameters)


def _parse_bare(verb: str, text: str) -> Command:
    bare: Command = Data() if verb == "DATA" else Rset() if verb == "RSET" else Quit()
    if text.upper() == verb:
        return bare
    return Invalid(verb, Problem.UNEXPECTED_ARGUMENT, bare)


def _parse_noop(argument: str, text: str, ascii_only: bool) -> Command:
    if text.upper() == "NOOP":
        return Noop()
    if ascii_only and _STRING_RE.fullmatch(argument):
        return Noop(argument)
    return Invalid("NOOP", Problem.BAD_ARGUMENT, Noop(argument), tolerated=True)


def _parse_string_command(
    verb: str, argument: str, text: str, ascii_only: bool
) -> Command:
    reading = Vrfy(argument) if verb == "VRFY" else Expn(argument)
    if text.upper() == verb or not argument.strip():
        return Invalid(verb, Problem.MISSING_ARGUMENT, reading)
    if ascii_only and _STRING_RE.fullmatch(argument):
        return reading
    return Invalid(verb, Problem.BAD_ARGUMENT, reading)


def _parse_help(argument: str, text: str, ascii_only: bool) -> Command:
    if text.upper() == "HELP":
        return Help()
    if ascii_only and _STRING_RE.fullmatch(argument):
        return Help(argument)
    return Invalid("HELP", Problem.BAD_ARGUMENT, Help(), tolerated=True)


def _unexpected(verb: str, reading: Command) -> Invalid:
    return Invalid(verb, Problem.UNEXPECTED_ARGUMENT, reading)


#: A SASL mechanism name (RFC 4422 §3.1): upper-case letters, digits, "-", "_".
_MECHANISM_RE = re.compile(r"[A-Z0-9_-]{1,20}")
#: Base64 as RFC 4954 §4 allows it in AUTH, or "=" for an empty response.
_BASE64_RE = re.compile(
    r"(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?"
)


def is_base64(text: str) -> bool:
    """Return whether `text` is a base64 string, "=" or empty included."""
    return text == "=" or _BASE64_RE.fullmatch(text) is not None


def _parse_auth(argument: str, ascii_only: bool) -> Command:
    mechanism, _, response = argument.partition(" ")
    if not mechanism:
        return Invalid("AUTH", Problem.MISSING_ARGUMENT, Auth(""))
    reading = Auth(mechanism.upper(), response or None)
    valid_response = not response or (ascii_only and is_base64(response))
    if ascii_only and _MECHANISM_RE.fullmatch(mechanism.upper()) and valid_response:
        return reading
    return Invalid("AUTH", Problem.BAD_ARGUMENT, reading)


def _parse_bdat(argument: str, text: str) -> Command:
    size, _, last = argument.partition(" ")
    if not size:
        return Invalid("BDAT", Problem.MISSING_ARGUMENT)
    if not size.isdigit() or not size.isascii() or len(size) > 20:
        return Invalid("BDAT", Problem.BAD_ARGUMENT)
    if last and last.upper() != "LAST":
        return Invalid("BDAT", Problem.BAD_ARGUMENT, Bdat(int(size)))
    return Bdat(int(size), last=bool(last))


def verb_of(command: Command) -> str:
    """Return the upper-case verb a command was sent with."""
    if isinstance(command, TooLong):
        return verb_of(command.reading)
    if isinstance(command, Hello | Invalid | Obsolete):
        return command.verb
    if isinstance(command, Unknown):
        return command.verb.upper()
    return type(command).__name__.upper()

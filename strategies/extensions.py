"""Inputs that use the ESMTP extensions a server advertised.

Each builder here takes the profile, the model's state and a variant number,
and returns complete bytes to send: one command line, a pipelined group of
lines, or a BDAT line with its chunk. `extension_builders` offers only the
builders whose extension the last EHLO reply listed, so a server never sees an
extension's syntax it did not offer, except where a builder says it is a
deliberate negative test (a second STARTTLS inside TLS, commands injected
after STARTTLS).

Variant 0 of every builder is the plain, valid use of the extension, so shrunk
sessions show an odd variant only where it matters.
"""

from __future__ import annotations

import base64
import functools
from collections.abc import Callable, Sequence
from typing import TypeVar

from hypothesis import strategies as st

from conformance.state import Phase, SessionState
from strategies.commands import (
    CRLF,
    MESSAGE_CONTENTS,
    PLAIN_LINES,
    Profile,
    plain_lines,
)

_T = TypeVar("_T")

#: Builds a complete input from the profile, the state and a variant number.
ExtensionBuilder = Callable[[Profile, SessionState, int], bytes]

#: Credentials for AUTH when the run has none: a conforming server may only
#: reject them, which still exercises the exchange.
UNKNOWN_USER = "conformance-unknown"
UNKNOWN_PASSWORD = "not-the-password"

#: A chunk whose lines are commands: a server that does not discard a rejected
#: chunk runs them, and their replies show it.
COMMAND_CHUNK = b"NOOP\r\nRSET\r\n"


def _pick(options: Sequence[_T], variant: int) -> _T:
    return options[variant % len(options)]


def _lines(*lines: str) -> bytes:
    return b"".join(line.encode("utf-8") + CRLF for line in lines)


def _mail(profile: Profile, parameters: str = "") -> str:
    return f"MAIL FROM:<{profile.mail_from}>" + (f" {parameters}" if parameters else "")


def _rcpt(profile: Profile, parameters: str = "") -> str:
    line = f"RCPT TO:<{profile.recipients[0]}>"
    return line + (f" {parameters}" if parameters else "")


# --- PIPELINING (RFC 2920) -----------------------------------------------------


def pipelined_group(profile: Profile, state: SessionState, variant: int) -> bytes:
    """Build a group of commands sent in one write (RFC 2920 §3.1).

    RSET, MAIL and RCPT may go anywhere in a group; DATA and NOOP only last.
    """
    mail, rcpt = _mail(profile), _rcpt(profile)
    groups = [
        [mail, rcpt, "DATA"],
        [mail, rcpt],
        ["RSET", mail, rcpt, "RCPT TO:<Postmaster>", "DATA"],
        [mail, "RCPT TO:<no-at-sign>", "DATA"],
        [rcpt, "DATA"],
        ["RSET", "NOOP"],
        [mail, rcpt, "NOOP"],
        [mail, mail, rcpt],
    ]
    return _lines(*_pick(groups, variant))


# --- Parameters of MAIL and RCPT -----------------------------------------------


def mail_with_size(profile: Profile, state: SessionState, variant: int) -> bytes:
    """MAIL with a SIZE declaration: under, at and over the limit, or malformed."""
    limit = state.size_limit
    over = str(limit + 1) if limit else "9" * 20
    values = [
        "SIZE=1000",
        f"SIZE={over}",
        f"SIZE={limit or 0}",
        "SIZE=ten",
        "SIZE=1000 SIZE=1000",
        "SIZE=" + "1" * 21,
    ]
    return _lines(_mail(profile, _pick(values, variant)))


def mail_with_body(profile: Profile, state: SessionState, variant: int) -> bytes:
    """MAIL with BODY=8BITMIME or 7BIT (RFC 6152), or an invalid BODY."""
    values = ["BODY=8BITMIME", "BODY=7BIT", "BODY=9BIT", "BODY=8BITMIME BODY=7BIT"]
    if state.advertises("BINARYMIME") and state.advertises("CHUNKING"):
        values.append("BODY=BINARYMIME")
    return _lines(_mail(profile, _pick(values, variant)))


def utf8_path(profile: Profile, state: SessionState, variant: int) -> bytes:
    """MAIL or RCPT with a UTF-8 path, with and without SMTPUTF8 (RFC 6531)."""
    domain = profile.recipients[0].rpartition("@")[2] or "conformance.test"
    if state.phase in (Phase.RCPT, Phase.RCPT_OR_DATA):
        return _lines(f"RCPT TO:<j\u00f6rg@{domain}>")
    options = [
        "MAIL FROM:<j\u00f6rg@b\u00fccher.conformance.test> SMTPUTF8",
        _mail(profile, "SMTPUTF8"),
        "MAIL FROM:<j\u00f6rg@b\u00fccher.conformance.test>",
        _mail(profile, "SMTPUTF8=YES"),
    ]
    return _lines(_pick(options, variant))


def mail_with_dsn(profile: Profile, state: SessionState, variant: int) -> bytes:
    """MAIL with RET and ENVID, or RCPT with NOTIFY and ORCPT (RFC 3461)."""
    if state.phase in (Phase.RCPT, Phase.RCPT_OR_DATA):
        orcpt = f"ORCPT=rfc822;{profile.recipients[0]}"
        values = [
            f"NOTIFY=SUCCESS,FAILURE {orcpt}",
            "NOTIFY=NEVER",
            "NOTIFY=DELAY",
            "NOTIFY=NEVER,SUCCESS",
            "NOTIFY=SOMETIMES",
            "ORCPT=no-address-type",
            "NOTIFY=SUCCESS NOTIFY=FAILURE",
        ]
        return _lines(_rcpt(profile, _pick(values, variant)))
    values = [
        "RET=HDRS ENVID=QQ314159",
        "RET=FULL",
        "ENVID=conformance+2Btest",
        "RET=SOME",
        "RET=FULL RET=HDRS",
        "ENVID=" + "x" * 101,
    ]
    return _lines(_mail(profile, _pick(values, variant)))


def mail_with_auth(profile: Profile, state: SessionState, variant: int) -> bytes:
    """MAIL with the AUTH= parameter, which every AUTH server MUST accept."""
    values = ["AUTH=<>", f"AUTH={profile.mail_from}"]
    return _lines(_mail(profile, _pick(values, variant)))


# --- CHUNKING (RFC 3030) -------------------------------------------------------

CHUNKS = (
    b"Subject: chunked\r\n\r\nHello.\r\n",
    COMMAND_CHUNK,
    b"",
    b"binary \x00\xff\r\n.\r\n",
)


def bdat(profile: Profile, state: SessionState, variant: int) -> bytes:
    """Build a BDAT command with its chunk; odd variants are not the last chunk.

    Chunks may hold command lines and a lone ".": only the chunk size ends a
    chunk, so a conforming server takes them as content.
    """
    chunk = _pick(CHUNKS, variant // 2)
    last = " LAST" if variant % 2 == 0 else ""
    return f"BDAT {len(chunk)}{last}".encode("ascii") + CRLF + chunk


def rejected_bdat(profile: Profile, state: SessionState, variant: int) -> bytes:
    """Build BDAT whose chunk contains commands, for a state where BDAT must fail."""
    last = " LAST" if variant % 2 == 0 else ""
    line = f"BDAT {len(COMMAND_CHUNK)}{last}".encode("ascii")
    return line + CRLF + COMMAND_CHUNK


# --- STARTTLS (RFC 3207) -------------------------------------------------------


def starttls(profile: Profile, state: SessionState, variant: int) -> bytes:
    """STARTTLS, alone, with an argument, or followed by injected commands.

    Sending commands after STARTTLS in the same write is a deliberate negative
    test: a client MUST NOT do it (RFC 2920 §3.1, RFC 3207 §4), and a server
    MUST NOT run them inside the TLS session.
    """
    options = [
        "STARTTLS",
        "STARTTLS\r\nNOOP",
        f"STARTTLS\r\nRSET\r\n{_mail(profile)}",
        "STARTTLS now",
    ]
    return _lines(_pick(options, variant))


# --- AUTH (RFC 4954) -----------------------------------------------------------


def credentials(profile: Profile) -> tuple[str, str]:
    """Return the user and password AUTH sends."""
    if profile.auth_user is not None and profile.auth_password is not None:
        return profile.auth_user, profile.auth_password
    return UNKNOWN_USER, UNKNOWN_PASSWORD


def _b64(text: str) -> str:
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


def plain_response(profile: Profile) -> str:
    """Return the PLAIN response: authorization id, user and password (RFC 4616)."""
    user, password = credentials(profile)
    return _b64(f"\0{user}\0{password}")


#: Labels that transcripts show in place of the PLAIN response and the password.
SECRET_LABELS = (b"<PLAIN credentials>", b"<password>")


def secrets(profile: Profile) -> dict[bytes, bytes]:
    """Return the encoded credentials to hide in transcripts, with their labels."""
    if profile.auth_user is None or profile.auth_password is None:
        return {}
    plain_label, password_label = SECRET_LABELS
    return {
        plain_response(profile).encode("ascii"): plain_label,
        _b64(profile.auth_password).encode("ascii"): password_label,
    }


def auth(profile: Profile, state: SessionState, variant: int) -> bytes:
    """AUTH with an advertised mechanism, an initial response, or a bad one."""
    mechanisms = state.auth_mechanisms
    options = []
    if "PLAIN" in mechanisms:
        options += [f"AUTH PLAIN {plain_response(profile)}", "AUTH PLAIN"]
    if "LOGIN" in mechanisms:
        options.append("AUTH LOGIN")
    options += ["AUTH PLAIN !!!notbase64", "AUTH X-NO-SUCH-MECHANISM"]
    return _lines(_pick(options, variant))


def sasl_response(profile: Profile, state: SessionState, variant: int) -> bytes:
    """Build the response to a 334 challenge: right, a cancel, or garbage.

    Variant 0 is the right answer: the PLAIN response, or the user name and
    then the password for LOGIN.
    """
    mechanism, answered = state.sasl or ("PLAIN", 0)
    user, password = credentials(profile)
    if mechanism == "LOGIN":
        right = _b64(user) if answered == 0 else _b64(password)
    else:
        right = plain_response(profile)
    return _lines(_pick([right, "*", "!!!notbase64", _b64("\0x\0y")], variant))


# --- Message content ------------------------------------------------------------

#: Gives the content strategy for the state the session is in.
ContentsFor = Callable[[SessionState], st.SearchStrategy[bytes]]

#: Largest SIZE limit that oversized messages are sent for: bigger limits
#: would cost each session more time than the check is worth.
MAX_OVERSIZE = 16 * 1024 * 1024

EIGHT_BIT_LINE = "8-bit text: gr\u00fc\u00dfe, \u00e9t\u00e9".encode()


#: Plain content that starts with an 8-bit line.
EIGHT_BIT_CONTENTS: st.SearchStrategy[bytes] = st.lists(
    st.sampled_from((EIGHT_BIT_LINE, *PLAIN_LINES)), max_size=4
).map(lambda body: plain_lines([EIGHT_BIT_LINE, *body]))


def contents(state: SessionState) -> st.SearchStrategy[bytes]:
    """Return plain content, with an 8-bit line after BODY=8BITMIME (RFC 6152)."""
    if state.body not in ("8BITMIME", "BINARYMIME"):
        return MESSAGE_CONTENTS
    return EIGHT_BIT_CONTENTS


def sized_contents(state: SessionState) -> st.SearchStrategy[bytes]:
    """Return content that is sometimes one octet over the SIZE limit.

    The size counts every octet and CRLF of the content but not the final
    "." line or stuffed dots (RFC 1870 §5); the filler lines need no stuffing.
    """
    limit = state.size_limit
    if limit is None or limit > MAX_OVERSIZE:
        return contents(state)
    return _sized_contents(limit)


@functools.cache
def _sized_contents(limit: int) -> st.SearchStrategy[bytes]:
    return st.booleans().map(lambda over: oversized(limit) if over else plain_lines([]))


def oversized(limit: int) -> bytes:
    """Return content whose size is `limit` + 1 octets, ending in CRLF.CRLF."""
    head = b"Subject: over the size limit\r\n\r\n"
    line = b"x" * 76 + CRLF
    count, rest = divmod(limit + 1 - len(head), len(line))
    body = line * count
    if rest:
        body += b"y" * max(rest - 2, 0) + CRLF if rest >= 2 else b""
    content = head + body
    while len(content) < limit + 1:
        content = content[:-2] + b"z" + CRLF
    return content + b".\r\n"


# --- Choosing ------------------------------------------------------------------

#: The extension families a plan may focus on, by EHLO keyword.
FAMILIES = (
    "PIPELINING",
    "SIZE",
    "8BITMIME",
    "SMTPUTF8",
    "DSN",
    "CHUNKING",
    "STARTTLS",
    "AUTH",
)


def extension_builders(
    state: SessionState, focus: frozenset[str]
) -> list[ExtensionBuilder]:
    """Return the builders for the advertised extensions among `focus`."""
    offered = {keyword for keyword in focus if state.advertises(keyword)}
    phase = state.phase
    in_transaction = phase in (Phase.RCPT, Phase.RCPT_OR_DATA)
    builders: list[ExtensionBuilder] = []
    if "CHUNKING" in offered:
        if phase in (Phase.RCPT_OR_DATA, Phase.CHUNKS):
            builders.append(bdat)
        else:
            builders.append(rejected_bdat)
    if "PIPELINING" in offered:
        builders.append(pipelined_group)
    if "SIZE" in offered and not in_transaction:
        builders.append(mail_with_size)
    if "8BITMIME" in offered and not in_transaction:
        builders.append(mail_with_body)
    if "SMTPUTF8" in offered:
        builders.append(utf8_path)
    if "DSN" in offered:
        builders.append(mail_with_dsn)
    if "AUTH" in offered and not in_transaction:
        builders.append(mail_with_auth)
    if "STARTTLS" in offered or ("STARTTLS" in focus and state.tls):
        builders.append(starttls)
    if "AUTH" in offered or ("AUTH" in focus and state.authenticated):
        builders.append(auth)
    return builders

"""Hypothesis strategies for SMTP command lines and message content.

Every strategy returns bytes ready to send, CRLF included. Strategies shrink
toward the plain form: upper-case verbs, the configured addresses, no extra
spaces, short lines. The model, not the strategy, decides what a line means, so
a line drawn as "malformed" that happens to be valid is judged as valid.
"""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import strategies as st

CRLF = b"\r\n"

#: First words that are no SMTP verb and no extension verb in use, so that a
#: conforming server can only answer "not recognized" (RFC 5321 §4.2.4). None
#: starts with "X", which RFC 5321 §4.1.5 reserves for private commands.
UNKNOWN_VERBS = ("FOO", "BLARG", "MAILX", "QUITE", "RSETS", "NOOPY", "ZZZZ")


@dataclass(frozen=True)
class Profile:
    """The names and addresses a session uses, from the plugin's options.

    Attributes:
        helo_name: the domain sent with EHLO and HELO.
        mail_from: the reverse-path address, without angle brackets.
        recipients: forward-path addresses the target is expected to accept.
    """

    helo_name: str = "client.conformance.test"
    mail_from: str = "sender@conformance.test"
    recipients: tuple[str, ...] = ("recipient@conformance.test",)


def _spelled(verb: str) -> st.SearchStrategy[str]:
    """Draw `verb` in upper case (the shrink target), lower case or mixed case."""
    mixed = "".join(
        char.lower() if index % 2 else char for index, char in enumerate(verb)
    )
    return st.sampled_from([verb, verb.lower(), mixed])


def _line(*parts: str) -> bytes:
    return "".join(parts).encode("ascii") + CRLF


@st.composite
def hellos(draw: st.DrawFn, profile: Profile) -> bytes:
    """Draw an EHLO or HELO line with a valid domain or address literal."""
    verb = draw(st.sampled_from(["EHLO", "HELO"]))
    domain = draw(
        st.sampled_from([profile.helo_name, "[127.0.0.1]", "mail.example.test"])
    )
    return _line(draw(_spelled(verb)), " ", domain)


@st.composite
def mail_commands(draw: st.DrawFn, profile: Profile) -> bytes:
    """Draw MAIL FROM with the configured sender, the null path or a variant."""
    path = draw(
        st.sampled_from(
            [
                f"<{profile.mail_from}>",
                "<>",
                '<"quoted sender"@conformance.test>',
                f"<@relay.conformance.test:{profile.mail_from}>",
            ]
        )
    )
    keyword = draw(st.sampled_from(["FROM:", "from:", "From:"]))
    return _line(draw(_spelled("MAIL")), " ", keyword, path)


@st.composite
def rcpt_commands(draw: st.DrawFn, profile: Profile) -> bytes:
    """Draw RCPT TO with a configured recipient or <Postmaster>."""
    address = draw(st.sampled_from([*profile.recipients, "Postmaster"]))
    keyword = draw(st.sampled_from(["TO:", "to:", "To:"]))
    return _line(draw(_spelled("RCPT")), " ", keyword, f"<{address}>")


def simple_commands(verb: str) -> st.SearchStrategy[bytes]:
    """Draw a command that takes no argument, in any case."""
    return _spelled(verb).map(lambda spelled: _line(spelled))


@st.composite
def noops(draw: st.DrawFn) -> bytes:
    text = draw(st.sampled_from(["", " ping", " 12345"]))
    return _line(draw(_spelled("NOOP")), text)


@st.composite
def queries(draw: st.DrawFn, profile: Profile) -> bytes:
    """Draw VRFY, EXPN or HELP with a plausible argument."""
    verb = draw(st.sampled_from(["VRFY", "EXPN", "HELP"]))
    if verb == "HELP":
        argument = draw(st.sampled_from(["", " MAIL"]))
    else:
        local = profile.recipients[0].split("@")[0]
        argument = " " + draw(st.sampled_from([local, "postmaster", "nobody"]))
    return _line(draw(_spelled(verb)), argument)


@st.composite
def message_contents(draw: st.DrawFn) -> bytes:
    """Draw a small message, dot-stuffed, ending in CRLF.CRLF.

    Lines that start with "." get the extra dot of RFC 5321 §4.5.2, so the
    content is always a correct DATA body. Shrinks to a one-line message.
    """
    body_lines = draw(
        st.lists(
            st.sampled_from(
                ["Hello.", "", ".leading dot", "..two dots", "QUIT", "x" * 998]
            ),
            max_size=5,
        )
    )
    lines = ["Subject: conformance test", "", *body_lines]
    stuffed = [("." + line) if line.startswith(".") else line for line in lines]
    return ("\r\n".join(stuffed) + "\r\n.\r\n").encode("ascii")


@st.composite
def malformed_commands(draw: st.DrawFn, profile: Profile) -> bytes:
    """Draw a line that breaks the RFC 5321 grammar in one way.

    Covers missing and bad arguments, arguments where none are allowed, a space
    after the colon, a path without angle brackets, trailing white space,
    unknown verbs and parameters, and lines beyond the 512-octet limit.
    """
    kind = draw(st.integers(0, 11))
    if kind == 0:
        return _line(draw(st.sampled_from(UNKNOWN_VERBS)))
    if kind == 1:
        verb = draw(st.sampled_from(["EHLO", "HELO", "MAIL", "RCPT", "VRFY"]))
        return _line(draw(_spelled(verb)))
    if kind == 2:
        verb = draw(st.sampled_from(["DATA", "RSET", "QUIT"]))
        return _line(draw(_spelled(verb)), " now")
    if kind == 3:
        return _line("MAIL FROM: <", profile.mail_from, ">")
    if kind == 4:
        return _line("MAIL FROM:", profile.mail_from)
    if kind == 5:
        return _line("RCPT TO: <", profile.recipients[0], ">")
    if kind == 6:
        verb = draw(st.sampled_from(["RSET", "NOOP", "DATA"]))
        return _line(verb, " ")
    if kind == 7:
        return _line("MAIL FROM:<", profile.mail_from, "> X-UNKNOWN=1")
    if kind == 8:
        return _line("MAIL FROM:<", profile.mail_from)
    if kind == 9:
        return long_lines(draw)
    if kind == 10:
        return _line("HELO")
    return _line("RCPT TO:<no-at-sign>")


def long_lines(draw: st.DrawFn) -> bytes:
    """Draw a NOOP or VRFY line at or beyond the 512-octet limit (§4.5.3.1.4)."""
    length = draw(st.sampled_from([512, 513, 600, 1100]))
    verb = draw(st.sampled_from(["NOOP ", "VRFY "]))
    padding = length - len(verb) - 2
    return _line(verb, "a" * padding)


def respell(line: bytes, style: str) -> bytes:
    """Rewrite the verb and the FROM:/TO: keyword of `line` in another case.

    `style` is "lower", "mixed" or "upper". Addresses are left alone, because the
    local part of a mailbox is case-sensitive (RFC 5321 §2.4).
    """
    verb, space, rest = line.partition(b" ")
    keyword = b""
    if rest[:5].upper() == b"FROM:":
        keyword, rest = rest[:5], rest[5:]
    elif rest[:3].upper() == b"TO:":
        keyword, rest = rest[:3], rest[3:]
    return _case(verb, style) + space + _case(keyword, style) + rest


def _case(word: bytes, style: str) -> bytes:
    if style == "lower":
        return word.lower()
    if style == "upper":
        return word.upper()
    return bytes(
        char | 0x20 if index % 2 and 0x41 <= char <= 0x5A else char
        for index, char in enumerate(word.upper())
    )

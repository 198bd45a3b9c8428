"""Command lines and message content for the conformance sessions.

Every step of a session draws the same five fields, whatever the state (see
`strategies.sessions.next_input`): a roll that ends the segment, a roll that
picks the kind of command, a pick among the commands of that kind, a variant
of its argument, and a spelling. The builders below turn a pick and a variant
into a line. Keeping the shape of each step fixed lets Hypothesis shrink one
step without changing how the steps after it are read. Every field shrinks
toward 0, which is the plain form: the first command of a kind, the
configured addresses, upper case. The model, not the builder, decides what a
line means, so a line built as "malformed" that happens to be valid is judged
as valid.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple, TypeVar

from hypothesis import strategies as st

CRLF = b"\r\n"
_T = TypeVar("_T")

#: First words that are no SMTP verb and no extension verb in use, so that a
#: conforming server can only answer "not recognized" (RFC 5321 §4.2.4). None
#: starts with "X", which RFC 5321 §4.1.5 reserves for private commands.
UNKNOWN_VERBS = ("FOO", "BLARG", "MAILX", "QUITE", "RSETS", "NOOPY", "ZZZZ")

#: Spellings of verbs and of the FROM:/TO: keyword; index 0 is the plain one.
SPELLINGS = ("upper", "lower", "mixed")


@dataclass(frozen=True)
class Profile:
    """The names and addresses a session uses, from the plugin's options.

    Attributes:
        helo_name: the domain sent with EHLO and HELO.
        mail_from: the reverse-path address, without angle brackets.
        recipients: forward-path addresses the target is expected to accept.
        auth_user: the AUTH user name, or None when AUTH is not tested.
        auth_password: the AUTH password, set exactly when `auth_user` is.
            It is left out of the repr, so it cannot reach a transcript,
            report or Hypothesis output through one.
    """

    helo_name: str = "client.conformance.test"
    mail_from: str = "sender@conformance.test"
    recipients: tuple[str, ...] = ("recipient@conformance.test",)
    auth_user: str | None = None
    auth_password: str | None = field(default=None, repr=False)


#: Builds a command line (without CRLF) from the profile and a variant number.
Builder = Callable[[Profile, int], str]


def _pick(options: Sequence[_T], variant: int) -> _T:
    return options[variant % len(options)]


def ehlo(profile: Profile, variant: int) -> str:
    return "EHLO " + _pick([profile.helo_name, "[127.0.0.1]", "mail.test"], variant)


def helo(profile: Profile, variant: int) -> str:
    return "HELO " + _pick([profile.helo_name, "mail.test"], variant)


def mail(profile: Profile, variant: int) -> str:
    paths = [
        f"<{profile.mail_from}>",
        "<>",
        '<"quoted sender"@conformance.test>',
        f"<@relay.conformance.test:{profile.mail_from}>",
    ]
    return "MAIL FROM:" + _pick(paths, variant)


def rcpt(profile: Profile, variant: int) -> str:
    return "RCPT TO:<" + _pick([*profile.recipients, "Postmaster"], variant) + ">"


def data(profile: Profile, variant: int) -> str:
    return "DATA"


def rset(profile: Profile, variant: int) -> str:
    return "RSET"


def quit_(profile: Profile, variant: int) -> str:
    return "QUIT"


def noop(profile: Profile, variant: int) -> str:
    return "NOOP" + _pick(["", " ping", " 12345"], variant)


def vrfy(profile: Profile, variant: int) -> str:
    local = profile.recipients[0].split("@")[0]
    return "VRFY " + _pick([local, "postmaster", "nobody"], variant)


def expn(profile: Profile, variant: int) -> str:
    return "EXPN " + _pick(["postmaster", "list"], variant)


def help_(profile: Profile, variant: int) -> str:
    return "HELP" + _pick(["", " MAIL"], variant)


def unknown_verb(profile: Profile, variant: int) -> str:
    return _pick(UNKNOWN_VERBS, variant)


def missing_argument(profile: Profile, variant: int) -> str:
    return _pick(["MAIL", "RCPT", "EHLO", "HELO", "VRFY", "MAIL FROM:"], variant)


def unexpected_argument(profile: Profile, variant: int) -> str:
    return _pick(["RSET", "DATA", "QUIT"], variant) + " now"


def space_after_colon(profile: Profile, variant: int) -> str:
    if variant % 2:
        return f"RCPT TO: <{profile.recipients[0]}>"
    return f"MAIL FROM: <{profile.mail_from}>"


def missing_brackets(profile: Profile, variant: int) -> str:
    if variant % 2:
        return f"RCPT TO:{profile.recipients[0]}"
    return f"MAIL FROM:{profile.mail_from}"


def broken_path(profile: Profile, variant: int) -> str:
    paths = [
        f"MAIL FROM:<{profile.mail_from}",
        "RCPT TO:<no-at-sign>",
        "MAIL FROM:<a@b@c.test>",
        "RCPT TO:<@>",
    ]
    return _pick(paths, variant)


def trailing_space(profile: Profile, variant: int) -> str:
    return _pick(["RSET", "NOOP", "DATA", "QUIT"], variant) + " "


def unknown_parameter(profile: Profile, variant: int) -> str:
    return f"MAIL FROM:<{profile.mail_from}> X-UNKNOWN=" + str(variant % 3)


def long_line(profile: Profile, variant: int) -> str:
    """Build a NOOP or VRFY line at or beyond the 512-octet limit (§4.5.3.1.4)."""
    length = _pick([512, 1100, 512, 513], variant)
    verb = "NOOP " if variant % 8 < 4 else "VRFY "
    return verb + "a" * (length - len(verb) - 2)


#: Commands legal in every state (RFC 5321 §4.1.4).
ANYWHERE: list[Builder] = [rset, ehlo, noop, helo, vrfy, quit_, help_, expn]

#: Lines that break the command grammar in one way each.
MALFORMED: list[Builder] = [
    unknown_verb,
    missing_argument,
    unexpected_argument,
    space_after_colon,
    missing_brackets,
    broken_path,
    trailing_space,
    unknown_parameter,
    long_line,
]


def build(builder: Builder, profile: Profile, variant: int, spelling: int) -> bytes:
    """Build a line, respell its verb and keyword, and add the CRLF."""
    line = builder(profile, variant).encode("ascii")
    return respell(line, SPELLINGS[spelling % len(SPELLINGS)]) + CRLF


class Step(NamedTuple):
    """The fields one session step draws, whatever the state."""

    stop: int
    roll: int
    pick: int
    variant: int
    spelling: int


#: How many values each field of a step takes, in field order.
STEP_RANGES = Step(stop=100, roll=100, pick=64, variant=16, spelling=3)


def step_from_octets(octets: bytes) -> Step:
    """Scale five octets to the fields of a step, keeping 0 at 0 and order."""
    fields = zip(octets, STEP_RANGES, strict=True)
    return Step(*(octet * size // 256 for octet, size in fields))


#: One step: five fields that each shrink toward 0. Every command is built
#: from a step, so the draws of a session have the same shape whatever the
#: state, except for message content, which is drawn as a list of lines
#: because that shrinks better. The fields come from one draw of five
#: octets, which costs Hypothesis about half as much as five integer draws
#: and shrinks the same way: each octet toward 0, the earlier ones first.
#: The strategy is built once, because Hypothesis spends more on setting up
#: a new strategy object than on drawing from it.
STEPS: st.SearchStrategy[Step] = st.binary(min_size=5, max_size=5).map(step_from_octets)


PLAIN_LINES = (b"Hello.", b"", b".leading dot", b"..two dots", b"QUIT", b"x" * 998)


def _chosen_lines(step: Step, options: Sequence[bytes]) -> list[bytes]:
    count = step.roll % 4
    return [options[(step.pick + index * 5) % len(options)] for index in range(count)]


def plain_content(step: Step) -> bytes:
    """Build a small message, dot-stuffed, ending in CRLF.CRLF.

    Lines that start with "." get the extra dot of RFC 5321 §4.5.2, so the
    content is always a correct DATA body. A step of zeros gives a message
    with a subject and no body.
    """
    return plain_lines(_chosen_lines(step, PLAIN_LINES))


def plain_lines(body: list[bytes]) -> bytes:
    """Build dot-stuffed content from body lines, ending in CRLF.CRLF."""
    lines = [b"Subject: conformance test", b"", *body]
    stuffed = [(b"." + line) if line.startswith(b".") else line for line in lines]
    return b"\r\n".join(stuffed) + b"\r\n.\r\n"


#: Plain message content; see `plain_content`. The lines come from a list
#: draw, which shrinks better here than a step.
MESSAGE_CONTENTS: st.SearchStrategy[bytes] = st.lists(
    st.sampled_from(PLAIN_LINES), max_size=4
).map(plain_lines)


#: Sequences that look like the end of data but are not: only CRLF.CRLF ends
#: it (RFC 5321 §4.1.1.4). Servers that disagree here are open to SMTP
#: smuggling, where the bytes after such a sequence run as commands.
FALSE_ENDINGS = (
    b"\n.\n",
    b"\n.\r\n",
    b"\r\n.\n",
    b"\r.\r",
    b"\r.\r\n",
    b"\r\n.\r",
)

#: Commands hidden after a false ending. If the server runs them, their
#: replies arrive after the reply to the real end of data.
SMUGGLED = (
    b"NOOP\r\n",
    b"RSET\r\nNOOP\r\n",
    b"MAIL FROM:<smuggled@conformance.test>\r\nRCPT TO:<postmaster>\r\nDATA\r\n",
)

#: Content lines that are legal but easy to get wrong: dot-stuffed lines
#: (§4.5.2), a line of exactly 1000 octets with its CRLF (§4.5.3.1.6), a line
#: longer than that, command-like text, a NUL, and 8-bit text.
AWKWARD_LINES = (
    b"..stuffed dot",
    b"x" * 998,
    b"y" * 1200,
    b"QUIT",
    b"nul \x00 byte",
    b"8-bit \xe9t\xe9",
)


def awkward_content(step: Step) -> bytes:
    """Build message content that tests where the server thinks it ends.

    The content has awkward but legal lines, then one false ending followed by
    commands, then the real CRLF.CRLF. A step of zeros gives "<LF>.<LF>"
    followed by a single NOOP.
    """
    lines = _chosen_lines(step, AWKWARD_LINES)
    ending = _pick(FALSE_ENDINGS, step.variant)
    smuggled = _pick(SMUGGLED, step.spelling)
    head = b"\r\n".join([b"Subject: where does this end?", b"", *lines, b"text"])
    return head + ending + smuggled + b"\r\n.\r\n"


#: Content with a false ending; see `awkward_content`.
AWKWARD_CONTENTS: st.SearchStrategy[bytes] = STEPS.map(awkward_content)


def has_bare_line_end(data: bytes) -> bool:
    """Return whether `data` has a CR or LF that is not part of a CRLF."""
    without = data.replace(b"\r\n", b"")
    return b"\r" in without or b"\n" in without


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

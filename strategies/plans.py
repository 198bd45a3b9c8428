"""Session plans: where each conformance property steers its sessions.

A plan turns a Hypothesis data object and the profile into a chooser for
`conformance.driver.run_session`. The properties in tests/conformance run one
plan each; the fault-finding tests and the benchmark run the same plans, so
what they measure is what users run.
"""

from __future__ import annotations

from collections.abc import Callable

from hypothesis import strategies as st

from conformance.state import SessionState
from strategies import extensions
from strategies.commands import AWKWARD_CONTENTS, Profile, respell
from strategies.sessions import Mix, PlannedChooser, Segment

ORDERLY = Mix(plausible=90, anywhere=10, out_of_order=0)
DISORDERLY = Mix(plausible=35, anywhere=15, out_of_order=35)
EVERYWHERE = Mix(plausible=30, anywhere=60, out_of_order=5)
MALFORMED = Mix(plausible=40, anywhere=10, out_of_order=0)
#: After a reset, transaction commands out of order show whether the server
#: really forgot the transaction: RCPT and DATA must then get 503.
PROBING = Mix(plausible=40, anywhere=5, out_of_order=55)

Plan = Callable[[st.DataObject, Profile], PlannedChooser]


def command_order(data: st.DataObject, profile: Profile) -> PlannedChooser:
    """Sessions with many transaction commands out of order."""
    return PlannedChooser(data, profile, [Segment(DISORDERLY, steps=25)])


def rset_recovery(data: st.DataObject, profile: Profile) -> PlannedChooser:
    """Send an orderly prefix, then RSET, then commands that probe the reset."""
    plan = [
        Segment(ORDERLY, steps=12),
        Segment(fixed=b"RSET\r\n"),
        Segment(PROBING, steps=8, minimum=1),
    ]
    return PlannedChooser(data, profile, plan)


def quit_anywhere(data: st.DataObject, profile: Profile) -> PlannedChooser:
    """Any prefix, then QUIT."""
    plan = [Segment(DISORDERLY, steps=12), Segment(fixed=b"QUIT\r\n")]
    return PlannedChooser(data, profile, plan)


def hello_reset(data: st.DataObject, profile: Profile) -> PlannedChooser:
    """Send an orderly prefix, then EHLO or HELO, then anything."""
    verb = data.draw(st.sampled_from(["EHLO", "HELO"]))
    hello = f"{verb} {profile.helo_name}\r\n".encode("ascii")
    plan = [
        Segment(ORDERLY, steps=10),
        Segment(fixed=hello),
        Segment(PROBING, steps=6, minimum=1),
    ]
    return PlannedChooser(data, profile, plan)


def complete_transactions(data: st.DataObject, profile: Profile) -> PlannedChooser:
    """Orderly sessions: EHLO, MAIL, RCPT, DATA, content, and again."""
    return PlannedChooser(data, profile, [Segment(ORDERLY, steps=30)])


def several_transactions(data: st.DataObject, profile: Profile) -> PlannedChooser:
    """Orderly transactions with a stretch of disorder between them."""
    plan = [
        Segment(ORDERLY, steps=12),
        Segment(DISORDERLY, steps=6),
        Segment(ORDERLY, steps=12),
    ]
    return PlannedChooser(data, profile, plan)


def legal_anywhere(data: st.DataObject, profile: Profile) -> PlannedChooser:
    """Mostly NOOP, VRFY, EXPN, HELP, RSET, EHLO and HELO, in every state."""
    return PlannedChooser(data, profile, [Segment(EVERYWHERE, steps=25)])


def case_insensitivity(data: st.DataObject, profile: Profile) -> PlannedChooser:
    """Orderly sessions with every verb in lower or mixed case."""
    style = data.draw(st.sampled_from(["lower", "mixed"]))
    return PlannedChooser(
        data,
        profile,
        [Segment(ORDERLY, steps=20)],
        respell=lambda line: respell(line, style),
    )


def malformed_commands(data: st.DataObject, profile: Profile) -> PlannedChooser:
    """Sessions with many lines that break the command grammar."""
    return PlannedChooser(data, profile, [Segment(MALFORMED, steps=20)])


def line_length(data: st.DataObject, profile: Profile) -> PlannedChooser:
    """Send an orderly session with one NOOP line of 512, 513 or 1100 octets."""
    length = data.draw(st.sampled_from([512, 513, 1100]))
    line = b"NOOP " + b"a" * (length - 7) + b"\r\n"
    plan = [
        Segment(ORDERLY, steps=6),
        Segment(fixed=line),
        Segment(ORDERLY, steps=6),
    ]
    return PlannedChooser(data, profile, plan)


def content_endings(data: st.DataObject, profile: Profile) -> PlannedChooser:
    """Orderly sessions whose messages hold false endings and hidden commands."""
    segments = [Segment(ORDERLY, steps=12, minimum=4)]
    return PlannedChooser(data, profile, segments, contents=AWKWARD_CONTENTS)


# --- Extensions ---------------------------------------------------------------


def _focused(*keywords: str) -> Mix:
    return Mix(
        plausible=40,
        anywhere=5,
        out_of_order=10,
        extension=40,
        focus=frozenset(keywords),
    )


def _ehlo(profile: Profile) -> Segment:
    return Segment(fixed=f"EHLO {profile.helo_name}\r\n".encode("ascii"))


def _extension_plan(
    data: st.DataObject,
    profile: Profile,
    keywords: tuple[str, ...],
    contents: extensions.ContentsFor = extensions.contents,
    tls_first: bool = False,
) -> PlannedChooser:
    segments = [_ehlo(profile)]
    if tls_first:
        segments += [Segment(fixed=b"STARTTLS\r\n"), _ehlo(profile)]
    segments.append(Segment(_focused(*keywords), steps=20, minimum=2))
    return PlannedChooser(data, profile, segments, contents=contents)


def pipelining(
    data: st.DataObject, profile: Profile, tls_first: bool = False
) -> PlannedChooser:
    """Groups of commands in one write; one reply each, in order (RFC 2920)."""
    return _extension_plan(data, profile, ("PIPELINING",), tls_first=tls_first)


def size(
    data: st.DataObject, profile: Profile, tls_first: bool = False
) -> PlannedChooser:
    """SIZE declarations under, at and over the limit, and oversized content."""
    return _extension_plan(
        data, profile, ("SIZE",), extensions.sized_contents, tls_first
    )


def eight_bit_mime(
    data: st.DataObject, profile: Profile, tls_first: bool = False
) -> PlannedChooser:
    """BODY=8BITMIME and 7BIT, invalid BODY values, and 8-bit content."""
    return _extension_plan(data, profile, ("8BITMIME",), tls_first=tls_first)


def smtputf8(
    data: st.DataObject, profile: Profile, tls_first: bool = False
) -> PlannedChooser:
    """UTF-8 paths with and without the SMTPUTF8 parameter."""
    return _extension_plan(data, profile, ("SMTPUTF8",), tls_first=tls_first)


def dsn(
    data: st.DataObject, profile: Profile, tls_first: bool = False
) -> PlannedChooser:
    """RET, ENVID, NOTIFY and ORCPT, valid, invalid and repeated."""
    return _extension_plan(data, profile, ("DSN",), tls_first=tls_first)


def chunking(
    data: st.DataObject, profile: Profile, tls_first: bool = False
) -> PlannedChooser:
    """BDAT chunks in and out of a transaction, LAST, and DATA after BDAT."""
    keywords = ("CHUNKING", "8BITMIME", "PIPELINING")
    return _extension_plan(data, profile, keywords, tls_first=tls_first)


def enhanced_status_codes(
    data: st.DataObject, profile: Profile, tls_first: bool = False
) -> PlannedChooser:
    """Send every kind of command, so that every kind of reply shows its code."""
    segments = [_ehlo(profile)]
    if tls_first:
        segments += [Segment(fixed=b"STARTTLS\r\n"), _ehlo(profile)]
    segments.append(Segment(DISORDERLY, steps=20, minimum=2))
    return PlannedChooser(data, profile, segments)


def starttls(data: st.DataObject, profile: Profile) -> PlannedChooser:
    """Send an orderly prefix, then STARTTLS (sometimes with commands
    injected after it), then commands that show whether the server forgot
    the session from before TLS."""
    variant = data.draw(st.integers(0, 3))
    command = extensions.starttls(profile, SessionState(), variant)
    # A short prefix is enough to open a transaction, and keeps shrinking
    # from having to delete a whole earlier transaction.
    segments = [
        _ehlo(profile),
        Segment(ORDERLY, steps=4),
        Segment(fixed=command),
        Segment(PROBING, steps=4, minimum=1),
        Segment(_focused("STARTTLS"), steps=10),
    ]
    return PlannedChooser(data, profile, segments)


def auth(
    data: st.DataObject, profile: Profile, tls_first: bool = False
) -> PlannedChooser:
    """AUTH exchanges: success, cancel, bad base64, in a transaction, twice."""
    return _extension_plan(data, profile, ("AUTH",), tls_first=tls_first)


#: Every plan, by the name of the property that runs it.
PLANS: dict[str, Plan] = {
    "command_order": command_order,
    "content_endings": content_endings,
    "rset_recovery": rset_recovery,
    "quit": quit_anywhere,
    "hello_reset": hello_reset,
    "complete_transactions": complete_transactions,
    "several_transactions": several_transactions,
    "legal_anywhere": legal_anywhere,
    "case_insensitivity": case_insensitivity,
    "malformed_commands": malformed_commands,
    "line_length": line_length,
}

ExtensionPlan = Callable[[st.DataObject, Profile, bool], PlannedChooser]

#: Extension plans by the EHLO keyword their property requires. Each takes
#: `tls_first`, true when the keyword is advertised only after STARTTLS.
EXTENSION_PLANS: dict[str, ExtensionPlan] = {
    "PIPELINING": pipelining,
    "SIZE": size,
    "8BITMIME": eight_bit_mime,
    "SMTPUTF8": smtputf8,
    "ENHANCEDSTATUSCODES": enhanced_status_codes,
    "DSN": dsn,
    "CHUNKING": chunking,
    "AUTH": auth,
}

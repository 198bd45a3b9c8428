"""Session plans: where each conformance property steers its sessions.

A plan turns a Hypothesis data object and the profile into a chooser for
`conformance.driver.run_session`. The properties in tests/conformance run one
plan each; the fault-finding tests and the benchmark run the same plans, so
what they measure is what users run.
"""

from __future__ import annotations

from collections.abc import Callable

from hypothesis import strategies as st

from strategies.commands import Profile, awkward_contents, respell
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
    return PlannedChooser(data, profile, segments, contents=awkward_contents())


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

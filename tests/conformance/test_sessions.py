"""Conformance properties of the RFC 5321 base protocol.

Each property draws whole SMTP sessions against the target and has every reply
judged by the reference model, so every property also checks reply syntax and
the command sequencing rules. What differs is where the sessions go: out of
order, through RSET or a second EHLO, into complete transactions, in odd case
or with long lines. A failure shows the shrunk transcript, the replies the RFC
allows at the failing step and the reply the server sent.
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from conformance.plugin import SessionRunner, property_settings
from strategies.commands import respell
from strategies.sessions import Mix, PlannedChooser, Segment, drawn

ORDERLY = Mix(plausible=90, anywhere=10, out_of_order=0, stop=3)
DISORDERLY = Mix(plausible=35, anywhere=15, out_of_order=35, stop=6)
EVERYWHERE = Mix(plausible=30, anywhere=60, out_of_order=5, stop=6)
MALFORMED = Mix(plausible=40, anywhere=10, out_of_order=0, stop=6)


@property_settings()
@given(st.data())
def test_command_order(smtp: SessionRunner, data: st.DataObject) -> None:
    """Commands out of order get 503 (or another legal refusal) and no effect."""
    smtp.run(drawn(data, smtp.profile, DISORDERLY, steps=25))


@property_settings()
@given(st.data())
def test_rset_recovery(smtp: SessionRunner, data: st.DataObject) -> None:
    """RSET gets 250 in every state and leaves no transaction behind."""
    plan = [
        Segment(DISORDERLY, steps=12),
        Segment(fixed=b"RSET\r\n"),
        Segment(ORDERLY, steps=8),
    ]
    smtp.run(PlannedChooser(data, smtp.profile, plan))


@property_settings()
@given(st.data())
def test_quit(smtp: SessionRunner, data: st.DataObject) -> None:
    """QUIT gets 221 and the server closes the connection, in every state."""
    plan = [Segment(DISORDERLY, steps=12), Segment(fixed=b"QUIT\r\n")]
    smtp.run(PlannedChooser(data, smtp.profile, plan))


@property_settings()
@given(st.data(), st.sampled_from([b"EHLO", b"HELO"]))
def test_hello_resets_session(
    smtp: SessionRunner, data: st.DataObject, verb: bytes
) -> None:
    """An accepted EHLO or HELO mid-session discards any open transaction."""
    hello = verb + b" " + smtp.profile.helo_name.encode() + b"\r\n"
    plan = [
        Segment(ORDERLY, steps=10),
        Segment(fixed=hello),
        Segment(DISORDERLY, steps=6),
    ]
    smtp.run(PlannedChooser(data, smtp.profile, plan))


@property_settings()
@given(st.data())
def test_complete_transactions(smtp: SessionRunner, data: st.DataObject) -> None:
    """Orderly sessions run whole transactions: MAIL, RCPT, DATA, content."""
    smtp.run(drawn(data, smtp.profile, ORDERLY, steps=30))


@property_settings()
@given(st.data())
def test_several_transactions(smtp: SessionRunner, data: st.DataObject) -> None:
    """Transactions follow one another on one connection, with errors between."""
    plan = [
        Segment(ORDERLY, steps=12),
        Segment(DISORDERLY, steps=6),
        Segment(ORDERLY, steps=12),
    ]
    smtp.run(PlannedChooser(data, smtp.profile, plan))


@property_settings()
@given(st.data())
def test_commands_legal_anywhere(smtp: SessionRunner, data: st.DataObject) -> None:
    """NOOP, VRFY, EXPN, HELP, RSET, EHLO and HELO get well-formed legal replies."""
    smtp.run(drawn(data, smtp.profile, EVERYWHERE, steps=25))


@property_settings()
@given(st.data(), st.sampled_from(["lower", "mixed"]))
def test_verbs_are_case_insensitive(
    smtp: SessionRunner, data: st.DataObject, style: str
) -> None:
    """Verbs and FROM:/TO: in lower or mixed case mean what upper case means."""
    chooser = PlannedChooser(
        data,
        smtp.profile,
        [Segment(ORDERLY, steps=20)],
        respell=lambda line: respell(line, style),
    )
    smtp.run(chooser)


@property_settings()
@given(st.data())
def test_malformed_commands(smtp: SessionRunner, data: st.DataObject) -> None:
    """Syntax errors get 500 or 501 and change nothing; tolerated forms work."""
    smtp.run(drawn(data, smtp.profile, MALFORMED, steps=20))


@property_settings()
@given(st.data(), st.sampled_from([512, 513, 1100]))
def test_line_length(smtp: SessionRunner, data: st.DataObject, length: int) -> None:
    """A 512-octet command line is accepted; longer ones may get 500."""
    line = b"NOOP " + b"a" * (length - 7) + b"\r\n"
    plan = [
        Segment(ORDERLY, steps=6),
        Segment(fixed=line),
        Segment(ORDERLY, steps=6),
    ]
    smtp.run(PlannedChooser(data, smtp.profile, plan))

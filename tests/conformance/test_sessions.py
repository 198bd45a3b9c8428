"""Conformance properties of the RFC 5321 base protocol.

Each property draws whole SMTP sessions against the target and has every reply
judged by the reference model, so every property also checks reply syntax and
the sequencing rules. What differs is where the sessions go (see
strategies/plans.py). A failure shows the shrunk transcript, the replies the
RFC allows at the failing step and the reply the server sent.
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from conformance.plugin import SessionRunner, property_settings
from strategies import plans


@property_settings()
@given(st.data())
def test_command_order(smtp: SessionRunner, data: st.DataObject) -> None:
    """Commands out of order get 503 (or another legal refusal) and no effect."""
    smtp.run(plans.command_order(data, smtp.profile))


@property_settings()
@given(st.data())
def test_rset_recovery(smtp: SessionRunner, data: st.DataObject) -> None:
    """RSET gets 250 in every state and leaves no transaction behind."""
    smtp.run(plans.rset_recovery(data, smtp.profile))


@property_settings()
@given(st.data())
def test_quit(smtp: SessionRunner, data: st.DataObject) -> None:
    """QUIT gets 221 and the server closes the connection, in every state."""
    smtp.run(plans.quit_anywhere(data, smtp.profile))


@property_settings()
@given(st.data())
def test_hello_resets_session(smtp: SessionRunner, data: st.DataObject) -> None:
    """An accepted EHLO or HELO mid-session discards any open transaction."""
    smtp.run(plans.hello_reset(data, smtp.profile))


@property_settings()
@given(st.data())
def test_complete_transactions(smtp: SessionRunner, data: st.DataObject) -> None:
    """Orderly sessions run whole transactions: MAIL, RCPT, DATA, content."""
    smtp.run(plans.complete_transactions(data, smtp.profile))


@property_settings()
@given(st.data())
def test_several_transactions(smtp: SessionRunner, data: st.DataObject) -> None:
    """Transactions follow one another on one connection, with errors between."""
    smtp.run(plans.several_transactions(data, smtp.profile))


@property_settings()
@given(st.data())
def test_commands_legal_anywhere(smtp: SessionRunner, data: st.DataObject) -> None:
    """NOOP, VRFY, EXPN, HELP, RSET, EHLO and HELO get well-formed legal replies."""
    smtp.run(plans.legal_anywhere(data, smtp.profile))


@property_settings()
@given(st.data())
def test_verbs_are_case_insensitive(smtp: SessionRunner, data: st.DataObject) -> None:
    """Verbs and FROM:/TO: in lower or mixed case mean what upper case means."""
    smtp.run(plans.case_insensitivity(data, smtp.profile))


@property_settings()
@given(st.data())
def test_malformed_commands(smtp: SessionRunner, data: st.DataObject) -> None:
    """Syntax errors get 500 or 501 and change nothing; tolerated forms work."""
    smtp.run(plans.malformed_commands(data, smtp.profile))


@property_settings()
@given(st.data())
def test_line_length(smtp: SessionRunner, data: st.DataObject) -> None:
    """A 512-octet command line is accepted; longer ones may get 500."""
    smtp.run(plans.line_length(data, smtp.profile))

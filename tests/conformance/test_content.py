"""Conformance properties of message content (RFC 5321 §4.1.1.4, §4.5.2).

Only CRLF.CRLF ends the content. Messages here carry sequences that look like
an ending but are not (<LF>.<LF>, <LF>.<CR><LF>, <CR>.<CR>, ...) followed by
commands. A conforming server sends exactly one final reply per message, at
the real end; a server that answers early and then replies to the hidden
commands lets attackers smuggle messages (the SMTP smuggling bugs of 2023).
Rejecting such a message, or closing with 421 or 521, is legal.
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from conformance.plugin import SessionRunner, property_settings
from strategies import plans


@property_settings()
@given(st.data())
def test_data_ends_only_at_crlf_dot_crlf(
    smtp: SessionRunner, data: st.DataObject
) -> None:
    """One final reply per message, and none to commands hidden in content."""
    smtp.run(plans.content_endings(data, smtp.profile))

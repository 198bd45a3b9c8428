"""Conformance properties of the ESMTP service extensions.

Each property needs one EHLO keyword (the smtp_extension marker). Against a
server that does not advertise it, the property is skipped and the report says
so; where the server advertises it only inside TLS (AUTH often is), sessions
start with STARTTLS. Sessions mix the extension's commands and parameters,
valid and not, into ordinary traffic, and the model judges every reply, so
these properties also check the base protocol around the extension.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conformance.plugin import SessionRunner, property_settings
from strategies import plans


def run_extension(smtp: SessionRunner, data: st.DataObject, keyword: str) -> None:
    plan = plans.EXTENSION_PLANS[keyword]
    smtp.run(plan(data, smtp.profile, smtp.tls_first))


@pytest.mark.smtp_extension("PIPELINING")
@property_settings()
@given(st.data())
def test_pipelining(smtp: SessionRunner, data: st.DataObject) -> None:
    """Each command of a group gets one reply, in order (RFC 2920 §3.2)."""
    run_extension(smtp, data, "PIPELINING")


@pytest.mark.smtp_extension("SIZE")
@property_settings()
@given(st.data())
def test_size(smtp: SessionRunner, data: st.DataObject) -> None:
    """SIZE over the limit gets 552 and malformed SIZE 501 (RFC 1870)."""
    run_extension(smtp, data, "SIZE")


@pytest.mark.smtp_extension("8BITMIME")
@property_settings()
@given(st.data())
def test_8bitmime(smtp: SessionRunner, data: st.DataObject) -> None:
    """BODY=8BITMIME and 7BIT are accepted as parameters (RFC 6152)."""
    run_extension(smtp, data, "8BITMIME")


@pytest.mark.smtp_extension("SMTPUTF8")
@property_settings()
@given(st.data())
def test_smtputf8(smtp: SessionRunner, data: st.DataObject) -> None:
    """UTF-8 paths are accepted with SMTPUTF8 and rejected without (RFC 6531)."""
    run_extension(smtp, data, "SMTPUTF8")


@pytest.mark.smtp_extension("ENHANCEDSTATUSCODES")
@property_settings()
@given(st.data())
def test_enhanced_status_codes(smtp: SessionRunner, data: st.DataObject) -> None:
    """Every 2xx, 4xx and 5xx line carries a code of its class (RFC 2034)."""
    run_extension(smtp, data, "ENHANCEDSTATUSCODES")


@pytest.mark.smtp_extension("DSN")
@property_settings()
@given(st.data())
def test_dsn(smtp: SessionRunner, data: st.DataObject) -> None:
    """Valid DSN parameters change no reply; invalid ones get 501 (RFC 3461)."""
    run_extension(smtp, data, "DSN")


@pytest.mark.smtp_extension("CHUNKING")
@property_settings()
@given(st.data())
def test_chunking(smtp: SessionRunner, data: st.DataObject) -> None:
    """BDAT chunks are read whole, even when rejected (RFC 3030 §2)."""
    run_extension(smtp, data, "CHUNKING")


@pytest.mark.smtp_extension("AUTH")
@property_settings()
@given(st.data())
def test_auth(smtp: SessionRunner, data: st.DataObject) -> None:
    """AUTH gets 503 in a transaction and after success; * gets 501 (RFC 4954)."""
    run_extension(smtp, data, "AUTH")


@pytest.mark.smtp_extension("STARTTLS")
@property_settings()
@given(st.data())
def test_starttls(smtp: SessionRunner, data: st.DataObject) -> None:
    """After TLS the session starts afresh and injected commands go unanswered."""
    smtp.run(plans.starttls(data, smtp.profile))

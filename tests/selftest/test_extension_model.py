"""Tests of the model's rules for ESMTP extensions (conformance.extensions)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from conformance.model import Session, message_size, split_group
from conformance.rules import Effect, Verdict
from conformance.state import Phase, SessionState
from tests.selftest.test_model import judge, observe, reply


def advertising(*lines: str, **fields: object) -> SessionState:
    """Return a state after an EHLO whose reply listed `lines`."""
    state = SessionState(
        phase=Phase.MAIL,
        identified="EHLO",
        extensions=frozenset(line.split()[0] for line in lines),
        extension_lines=lines,
    )
    return replace(state, **fields)  # type: ignore[arg-type]


def phase(session: Session) -> Phase:
    # A function call keeps mypy from narrowing the phase between steps.
    return session.state.phase


MAIL = b"MAIL FROM:<a@example.test>"
RCPT = b"RCPT TO:<b@example.test>"


# --- Parameters ----------------------------------------------------------------

SIZED = advertising("SIZE 1000")


@pytest.mark.parametrize(
    ("parameters", "code", "verdict"),
    [
        pytest.param(b" SIZE=999", 250, Verdict.CONFORMS, id="under-limit-250"),
        pytest.param(b" SIZE=1001", 552, Verdict.CONFORMS, id="over-limit-552"),
        pytest.param(b" SIZE=1001", 250, Verdict.MUST, id="over-limit-250"),
        pytest.param(b" SIZE=999", 501, Verdict.MUST, id="valid-rejected-501"),
        pytest.param(b" SIZE=ten", 501, Verdict.CONFORMS, id="malformed-501"),
        pytest.param(b" SIZE=ten", 250, Verdict.SHOULD, id="malformed-250"),
        pytest.param(b" SIZE=1 SIZE=1", 250, Verdict.SHOULD, id="twice-250"),
    ],
)
def test_size_parameter(parameters: bytes, code: int, verdict: Verdict) -> None:
    assert judge(SIZED, MAIL + parameters + b"\r\n", code).verdict is verdict


def test_size_zero_means_no_limit() -> None:
    state = advertising("SIZE 0")
    assert judge(state, MAIL + b" SIZE=99999999\r\n", 250).verdict is Verdict.CONFORMS


@pytest.mark.parametrize(
    ("state", "parameters", "code", "verdict"),
    [
        (advertising("8BITMIME"), b" BODY=8BITMIME", 250, Verdict.CONFORMS),
        (advertising("8BITMIME"), b" BODY=8bitmime", 555, Verdict.MUST),
        (advertising("8BITMIME"), b" BODY=9BIT", 501, Verdict.CONFORMS),
        (advertising("8BITMIME"), b" BODY=BINARYMIME", 250, Verdict.SHOULD),
        (advertising("DSN"), b" RET=HDRS ENVID=QQ314159", 501, Verdict.MUST),
        (advertising("DSN"), b" RET=SOME", 501, Verdict.CONFORMS),
        (advertising("DSN"), b" RET=FULL RET=HDRS", 250, Verdict.SHOULD),
        (advertising("DSN"), b" NOTIFY=NEVER", 250, Verdict.SHOULD),
        (advertising("AUTH PLAIN"), b" AUTH=<>", 501, Verdict.MUST),
        (advertising("SMTPUTF8", "8BITMIME"), b" SMTPUTF8", 250, Verdict.CONFORMS),
        (advertising("SMTPUTF8", "8BITMIME"), b" SMTPUTF8=YES", 250, Verdict.SHOULD),
    ],
)
def test_mail_parameters(
    state: SessionState, parameters: bytes, code: int, verdict: Verdict
) -> None:
    assert judge(state, MAIL + parameters + b"\r\n", code).verdict is verdict


IN_TRANSACTION = advertising("DSN", phase=Phase.RCPT)


@pytest.mark.parametrize(
    ("parameters", "code", "verdict"),
    [
        (b" NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;b@example.test", 250, Verdict.CONFORMS),
        (b" NOTIFY=NEVER", 555, Verdict.MUST),
        (b" NOTIFY=NEVER,SUCCESS", 501, Verdict.CONFORMS),
        (b" NOTIFY=NEVER,SUCCESS", 250, Verdict.SHOULD),
        (b" ORCPT=no-address-type", 250, Verdict.SHOULD),
    ],
)
def test_rcpt_parameters(parameters: bytes, code: int, verdict: Verdict) -> None:
    line = RCPT + parameters + b"\r\n"
    assert judge(IN_TRANSACTION, line, code).verdict is verdict


def test_mail_parameters_recorded() -> None:
    state = advertising("8BITMIME", "SMTPUTF8")
    session = observe(state, MAIL + b" BODY=8BITMIME SMTPUTF8\r\n", 250)
    assert session.state.body == "8BITMIME"
    assert session.state.utf8 is True


UTF8_MAIL = "MAIL FROM:<j\u00f6rg@example.test>".encode()
UTF8_RCPT = "RCPT TO:<j\u00f6rg@example.test>\r\n".encode()


@pytest.mark.parametrize(
    ("state", "line", "code", "verdict"),
    [
        pytest.param(
            advertising("SMTPUTF8", "8BITMIME"),
            UTF8_MAIL + b" SMTPUTF8\r\n",
            250,
            Verdict.CONFORMS,
            id="with-parameter-250",
        ),
        pytest.param(
            advertising("SMTPUTF8", "8BITMIME"),
            UTF8_MAIL + b" SMTPUTF8\r\n",
            501,
            Verdict.MUST,
            id="with-parameter-501",
        ),
        pytest.param(
            advertising("SMTPUTF8", "8BITMIME"),
            UTF8_MAIL + b"\r\n",
            550,
            Verdict.CONFORMS,
            id="without-parameter-550",
        ),
        pytest.param(
            advertising("SMTPUTF8", "8BITMIME"),
            UTF8_MAIL + b"\r\n",
            250,
            Verdict.SHOULD,
            id="without-parameter-250",
        ),
        pytest.param(
            advertising("SMTPUTF8", "8BITMIME", phase=Phase.RCPT, utf8=True),
            UTF8_RCPT,
            250,
            Verdict.CONFORMS,
            id="rcpt-in-utf8-transaction",
        ),
        pytest.param(
            advertising("SMTPUTF8", "8BITMIME", phase=Phase.RCPT),
            UTF8_RCPT,
            553,
            Verdict.CONFORMS,
            id="rcpt-without-smtputf8-553",
        ),
    ],
)
def test_utf8_paths(
    state: SessionState, line: bytes, code: int, verdict: Verdict
) -> None:
    assert judge(state, line, code).verdict is verdict


# --- STARTTLS ------------------------------------------------------------------

TLS_OFFERED = advertising("STARTTLS", "PIPELINING")


def test_starttls_220_restarts_session() -> None:
    state = replace(TLS_OFFERED, phase=Phase.RCPT_OR_DATA, recipients=1)
    session = observe(state, b"STARTTLS\r\n", 220)
    assert session.steps[-1].judgement.effect is Effect.START_TLS
    assert session.state == SessionState(phase=Phase.HELLO, tls=True, tls_reset=True)


@pytest.mark.parametrize(
    ("line", "state", "code", "verdict"),
    [
        (b"STARTTLS\r\n", TLS_OFFERED, 454, Verdict.CONFORMS),
        (b"STARTTLS now\r\n", TLS_OFFERED, 501, Verdict.CONFORMS),
        (b"STARTTLS now\r\n", TLS_OFFERED, 220, Verdict.SHOULD),
        (b"STARTTLS\r\n", advertising("SIZE", tls=True), 220, Verdict.SHOULD),
        (b"STARTTLS\r\n", advertising("SIZE", tls=True), 503, Verdict.CONFORMS),
    ],
)
def test_starttls_replies(
    line: bytes, state: SessionState, code: int, verdict: Verdict
) -> None:
    assert judge(state, line, code).verdict is verdict


def test_ehlo_inside_tls_must_not_offer_starttls() -> None:
    state = SessionState(phase=Phase.HELLO, tls=True)
    session = observe(state, b"EHLO c.test\r\n", 250, "hi", "STARTTLS", "SIZE")
    judgement = session.steps[-1].judgement
    assert judgement.verdict is Verdict.MUST
    assert judgement.section == "RFC 3207 §4.2"


def test_rcpt_after_tls_gets_503() -> None:
    """The transaction from before TLS is gone (RFC 3207 §4.2)."""
    state = SessionState(phase=Phase.HELLO, tls=True)
    assert judge(state, RCPT + b"\r\n", 250).verdict is Verdict.MUST


# --- AUTH ----------------------------------------------------------------------

AUTH_OFFERED = advertising("AUTH PLAIN LOGIN")


@pytest.mark.parametrize(
    ("state", "line", "code", "verdict"),
    [
        pytest.param(AUTH_OFFERED, b"AUTH PLAIN AGEAYg==\r\n", 235, Verdict.CONFORMS),
        pytest.param(AUTH_OFFERED, b"AUTH PLAIN AGEAYg==\r\n", 535, Verdict.CONFORMS),
        pytest.param(AUTH_OFFERED, b"AUTH LOGIN\r\n", 334, Verdict.CONFORMS),
        pytest.param(AUTH_OFFERED, b"AUTH PLAIN !!!\r\n", 501, Verdict.CONFORMS),
        pytest.param(AUTH_OFFERED, b"AUTH PLAIN !!!\r\n", 235, Verdict.MUST),
        pytest.param(AUTH_OFFERED, b"AUTH CRAM-MD5\r\n", 504, Verdict.CONFORMS),
        pytest.param(AUTH_OFFERED, b"AUTH CRAM-MD5\r\n", 334, Verdict.SHOULD),
        pytest.param(
            replace(AUTH_OFFERED, phase=Phase.RCPT),
            b"AUTH LOGIN\r\n",
            334,
            Verdict.MUST,
            id="in-transaction",
        ),
        pytest.param(
            replace(AUTH_OFFERED, authenticated=True),
            b"AUTH LOGIN\r\n",
            503,
            Verdict.CONFORMS,
            id="second-auth-503",
        ),
        pytest.param(
            replace(AUTH_OFFERED, authenticated=True),
            b"AUTH LOGIN\r\n",
            235,
            Verdict.MUST,
            id="second-auth-235",
        ),
    ],
)
def test_auth_replies(
    state: SessionState, line: bytes, code: int, verdict: Verdict
) -> None:
    assert judge(state, line, code).verdict is verdict


def test_login_exchange() -> None:
    session = observe(AUTH_OFFERED, b"AUTH LOGIN\r\n", 334, "VXNlcm5hbWU6")
    assert phase(session) is Phase.AUTH
    assert session.state.sasl == ("LOGIN", 0)
    session.observe(b"dXNlcg==\r\n", reply(334, "UGFzc3dvcmQ6"))
    assert session.state.sasl == ("LOGIN", 1)
    session.observe(b"cGFzcw==\r\n", reply(235, "2.7.0 ok"))
    assert phase(session) is Phase.MAIL
    assert session.state.authenticated is True


@pytest.mark.parametrize(
    ("line", "code", "verdict"),
    [
        (b"*\r\n", 501, Verdict.CONFORMS),
        (b"*\r\n", 535, Verdict.MUST),
        (b"!!!\r\n", 501, Verdict.CONFORMS),
        (b"!!!\r\n", 535, Verdict.SHOULD),
        (b"!!!\r\n", 235, Verdict.MUST),
        (b"dXNlcg==\r\n", 535, Verdict.CONFORMS),
    ],
)
def test_sasl_responses(line: bytes, code: int, verdict: Verdict) -> None:
    state = replace(AUTH_OFFERED, phase=Phase.AUTH, sasl=("LOGIN", 0))
    assert judge(state, line, code).verdict is verdict


# --- CHUNKING ------------------------------------------------------------------

CHUNKING = advertising("CHUNKING", "PIPELINING", phase=Phase.RCPT_OR_DATA)


def test_bdat_chunks_then_last() -> None:
    session = observe(CHUNKING, b"BDAT 5\r\nHello", 250)
    assert phase(session) is Phase.CHUNKS
    session.observe(b"BDAT 0 LAST\r\n", reply(250, "queued"))
    assert phase(session) is Phase.MAIL


@pytest.mark.parametrize(
    ("state", "data", "code", "verdict"),
    [
        pytest.param(
            replace(CHUNKING, phase=Phase.CHUNKS),
            b"DATA\r\n",
            354,
            Verdict.MUST,
            id="data-after-bdat",
        ),
        pytest.param(
            replace(CHUNKING, phase=Phase.MAIL),
            b"BDAT 6 LAST\r\nNOOP\r\n",
            250,
            Verdict.MUST,
            id="bdat-without-transaction",
        ),
        pytest.param(
            replace(CHUNKING, phase=Phase.MAIL),
            b"BDAT 6 LAST\r\nNOOP\r\n",
            503,
            Verdict.CONFORMS,
            id="bdat-without-transaction-503",
        ),
        pytest.param(
            replace(CHUNKING, body="BINARYMIME"),
            b"DATA\r\n",
            354,
            Verdict.MUST,
            id="data-after-binarymime",
        ),
        pytest.param(
            replace(CHUNKING, phase=Phase.UNSETTLED),
            b"NOOP\r\n",
            503,
            Verdict.CONFORMS,
            id="unsettled-anything",
        ),
    ],
)
def test_chunking_replies(
    state: SessionState, data: bytes, code: int, verdict: Verdict
) -> None:
    assert judge(state, data, code).verdict is verdict


def test_rejected_chunk_unsettles() -> None:
    session = observe(CHUNKING, b"BDAT 5 LAST\r\nHello", 552)
    assert phase(session) is Phase.UNSETTLED
    session.observe(b"RSET\r\n", reply(250, "ok"))
    assert phase(session) is Phase.MAIL


def test_split_group_keeps_chunks_whole() -> None:
    data = b"MAIL FROM:<a@b.test>\r\nBDAT 6 LAST\r\nNOOP\r\nRSET\r\n"
    assert split_group(CHUNKING, data) == [
        b"MAIL FROM:<a@b.test>\r\n",
        b"BDAT 6 LAST\r\nNOOP\r\n",
        b"RSET\r\n",
    ]


# --- ENHANCEDSTATUSCODES -------------------------------------------------------

ENHANCED = advertising("ENHANCEDSTATUSCODES")


@pytest.mark.parametrize(
    ("line", "code", "texts", "verdict"),
    [
        (b"NOOP\r\n", 250, ("2.0.0 Ok",), Verdict.CONFORMS),
        (b"NOOP\r\n", 250, ("Ok",), Verdict.MUST),
        (b"NOOP\r\n", 250, ("5.0.0 Ok",), Verdict.MUST),
        (b"RCPT TO:<x@y.test>\r\n", 503, ("5.5.1 need MAIL",), Verdict.CONFORMS),
        (b"RCPT TO:<x@y.test>\r\n", 503, ("2.5.1 need MAIL",), Verdict.MUST),
        (b"HELP\r\n", 214, ("2.0.0 one", "two"), Verdict.MUST),
        (b"EHLO c.test\r\n", 250, ("hello",), Verdict.CONFORMS),
    ],
)
def test_enhanced_status_codes(
    line: bytes, code: int, texts: tuple[str, ...], verdict: Verdict
) -> None:
    session = observe(ENHANCED, line, code, *texts)
    assert session.steps[-1].judgement.verdict is verdict


def test_enhanced_codes_not_checked_when_not_advertised() -> None:
    session = observe(advertising("SIZE"), b"NOOP\r\n", 250, "Ok")
    assert session.steps[-1].judgement.verdict is Verdict.CONFORMS


# --- SIZE at the end of data ---------------------------------------------------


def test_message_size_ignores_stuffing() -> None:
    assert message_size(b"..a\r\nb\r\n.\r\n") == len(b".a\r\nb\r\n")


@pytest.mark.parametrize(
    ("size", "code", "verdict"),
    [
        (1000, 250, Verdict.CONFORMS),
        (1001, 250, Verdict.SHOULD),
        (1001, 552, Verdict.CONFORMS),
    ],
)
def test_content_over_size_limit(size: int, code: int, verdict: Verdict) -> None:
    state = advertising("SIZE 1000", phase=Phase.CONTENT, recipients=1)
    content = b"x" * (size - 2) + b"\r\n.\r\n"
    assert judge(state, content, code).verdict is verdict


def test_auth_in_transaction_processed() -> None:
    """A 535 shows the server checked credentials instead of rejecting AUTH."""
    state = replace(AUTH_OFFERED, phase=Phase.RCPT_OR_DATA, recipients=1)
    judgement = judge(state, b"AUTH PLAIN AGEAYg==\r\n", 535)
    assert judgement.verdict is Verdict.MUST
    assert "was processed instead of getting 503" in judgement.reason


def test_bad_response_for_unadvertised_mechanism_gets_504() -> None:
    state = advertising("AUTH")
    assert judge(state, b"AUTH PLAIN !!!\r\n", 504).verdict is Verdict.CONFORMS


def test_malformed_size_keyword_is_found() -> None:
    state = SessionState(phase=Phase.HELLO)
    session = observe(state, b"EHLO c.test\r\n", 250, "hi", "SIZE abc")
    judgement = session.steps[-1].judgement
    assert judgement.verdict is Verdict.MUST
    assert judgement.section == "RFC 1870 §4"


def test_transaction_kept_across_tls_is_named() -> None:
    state = SessionState(phase=Phase.HELLO, tls=True, tls_reset=True)
    judgement = judge(state, RCPT + b"\r\n", 250)
    assert judgement.verdict is Verdict.MUST
    assert judgement.section == "RFC 3207 §4.2"
    assert judgement.effect is Effect.ADD_RECIPIENT


def test_mail_after_tls_ends_the_reset() -> None:
    state = advertising("SIZE", tls=True, tls_reset=True)
    session = observe(state, MAIL + b"\r\n", 250)
    assert session.state.tls_reset is False


@pytest.mark.parametrize(
    ("line", "code", "expected"),
    [
        (MAIL + b" BODY=8BITMIME\r\n", 250, Phase.RCPT),
        (b"DATA\r\n", 354, Phase.CONTENT),
        (b"NOOP\r\n", 250, Phase.UNSETTLED),
        (RCPT + b"\r\n", 503, Phase.UNSETTLED),
    ],
)
def test_unsettled_state_follows_server(
    line: bytes, code: int, expected: Phase
) -> None:
    """After a failed chunk any reply is legal, and the model follows it."""
    state = advertising("CHUNKING", "8BITMIME", phase=Phase.UNSETTLED)
    session = observe(state, line, code)
    assert session.steps[-1].judgement.verdict is Verdict.CONFORMS
    assert phase(session) is expected

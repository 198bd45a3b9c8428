"""Tests of the sans-IO model against the sequencing rules of RFC 5321.

Each test cites the clause it checks in its docstring, where "§" means a section
of RFC 5321. A judgement comes from `expect(state, line).judge(code)`, and a state
change from feeding a parsed reply to `Session.observe`, as the driver does.
"""

from __future__ import annotations

import ast
import importlib.util
from dataclasses import replace
from pathlib import Path

import pytest

from conformance.model import (
    ERRORS_BEFORE_CLOSE,
    Session,
    expect,
    expect_greeting,
)
from conformance.replies import Reply, ReplyParser
from conformance.rules import Effect, Judgement, Verdict
from conformance.state import Phase, SessionState

AWAITING_HELLO = SessionState(phase=Phase.HELLO)
AWAITING_MAIL = SessionState(phase=Phase.MAIL, identified="EHLO")
AWAITING_MAIL_AFTER_HELO = SessionState(phase=Phase.MAIL, identified="HELO")
AWAITING_RCPT = SessionState(phase=Phase.RCPT, identified="EHLO")
AWAITING_RCPT_OR_DATA = SessionState(
    phase=Phase.RCPT_OR_DATA, identified="EHLO", recipients=2
)
AWAITING_CONTENT = SessionState(phase=Phase.CONTENT, identified="EHLO", recipients=1)
REFUSED = SessionState(phase=Phase.QUIT_ONLY)

#: The states in which a greeted client may send any command.
COMMAND_STATES = [
    pytest.param(AWAITING_HELLO, id="awaiting-hello"),
    pytest.param(AWAITING_MAIL, id="awaiting-mail"),
    pytest.param(AWAITING_RCPT, id="awaiting-rcpt"),
    pytest.param(AWAITING_RCPT_OR_DATA, id="awaiting-rcpt-or-data"),
]

MESSAGE_CONTENT = b"Subject: test\r\n\r\nbody\r\n.\r\n"


def reply(code: int, *texts: str) -> Reply:
    """Return the parsed reply with `code` and one line per text."""
    lines = texts or ("text",)
    data = "".join(f"{code}-{text}\r\n" for text in lines[:-1])
    data += f"{code} {lines[-1]}\r\n"
    parser = ReplyParser()
    parser.feed(data.encode("ascii"))
    parsed = parser.next_reply()
    assert parsed is not None
    return parsed


def judge(state: SessionState, line: bytes, code: int) -> Judgement:
    """Judge a reply with `code` to `line` (CRLF included) sent in `state`."""
    return expect(state, line).judge(code)


def observe(state: SessionState, line: bytes, code: int, *texts: str) -> Session:
    """Return a session in `state` after it observed the reply to `line`."""
    session = Session(state=state)
    session.observe(line, reply(code, *texts))
    return session


# --- Greeting ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "verdict", "effect"),
    [
        pytest.param(220, Verdict.CONFORMS, Effect.GREET, id="220-greets"),
        pytest.param(554, Verdict.POLICY, Effect.REFUSE, id="554-refuses"),
        pytest.param(421, Verdict.POLICY, Effect.CLOSE, id="421-closes"),
    ],
)
def test_greeting_allows_220_554_421(
    code: int, verdict: Verdict, effect: Effect
) -> None:
    """220 greets (§3.1, §4.3.2), 554 refuses the session (§3.1) and 421
    closes it (§3.8). The last two are legal choices the model records."""
    judgement = expect_greeting().judge(code)
    assert judgement.verdict is verdict
    assert judgement.effect is effect


@pytest.mark.parametrize("code", [250, 230, 451, 500, 550])
def test_unlisted_greeting_is_must_violation(code: int) -> None:
    """The opening reply is 220 or 554 (§4.3.2, CONNECTION ESTABLISHMENT)."""
    assert expect_greeting().judge(code).verdict is Verdict.MUST


@pytest.mark.parametrize(
    ("code", "phase"),
    [
        pytest.param(220, Phase.HELLO, id="220-awaits-hello"),
        pytest.param(554, Phase.QUIT_ONLY, id="554-awaits-quit"),
        pytest.param(421, Phase.CLOSED, id="421-closes"),
    ],
)
def test_greeting_sets_phase(code: int, phase: Phase) -> None:
    """After 554 the server MUST wait for QUIT (§3.1)."""
    session = Session()
    session.observe(None, reply(code))
    assert session.state.phase is phase


# --- RCPT and DATA out of order ----------------------------------------------


@pytest.mark.parametrize(
    "state",
    [
        pytest.param(AWAITING_HELLO, id="awaiting-hello"),
        pytest.param(AWAITING_MAIL, id="awaiting-mail"),
    ],
)
@pytest.mark.parametrize(
    ("code", "verdict"),
    [
        pytest.param(503, Verdict.CONFORMS, id="503-conforms"),
        pytest.param(250, Verdict.MUST, id="250-must"),
        pytest.param(550, Verdict.MUST, id="550-must"),
    ],
)
def test_rcpt_before_mail_requires_503(
    state: SessionState, code: int, verdict: Verdict
) -> None:
    """RCPT without a previous MAIL MUST get 503 (§3.3)."""
    assert judge(state, b"RCPT TO:<a@example.com>\r\n", code).verdict is verdict


@pytest.mark.parametrize(
    ("state", "code"),
    [
        pytest.param(AWAITING_MAIL, 503, id="awaiting-mail-503"),
        pytest.param(AWAITING_MAIL, 554, id="awaiting-mail-554"),
        pytest.param(AWAITING_HELLO, 503, id="awaiting-hello-503"),
    ],
)
def test_data_without_mail_may_get_503_or_554(state: SessionState, code: int) -> None:
    """DATA with no MAIL MAY get 503 or 554 (§3.3)."""
    assert judge(state, b"DATA\r\n", code).verdict is Verdict.CONFORMS


def test_data_without_mail_354_is_must_violation() -> None:
    """354 implies a transaction that does not exist (§3.3, §4.3.1)."""
    assert judge(AWAITING_MAIL, b"DATA\r\n", 354).verdict is Verdict.MUST


def test_data_without_recipient_354_is_policy_without_pipelining() -> None:
    """§3.3 only allows the server to refuse DATA when no RCPT was accepted."""
    judgement = judge(AWAITING_RCPT, b"DATA\r\n", 354)
    assert judgement.verdict is Verdict.POLICY
    assert judgement.effect is Effect.START_DATA


def test_data_without_recipient_354_deviates_with_pipelining() -> None:
    """With PIPELINING advertised, the model cites RFC 2920 §3.2 and treats
    354 after no accepted recipient as a SHOULD deviation."""
    state = replace(AWAITING_RCPT, extensions=frozenset({"PIPELINING"}))
    assert judge(state, b"DATA\r\n", 354).verdict is Verdict.SHOULD


def test_data_with_recipient_354_awaits_content() -> None:
    """354 to DATA is the intermediate reply before the content (§4.1.1.4)."""
    session = observe(AWAITING_RCPT_OR_DATA, b"DATA\r\n", 354)
    assert session.state.phase is Phase.CONTENT


# --- RSET and QUIT -----------------------------------------------------------


@pytest.mark.parametrize("state", COMMAND_STATES)
def test_rset_250_conforms_in_every_phase(state: SessionState) -> None:
    """The receiver MUST send 250 to RSET (§4.1.1.5)."""
    assert judge(state, b"RSET\r\n", 250).verdict is Verdict.CONFORMS


@pytest.mark.parametrize("code", [503, 550, 451, 500, 502])
def test_rset_other_reply_is_must_violation(code: int) -> None:
    """RSET gets 250, or 421 if the server shuts down (§4.1.1.5, §4.3.2)."""
    assert judge(AWAITING_RCPT, b"RSET\r\n", code).verdict is Verdict.MUST


@pytest.mark.parametrize(
    ("state", "phase"),
    [
        pytest.param(AWAITING_HELLO, Phase.HELLO, id="not-identified"),
        pytest.param(AWAITING_MAIL, Phase.MAIL, id="awaiting-mail"),
        pytest.param(AWAITING_RCPT, Phase.MAIL, id="awaiting-rcpt"),
        pytest.param(AWAITING_RCPT_OR_DATA, Phase.MAIL, id="awaiting-rcpt-or-data"),
    ],
)
def test_rset_discards_transaction(state: SessionState, phase: Phase) -> None:
    """RSET clears all buffers (§4.1.1.5), and the model keeps the EHLO/HELO
    identification. So the session awaits MAIL, or EHLO/HELO if the client
    never identified itself."""
    session = observe(state, b"RSET\r\n", 250)
    assert session.state.phase is phase
    assert session.state.recipients == 0


@pytest.mark.parametrize(
    "state", [*COMMAND_STATES, pytest.param(REFUSED, id="refused")]
)
def test_quit_221_conforms_in_every_phase(state: SessionState) -> None:
    """The receiver MUST send 221 to QUIT (§4.1.1.10), even after 554 (§3.1)."""
    assert judge(state, b"QUIT\r\n", 221).verdict is Verdict.CONFORMS


@pytest.mark.parametrize(
    "state", [*COMMAND_STATES, pytest.param(REFUSED, id="refused")]
)
def test_quit_221_closes_session(state: SessionState) -> None:
    """After 221 the server closes the transmission channel (§4.1.1.10)."""
    session = observe(state, b"QUIT\r\n", 221)
    assert session.state.phase is Phase.CLOSED


@pytest.mark.parametrize("code", [250, 500, 502, 503])
def test_quit_other_reply_is_must_violation(code: int) -> None:
    """QUIT gets 221 and nothing else (§4.1.1.10)."""
    assert judge(AWAITING_MAIL, b"QUIT\r\n", code).verdict is Verdict.MUST


@pytest.mark.parametrize(
    "line",
    [
        pytest.param(b"QUIT \r\n", id="trailing-space"),
        pytest.param(b"QUIT now\r\n", id="argument"),
    ],
)
def test_invalid_quit_after_554_greeting_closes(line: bytes) -> None:
    """221 to a QUIT with trailing white space or an argument conforms and
    closes in every other phase (§4.1.1.10), so it should after 554 too."""
    session = observe(REFUSED, line, 221)
    assert session.steps[-1].judgement.verdict is Verdict.CONFORMS
    assert session.state.phase is Phase.CLOSED


# --- EHLO and HELO -----------------------------------------------------------


@pytest.mark.parametrize("verb", ["EHLO", "HELO"])
@pytest.mark.parametrize(
    "state",
    [
        pytest.param(AWAITING_RCPT, id="awaiting-rcpt"),
        pytest.param(AWAITING_RCPT_OR_DATA, id="awaiting-rcpt-or-data"),
    ],
)
def test_accepted_hello_mid_transaction_awaits_mail(
    state: SessionState, verb: str
) -> None:
    """An accepted EHLO resets the state exactly as RSET does (§4.1.4)."""
    session = observe(state, f"{verb} client.example\r\n".encode(), 250)
    assert session.state.phase is Phase.MAIL
    assert session.state.recipients == 0


@pytest.mark.parametrize("code", [501, 504, 550])
def test_rejected_ehlo_leaves_transaction_unchanged(code: int) -> None:
    """After rejecting EHLO the server MUST stay in the same state (§4.1.4)."""
    session = observe(AWAITING_RCPT_OR_DATA, b"EHLO client.example\r\n", code)
    assert session.state.phase is Phase.RCPT_OR_DATA
    assert session.state.recipients == AWAITING_RCPT_OR_DATA.recipients


def test_accepted_ehlo_stores_keywords_upper_cased() -> None:
    """EHLO keywords are case-insensitive (§4.1.1.1), so the model stores
    them upper-cased and without their parameters."""
    session = observe(
        AWAITING_HELLO,
        b"EHLO client.example\r\n",
        250,
        "mail.example.com greets you",
        "size 10240000",
        "Pipelining",
        "8BITMIME",
    )
    assert session.state.extensions == {"SIZE", "PIPELINING", "8BITMIME"}


def test_accepted_helo_clears_keywords() -> None:
    """A HELO session has no service extensions (§3.2)."""
    state = replace(AWAITING_MAIL, extensions=frozenset({"SIZE", "PIPELINING"}))
    session = observe(state, b"HELO client.example\r\n", 250)
    assert session.state.extensions == frozenset()
    assert session.state.identified == "HELO"


def test_helo_reply_listing_extensions_is_must_violation() -> None:
    """Servers MUST NOT return the EHLO-style reply to HELO (§3.2)."""
    session = observe(
        AWAITING_HELLO, b"HELO client.example\r\n", 250, "hello", "SIZE", "8BITMIME"
    )
    judgement = session.steps[-1].judgement
    assert judgement.verdict is Verdict.MUST
    assert judgement.section == "RFC 5321 §3.2"


def test_multiline_helo_reply_without_keywords_conforms() -> None:
    """A multi-line HELO reply is fine when no line names an extension (§3.2)."""
    session = observe(
        AWAITING_HELLO, b"HELO client.example\r\n", 250, "hello", "welcome"
    )
    assert session.steps[-1].judgement.verdict is Verdict.CONFORMS


# --- RCPT --------------------------------------------------------------------


@pytest.mark.parametrize("code", [450, 550, 553])
def test_rejected_rcpt_leaves_recipients_unchanged(code: int) -> None:
    """A rejected RCPT adds nothing to the forward-path buffer (§4.1.1.3)."""
    session = observe(AWAITING_RCPT_OR_DATA, b"RCPT TO:<b@example.com>\r\n", code)
    assert session.state.recipients == AWAITING_RCPT_OR_DATA.recipients
    assert session.state.phase is Phase.RCPT_OR_DATA


@pytest.mark.parametrize("code", [250, 251])
def test_accepted_rcpt_adds_recipient(code: int) -> None:
    """250 and 251 both accept the recipient (§4.1.1.3, §4.3.2)."""
    session = observe(AWAITING_RCPT, b"RCPT TO:<b@example.com>\r\n", code)
    assert session.state.recipients == 1
    assert session.state.phase is Phase.RCPT_OR_DATA


# --- Unknown and required commands -------------------------------------------


@pytest.mark.parametrize(
    ("code", "verdict"),
    [
        pytest.param(500, Verdict.CONFORMS, id="500-conforms"),
        pytest.param(502, Verdict.SHOULD, id="502-should"),
        pytest.param(250, Verdict.MUST, id="250-must"),
    ],
)
def test_unknown_verb_should_get_500(code: int, verdict: Verdict) -> None:
    """An unrecognized command SHOULD get 500, not 502 (§4.2.4). A success
    reply breaks the meaning of the code (§4.3.1)."""
    assert judge(AWAITING_MAIL, b"XYZZY\r\n", code).verdict is verdict


@pytest.mark.parametrize(
    "line",
    [
        pytest.param(b"NOOP\r\n", id="NOOP"),
        pytest.param(b"VRFY postmaster\r\n", id="VRFY"),
        pytest.param(b"EXPN staff\r\n", id="EXPN"),
        pytest.param(b"HELP\r\n", id="HELP"),
    ],
)
def test_command_before_hello_should_not_get_503(line: bytes) -> None:
    """NOOP, HELP, EXPN and VRFY SHOULD be processed before EHLO (§4.1.4)."""
    assert judge(AWAITING_HELLO, line, 503).verdict is Verdict.SHOULD


@pytest.mark.parametrize("code", [500, 502])
@pytest.mark.parametrize(
    ("state", "line"),
    [
        pytest.param(AWAITING_MAIL, b"NOOP\r\n", id="NOOP"),
        pytest.param(AWAITING_MAIL, b"RSET\r\n", id="RSET"),
        pytest.param(AWAITING_MAIL, b"MAIL FROM:<a@example.com>\r\n", id="MAIL"),
        pytest.param(AWAITING_RCPT, b"RCPT TO:<b@example.com>\r\n", id="RCPT"),
        pytest.param(AWAITING_RCPT_OR_DATA, b"DATA\r\n", id="DATA"),
        pytest.param(AWAITING_MAIL, b"QUIT\r\n", id="QUIT"),
    ],
)
def test_required_command_not_recognized_is_must_violation(
    state: SessionState, line: bytes, code: int
) -> None:
    """Every server MUST support these commands (§4.5.1), and "command not
    recognized" in reply to one is a violation (§4.3.2)."""
    assert judge(state, line, code).verdict is Verdict.MUST


@pytest.mark.parametrize("code", [250, 252, 502, 550])
def test_vrfy_may_verify_or_decline(code: int) -> None:
    """VRFY may get 250, 251 or 252, or an error such as 502 or 550 (§4.3.2)."""
    assert judge(AWAITING_MAIL, b"VRFY postmaster\r\n", code).verdict is (
        Verdict.CONFORMS
    )


# --- MAIL --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "verdict"),
    [
        pytest.param(503, Verdict.CONFORMS, id="503-conforms"),
        pytest.param(250, Verdict.POLICY, id="250-policy"),
    ],
)
def test_mail_before_hello_may_be_accepted_or_refused(
    code: int, verdict: Verdict
) -> None:
    """The client MUST send EHLO first (§4.1.4), but no clause states how
    the server replies to a client that does not."""
    line = b"MAIL FROM:<a@example.com>\r\n"
    assert judge(AWAITING_HELLO, line, code).verdict is verdict


def test_mail_accepted_before_hello_awaits_rcpt() -> None:
    """The model follows the server, so an accepted MAIL opens a transaction
    (§4.1.1.2) even without EHLO."""
    session = observe(AWAITING_HELLO, b"MAIL FROM:<a@example.com>\r\n", 250)
    assert session.state.phase is Phase.RCPT


@pytest.mark.parametrize(
    "state",
    [
        pytest.param(AWAITING_RCPT, id="awaiting-rcpt"),
        pytest.param(AWAITING_RCPT_OR_DATA, id="awaiting-rcpt-or-data"),
    ],
)
@pytest.mark.parametrize(
    ("code", "verdict"),
    [
        pytest.param(503, Verdict.CONFORMS, id="503-conforms"),
        pytest.param(250, Verdict.SHOULD, id="250-should"),
    ],
)
def test_nested_mail_should_get_503(
    state: SessionState, code: int, verdict: Verdict
) -> None:
    """MAIL MUST NOT be sent inside an open transaction (§4.1.4). A server
    that cannot process it MUST reply 503."""
    line = b"MAIL FROM:<a@example.com>\r\n"
    assert judge(state, line, code).verdict is verdict


# --- SIZE and other parameters -----------------------------------------------

MAIL_WITH_SIZE = b"MAIL FROM:<a@example.com> SIZE=1000\r\n"
PLAIN_MAIL = b"MAIL FROM:<a@example.com>\r\n"
SIZE_ADVERTISED = replace(AWAITING_MAIL, extensions=frozenset({"SIZE"}))


@pytest.mark.parametrize("code", [250, 552, 503, 550])
def test_mail_size_is_plain_mail_when_advertised(code: int) -> None:
    """Once EHLO listed SIZE, MAIL may carry its parameter (§4.1.1.2)."""
    with_size = judge(SIZE_ADVERTISED, MAIL_WITH_SIZE, code)
    plain = judge(SIZE_ADVERTISED, PLAIN_MAIL, code)
    assert with_size.verdict is plain.verdict
    assert with_size.effect is plain.effect


@pytest.mark.parametrize("code", [501, 555])
def test_valid_size_rejected_as_syntax(code: int) -> None:
    """A valid parameter of an advertised extension is no syntax error."""
    assert judge(SIZE_ADVERTISED, MAIL_WITH_SIZE, code).verdict is Verdict.MUST


@pytest.mark.parametrize(
    "state",
    [
        pytest.param(AWAITING_MAIL, id="ehlo-without-size"),
        pytest.param(
            replace(AWAITING_MAIL_AFTER_HELO, extensions=frozenset({"SIZE"})),
            id="helo",
        ),
    ],
)
@pytest.mark.parametrize(
    ("code", "verdict"),
    [
        pytest.param(555, Verdict.CONFORMS, id="555-conforms"),
        pytest.param(501, Verdict.CONFORMS, id="501-conforms"),
        pytest.param(250, Verdict.SHOULD, id="250-should"),
    ],
)
def test_mail_size_without_advertisement_is_unknown_parameter(
    state: SessionState, code: int, verdict: Verdict
) -> None:
    """A parameter no advertised extension defines should get 555
    (§4.1.1.11)."""
    assert judge(state, MAIL_WITH_SIZE, code).verdict is verdict


def test_mail_size_with_trailing_whitespace_accepted_when_advertised() -> None:
    """Trailing white space SHOULD be tolerated (§4.1.1), so 250 conforms."""
    line = b"MAIL FROM:<a@example.com> SIZE=1000 \r\n"
    assert judge(SIZE_ADVERTISED, line, 250).verdict is Verdict.CONFORMS


# --- End of data -------------------------------------------------------------


@pytest.mark.parametrize("code", [250, 552, 554, 451, 452, 450, 550])
def test_end_of_data_listed_reply_conforms(code: int) -> None:
    """The replies §4.3.2 lists after the content: 250, or 552, 554, 451,
    452, or 450 and 550 for policy reasons."""
    assert judge(AWAITING_CONTENT, MESSAGE_CONTENT, code).verdict is (Verdict.CONFORMS)


@pytest.mark.parametrize("code", [250, 552, 554, 451, 452, 450, 550])
def test_end_of_data_reply_awaits_mail(code: int) -> None:
    """The transaction ends with the reply to the content (§4.1.1.4)."""
    session = observe(AWAITING_CONTENT, MESSAGE_CONTENT, code)
    assert session.state.phase is Phase.MAIL
    assert session.state.recipients == 0


def test_end_of_data_354_is_must_violation() -> None:
    """354 is no reply to the end of the content (§4.1.1.4, §4.3.2)."""
    assert judge(AWAITING_CONTENT, MESSAGE_CONTENT, 354).verdict is Verdict.MUST


# --- 421 and closing ---------------------------------------------------------

STATES_AND_LINES = [
    pytest.param(AWAITING_HELLO, b"EHLO client.example\r\n", id="EHLO"),
    pytest.param(AWAITING_MAIL, b"MAIL FROM:<a@example.com>\r\n", id="MAIL"),
    pytest.param(AWAITING_RCPT, b"RCPT TO:<b@example.com>\r\n", id="RCPT"),
    pytest.param(AWAITING_RCPT_OR_DATA, b"DATA\r\n", id="DATA"),
    pytest.param(AWAITING_CONTENT, MESSAGE_CONTENT, id="content"),
    pytest.param(AWAITING_MAIL, b"NOOP\r\n", id="NOOP"),
    pytest.param(AWAITING_MAIL, b"XYZZY\r\n", id="unknown"),
    pytest.param(REFUSED, b"NOOP\r\n", id="refused"),
]


@pytest.mark.parametrize(("state", "line"), STATES_AND_LINES)
def test_421_is_allowed_everywhere(state: SessionState, line: bytes) -> None:
    """A server may shut down with 421 at any step (§3.8, §4.2.3). The model
    records it as a legal choice."""
    assert judge(state, line, 421).verdict is Verdict.POLICY


@pytest.mark.parametrize(("state", "line"), STATES_AND_LINES)
def test_421_closes_session(state: SessionState, line: bytes) -> None:
    """421 means the server is closing the transmission channel (§4.2.3)."""
    session = observe(state, line, 421)
    assert session.state.phase is Phase.CLOSED


@pytest.mark.parametrize("errors", range(ERRORS_BEFORE_CLOSE))
def test_close_after_few_errors_is_must_violation(errors: int) -> None:
    """The receiver MUST NOT close the channel before QUIT (§4.1.1.10)."""
    session = Session(state=replace(AWAITING_MAIL, errors=errors))
    step = session.judge_close(b"NOOP\r\n")
    assert step.judgement.verdict is Verdict.MUST


@pytest.mark.parametrize("errors", [ERRORS_BEFORE_CLOSE, ERRORS_BEFORE_CLOSE + 5])
def test_close_after_many_errors_is_policy_observation(errors: int) -> None:
    """A server may drop a client that keeps sending errors (§7.8)."""
    session = Session(state=replace(AWAITING_MAIL, errors=errors))
    step = session.judge_close(b"NOOP\r\n")
    assert step.judgement.verdict is Verdict.POLICY


def test_judge_close_closes_session() -> None:
    """Once the server closed the connection, no reply can follow (§3.8)."""
    session = Session(state=AWAITING_RCPT)
    session.judge_close(b"DATA\r\n")
    assert session.state.phase is Phase.CLOSED


def test_rejected_commands_count_toward_close() -> None:
    """4xx and 5xx replies other than 421 raise the session's error count."""
    session = Session(state=AWAITING_RCPT)
    for _ in range(ERRORS_BEFORE_CLOSE):
        session.observe(b"RCPT TO:<nobody@example.com>\r\n", reply(550))
    assert session.state.errors == ERRORS_BEFORE_CLOSE
    assert session.judge_close(b"DATA\r\n").judgement.verdict is Verdict.POLICY


# --- No I/O in the model -----------------------------------------------------

MODEL_MODULES = [
    "conformance.commands",
    "conformance.replies",
    "conformance.rules",
    "conformance.model",
    "conformance.transcript",
]
#: Modules that would give the model sockets, threads, clocks or logging.
FORBIDDEN_IMPORTS = frozenset(
    {"socket", "ssl", "asyncio", "threading", "time", "logging"}
)


def source_path(module: str) -> Path:
    spec = importlib.util.find_spec(module)
    assert spec is not None
    assert spec.origin is not None
    return Path(spec.origin)


def imported_names(module: str) -> set[str]:
    """Return the absolute names of the modules that `module` imports."""
    tree = ast.parse(source_path(module).read_text(encoding="utf-8"))
    package = module.rpartition(".")[0]
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.rsplit(".", node.level - 1)[0]
                base = f"{parent}.{base}" if base else parent
            names.add(base)
            names.update(submodules(base, [alias.name for alias in node.names]))
    return names


def submodules(package: str, names: list[str]) -> list[str]:
    """Return which of `names`, imported "from package", are modules."""
    spec = importlib.util.find_spec(package)
    if spec is None or spec.submodule_search_locations is None:
        return []
    candidates = [f"{package}.{name}" for name in names]
    return [name for name in candidates if importlib.util.find_spec(name)]


def import_chains(module: str) -> dict[str, list[str]]:
    """Map each module imported by `module`, directly or through other
    `conformance` modules, to the chain of imports that reaches it."""
    chains = {module: [module]}
    queue = [module]
    while queue:
        current = queue.pop()
        for name in sorted(imported_names(current)):
            if name in chains:
                continue
            chains[name] = [*chains[current], name]
            if name.split(".")[0] == "conformance":
                queue.append(name)
    return chains


@pytest.mark.parametrize("module", MODEL_MODULES)
def test_model_module_imports_no_io(module: str) -> None:
    """No model module imports, even through another `conformance` module,
    a module for sockets, TLS, async I/O, threads, clocks or logging."""
    chains = import_chains(module)
    forbidden = [
        " -> ".join(chain)
        for name, chain in sorted(chains.items())
        if name.split(".")[0] in FORBIDDEN_IMPORTS
    ]
    assert forbidden == []


def test_content_line_over_limit_may_get_500() -> None:
    """Lines beyond 1000 octets may be rejected as too long (§4.5.3.1.6)."""
    state = SessionState(phase=Phase.CONTENT, identified="EHLO", recipients=1)
    long_content = b"Subject: x\r\n\r\n" + b"y" * 1200 + b"\r\n.\r\n"
    short_content = b"Subject: x\r\n\r\nshort\r\n.\r\n"

    assert expect(state, long_content).judge(500).verdict is Verdict.CONFORMS
    assert expect(state, short_content).judge(500).verdict is Verdict.SHOULD

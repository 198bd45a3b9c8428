"""The sans-IO reference model of an RFC 5321 server session.

A tour of the model:

* `commands.parse_command` reads a command line by the RFC 5321 grammar.
* `expect(state, data)` returns the `rules.Expectation` for sending `data` (a
  command line, or message content after a 354) in `state`. The functions below
  it are the one table of sequencing rules; strategies and reports read it.
* `advance(state, data, reply, judgement)` returns the state after the reply the
  server actually sent. Following the observed reply, instead of a predicted
  one, is what lets every legal server policy pass without configuration: a
  server that accepts MAIL before HELO moves the model into a transaction, a
  server that rejects it leaves the model where it was.
* `Session` ties these together for one connection and records observations.

Nothing here touches sockets, clocks or logging.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace

from conformance import extensions
from conformance.commands import (
    REQUIRED_VERBS,
    Auth,
    Bdat,
    Command,
    Data,
    Expn,
    Hello,
    Help,
    Invalid,
    Mail,
    Noop,
    Obsolete,
    Problem,
    Quit,
    Rcpt,
    Rset,
    Starttls,
    TooLong,
    Unknown,
    Vrfy,
    is_base64,
    parse_command,
    verb_of,
)
from conformance.replies import Reply
from conformance.rules import (
    SHUTDOWN,
    Effect,
    Expectation,
    Judgement,
    Level,
    Outcome,
    Verdict,
    expectation,
    outcome,
    reply_class,
)
from conformance.state import Phase, SessionState

#: A session that has seen this many error replies may be closed by the server
#: without a 421 (RFC 5321 §7.8). RFC 5321 gives no number; 3 follows RFC 4954
#: §9, which asks servers not to drop a client before 3 failed attempts.
ERRORS_BEFORE_CLOSE = 3


_outcome = outcome
_expectation = expectation
TRANSIENT = reply_class(4) - {421}
SYNTAX_ERRORS = frozenset({500, 501})
AUTH_REQUIRED = _outcome(
    [530],
    Level.POLICY,
    "RFC 4954 §6",
    verdict=Verdict.POLICY,
    reason="authentication required by site policy",
)


def _after_transaction(state: SessionState) -> Phase:
    return Phase.MAIL if state.identified else Phase.HELLO


# --- The table --------------------------------------------------------------


def expect(state: SessionState, data: bytes) -> Expectation:
    """Return the replies a conforming server may give to `data` in `state`.

    `data` is a command line with its CRLF, or the message content (ending in
    CRLF.CRLF) when the state awaits content.
    """
    if state.phase is Phase.CONTENT:
        return _expect_content(state, data)
    if state.phase is Phase.GREETING:
        return expect_greeting()
    if state.phase is Phase.AUTH:
        return extensions.expect_sasl_response(state, data)
    return expect_command(state, parse_command(command_line(data)))


def command_line(data: bytes) -> bytes:
    """Return the command line of an input: all of it, but a BDAT's chunk."""
    if data[:5].upper() == b"BDAT ":
        line, crlf, _ = data.partition(b"\r\n")
        return line + crlf
    return data


def split_group(state: SessionState, data: bytes) -> list[bytes]:
    """Split a pipelined group of inputs into one input per reply.

    Each command line is one input, a BDAT line together with its chunk.
    Message content and SASL responses are never split.
    """
    if state.phase in (Phase.CONTENT, Phase.AUTH, Phase.GREETING):
        return [data]
    inputs = []
    rest = data
    while rest:
        line, crlf, rest = rest.partition(b"\r\n")
        command = parse_command(line)
        if isinstance(command, Bdat):
            chunk, rest = rest[: command.size], rest[command.size :]
            inputs.append(line + crlf + chunk)
        else:
            inputs.append(line + crlf)
    return inputs


def expect_greeting() -> Expectation:
    """Return the replies a server may open a connection with (§3.1, §3.8)."""
    return _expectation(
        "connection opening",
        [
            _outcome([220], Level.MUST, "RFC 5321 §3.1, §4.3.2", Effect.GREET),
            _outcome(
                [554],
                Level.MAY,
                "RFC 5321 §3.1",
                Effect.REFUSE,
                Verdict.POLICY,
                "the server refuses service but must wait for QUIT",
            ),
            _outcome(
                [521],
                Level.MAY,
                "RFC 7504 §3",
                Effect.REFUSE,
                Verdict.POLICY,
                "the host accepts no mail",
            ),
        ],
        unlisted=Verdict.MUST,
        section="RFC 5321 §3.1, §4.3.2",
    )


def expect_command(state: SessionState, command: Command) -> Expectation:
    """Return the expectation for a parsed command outside message content."""
    if isinstance(command, Quit):
        return _expect_quit()
    if isinstance(command, Invalid) and command.verb == "QUIT":
        return _expect_invalid(state, command)
    if state.phase is Phase.QUIT_ONLY:
        return _expect_in_refused_session(command)
    if isinstance(command, TooLong):
        return _expect_too_long(state, command)
    if state.phase is Phase.UNSETTLED and not isinstance(command, Rset | Hello):
        return extensions.expect_unsettled(state, command)
    if isinstance(command, Invalid):
        return _expect_invalid(state, command)
    if isinstance(command, Starttls):
        return extensions.expect_starttls(state)
    if isinstance(command, Auth):
        return extensions.expect_auth(state, command)
    if isinstance(command, Bdat):
        return extensions.expect_bdat(state, command)
    if isinstance(command, Unknown):
        return _expect_unknown(command)
    if isinstance(command, Obsolete):
        return _expect_obsolete(command)
    return _expect_valid(state, command)


def _expect_valid(state: SessionState, command: Command) -> Expectation:
    if isinstance(command, Hello):
        expectation = _expect_hello(state, command)
    elif isinstance(command, Mail):
        expectation = _expect_mail(state, command)
    elif isinstance(command, Rcpt):
        expectation = _expect_rcpt(state, command)
    elif isinstance(command, Data):
        expectation = _expect_data(state)
    elif isinstance(command, Rset):
        expectation = _expect_rset()
    elif isinstance(command, Noop):
        expectation = _expect_noop(state, command)
    elif isinstance(command, Vrfy):
        expectation = _expect_vrfy(state)
    elif isinstance(command, Expn):
        expectation = _expect_expn(state)
    else:
        assert isinstance(command, Help)
        expectation = _expect_help(state)
    return _forbid_not_recognized(expectation, command)


def _forbid_not_recognized(expectation: Expectation, command: Command) -> Expectation:
    # "Producing a 'command not recognized' error in response to the required
    # subset of these commands is a violation" (§4.3.2, §4.5.1). Outcomes that
    # explicitly allow 500 or 502 (VRFY, §3.5.3) come first and win.
    verb = verb_of(command)
    if verb not in REQUIRED_VERBS:
        return expectation
    forbidden = _outcome(
        [500, 502],
        Level.MUST,
        "RFC 5321 §4.5.1, §4.3.2",
        verdict=Verdict.MUST,
        reason=f"{verb} is a command every server MUST support",
    )
    return replace(expectation, outcomes=(*expectation.outcomes, forbidden))


def _expect_quit() -> Expectation:
    return _expectation(
        "QUIT",
        [_outcome([221], Level.MUST, "RFC 5321 §4.1.1.10", Effect.CLOSE)],
        unlisted=Verdict.MUST,
        section="RFC 5321 §4.1.1.10",
    )


def _expect_in_refused_session(command: Command) -> Expectation:
    return _expectation(
        f"{verb_of(command)} after a 554 greeting",
        [
            _outcome([503], Level.SHOULD, "RFC 5321 §3.1"),
            _outcome([554, 521], Level.MAY, "RFC 5321 §3.1; RFC 7504 §3"),
            _outcome([250], Level.MAY, "RFC 5321 §4.1.1.5, §4.1.1.9"),
        ],
        section="RFC 5321 §3.1",
    )


def _expect_hello(state: SessionState, command: Hello) -> Expectation:
    return _expectation(
        f"{command.verb} in state '{state.phase.value}'",
        [
            _outcome(
                [250],
                Level.MUST,
                "RFC 5321 §4.1.4, §4.1.1.1",
                Effect.IDENTIFY,
                reason="an accepted EHLO/HELO resets the session as RSET does",
            ),
            _outcome(
                [550],
                Level.SHOULD,
                "RFC 5321 §7.9, §4.1.4",
                verdict=Verdict.POLICY,
                reason="EHLO/HELO rejected by site policy",
            ),
            _outcome([501, 504], Level.MAY, "RFC 5321 §4.1.4, §4.3.2"),
        ],
        unlisted=Verdict.MUST,
        section="RFC 5321 §4.1.4",
    )


def _expect_mail(state: SessionState, command: Mail) -> Expectation:
    description = f"MAIL in state '{state.phase.value}'"
    rejections = _outcome(
        [550, 553, 552, 451, 452, 455, 555, 503],
        Level.MAY,
        "RFC 5321 §3.3, §4.3.2",
    )
    if state.phase in (Phase.RCPT, Phase.RCPT_OR_DATA, Phase.CHUNKS):
        return _expectation(
            description,
            [
                _outcome([503], Level.MUST, "RFC 5321 §4.1.4"),
                _outcome(
                    [250],
                    Level.MUST,
                    "RFC 5321 §4.1.4",
                    Effect.START_MAIL,
                    Verdict.SHOULD,
                    "a nested MAIL was accepted instead of getting 503",
                ),
                AUTH_REQUIRED,
            ],
            section="RFC 5321 §4.1.4",
        )
    outcomes = [rejections, AUTH_REQUIRED, *_limit_outcomes(command.reverse_path)]
    if state.phase is Phase.HELLO:
        # The client MUST send EHLO/HELO first (§4.1.4), but no clause tells the
        # server what to do when it does not: both 503 and 250 are legal.
        outcomes.insert(
            0,
            _outcome(
                [250],
                Level.POLICY,
                "RFC 5321 §4.1.4",
                Effect.START_MAIL,
                Verdict.POLICY,
                "MAIL accepted before EHLO/HELO",
            ),
        )
    else:
        outcomes.insert(
            0, _outcome([250], Level.MUST, "RFC 5321 §3.3", Effect.START_MAIL)
        )
    return _expectation(description, outcomes)


def _expect_rcpt(state: SessionState, command: Rcpt) -> Expectation:
    description = f"RCPT in state '{state.phase.value}'"
    if state.phase is Phase.CHUNKS:
        # RFC 3030 does not say whether recipients may follow a chunk.
        return _expectation(
            description,
            [
                _outcome([250, 251], Level.MAY, "RFC 3030 §2"),
                _outcome([503, 550, 551, 552, 553, 555], Level.MAY, "RFC 3030 §2"),
                _outcome(TRANSIENT, Level.MAY, "RFC 5321 §4.3.2"),
            ],
        )
    if state.phase not in (Phase.RCPT, Phase.RCPT_OR_DATA):
        return _expectation(
            description,
            [
                _outcome([503], Level.MUST, "RFC 5321 §3.3"),
                AUTH_REQUIRED,
                *extensions.kept_across_tls(state, [250, 251], Effect.ADD_RECIPIENT),
            ],
            unlisted=Verdict.MUST,
            section="RFC 5321 §3.3",
        )
    accepted = _outcome(
        [250, 251], Level.MUST, "RFC 5321 §3.3, §4.3.2", Effect.ADD_RECIPIENT
    )
    temporary = _outcome([450, 451, 452, 455], Level.MAY, "RFC 5321 §4.3.2")
    if command.forward_path.lower() == "postmaster":
        # Every server that relays or delivers MUST accept <Postmaster> (§4.5.1).
        refused = _outcome(
            [550, 551, 553, 556],
            Level.MUST,
            "RFC 5321 §4.5.1",
            verdict=Verdict.MUST,
            reason="RCPT TO:<Postmaster> MUST be accepted",
        )
        return _expectation(
            description,
            [
                accepted,
                temporary,
                _outcome([552, 555, 503], Level.MAY, "RFC 5321 §4.3.2"),
                AUTH_REQUIRED,
                refused,
            ],
        )
    rejections = _outcome(
        [550, 551, 552, 553, 555, 503],
        Level.MAY,
        "RFC 5321 §3.3, §4.3.2",
    )
    no_mail = _outcome([556], Level.MAY, "RFC 7504 §1")
    return _expectation(
        description,
        [
            accepted,
            temporary,
            rejections,
            no_mail,
            AUTH_REQUIRED,
            *_limit_outcomes(command.forward_path),
        ],
    )


def _limit_outcomes(path: str) -> list[Outcome]:
    # Objects beyond the minimum sizes MAY be rejected (§4.5.3.1, §4.5.3.1.9).
    local, _, domain = path.rpartition("@")
    if len(local) > 64 or len(domain) > 255 or len(path) + 2 > 256:
        return [
            _outcome(
                [501, 553],
                Level.MAY,
                "RFC 5321 §4.5.3.1",
                reason="the path exceeds a size every server must accept",
            )
        ]
    return []


def _expect_data(state: SessionState) -> Expectation:
    description = f"DATA in state '{state.phase.value}'"
    binary = state.body == "BINARYMIME" and state.phase is not Phase.MAIL
    if state.phase is Phase.CHUNKS or binary:
        return extensions.expect_data_after_chunks(state)
    refusals = _outcome([503, 554], Level.MAY, "RFC 5321 §3.3")
    if state.phase is Phase.RCPT_OR_DATA:
        return _expectation(
            description,
            [
                _outcome([354], Level.MUST, "RFC 5321 §3.3", Effect.START_DATA),
                refusals,
                _outcome(
                    TRANSIENT,
                    Level.POLICY,
                    "RFC 5321 §4.2.1",
                    verdict=Verdict.POLICY,
                    reason="DATA refused temporarily",
                ),
                AUTH_REQUIRED,
            ],
        )
    if state.phase is Phase.RCPT:
        pipelining = "PIPELINING" in state.extensions
        return _expectation(
            description,
            [
                refusals,
                _outcome(
                    [354],
                    Level.SHOULD if pipelining else Level.MAY,
                    "RFC 2920 §3.2" if pipelining else "RFC 5321 §3.3",
                    Effect.START_DATA,
                    Verdict.SHOULD if pipelining else Verdict.POLICY,
                    "354 to DATA although no recipient was accepted since the "
                    "last MAIL",
                ),
                AUTH_REQUIRED,
            ],
        )
    return _expectation(
        description,
        [
            refusals,
            AUTH_REQUIRED,
            *extensions.kept_across_tls(state, [354], Effect.START_DATA),
        ],
        section="RFC 5321 §3.3, §4.1.4",
    )


#: RFC 5321 §4.5.3.1.6: a text line, CRLF included, may be this long.
MAX_TEXT_LINE = 1000


def _expect_content(state: SessionState, data: bytes = b"") -> Expectation:
    # Only CRLF.CRLF ends the content (§4.1.1.4); a server that rejects bare
    # CR or LF may answer at once and close, which 421 and 521 cover.
    description = "end of message content"
    outcomes = [
        _outcome(
            [552, 554, 451, 452, 450, 550],
            Level.MUST,
            "RFC 5321 §4.1.1.4, §4.3.2",
            Effect.END_MESSAGE,
        ),
        _outcome(
            TRANSIENT | reply_class(5),
            Level.MAY,
            "RFC 5321 §4.1.1.4",
            Effect.END_MESSAGE,
            Verdict.SHOULD,
            "a failure code not listed for the end of data",
        ),
    ]
    if any(len(line) + 2 > MAX_TEXT_LINE for line in data.split(b"\r\n")):
        # A server may reject lines beyond the limit, for example with
        # "500 Line too long" (§4.5.3.1.9).
        outcomes.insert(
            0,
            _outcome(
                [500],
                Level.MAY,
                "RFC 5321 §4.5.3.1.6, §4.5.3.1.9",
                Effect.END_MESSAGE,
                reason="a content line exceeds the 1000 octets every server "
                "must accept",
            ),
        )
    outcomes.append(
        _outcome(
            [521],
            Level.POLICY,
            "RFC 5321 §7.8; RFC 7504 §3",
            Effect.CLOSE,
            Verdict.POLICY,
            "the server rejected the content and closes the connection",
        )
    )
    if state.recipients == 0:
        pipelining = "PIPELINING" in state.extensions
        accepted = _outcome(
            [250],
            Level.MUST if pipelining else Level.SHOULD,
            "RFC 2920 §3.2" if pipelining else "RFC 5321 §4.1.1.4",
            Effect.END_MESSAGE,
            Verdict.MUST if pipelining else Verdict.SHOULD,
            "a message was accepted although no recipient was accepted since "
            "the last MAIL",
        )
    else:
        accepted = _outcome([250], Level.MUST, "RFC 5321 §4.1.1.4", Effect.END_MESSAGE)
    limit = state.size_limit
    if limit is not None and message_size(data) > limit:
        accepted = _outcome(
            [250],
            Level.SHOULD,
            "RFC 1870 §4",
            Effect.END_MESSAGE,
            Verdict.SHOULD,
            f"a message of {message_size(data)} octets was accepted although "
            f"the server advertised a fixed maximum of {limit}; such messages "
            "are rejected with 552",
        )
    return _expectation(
        description,
        [accepted, *outcomes],
        unlisted=Verdict.MUST,
        section="RFC 5321 §4.1.1.4",
    )


def message_size(content: bytes) -> int:
    """Return the size RFC 1870 §5 gives content: CRLFs count, the final dot
    line and the dots added by stuffing do not."""
    body = content.removesuffix(b".\r\n")
    stuffed = body.count(b"\r\n.") + body.startswith(b".")
    return len(body) - stuffed


def _expect_rset() -> Expectation:
    return _expectation(
        "RSET",
        [_outcome([250], Level.MUST, "RFC 5321 §4.1.1.5", Effect.RESET)],
        unlisted=Verdict.MUST,
        section="RFC 5321 §4.1.1.5",
    )


def _before_hello(state: SessionState, verb: str) -> list[Outcome]:
    # NOOP, HELP, EXPN, VRFY and RSET SHOULD be processed normally before EHLO.
    if state.phase is not Phase.HELLO:
        return []
    return [
        _outcome(
            [503],
            Level.SHOULD,
            "RFC 5321 §4.1.4",
            verdict=Verdict.SHOULD,
            reason=f"{verb} before EHLO/HELO SHOULD be processed normally",
        )
    ]


def _expect_noop(state: SessionState, command: Noop) -> Expectation:
    outcomes = [_outcome([250], Level.MUST, "RFC 5321 §4.1.1.9")]
    if command.text:
        outcomes.append(
            _outcome(
                [501],
                Level.SHOULD,
                "RFC 5321 §4.1.1.9",
                verdict=Verdict.SHOULD,
                reason="the NOOP argument SHOULD be ignored",
            )
        )
    return _expectation(
        "NOOP",
        [*outcomes, *_before_hello(state, "NOOP")],
        unlisted=Verdict.MUST,
        section="RFC 5321 §4.1.1.9",
    )


def _expect_vrfy(state: SessionState) -> Expectation:
    return _expectation(
        "VRFY",
        [
            *_before_hello(state, "VRFY"),
            _outcome([250, 251, 252], Level.MAY, "RFC 5321 §3.5.3, §4.3.2"),
            _outcome(
                [550, 551, 553, 502, 504, 500, 501],
                Level.MAY,
                "RFC 5321 §3.5.3, §4.3.2",
            ),
            AUTH_REQUIRED,
        ],
    )


def _expect_expn(state: SessionState) -> Expectation:
    # NOTE: RFC 5321 §3.5.2 requires a server that supports EXPN to list it in
    # its EHLO reply; the model does not yet compare the two.
    return _expectation(
        "EXPN",
        [
            *_before_hello(state, "EXPN"),
            _outcome([250, 252], Level.MAY, "RFC 5321 §3.5.2, §4.3.2"),
            _outcome([550, 500, 502, 504, 501], Level.MAY, "RFC 5321 §4.3.2"),
            AUTH_REQUIRED,
        ],
    )


def _expect_help(state: SessionState) -> Expectation:
    return _expectation(
        "HELP",
        [
            *_before_hello(state, "HELP"),
            _outcome([211, 214], Level.SHOULD, "RFC 5321 §4.1.1.8, §4.3.2"),
            _outcome([502, 504, 500, 501], Level.MAY, "RFC 5321 §4.3.2"),
        ],
    )


def _expect_unknown(command: Unknown) -> Expectation:
    return _expectation(
        f"unrecognized command {command.verb!r}",
        [
            _outcome([500], Level.SHOULD, "RFC 5321 §4.2.4, §4.3.2"),
            _outcome(
                [502],
                Level.SHOULD,
                "RFC 5321 §4.2.4",
                verdict=Verdict.SHOULD,
                reason="502 means 'recognized but not implemented'; an "
                "unrecognized command SHOULD get 500",
            ),
        ],
        section="RFC 5321 §4.2.4, §4.3.2",
    )


def _expect_obsolete(command: Obsolete) -> Expectation:
    # NOTE: strategies never send these verbs; a server that still implements
    # SEND or SAML would need the transaction rules applied here.
    return _expectation(
        f"obsolete command {command.verb}",
        [_outcome([500, 502], Level.SHOULD, "RFC 5321 §4.2.4, Appendix F")],
    )


def _expect_too_long(state: SessionState, command: TooLong) -> Expectation:
    reading = expect_command(state, command.reading)
    too_long = _outcome(
        [500, 501],
        Level.MAY,
        "RFC 5321 §4.5.3.1, §4.5.3.1.9",
        reason=f"the line is {command.length} octets, beyond the 512 every "
        "server must accept",
    )
    return Expectation(
        f"{reading.command}, {command.length}-octet line",
        (SHUTDOWN, too_long, *_without_shutdown(reading.outcomes)),
        reading.unlisted,
        reading.section,
    )


#: MAIL and RCPT parameters, by the EHLO keyword that makes them legal.
PARAMETER_EXTENSIONS = {
    "SIZE": {"SIZE"},
    "BODY": {"8BITMIME", "BINARYMIME"},
    "SMTPUTF8": {"SMTPUTF8"},
    "AUTH": {"AUTH"},
    "RET": {"DSN"},
    "ENVID": {"DSN"},
    "NOTIFY": {"DSN"},
    "ORCPT": {"DSN"},
}


def _parameters_advertised(state: SessionState, command: Command | None) -> bool:
    if not isinstance(command, Mail | Rcpt) or state.identified != "EHLO":
        return False
    for parameter in command.parameters:
        keyword = parameter.split("=", 1)[0].upper()
        if not PARAMETER_EXTENSIONS.get(keyword, set()) & state.extensions:
            return False
    return True


def _expect_invalid(state: SessionState, command: Invalid) -> Expectation:
    reading_command = command.lenient_reading
    if command.problem is Problem.UNKNOWN_PARAMETER and _parameters_advertised(
        state, reading_command
    ):
        assert isinstance(reading_command, Mail | Rcpt)
        return _expect_path_command(state, reading_command)
    if command.problem is Problem.NEEDS_SMTPUTF8:
        assert isinstance(reading_command, Mail | Rcpt)
        if not reading_command.parameters or _parameters_advertised(
            state, reading_command
        ):
            return extensions.expect_utf8_path(
                state, reading_command, _expect_path_command(state, reading_command)
            )
    if (
        isinstance(reading_command, Auth)
        and reading_command.initial_response is not None
        and not is_base64(reading_command.initial_response)
    ):
        return extensions.expect_bad_initial_response(state, command)
    description = f"{command.verb} whose syntax is invalid: {command.problem.value}"
    reading = (
        expect_command(state, command.lenient_reading)
        if command.lenient_reading is not None
        else None
    )
    if command.problem is Problem.TRAILING_WHITESPACE and reading is not None:
        rejected = _outcome(
            SYNTAX_ERRORS,
            Level.SHOULD,
            "RFC 5321 §4.1.1",
            verdict=Verdict.SHOULD,
            reason="trailing white space SHOULD be tolerated",
        )
        # The rejection comes first so that 500 here reads as "syntax error",
        # not as "command not recognized" for a required command.
        return Expectation(
            description,
            (SHUTDOWN, rejected, *_without_shutdown(reading.outcomes)),
            reading.unlisted,
            reading.section,
        )

    syntax_error = _outcome(SYNTAX_ERRORS, Level.SHOULD, "RFC 5321 §4.3.2, §4.1.4")
    outcomes = [syntax_error, *_invalid_extras(state, command)]
    if reading is not None:
        verdict, section, reason = _acceptance_verdict(command)
        for outcome in _without_shutdown(reading.outcomes):
            acted_on = outcome.effect is not Effect.STAY
            if (
                acted_on
                and outcome.verdict <= Verdict.POLICY
                and verdict > outcome.verdict
            ):
                outcome = replace(
                    outcome,
                    verdict=verdict,
                    level=Level.SHOULD,
                    section=section,
                    reason=reason,
                )
            outcomes.append(outcome)
    return _expectation(description, outcomes, Verdict.SHOULD, "RFC 5321 §4.3.2")


def _acceptance_verdict(command: Invalid) -> tuple[Verdict, str, str]:
    """Judge a server that acts on an invalid line instead of rejecting it.

    Accepting is never worse than a SHOULD deviation: RFC 5321 requires 501
    only for arguments the server finds "not acceptable" (§4.1.4), so a
    liberal server is not in violation, but the reply codes of §4.3.2 "SHOULD
    be strictly adhered to".
    """
    if command.tolerated:
        return Verdict.CONFORMS, "", ""
    if command.problem is Problem.UNEXPECTED_ARGUMENT:
        if command.verb == "QUIT":
            # §4.1.1.10 says the receiver MUST send 221 to QUIT.
            return Verdict.CONFORMS, "", ""
        return (
            Verdict.SHOULD,
            "RFC 5321 §4.3.2",
            f"{command.verb} with an argument SHOULD get 501",
        )
    if command.problem is Problem.UNKNOWN_PARAMETER:
        return (
            Verdict.SHOULD,
            "RFC 5321 §4.1.1.11",
            "a parameter no advertised extension defines was accepted; "
            "it should get 555",
        )
    return (
        Verdict.SHOULD,
        "RFC 5321 §4.1.4, §4.3.2",
        f"{command.verb} with invalid syntax ({command.problem.value}) was "
        "accepted instead of getting 501",
    )


def _expect_path_command(state: SessionState, command: Mail | Rcpt) -> Expectation:
    """Return the expectation for MAIL or RCPT whose parameters are advertised."""
    plain = expect_command(state, _without_parameters(command))
    if not command.parameters:
        return plain
    return extensions.expect_parameters(state, command, plain)


def _without_parameters(command: Command) -> Command:
    if isinstance(command, Mail):
        return Mail(command.reverse_path)
    if isinstance(command, Rcpt):
        return Rcpt(command.forward_path)
    return command


def _invalid_extras(state: SessionState, command: Invalid) -> list[Outcome]:
    extras = []
    if command.verb in ("EHLO", "HELO"):
        extras.append(_outcome([550, 502, 504], Level.MAY, "RFC 5321 §4.1.4"))
    if command.verb in ("MAIL", "RCPT"):
        extras.append(_outcome([553, 550], Level.MAY, "RFC 5321 §4.3.2"))
    if command.problem is Problem.UNKNOWN_PARAMETER:
        extras.append(_outcome([555, 504, 455], Level.MAY, "RFC 5321 §4.1.1.11"))
    if _out_of_sequence(state, command.verb):
        extras.append(_outcome([503], Level.MAY, "RFC 5321 §4.1.4"))
    if command.verb in ("VRFY", "EXPN", "HELP", "NOOP"):
        extras.append(_outcome([502, 504], Level.MAY, "RFC 5321 §4.3.2"))
    extras.extend(_before_hello(state, command.verb))
    extras.append(AUTH_REQUIRED)
    return extras


def _out_of_sequence(state: SessionState, verb: str) -> bool:
    if verb == "MAIL":
        return state.phase in (Phase.RCPT, Phase.RCPT_OR_DATA, Phase.HELLO)
    if verb == "RCPT":
        return state.phase not in (Phase.RCPT, Phase.RCPT_OR_DATA)
    if verb == "DATA":
        return state.phase is not Phase.RCPT_OR_DATA
    return False


def _without_shutdown(outcomes: Iterable[Outcome]) -> list[Outcome]:
    return [outcome for outcome in outcomes if outcome is not SHUTDOWN]


# --- Advancing the state ----------------------------------------------------


def advance(
    state: SessionState,
    effect: Effect,
    reply: Reply | None,
    verb: str = "",
    command: Command | None = None,
) -> SessionState:
    """Return the state after a reply whose judged effect is `effect`.

    `verb` is the verb of the command the reply answers; it tells an accepted
    EHLO from an accepted HELO. `command` is the parsed command, when there
    is one; it gives the parameters of an accepted MAIL and the mechanism of
    an AUTH.
    """
    errors = state.errors
    if reply is not None and reply.code >= 400 and reply.code != 421:
        errors += 1
    state = replace(state, errors=errors)

    if effect is Effect.STAY:
        return state
    if effect is Effect.CLOSE:
        return replace(state, phase=Phase.CLOSED)
    if effect is Effect.GREET:
        return replace(state, phase=Phase.HELLO)
    if effect is Effect.REFUSE:
        return replace(state, phase=Phase.QUIT_ONLY)
    if effect is Effect.IDENTIFY:
        return _identify(state, reply, verb)
    if effect is Effect.START_MAIL:
        return _start_mail(state, command)
    if effect is Effect.ADD_RECIPIENT:
        return replace(state, phase=Phase.RCPT_OR_DATA, recipients=state.recipients + 1)
    if effect is Effect.START_DATA:
        return replace(state, phase=Phase.CONTENT)
    if effect in (Effect.START_TLS, Effect.SASL_CHALLENGE, Effect.AUTHENTICATED):
        return _advance_security(state, effect, command)
    if effect is Effect.END_SASL:
        return replace(state, phase=_sasl_resumes(state), sasl=None)
    if effect is Effect.ADD_CHUNK:
        return replace(state, phase=Phase.CHUNKS)
    if effect is Effect.UNSETTLE:
        return replace(state, phase=Phase.UNSETTLED)
    assert effect in (Effect.END_MESSAGE, Effect.RESET)
    if state.phase is Phase.QUIT_ONLY:
        return state
    return replace(
        state, phase=_after_transaction(state), recipients=0, body="", utf8=False
    )


def _start_mail(state: SessionState, command: Command | None) -> SessionState:
    body = ""
    utf8 = False
    if isinstance(command, Invalid):
        command = command.lenient_reading
    if isinstance(command, Mail):
        parameters = dict(extensions.parse_parameters(command.parameters))
        body = (parameters.get("BODY") or "").upper()
        utf8 = "SMTPUTF8" in parameters
    return replace(
        state, phase=Phase.RCPT, recipients=0, body=body, utf8=utf8, tls_reset=False
    )


def _advance_security(
    state: SessionState, effect: Effect, command: Command | None
) -> SessionState:
    if effect is Effect.START_TLS:
        return extensions.after_tls(state)
    if effect is Effect.AUTHENTICATED:
        return replace(state, phase=_sasl_resumes(state), authenticated=True, sasl=None)
    # A 334 challenge: to AUTH it starts the exchange, to a response it
    # continues it.
    if state.phase is Phase.AUTH and state.sasl is not None:
        mechanism, answered = state.sasl
        return replace(state, sasl=(mechanism, answered + 1))
    if isinstance(command, Invalid):
        command = command.lenient_reading
    mechanism = command.mechanism if isinstance(command, Auth) else ""
    return replace(
        state, phase=Phase.AUTH, sasl=(mechanism, 0), before_sasl=state.phase
    )


def _sasl_resumes(state: SessionState) -> Phase:
    # AUTH leaves the session where it was: before EHLO, or (where a server
    # wrongly accepts it there) inside a transaction.
    return state.before_sasl if state.phase is Phase.AUTH else state.phase


def _identify(state: SessionState, reply: Reply | None, verb: str) -> SessionState:
    # The reply to HELO carries no extensions (§3.2); the EHLO reply lists one
    # keyword per line after the first (§4.1.1.1).
    lines: tuple[str, ...] = ()
    if verb == "EHLO" and reply is not None:
        lines = tuple(line.upper() for line in reply.lines[1:] if line)
    keywords = frozenset(line.split(" ")[0] for line in lines)
    return replace(
        state,
        phase=Phase.MAIL,
        identified=verb or "EHLO",
        extensions=keywords,
        extension_lines=lines,
        recipients=0,
        body="",
        utf8=False,
    )


#: Service extension keywords registered with IANA that a HELO reply might
#: wrongly list; a match on a later line marks an EHLO-style reply.
KNOWN_EXTENSIONS = frozenset(
    {
        "8BITMIME",
        "AUTH",
        "BINARYMIME",
        "CHUNKING",
        "DELIVERBY",
        "DSN",
        "ENHANCEDSTATUSCODES",
        "ETRN",
        "EXPN",
        "HELP",
        "MT-PRIORITY",
        "PIPELINING",
        "REQUIRETLS",
        "SIZE",
        "SMTPUTF8",
        "STARTTLS",
        "VRFY",
    }
)


def _check_helo_reply(judgement: Judgement, reply: Reply) -> Judgement:
    # "Servers MUST NOT return the extended EHLO-style response to a HELO
    # command" (§3.2).
    keywords = {line.split(" ")[0].upper() for line in reply.lines[1:]}
    if not keywords & KNOWN_EXTENSIONS:
        return judgement
    return replace(
        judgement,
        verdict=Verdict.MUST,
        section="RFC 5321 §3.2",
        reason="the reply to HELO lists service extensions as an EHLO reply does",
    )


# --- One session ------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    """One exchange: the bytes sent (None for the greeting) and the judgement."""

    sent: bytes | None
    reply: Reply | None
    expectation: Expectation
    judgement: Judgement


@dataclass
class Session:
    """The model of one connection, fed with what was sent and received."""

    state: SessionState = field(default_factory=SessionState)
    steps: list[Step] = field(default_factory=list)

    def expect(self, data: bytes | None) -> Expectation:
        """Return the expectation for sending `data` (None: the greeting)."""
        if data is None:
            return expect_greeting()
        return expect(self.state, data)

    def observe(
        self,
        data: bytes | None,
        reply: Reply,
        expectation: Expectation | None = None,
    ) -> Step:
        """Judge `reply` to `data`, advance the state, and return the step.

        `expectation` is `expect(data)` in the current state, if the caller
        worked it out already (while the reply was on its way).
        """
        if expectation is None:
            expectation = self.expect(data)
        judgement = expectation.judge(reply.code)
        if reply.notes and judgement.verdict < Verdict.SHOULD:
            # The code is right but the reply's form departs from a SHOULD.
            note = reply.notes[0]
            judgement = replace(
                judgement,
                verdict=Verdict.SHOULD,
                section=note.section,
                reason=note.text,
            )
        verb = ""
        command = None
        if data is not None and self.state.phase not in (Phase.CONTENT, Phase.AUTH):
            command = parse_command(command_line(data))
            verb = verb_of(command)
        if verb == "HELO" and judgement.effect is Effect.IDENTIFY:
            judgement = _check_helo_reply(judgement, reply)
        problem = extensions.check_reply(self.state, verb, reply)
        if problem is not None and judgement.verdict < Verdict.MUST:
            judgement = replace(
                judgement,
                verdict=Verdict.MUST,
                section=problem[0],
                reason=problem[1],
            )
        self.state = advance(self.state, judgement.effect, reply, verb, command)
        step = Step(data, reply, expectation, judgement)
        self.steps.append(step)
        return step

    def judge_close(self, data: bytes | None) -> Step:
        """Judge the server closing the connection instead of replying."""
        expectation = self.expect(data)
        if self.state.errors >= ERRORS_BEFORE_CLOSE:
            judgement = Judgement(
                Verdict.POLICY,
                Effect.CLOSE,
                "RFC 5321 §7.8",
                f"the server closed the connection after {self.state.errors} "
                "error replies",
            )
        else:
            judgement = Judgement(
                Verdict.MUST,
                Effect.CLOSE,
                "RFC 5321 §3.8, §4.1.1.10",
                "the server closed the connection without a reply; it MUST NOT "
                "close except after 221 to QUIT, after 421, or on a timeout",
            )
        self.state = replace(self.state, phase=Phase.CLOSED)
        step = Step(data, None, expectation, judgement)
        self.steps.append(step)
        return step

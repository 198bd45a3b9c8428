"""Model rules for the ESMTP service extensions a server advertises.

`conformance.model` hands every extension command (STARTTLS, AUTH, BDAT), every
SASL response and every MAIL or RCPT parameter of an advertised extension to
the functions here, which return an `Expectation` like the base rules do.
`check_reply` adds the rules that judge a reply's form rather than its code:
enhanced status codes (RFC 2034) and the EHLO keyword list.

An extension's syntax is only legal after an EHLO reply listed its keyword
(RFC 5321 §4.1.1.11, §2.2.2). Strategies send it only then; a server that gets
it anyway may treat the command as unknown.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import replace

from conformance.commands import (
    Auth,
    Bdat,
    Command,
    Data,
    Invalid,
    Mail,
    Rcpt,
    is_base64,
    verb_of,
)
from conformance.replies import Reply
from conformance.rules import (
    Effect,
    Expectation,
    Level,
    Outcome,
    Verdict,
    expectation,
    outcome,
    reply_class,
)
from conformance.state import Phase, SessionState

#: Replies that mean "no such command here" or "not now" for a command whose
#: extension the last EHLO did not advertise.
NOT_OFFERED = frozenset({500, 501, 502, 503, 504, 530, 538, 554})

_IN_TRANSACTION = (Phase.RCPT, Phase.RCPT_OR_DATA, Phase.CHUNKS, Phase.UNSETTLED)


def expect_not_advertised(state: SessionState, verb: str) -> Expectation:
    """Return the expectation for an extension verb the server did not offer."""
    return expectation(
        f"{verb}, not advertised in state '{state.phase.value}'",
        [outcome(NOT_OFFERED, Level.MAY, "RFC 5321 §4.2.4, §2.2.2")],
        section="RFC 5321 §4.2.4",
    )


# --- STARTTLS (RFC 3207) -----------------------------------------------------


def expect_starttls(state: SessionState) -> Expectation:
    """Return the replies STARTTLS may get (RFC 3207 §4, §4.2)."""
    description = f"STARTTLS in state '{state.phase.value}'"
    if state.tls:
        return expectation(
            description + " with TLS already active",
            [
                outcome([503, 554, 502, 500, 501, 454], Level.MAY, "RFC 3207 §4.2"),
                outcome(
                    [220],
                    Level.SHOULD,
                    "RFC 3207 §4.2",
                    Effect.START_TLS,
                    Verdict.SHOULD,
                    "a second STARTTLS inside the TLS session got 220; RFC 3207 "
                    "forbids a second negotiation (the client MUST NOT try it, "
                    "and the server no longer offers it)",
                ),
            ],
            section="RFC 3207 §4.2",
        )
    if not state.advertises("STARTTLS"):
        return expectation(
            description + ", not advertised",
            [
                outcome(NOT_OFFERED | {454}, Level.MAY, "RFC 5321 §4.2.4"),
                outcome(
                    [220],
                    Level.POLICY,
                    "RFC 3207 §4",
                    Effect.START_TLS,
                    Verdict.POLICY,
                    "STARTTLS accepted although the last EHLO did not offer it",
                ),
            ],
        )
    return expectation(
        description,
        [
            outcome([220], Level.MUST, "RFC 3207 §4", Effect.START_TLS),
            outcome([454], Level.MAY, "RFC 3207 §4"),
            outcome([503], Level.MAY, "RFC 3207 §4.2"),
        ],
        section="RFC 3207 §4",
    )


def after_tls(state: SessionState) -> SessionState:
    """Return the state after a completed TLS handshake (RFC 3207 §4.2).

    The server MUST discard all knowledge obtained from the client before TLS:
    the EHLO argument, the transaction, any authentication.
    """
    return SessionState(
        phase=Phase.HELLO, errors=state.errors, tls=True, tls_reset=True
    )


def kept_across_tls(
    state: SessionState, codes: list[int], effect: Effect
) -> list[Outcome]:
    """Return the outcome for a reply that only a transaction from before
    STARTTLS explains, or nothing if no STARTTLS reset the session.

    The model follows the server into the kept transaction, so that a
    waived finding leaves the model in step.
    """
    if not state.tls_reset:
        return []
    return [
        outcome(
            codes,
            Level.MUST,
            "RFC 3207 §4.2",
            effect,
            Verdict.MUST,
            "the transaction from before STARTTLS survived the TLS handshake; "
            "the server MUST discard it",
        )
    ]


# --- AUTH (RFC 4954) ---------------------------------------------------------

_AUTH_FAILURES = [535, 534, 454, 432, 538, 500, 501, 504, 530]


def expect_auth(state: SessionState, command: Auth) -> Expectation:
    """Return the replies an AUTH command may get (RFC 4954 §4, §6)."""
    description = f"AUTH {command.mechanism} in state '{state.phase.value}'"
    if not state.advertises("AUTH"):
        return expectation(
            description + ", not advertised",
            [
                outcome(NOT_OFFERED, Level.MAY, "RFC 5321 §4.2.4"),
                *_auth_success(Level.POLICY, "RFC 4954 §3", Verdict.POLICY),
            ],
        )
    if state.authenticated or state.phase in _IN_TRANSACTION:
        why = (
            "after a successful AUTH any further AUTH"
            if state.authenticated
            else "AUTH during a mail transaction"
        )
        # A server that goes ahead anyway is followed into the exchange, so
        # that a waived finding does not leave the model out of step. Any
        # other reply means the server processed the command (say, checked
        # the credentials and sent 535) instead of rejecting it.
        processed = f"{why} was processed instead of getting 503"
        return expectation(
            description,
            [
                outcome([503], Level.MUST, "RFC 4954 §4", reason=f"{why} MUST get 503"),
                *_auth_success(Level.MUST, "RFC 4954 §4", Verdict.MUST, processed),
                outcome(
                    reply_class(4) | reply_class(5),
                    Level.MUST,
                    "RFC 4954 §4",
                    verdict=Verdict.MUST,
                    reason=processed,
                ),
            ],
            unlisted=Verdict.MUST,
            section="RFC 4954 §4",
        )
    if command.mechanism not in state.auth_mechanisms:
        return expectation(
            description + ", mechanism not advertised",
            [
                outcome([504], Level.SHOULD, "RFC 4954 §4"),
                outcome(_AUTH_FAILURES, Level.MAY, "RFC 4954 §4, §6"),
                *_auth_success(
                    Level.SHOULD,
                    "RFC 4954 §4",
                    Verdict.SHOULD,
                    "a mechanism the server did not advertise was accepted; "
                    "it SHOULD get 504",
                ),
            ],
            section="RFC 4954 §4",
        )
    return expectation(
        description,
        [
            *_auth_success(Level.MUST, "RFC 4954 §4"),
            outcome(_AUTH_FAILURES, Level.MAY, "RFC 4954 §4, §6"),
        ],
        section="RFC 4954 §4, §6",
    )


def expect_bad_initial_response(state: SessionState, command: Invalid) -> Expectation:
    """Return the replies to AUTH whose initial response is not base64."""
    assert isinstance(command.lenient_reading, Auth)
    reading = expect_auth(state, command.lenient_reading)
    unknown_mechanism = command.lenient_reading.mechanism not in state.auth_mechanisms
    if reading.unlisted is Verdict.MUST or unknown_mechanism:
        # 503, "not advertised" and 504 for the mechanism come before the
        # response is decoded.
        return reading
    return _undecodable(reading.command + ", response not base64")


def expect_sasl_response(state: SessionState, line: bytes) -> Expectation:
    """Return the replies to one line sent after a 334 challenge."""
    text = line.removesuffix(b"\r\n")
    if text == b"*":
        return expectation(
            "SASL cancel (*)",
            [
                outcome(
                    [501],
                    Level.MUST,
                    "RFC 4954 §4",
                    Effect.END_SASL,
                    reason="a cancelled exchange MUST get 501",
                )
            ],
            unlisted=Verdict.MUST,
            section="RFC 4954 §4",
        )
    if not text.isascii() or not is_base64(text.decode("ascii")):
        return _undecodable("SASL response that is not base64")
    return expectation(
        "SASL response",
        [
            outcome([334], Level.MUST, "RFC 4954 §4", Effect.SASL_CHALLENGE),
            outcome([235], Level.MUST, "RFC 4954 §4", Effect.AUTHENTICATED),
            outcome(_AUTH_FAILURES, Level.MAY, "RFC 4954 §4, §6", Effect.END_SASL),
        ],
        section="RFC 4954 §4, §6",
    )


def _undecodable(description: str) -> Expectation:
    return expectation(
        description,
        [
            outcome(
                [501],
                Level.MUST,
                "RFC 4954 §4",
                Effect.END_SASL,
                reason="a response that cannot be base64-decoded MUST get 501",
            ),
            outcome(
                [500, 535],
                Level.MUST,
                "RFC 4954 §4",
                Effect.END_SASL,
                Verdict.SHOULD,
                "a response that cannot be base64-decoded gets 501",
            ),
        ],
        unlisted=Verdict.MUST,
        section="RFC 4954 §4",
    )


def _auth_success(
    level: Level, section: str, verdict: Verdict = Verdict.CONFORMS, reason: str = ""
) -> list[Outcome]:
    return [
        outcome([334], level, section, Effect.SASL_CHALLENGE, verdict, reason),
        outcome([235], level, section, Effect.AUTHENTICATED, verdict, reason),
    ]


# --- CHUNKING and BINARYMIME (RFC 3030) --------------------------------------


def expect_bdat(state: SessionState, command: Bdat) -> Expectation:
    """Return the replies to one BDAT command and its chunk (RFC 3030 §2)."""
    description = f"BDAT {command.size}{' LAST' if command.last else ''} in state "
    description += f"'{state.phase.value}'"
    if not state.advertises("CHUNKING"):
        return expect_not_advertised(state, "BDAT")
    accepted = Effect.END_MESSAGE if command.last else Effect.ADD_CHUNK
    failed = outcome(
        reply_class(4) | reply_class(5),
        Level.MUST,
        "RFC 3030 §2",
        Effect.UNSETTLE,
        reason="after a failed BDAT the state is indeterminate until RSET",
    )
    if state.phase in (Phase.RCPT_OR_DATA, Phase.CHUNKS):
        return expectation(
            description,
            [outcome([250], Level.MUST, "RFC 3030 §2", accepted), failed],
            unlisted=Verdict.MUST,
            section="RFC 3030 §2",
        )
    if state.phase is Phase.RCPT:
        no_recipient = outcome(
            [250],
            Level.SHOULD,
            "RFC 5321 §3.3; RFC 3030 §2",
            accepted,
            Verdict.SHOULD,
            "a BDAT chunk was accepted although no recipient was accepted",
        )
        return expectation(description, [failed, no_recipient], section="RFC 3030 §2")
    # No transaction: the chunk MUST still be read and discarded before the
    # reply, whatever the reply is.
    return expectation(
        description,
        [
            outcome([503, 554], Level.MUST, "RFC 3030 §2"),
            outcome(reply_class(4) | reply_class(5), Level.MAY, "RFC 3030 §2"),
            outcome(
                [250],
                Level.MUST,
                "RFC 3030 §2; RFC 5321 §3.3",
                Effect.STAY if command.last else Effect.ADD_CHUNK,
                Verdict.MUST,
                "a BDAT chunk was accepted outside a mail transaction",
            ),
        ],
        unlisted=Verdict.MUST,
        section="RFC 3030 §2",
    )


def expect_data_after_chunks(state: SessionState) -> Expectation:
    """Return the replies to DATA after BDAT or after BODY=BINARYMIME."""
    why = (
        "DATA after BDAT in one transaction"
        if state.phase is Phase.CHUNKS
        else "DATA after MAIL with BODY=BINARYMIME"
    )
    section = "RFC 3030 §2" if state.phase is Phase.CHUNKS else "RFC 3030 §3"
    return expectation(
        f"DATA in state '{state.phase.value}'",
        [
            outcome(
                [503],
                Level.MUST,
                section,
                Effect.UNSETTLE,
                reason=f"{why} MUST get 503",
            ),
            outcome(
                [354],
                Level.MUST,
                section,
                Effect.START_DATA,
                Verdict.MUST,
                f"{why} got 354 instead of 503",
            ),
        ],
        unlisted=Verdict.MUST,
        section=section,
    )


def expect_unsettled(state: SessionState, command: Command) -> Expectation:
    """Return the replies to a command other than RSET while unsettled.

    RFC 3030 §2 leaves the state indeterminate after a failed chunk: the
    client MUST send RSET, and every well-formed reply to anything else is
    legal. Where the reply shows what the server did (250 to MAIL, 354 to
    DATA), the model follows it, as everywhere else.
    """
    failures = reply_class(4) | reply_class(5)
    if isinstance(command, Invalid) and command.lenient_reading is not None:
        command = command.lenient_reading
    followed = {
        Mail: ([250], Effect.START_MAIL),
        Rcpt: ([250, 251], Effect.ADD_RECIPIENT),
        Data: ([354], Effect.START_DATA),
    }.get(type(command))
    if isinstance(command, Bdat):
        followed = ([250], Effect.END_MESSAGE if command.last else Effect.ADD_CHUNK)
    outcomes = [outcome(failures, Level.MAY, "RFC 3030 §2")]
    if followed is None:
        outcomes.append(outcome(reply_class(2), Level.MAY, "RFC 3030 §2"))
    else:
        codes, effect = followed
        outcomes.append(outcome(codes, Level.MAY, "RFC 3030 §2", effect))
    return expectation(f"{verb_of(command)} in state '{state.phase.value}'", outcomes)


# --- MAIL and RCPT parameters ------------------------------------------------

#: The command that may carry each parameter, and the section defining it.
PARAMETERS = {
    "SIZE": ("MAIL", "RFC 1870 §6"),
    "BODY": ("MAIL", "RFC 6152 §2; RFC 3030 §3"),
    "SMTPUTF8": ("MAIL", "RFC 6531 §3.4"),
    "AUTH": ("MAIL", "RFC 4954 §5"),
    "RET": ("MAIL", "RFC 3461 §4.3"),
    "ENVID": ("MAIL", "RFC 3461 §4.4"),
    "NOTIFY": ("RCPT", "RFC 3461 §4.1"),
    "ORCPT": ("RCPT", "RFC 3461 §4.2"),
}

# xtext of RFC 3461 §4: printable US-ASCII except "+" and "=", or "+" and two
# upper-case hexadecimal digits.
_XTEXT_RE = re.compile(r"(?:[\x21-\x2a\x2c-\x3c\x3e-\x7e]|\+[0-9A-F]{2})+")
_ADDRESS_TYPE_RE = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+")
_NOTIFY_WORDS = {"SUCCESS", "FAILURE", "DELAY"}


def parse_parameters(parameters: Iterable[str]) -> list[tuple[str, str | None]]:
    """Split "KEY=value" parameters into upper-case keys and raw values."""
    parsed = []
    for parameter in parameters:
        key, equals, value = parameter.partition("=")
        parsed.append((key.upper(), value if equals else None))
    return parsed


def parameter_problem(
    state: SessionState, verb: str, key: str, value: str | None
) -> str | None:
    """Return why one parameter of an advertised extension is invalid, or None."""
    command, _ = PARAMETERS[key]
    if command != verb:
        return f"{key} is a {command} parameter, not a {verb} one"
    if key == "SIZE":
        if value is None or not value.isdigit() or len(value) > 20:
            return "SIZE needs a value of 1 to 20 digits"
    elif key == "BODY":
        bodies = {"7BIT"}
        if state.advertises("8BITMIME"):
            bodies.add("8BITMIME")
        if state.advertises("BINARYMIME") and state.advertises("CHUNKING"):
            bodies.add("BINARYMIME")
        if value is None or value.upper() not in bodies:
            return f"BODY must be one of {', '.join(sorted(bodies))}"
    elif key == "SMTPUTF8":
        if value is not None:
            return "SMTPUTF8 takes no value"
    elif key == "AUTH":
        if value is None or (value != "<>" and not _XTEXT_RE.fullmatch(value)):
            return "AUTH= needs <> or an xtext mailbox"
    elif key == "RET":
        if value is None or value.upper() not in ("FULL", "HDRS"):
            return "RET must be FULL or HDRS"
    elif key == "ENVID":
        if value is None or len(value) > 100 or not _XTEXT_RE.fullmatch(value):
            return "ENVID needs xtext of at most 100 characters"
    elif key == "NOTIFY":
        return _notify_problem(value)
    elif key == "ORCPT":
        return _orcpt_problem(value)
    return None


def _notify_problem(value: str | None) -> str | None:
    words = (value or "").upper().split(",")
    if words == ["NEVER"]:
        return None
    if len(set(words)) != len(words) or not set(words) <= _NOTIFY_WORDS:
        return "NOTIFY must be NEVER, or a list of SUCCESS, FAILURE and DELAY"
    return None


def _orcpt_problem(value: str | None) -> str | None:
    address_type, semicolon, address = (value or "").partition(";")
    valid = (
        semicolon
        and _ADDRESS_TYPE_RE.fullmatch(address_type)
        and _XTEXT_RE.fullmatch(address)
        and len(value or "") <= 500
    )
    return None if valid else "ORCPT needs addr-type;xtext of at most 500 characters"


def expect_parameters(
    state: SessionState, command: Mail | Rcpt, plain: Expectation
) -> Expectation:
    """Return the replies to MAIL or RCPT with advertised parameters.

    `plain` is the expectation for the same command without parameters.
    Valid parameters MUST NOT turn an acceptable command into a syntax error
    (RFC 3461 §5.1, RFC 4954 §5, RFC 6152 §2, RFC 6531 §3.4). Invalid ones
    get 501; a server that accepts them anyway departs from a SHOULD.
    """
    verb = "MAIL" if isinstance(command, Mail) else "RCPT"
    parsed = parse_parameters(command.parameters)
    keys = [key for key, _ in parsed]
    problems = [
        problem
        for key, value in parsed
        if (problem := parameter_problem(state, verb, key, value)) is not None
    ]
    duplicated = sorted({key for key in keys if keys.count(key) > 1})
    if duplicated:
        problems.append(f"{', '.join(duplicated)} given twice")
    description = f"{plain.command} with {' '.join(command.parameters)}"
    sections = "; ".join(sorted({PARAMETERS[key][1] for key in keys}))
    if problems:
        return _invalid_parameters(description, plain, "; ".join(problems), sections)

    size = dict(parsed).get("SIZE")
    limit = state.size_limit
    over_limit = size is not None and limit is not None and int(size) > limit
    if over_limit and state.phase in (Phase.HELLO, Phase.MAIL):
        assert size is not None and limit is not None
        return _size_over_limit(description, plain, int(size), limit)

    rejected = outcome(
        [501, 555, 504],
        Level.MUST,
        sections,
        verdict=Verdict.MUST,
        reason="a valid parameter of an advertised extension was rejected",
    )
    kept = [_without_codes(o, {555, 504}) for o in plain.outcomes]
    return replace(plain, command=description, outcomes=(*kept, rejected))


def _invalid_parameters(
    description: str, plain: Expectation, problem: str, sections: str
) -> Expectation:
    outcomes = [
        outcome([501], Level.SHOULD, f"RFC 5321 §4.1.4; {sections}"),
        outcome([555, 504, 500, 553, 550], Level.MAY, "RFC 5321 §4.1.1.11"),
    ]
    for candidate in plain.outcomes[1:]:
        if candidate.effect is not Effect.STAY and candidate.verdict <= Verdict.POLICY:
            candidate = replace(
                candidate,
                verdict=Verdict.SHOULD,
                level=Level.SHOULD,
                section=f"RFC 5321 §4.1.4; {sections}",
                reason=f"a command with an invalid parameter ({problem}) was "
                "accepted instead of getting 501",
            )
        outcomes.append(candidate)
    return expectation(f"{description} ({problem})", outcomes, Verdict.SHOULD)


def _size_over_limit(
    description: str, plain: Expectation, size: int, limit: int
) -> Expectation:
    accepted = outcome(
        [250],
        Level.MUST,
        "RFC 1870 §4, §6.1",
        Effect.START_MAIL,
        Verdict.MUST,
        f"MAIL declared SIZE={size}, over the advertised fixed maximum of "
        f"{limit}, and was accepted instead of getting 552",
    )
    refusals = [o for o in plain.outcomes[1:] if o.effect is Effect.STAY]
    return expectation(
        f"{description} (over the SIZE {limit} limit)",
        [
            accepted,
            outcome([552], Level.MUST, "RFC 1870 §6.1"),
            outcome([452], Level.MAY, "RFC 1870 §6.1"),
            *refusals,
        ],
        section="RFC 1870 §6.1",
    )


def _without_codes(candidate: Outcome, codes: set[int]) -> Outcome:
    if candidate.verdict > Verdict.POLICY or not candidate.codes & codes:
        return candidate
    return replace(candidate, codes=candidate.codes - codes)


def utf8_allowed(state: SessionState, command: Mail | Rcpt) -> bool:
    """Return whether a UTF-8 path is legal here (RFC 6531 §3.4, §3.5)."""
    if not state.advertises("SMTPUTF8"):
        return False
    if isinstance(command, Rcpt):
        return state.utf8
    return "SMTPUTF8" in {key for key, _ in parse_parameters(command.parameters)}


def expect_utf8_path(
    state: SessionState, command: Mail | Rcpt, reading: Expectation
) -> Expectation:
    """Return the replies to MAIL or RCPT with a UTF-8 path.

    `reading` is the expectation for the command read as valid. With SMTPUTF8
    in force the server MUST accept UTF-8 wherever a mailbox may appear (RFC
    6531 §3.2). Without it the path is rejected: 550 for MAIL, 553 for RCPT,
    enhanced code X.6.7 (RFC 6531 §3.5).
    """
    if utf8_allowed(state, command):
        rejected = outcome(
            [501],
            Level.MUST,
            "RFC 6531 §3.2",
            verdict=Verdict.MUST,
            reason="a UTF-8 path was rejected as a syntax error although "
            "SMTPUTF8 is in force",
        )
        return replace(reading, outcomes=(*reading.outcomes, rejected))
    code = 550 if isinstance(command, Mail) else 553
    outcomes = [
        outcome([code], Level.SHOULD, "RFC 6531 §3.5"),
        outcome([501, 550, 553, 555, 503], Level.MAY, "RFC 5321 §4.1.4"),
    ]
    for candidate in reading.outcomes[1:]:
        if candidate.effect is not Effect.STAY and candidate.verdict <= Verdict.POLICY:
            candidate = replace(
                candidate,
                verdict=Verdict.SHOULD,
                level=Level.SHOULD,
                section="RFC 6531 §3.5",
                reason="a UTF-8 path was accepted without the SMTPUTF8 "
                "parameter on MAIL",
            )
        outcomes.append(candidate)
    return expectation(
        f"{reading.command}, UTF-8 path without SMTPUTF8", outcomes, Verdict.SHOULD
    )


# --- The form of replies -----------------------------------------------------

_ENHANCED_CODE_RE = re.compile(r"([245])\.([0-9]{1,3})\.([0-9]{1,3})(?: |$)")


def check_reply(
    before: SessionState, verb: str, reply: Reply
) -> tuple[str, str] | None:
    """Return (section, reason) when the reply's form breaks an extension rule.

    `before` is the state in which the command was sent; `verb` is the
    command's verb, or "" for message content and SASL responses.
    """
    if verb == "EHLO" and reply.code == 250:
        problem = _check_ehlo_keywords(before, reply)
        if problem is not None:
            return problem
    return _check_enhanced_code(before, verb, reply)


def _check_ehlo_keywords(before: SessionState, reply: Reply) -> tuple[str, str] | None:
    keywords = {line.split(" ")[0].upper() for line in reply.lines[1:]}
    for line in reply.lines[1:]:
        keyword, *parameters = line.split() or [""]
        malformed = len(parameters) > 1 or not all(p.isdigit() for p in parameters)
        if keyword.upper() == "SIZE" and malformed:
            return (
                "RFC 1870 §4",
                f"the EHLO reply advertises {line[:60]!r}; SIZE takes at most "
                "one parameter, a decimal number",
            )
    if before.tls and "STARTTLS" in keywords:
        return (
            "RFC 3207 §4.2",
            "the EHLO reply inside the TLS session lists STARTTLS",
        )
    if "SMTPUTF8" in keywords and "8BITMIME" not in keywords:
        return (
            "RFC 6531 §3.1",
            "the EHLO reply lists SMTPUTF8 without 8BITMIME",
        )
    return None


def _check_enhanced_code(
    before: SessionState, verb: str, reply: Reply
) -> tuple[str, str] | None:
    # The codes "must appear in all 2xx, 4xx, and 5xx response lines other
    # than initial greeting and any response to HELO or EHLO" (RFC 2034 §4).
    if not before.advertises("ENHANCEDSTATUSCODES") or verb in ("EHLO", "HELO"):
        return None
    reply_class_digit = reply.code // 100
    if reply_class_digit not in (2, 4, 5):
        return None
    for line in reply.lines:
        match = _ENHANCED_CODE_RE.match(line)
        if match is None:
            return (
                "RFC 2034 §4",
                "ENHANCEDSTATUSCODES is advertised but a reply line lacks an "
                "enhanced status code",
            )
        if int(match.group(1)) != reply_class_digit:
            return (
                "RFC 2034 §4; RFC 3463 §2",
                f"the enhanced status code {match.group(0).strip()} is of "
                f"another class than the reply code {reply.code}",
            )
    return None

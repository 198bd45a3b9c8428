"""The vocabulary of expectations: levels, verdicts, outcomes and effects.

An `Expectation` is what the model predicts for one command in one state: a set
of `Outcome`s, each a group of reply codes with the verdict that replying so
earns, the RFC clause behind it and the `Effect` the reply has on the session.
Codes that no outcome lists are judged by the expectation's `unlisted` rule.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass


class Level(enum.Enum):
    """Requirement levels of RFC 2119, plus the choices RFCs leave to the site."""

    MUST = "MUST"
    SHOULD = "SHOULD"
    MAY = "MAY"
    POLICY = "local policy"


class Verdict(enum.IntEnum):
    """How one reply is judged, ordered from harmless to worst."""

    CONFORMS = 0
    #: A legal choice worth recording, such as "MAIL accepted before HELO".
    POLICY = 1
    #: The reply departs from a SHOULD; it fails the run only under --strict.
    SHOULD = 2
    #: The reply breaks a MUST (or a rule with the same force).
    MUST = 3
    #: The target hung, broke the reply grammar or dropped the connection.
    MISBEHAVED = 4

    @property
    def label(self) -> str:
        return _VERDICT_LABELS[self]


_VERDICT_LABELS = {
    Verdict.CONFORMS: "conforms",
    Verdict.POLICY: "policy observation",
    Verdict.SHOULD: "SHOULD deviation",
    Verdict.MUST: "MUST violation",
    Verdict.MISBEHAVED: "target misbehaved",
}


class Effect(enum.Enum):
    """What a reply does to the session, as RFC 5321 §4.1.1 describes it."""

    STAY = "state unchanged"
    GREET = "greeted"
    REFUSE = "refusal session"
    IDENTIFY = "client identified, buffers cleared"
    START_MAIL = "transaction started"
    ADD_RECIPIENT = "recipient added"
    START_DATA = "message content follows"
    END_MESSAGE = "transaction ended"
    RESET = "transaction discarded"
    CLOSE = "connection closing"
    START_TLS = "TLS handshake follows, then the session restarts"
    SASL_CHALLENGE = "SASL challenge sent"
    AUTHENTICATED = "client authenticated"
    END_SASL = "SASL exchange ended without authentication"
    ADD_CHUNK = "BDAT chunk accepted"
    UNSETTLE = "state indeterminate until RSET"


@dataclass(frozen=True)
class Outcome:
    """A group of reply codes and what replying with one of them means.

    Attributes:
        codes: the reply codes of this outcome.
        verdict: the verdict a reply with one of these codes earns.
        level: the strength of the clause that allows or forbids the reply.
        section: where that clause is, e.g. "RFC 5321 §4.1.1.5".
        effect: what the reply does to the session.
        reason: a short explanation, shown in reports.
    """

    codes: frozenset[int]
    verdict: Verdict
    level: Level
    section: str
    effect: Effect
    reason: str = ""

    def describe(self) -> str:
        """Return e.g. "250 (MUST, RFC 5321 §4.1.1.5)"."""
        codes = _format_codes(self.codes)
        tag = self.level.value
        if self.verdict >= Verdict.SHOULD:
            tag = f"{self.verdict.label}"
        return f"{codes} ({tag}, {self.section})"


@dataclass(frozen=True)
class Judgement:
    """The verdict on one reply, the outcome it matched and its effect."""

    verdict: Verdict
    effect: Effect
    section: str
    reason: str
    outcome: Outcome | None = None


@dataclass(frozen=True)
class Expectation:
    """The replies a conforming server may give to one command in one state.

    Attributes:
        command: a short description of the command and state, for reports.
        outcomes: the listed outcomes; the first one whose codes match wins.
        unlisted: the verdict for a code no outcome lists, when some conforming
            outcome has a code of the same class (first digit). A code of a class
            no conforming outcome has always breaks RFC 5321 §4.3.1, which
            requires "the meanings and actions implied by the code numbers" to
            be preserved.
        section: the clause behind `unlisted`.
    """

    command: str
    outcomes: tuple[Outcome, ...]
    unlisted: Verdict
    section: str

    def judge(self, code: int) -> Judgement:
        """Judge a reply code against this expectation."""
        for outcome in self.outcomes:
            if code in outcome.codes:
                return Judgement(
                    outcome.verdict,
                    outcome.effect,
                    outcome.section,
                    outcome.reason,
                    outcome,
                )

        same_class = [
            outcome
            for outcome in self.outcomes
            if outcome.verdict <= Verdict.POLICY
            and any(c // 100 == code // 100 for c in outcome.codes)
        ]
        if same_class:
            return Judgement(
                self.unlisted,
                same_class[0].effect,
                self.section,
                f"{code} is not among the replies listed for this command",
            )
        section = self.section
        if self.unlisted is not Verdict.MUST:
            section = "RFC 5321 §4.3.1"
        return Judgement(
            Verdict.MUST,
            Effect.STAY,
            section,
            f"a {code // 100}xx reply is not one this command may get here",
        )

    def allowed(self) -> list[Outcome]:
        """Return the outcomes that do not deviate from any requirement."""
        return [o for o in self.outcomes if o.verdict <= Verdict.POLICY]

    def describe_allowed(self) -> list[str]:
        described = [outcome.describe() for outcome in self.allowed()]
        return list(dict.fromkeys(described))


def reply_class(first_digit: int) -> frozenset[int]:
    """Return every code the Reply-code grammar allows with this first digit."""
    return frozenset(range(first_digit * 100, first_digit * 100 + 60))


def _format_codes(codes: frozenset[int]) -> str:
    parts = []
    rest = set(codes)
    for digit in (2, 3, 4, 5):
        whole = reply_class(digit)
        if whole <= rest:
            parts.append(f"{digit}xx")
            rest -= whole
    parts[:0] = [str(code) for code in sorted(rest)]
    return "/".join(parts)


def outcome(
    codes: Iterable[int],
    level: Level,
    section: str,
    effect: Effect = Effect.STAY,
    verdict: Verdict = Verdict.CONFORMS,
    reason: str = "",
) -> Outcome:
    """Build an `Outcome`. A reply it lists conforms unless `verdict` is worse."""
    return Outcome(frozenset(codes), verdict, level, section, effect, reason)


#: A server may shut down with 421 at any step, then close (RFC 5321 §3.8).
SHUTDOWN = outcome(
    [421],
    Level.MAY,
    "RFC 5321 §3.8, §4.2.3",
    Effect.CLOSE,
    Verdict.POLICY,
    "the server may shut down (421) at any step",
)


def expectation(
    command: str,
    outcomes: Iterable[Outcome],
    unlisted: Verdict = Verdict.SHOULD,
    section: str = "RFC 5321 §4.3.2",
) -> Expectation:
    """Build an `Expectation` whose outcomes start with the 421 shutdown."""
    return Expectation(command, (SHUTDOWN, *outcomes), unlisted, section)

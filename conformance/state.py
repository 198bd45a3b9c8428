"""The model's picture of one SMTP session, apart from the rules.

`SessionState` is what `conformance.model` and `conformance.extensions` read
to predict a reply and what strategies read to choose the next command. It is
immutable: every observed reply gives a new state.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Phase(enum.Enum):
    """The input the server awaits next (RFC 5321 §3.1-§3.3, §4.1.1)."""

    #: Connection open; the server owes its greeting (§3.1).
    GREETING = "greeting"
    #: The server greeted with 554 and awaits only QUIT (§3.1).
    QUIT_ONLY = "refused session"
    #: Greeted, awaiting EHLO or HELO (§4.1.1.1).
    HELLO = "awaiting EHLO/HELO"
    #: Identified, no transaction: awaiting MAIL (§4.1.1.2).
    MAIL = "awaiting MAIL"
    #: MAIL accepted, no recipient yet: awaiting RCPT (§4.1.1.3).
    RCPT = "awaiting RCPT"
    #: At least one recipient accepted: awaiting RCPT or DATA (§4.1.1.4).
    RCPT_OR_DATA = "awaiting RCPT or DATA"
    #: 354 sent: awaiting message content ending in CRLF.CRLF (§4.1.1.4).
    CONTENT = "awaiting message content"
    #: A BDAT chunk without LAST was accepted: awaiting more chunks (RFC 3030).
    CHUNKS = "awaiting BDAT chunks"
    #: After a failed BDAT, or DATA refused after BDAT, the state is
    #: indeterminate and the client must send RSET (RFC 3030 §2, §3).
    UNSETTLED = "indeterminate until RSET"
    #: 334 sent to AUTH: awaiting a SASL response line (RFC 4954 §4).
    AUTH = "awaiting a SASL response"
    #: The connection is closed or closing.
    CLOSED = "closed"


#: Phases in which a mail transaction is open.
TRANSACTION_PHASES = frozenset(
    {Phase.RCPT, Phase.RCPT_OR_DATA, Phase.CONTENT, Phase.CHUNKS, Phase.UNSETTLED}
)


@dataclass(frozen=True)
class SessionState:
    """The model's picture of one session.

    Attributes:
        phase: what the server awaits next.
        identified: "EHLO" or "HELO" once a greeting command was accepted.
        extensions: EHLO keywords of the last accepted EHLO, upper-cased.
        extension_lines: the keyword lines of that EHLO reply, upper-cased,
            with their parameters ("SIZE 10240000", "AUTH PLAIN LOGIN").
        recipients: recipients accepted in the open transaction.
        errors: 4xx and 5xx replies seen in the session.
        tls: a TLS session was negotiated with STARTTLS (or implicit TLS).
        authenticated: an AUTH exchange ended in 235.
        sasl: while in `Phase.AUTH`, the mechanism and how many challenges
            the client has answered.
        before_sasl: the phase to return to when the SASL exchange ends.
        tls_reset: STARTTLS discarded the session and no MAIL has been
            accepted since, so replies that need a transaction show that the
            server kept the one from before TLS.
        body: the BODY parameter of the open transaction's MAIL, upper-cased.
        utf8: the open transaction's MAIL carried SMTPUTF8.
    """

    phase: Phase = Phase.GREETING
    identified: str | None = None
    extensions: frozenset[str] = frozenset()
    extension_lines: tuple[str, ...] = ()
    recipients: int = 0
    errors: int = 0
    tls: bool = False
    authenticated: bool = False
    sasl: tuple[str, int] | None = None
    before_sasl: Phase = Phase.MAIL
    tls_reset: bool = False
    body: str = ""
    utf8: bool = False

    @property
    def in_transaction(self) -> bool:
        return self.phase in TRANSACTION_PHASES

    def advertises(self, keyword: str) -> bool:
        """Return whether the last accepted EHLO reply listed `keyword`."""
        return keyword in self.extensions

    def extension_arguments(self, keyword: str) -> list[str]:
        """Return the parameters of an advertised keyword, e.g. AUTH's mechanisms."""
        for line in self.extension_lines:
            words = line.split()
            if words and words[0] == keyword:
                return words[1:]
        return []

    @property
    def size_limit(self) -> int | None:
        """The fixed maximum message size of "SIZE n", or None (RFC 1870 §3).

        None when SIZE is not advertised, has no number, or has 0, which
        means no fixed maximum.
        """
        arguments = self.extension_arguments("SIZE")
        if not arguments or not arguments[0].isdigit():
            return None
        return int(arguments[0]) or None

    @property
    def auth_mechanisms(self) -> frozenset[str]:
        return frozenset(self.extension_arguments("AUTH"))

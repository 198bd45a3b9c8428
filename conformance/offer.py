"""The service extensions a target advertises, before and after STARTTLS.

Extension properties run only against a server that advertises their keyword
and are skipped, with the reason in the report, against one that does not.
A probe session finds out once per process: EHLO, and when STARTTLS is offered,
STARTTLS, the handshake and EHLO again, because servers often offer AUTH only
inside TLS (RFC 3207 §4.2 lets the list change).
"""

from __future__ import annotations

from dataclasses import dataclass

from conformance.driver import run_session
from conformance.errors import ConformanceError, TlsFailed
from conformance.findings import Violation
from conformance.rules import Verdict
from conformance.runner import Target
from conformance.state import Phase, SessionState


@dataclass(frozen=True)
class Offer:
    """The EHLO keywords a target listed in plaintext and inside TLS.

    Attributes:
        plain: the keywords of the first EHLO reply.
        after_tls: the keywords of the EHLO reply inside TLS, if TLS started.
        tls_error: why the TLS handshake failed, or "" if it did not.
        certificate_rejected: the suite could not verify the certificate,
            which the TLS options must fix.
    """

    plain: frozenset[str] = frozenset()
    after_tls: frozenset[str] = frozenset()
    tls_error: str = ""
    certificate_rejected: bool = False

    def requires_tls(self, keyword: str) -> bool:
        """Return whether `keyword` is advertised only after STARTTLS."""
        return keyword not in self.plain and keyword in self.after_tls

    def skip_reason(self, keyword: str) -> str | None:
        """Return why properties of `keyword` cannot run, or None if they can."""
        if keyword in self.plain or keyword in self.after_tls:
            return None
        if self.tls_error:
            return (
                f"not advertised in plaintext, and the TLS handshake failed, so "
                f"the EHLO keywords inside TLS are unknown: {self.tls_error}"
            )
        where = " nor after STARTTLS" if "STARTTLS" in self.plain else ""
        return f"not advertised: the EHLO reply lists no {keyword}{where}"


class _ProbeChooser:
    def __init__(self, helo_name: str) -> None:
        self.ehlo = f"EHLO {helo_name}\r\n".encode("ascii")
        self.plain: frozenset[str] = frozenset()
        self.after_tls: frozenset[str] = frozenset()

    def __call__(self, state: SessionState) -> bytes | None:
        if state.phase is Phase.HELLO:
            return self.ehlo
        if state.tls:
            self.after_tls = state.extensions
            return None
        self.plain = state.extensions
        if state.advertises("STARTTLS"):
            return b"STARTTLS\r\n"
        return None


def probe(target: Target, helo_name: str) -> Offer | None:
    """Run the probe session; return None if the target broke it off.

    A failed probe skips nothing: the properties then run and report what
    went wrong. A failed TLS handshake keeps the plaintext keywords.
    """
    chooser = _ProbeChooser(helo_name)
    try:
        run_session(target, chooser, max_steps=4, fail_at=Verdict.MISBEHAVED)
    except TlsFailed as error:
        return Offer(chooser.plain, tls_error=str(error), certificate_rejected=True)
    except Violation as violation:
        if not chooser.plain:
            return None
        return Offer(chooser.plain, tls_error=violation.finding.reason)
    except ConformanceError:
        return None
    return Offer(chooser.plain, chooser.after_tls)

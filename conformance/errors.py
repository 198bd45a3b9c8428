"""Exceptions of the conformance suite.

`ConformanceError` is the base. `SuiteError` means the suite or its user did
something wrong (a bad option, a broken strategy). `TargetError` means the server
under test did: its subclasses either carry a verdict about RFC conformance
(`Violation`) or say that the target misbehaved at the transport level
(`TargetMisbehaved`: a hang, a malformed reply, an unexpected close).
"""

from __future__ import annotations


class ConformanceError(Exception):
    """Base class of every exception the suite raises on purpose."""


class SuiteError(ConformanceError):
    """The suite, or the way it was invoked, is wrong; the target is not to blame."""


class TargetUnreachable(SuiteError):
    """No SMTP session could be opened with the target at all."""


class TargetError(ConformanceError):
    """The target did something the RFCs do not allow."""


class TargetMisbehaved(TargetError):
    """The target broke the transport: no reply, a broken reply, or a lost link."""


class ReplyTimeout(TargetMisbehaved):
    """No complete reply arrived within the reply timeout."""


class ConnectionLost(TargetMisbehaved):
    """The target closed or reset the connection where a reply was due."""


class MalformedReply(TargetMisbehaved):
    """A reply broke the RFC 5321 §4.2 grammar.

    Attributes:
        raw: the bytes of the reply as far as they were read.
    """

    def __init__(self, message: str, raw: bytes) -> None:
        super().__init__(message)
        self.raw = raw


class ReplyTooLarge(TargetMisbehaved):
    """A reply exceeded the suite's bound on line length or line count."""


class TlsFailed(TargetMisbehaved):
    """The TLS handshake after STARTTLS, or on an implicit-TLS port, failed.

    The message states what failed and how to fix it.

    Attributes:
        certificate_rejected: the handshake failed because the suite could not
            verify the server's certificate. That is usually a matter of the
            suite's options (--tls-ca, --tls-no-verify) rather than a fault of
            the target.
    """

    def __init__(self, message: str, certificate_rejected: bool = False) -> None:
        super().__init__(message)
        self.certificate_rejected = certificate_rejected

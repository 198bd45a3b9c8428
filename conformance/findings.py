"""Findings: what the suite reports when a target departs from the RFCs.

A `Finding` holds everything a server author needs: the verdict and RFC clause,
the reason, the replies the RFC allows at the failing step with their levels,
the reply actually received, and the transcript that leads there.
`Violation` is the exception that carries a finding out of a property, so that
Hypothesis can shrink the sequence that raised it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from conformance.errors import TargetError
from conformance.rules import Verdict
from conformance.transcript import Entry, escape, format_entries


@dataclass(frozen=True)
class Finding:
    """One departure from the RFCs, or one legal policy choice worth noting.

    Attributes:
        verdict: how serious it is.
        section: the RFC clause, e.g. "RFC 5321 §4.1.1.5".
        reason: one sentence on what went wrong.
        command: the command (escaped) whose reply was judged, or "" for the
            greeting and for events that belong to no command.
        expected: the replies allowed at that step, each with level and clause.
        actual: the reply received (escaped), or the event seen instead.
        transcript: the session up to and including the failing step.
        property_name: the name of the property that found it.
        failed: it failed its property (it was at or above the failing level).
        waived: the waiver that kept it from failing the run, if any.
        reproduced: "deterministic" or "flaky" once it was re-run, else "".
        rerun: the transcript of that re-run when it was flaky.
        liveness: after a failing finding, whether the target still passed a
            short sanity session ("alive") or what went wrong instead.
    """

    verdict: Verdict
    section: str
    reason: str
    command: str
    expected: tuple[str, ...]
    actual: str
    transcript: tuple[Entry, ...] = ()
    property_name: str = ""
    failed: bool = False
    waived: str = ""
    reproduced: str = ""
    rerun: tuple[Entry, ...] = ()
    liveness: str = ""

    @property
    def key(self) -> tuple[str, str, str]:
        """Identify findings that describe the same departure.

        Numbers in the reason (line lengths, error counts) do not count, so
        "line 1 is 586 octets long" and "line 1 is 1174 octets long" are one.
        """
        return (self.verdict.label, self.section, re.sub(r"\d+", "N", self.reason))

    @property
    def commands_sent(self) -> int:
        return sum(1 for entry in self.transcript if entry.direction == "C")

    def format(self) -> str:
        """Return the finding as the text shown in the terminal."""
        lines = [f"{self.verdict.label}: {self.reason}"]
        if self.section:
            lines.append(f"  clause: {self.section}")
        if self.command:
            lines.append(f"  command: {self.command}")
        if self.expected:
            lines.append("  allowed replies:")
            lines.extend(f"    {text}" for text in self.expected)
        lines.append(f"  actual: {self.actual}")
        count = self.commands_sent
        noun = "command" if count == 1 else "commands"
        lines.append(f"  transcript ({count} {noun}):")
        lines.extend(f"    {line}" for line in format_entries(list(self.transcript)))
        if self.reproduced:
            lines.append(f"  re-run: {self.reproduced}")
        if self.rerun:
            lines.append("  transcript of the re-run:")
            lines.extend(f"    {line}" for line in format_entries(list(self.rerun)))
        if self.liveness:
            lines.append(f"  target after the finding: {self.liveness}")
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict.label,
            "section": self.section,
            "reason": self.reason,
            "command": self.command,
            "expected": list(self.expected),
            "actual": self.actual,
            "transcript": [
                [entry.direction, entry.data.decode("latin-1")]
                for entry in self.transcript
            ],
            "property": self.property_name,
            "failed": self.failed,
            "waived": self.waived,
            "reproduced": self.reproduced,
            "rerun": [
                [entry.direction, entry.data.decode("latin-1")] for entry in self.rerun
            ],
            "liveness": self.liveness,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Finding:
        verdicts = {verdict.label: verdict for verdict in Verdict}
        return cls(
            verdict=verdicts[data["verdict"]],
            section=data["section"],
            reason=data["reason"],
            command=data["command"],
            expected=tuple(data["expected"]),
            actual=data["actual"],
            transcript=tuple(
                Entry(direction, text.encode("latin-1"))
                for direction, text in data["transcript"]
            ),
            property_name=data.get("property", ""),
            failed=bool(data.get("failed", False)),
            waived=data.get("waived", ""),
            reproduced=data.get("reproduced", ""),
            rerun=tuple(
                Entry(direction, text.encode("latin-1"))
                for direction, text in data.get("rerun", [])
            ),
            liveness=data.get("liveness", ""),
        )


class Violation(TargetError):
    """A finding serious enough to fail the property that found it."""

    def __init__(self, finding: Finding) -> None:
        super().__init__(finding.format())
        self.finding = finding


def describe_command(data: bytes | None) -> str:
    """Return a short, escaped description of what was sent."""
    if data is None:
        return ""
    first_line, _, rest = data.partition(b"\r\n")
    if first_line[:5].upper() == b"BDAT ":
        return f"{escape(first_line)} (chunk of {len(rest)} octets)"
    if data.count(b"\r\n") > 1:
        return f"message content ({len(data)} octets) starting {escape(first_line)}"
    return escape(first_line)

"""Replay files: a finding as the exact bytes to send and the replies expected.

The format is line-based text, so a finding can be read, diffed and kept in a
repository next to the server it tests::

    # smtp-conformance replay 1
    # verdict: MUST violation
    # clause: RFC 5321 §3.3
    # reason: a 2xx reply is not one this command may get here
    S: 220 reference.conformance.test ESMTP reference server\\r\\n
    C: RCPT TO:<recipient@conformance.test>\\r\\n
    S: 250 OK\\r\\n

Each "C:" line is one input exactly as it was sent (a command line, or a whole
message body), and each "S:" line is what the server sent in reply. Octets
outside printable ASCII, and the backslash, are written as escapes (\\r, \\n,
\\t, \\\\, \\xNN), so the file holds the exact bytes in one line per entry.
Lines starting with "#" are comments; the header comments name the finding.
The file is UTF-8, because clause names contain "§".

`replay` sends the inputs again through the model-checking driver and says
whether the same finding comes back.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from conformance.driver import run_session
from conformance.errors import TargetError, TlsFailed
from conformance.findings import Finding, Violation
from conformance.rules import Verdict
from conformance.runner import Target
from conformance.state import SessionState
from conformance.transcript import Entry

MAGIC = "# smtp-conformance replay 1"

_ESCAPES = {"\\": "\\\\", "\r": "\\r", "\n": "\\n", "\t": "\\t"}
_UNESCAPE_RE = re.compile(r"\\(x[0-9a-fA-F]{2}|[\\rnt])")


class ReplayFileError(ValueError):
    """A replay file could not be read."""


def encode(data: bytes) -> str:
    """Write bytes as one line of printable ASCII with reversible escapes."""
    out = []
    for octet in data:
        char = chr(octet)
        if char in _ESCAPES:
            out.append(_ESCAPES[char])
        elif 0x20 <= octet < 0x7F:
            out.append(char)
        else:
            out.append(f"\\x{octet:02x}")
    return "".join(out)


def decode(text: str) -> bytes:
    """Reverse `encode`."""

    def replace(match: re.Match[str]) -> str:
        code = match.group(1)
        if code.startswith("x"):
            return chr(int(code[1:], 16))
        return {"\\": "\\", "r": "\r", "n": "\n", "t": "\t"}[code]

    return _UNESCAPE_RE.sub(replace, text).encode("latin-1")


def write_replay(finding: Finding, path: Path) -> None:
    """Write `finding` as a replay file at `path`."""
    lines = [
        MAGIC,
        f"# verdict: {finding.verdict.label}",
        f"# clause: {finding.section}",
        f"# reason: {encode(finding.reason.encode('utf-8', 'replace'))}",
    ]
    if finding.property_name:
        lines.append(f"# property: {finding.property_name}")
    for entry in finding.transcript:
        if entry.direction in ("C", "S"):
            lines.append(f"{entry.direction}: {encode(entry.data)}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


@dataclass(frozen=True)
class ReplayFile:
    """The contents of a replay file."""

    verdict: str
    section: str
    reason: str
    inputs: tuple[bytes, ...]
    transcript: tuple[Entry, ...]


def read_replay(path: Path) -> ReplayFile:
    """Read a replay file.

    Raises:
        ReplayFileError: the file is missing, unreadable or not a replay file.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ReplayFileError(f"cannot read replay file {path}: {error}") from None
    lines = text.splitlines()
    if not lines or lines[0] != MAGIC:
        raise ReplayFileError(
            f"{path} is not a replay file: its first line should be {MAGIC!r}"
        )
    header: dict[str, str] = {}
    entries: list[Entry] = []
    for number, line in enumerate(lines[1:], start=2):
        if line.startswith("# ") and ": " in line:
            key, _, value = line[2:].partition(": ")
            header[key] = value
        elif line.startswith(("C: ", "S: ")):
            entries.append(Entry(line[0], decode(line[3:])))
        elif line.strip() and not line.startswith("#"):
            raise ReplayFileError(f"{path}, line {number}: expected 'C: ' or 'S: '")
    inputs = tuple(entry.data for entry in entries if entry.direction == "C")
    return ReplayFile(
        verdict=header.get("verdict", ""),
        section=header.get("clause", ""),
        reason=decode(header.get("reason", "")).decode("utf-8", "replace"),
        inputs=inputs,
        transcript=tuple(entries),
    )


@dataclass(frozen=True)
class ReplayResult:
    """What re-sending a finding's inputs produced.

    Attributes:
        reproduced: the same verdict and clause came back.
        finding: the finding seen this time, or None if the session passed.
        transcript: the session of this replay.
        error: why the replay could not run to its end (the target failed
            outside any judged reply), or "".
    """

    reproduced: bool
    finding: Finding | None
    transcript: tuple[Entry, ...] = ()
    error: str = ""


def replay_inputs(
    target: Target,
    inputs: tuple[bytes, ...],
    verdict: str,
    section: str,
    secrets: dict[bytes, bytes] | None = None,
) -> ReplayResult:
    """Send `inputs` in order and report whether the finding comes back.

    Every reply is judged as in a property run, and the first finding at the
    stored verdict's level or above ends the replay. Transcripts show labels
    in place of credentials; `secrets` maps each credential to its label, so
    the replay sends the credential again and still keeps it out of its own
    transcript. A STARTTLS that gets 220 is followed by a handshake, as in a
    property run.

    Raises:
        TlsFailed: the server's certificate could not be verified.
    """
    remaining = [_restore(data, secrets or {}) for data in inputs]
    levels = {level.label: level for level in Verdict}
    fail_at = levels.get(verdict, Verdict.SHOULD)

    def choose(state: SessionState) -> bytes | None:
        return remaining.pop(0) if remaining else None

    try:
        # A pipelined group is one input but counts one step per command, so
        # the step limit must not end the replay before its inputs run out.
        record = run_session(
            target,
            choose,
            max_steps=sum(data.count(b"\n") + 1 for data in inputs),
            fail_at=fail_at,
            secrets=secrets,
        )
    except Violation as violation:
        seen = violation.finding
        same = seen.verdict.label == verdict and seen.section == section
        return ReplayResult(same, seen, seen.transcript)
    except TlsFailed as error:
        if error.certificate_rejected:
            raise  # a matter of the TLS options, which the caller reports
        return failed_replay(error)
    except TargetError as error:
        return failed_replay(error)
    return ReplayResult(False, None, record.transcript)


def failed_replay(error: Exception) -> ReplayResult:
    """Return the result of a replay that `error` stopped before its end."""
    note = Entry("*", f"replay failed: {error}".encode("ascii", "replace"))
    return ReplayResult(False, None, (note,), error=str(error))


def _restore(data: bytes, secrets: dict[bytes, bytes]) -> bytes:
    for secret, label in secrets.items():
        data = data.replace(label, secret)
    return data


def replay(target: Target, path: Path) -> ReplayResult:
    """Replay the finding stored at `path` against `target`."""
    stored = read_replay(path)
    return replay_inputs(target, stored.inputs, stored.verdict, stored.section)

"""Cut a failing finding's transcript down to the inputs it needs.

Hypothesis shrinks the draws behind a session. Its shrink can stop at a
session that no single change of draws makes shorter, although fewer inputs
would show the same fault. For example, a whole message transaction before a
failing NOOP goes only if its four inputs go at once. `minimize` then works
on the inputs themselves. It sends the session again without a run of inputs,
for every run from long ones down to single inputs, and keeps every cut after
which the same finding (same verdict, clause and reason) comes back.
"""

from __future__ import annotations

from dataclasses import replace

from conformance.errors import TargetUnreachable
from conformance.findings import Finding
from conformance.replay import replay_inputs
from conformance.rules import Verdict
from conformance.runner import Target

#: Maximum replays of one minimisation. Each replay is a session, a few
#: milliseconds long against a server that replies promptly.
MAX_REPLAYS = 300


def minimize(
    target: Target,
    finding: Finding,
    secrets: dict[bytes, bytes] | None = None,
    max_replays: int = MAX_REPLAYS,
) -> Finding:
    """Return `finding` as shown by the fewest inputs found, or unchanged.

    A finding of a target that misbehaved (a timeout, a lost connection) is
    returned unchanged, because each replay could cost a full timeout. For
    the same reason minimisation stops once a replay misbehaves or cannot
    reach the target.
    """
    if finding.verdict is Verdict.MISBEHAVED:
        return finding
    inputs = [entry.data for entry in finding.transcript if entry.direction == "C"]
    best = finding
    replays = 0
    cut = True
    while cut and len(inputs) > 1:
        cut = False
        for size in _run_lengths(len(inputs)):
            # Every run of this length is tried, from the end backwards: the
            # transcript ends with the failing input, and the inputs just
            # before it matter most often.
            start = len(inputs) - size
            while start >= 0 and size < len(inputs):
                if replays >= max_replays:
                    return best
                candidate = inputs[:start] + inputs[start + size :]
                replays += 1
                try:
                    result = replay_inputs(
                        target,
                        tuple(candidate),
                        finding.verdict.label,
                        finding.section,
                        secrets,
                    )
                except TargetUnreachable:
                    return best
                seen = result.finding
                if result.error or (seen and seen.verdict is Verdict.MISBEHAVED):
                    return best
                if seen is not None and seen.key == finding.key:
                    inputs = [
                        entry.data
                        for entry in seen.transcript
                        if entry.direction == "C"
                    ]
                    best = replace(
                        seen,
                        property_name=finding.property_name,
                        failed=finding.failed,
                        waived=finding.waived,
                    )
                    cut = True
                    start = min(start, len(inputs) - size)
                start -= 1
    return best


def _run_lengths(count: int) -> list[int]:
    """Return the lengths of the runs to cut from `count` inputs, longest first.

    Every length up to 8 is tried, because the inputs that go together are
    often a whole transaction: MAIL, RCPT, DATA and the content, at times
    with more RCPTs. Longer runs halve from half the inputs.
    """
    lengths = set(range(1, min(count - 1, 8) + 1))
    length = count // 2
    while length > 8:
        lengths.add(length)
        length //= 2
    return sorted(lengths, reverse=True)

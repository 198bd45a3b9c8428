"""Print how fast the suite finds each injected fault, and how short it shrinks.

Usage: python benchmarks/find_faults.py [FAULT ...]

For each fault of the reference server (all of them by default) this starts
the server on 127.0.0.1 with that fault, runs the property plans until the
first failing finding (`conformance.hunt.hunt_fault`, as the fault tests do),
and prints one row: whether it was found, the seconds it took, the writes in
the shrunk transcript, and the writes in the shortest session that shows the
fault. Faults of an extension are hunted with that extension's plans only.
"""

from __future__ import annotations

import statistics
import sys

from conformance.hunt import hunt_fault
from conformance.reference import FAULTS


def main(names: list[str]) -> int:
    unknown = [name for name in names if name not in FAULTS]
    if unknown:
        print(f"unknown fault: {', '.join(unknown)}; known: {', '.join(FAULTS)}")
        return 2
    print(f"{'fault':32} {'found':5} {'seconds':>8} {'length':>6} {'shortest':>8}")
    seconds = []
    for name in names or list(FAULTS):
        result = hunt_fault(FAULTS[name])
        found = result.finding is not None
        length = result.finding.commands_sent if result.finding else "-"
        seconds.append(result.seconds)
        print(
            f"{name:32} {'yes' if found else 'NO':5} {result.seconds:8.2f} "
            f"{length:>6} {FAULTS[name].shortest:>8}",
            flush=True,
        )
    print(f"median seconds to find: {statistics.median(seconds):.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

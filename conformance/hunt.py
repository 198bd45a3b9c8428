"""Search a target for its first violation, the way the properties do.

`hunt` runs the property plans one after another with Hypothesis, derandomised
and without the example database, and returns the first shrunk finding with
the time it took. The fault-finding tests and the benchmark use it to show that
every injected fault of the reference server is found, how fast, and how short
its transcript shrinks.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from hypothesis import HealthCheck, Verbosity, given, settings
from hypothesis import strategies as st

from conformance.driver import run_session
from conformance.findings import Finding, Violation
from conformance.rules import Verdict
from conformance.runner import Target
from strategies.commands import Profile
from strategies.plans import PLANS, Plan

#: Examples per plan in the first round of a hunt.
FIRST_ROUND = 25


@dataclass(frozen=True)
class HuntResult:
    """The first finding of a hunt, or None, and where and when it was found."""

    finding: Finding | None
    property_name: str
    seconds: float


def hunt(
    target: Target,
    profile: Profile | None = None,
    *,
    strict: bool = False,
    max_examples: int = 200,
) -> HuntResult:
    """Run every plan against `target` until one finds a failing finding.

    Plans run in two rounds: `FIRST_ROUND` examples each, then `max_examples`
    each.
    """
    profile = profile or Profile()
    fail_at = Verdict.SHOULD if strict else Verdict.MUST
    start = time.perf_counter()
    # A first round with a small budget per plan finds what any plan finds
    # easily before one plan spends its whole budget on a fault it rarely hits.
    for budget in sorted({min(FIRST_ROUND, max_examples), max_examples}):
        for name, plan in PLANS.items():
            search = _search(target, profile, plan, fail_at, budget)
            try:
                search()
            except Violation as violation:
                seconds = time.perf_counter() - start
                return HuntResult(violation.finding, name, seconds)
    return HuntResult(None, "", time.perf_counter() - start)


def _search(
    target: Target, profile: Profile, plan: Plan, fail_at: Verdict, max_examples: int
) -> Callable[[], None]:
    @settings(
        max_examples=max_examples,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
        report_multiple_bugs=False,
        verbosity=Verbosity.quiet,
    )
    @given(st.data())
    def search(data: st.DataObject) -> None:
        run_session(target, plan(data, profile), fail_at=fail_at)

    return search

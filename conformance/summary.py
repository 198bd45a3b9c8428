"""Gather findings from every test report into one run report.

Workers attach their findings and counts to each test report as user
properties; pytest-xdist sends those to the controller, where a `Summary`
collects them. Without xdist the same path runs in one process.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import Any

import pytest

from conformance.findings import Finding
from conformance.rules import Verdict
from conformance.waivers import Waiver

FINDINGS_PROPERTY = "smtp_findings"
STATS_PROPERTY = "smtp_stats"


def shortest_per_key(findings: list[Finding]) -> list[Finding]:
    """Keep, for each kind of finding, the one with the shortest transcript."""
    shortest: dict[tuple[str, str, str], Finding] = {}
    for finding in findings:
        known = shortest.get(finding.key)
        if known is None or finding.commands_sent < known.commands_sent:
            shortest[finding.key] = finding
    return list(shortest.values())


def attach(
    report: pytest.TestReport, findings: list[Finding], stats: dict[str, Any]
) -> None:
    """Attach findings and counts to a test report for the controller."""
    report.user_properties.append(
        (FINDINGS_PROPERTY, json.dumps([f.to_json() for f in findings]))
    )
    report.user_properties.append((STATS_PROPERTY, json.dumps(stats)))


@dataclass
class Summary:
    """Findings and counts from every test report of the run."""

    failing: list[Finding] = field(default_factory=list)
    others: dict[tuple[str, str, str], Finding] = field(default_factory=dict)
    sessions: int = 0
    commands: int = 0
    banner: str = ""
    extensions: set[str] = field(default_factory=set)
    used_waivers: set[str] = field(default_factory=set)
    #: Why each skipped property did not run, by property name.
    skipped: dict[str, str] = field(default_factory=dict)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self.add(report)

    def add(self, report: pytest.TestReport) -> None:
        name = report.nodeid.rsplit("::", 1)[-1]
        if report.skipped and isinstance(report.longrepr, tuple):
            self.skipped[name] = str(report.longrepr[2]).removeprefix("Skipped: ")
        for key, value in report.user_properties:
            if key == FINDINGS_PROPERTY:
                for data in json.loads(str(value)):
                    self._keep(replace(Finding.from_json(data), property_name=name))
            elif key == STATS_PROPERTY:
                stats = json.loads(str(value))
                self.sessions += stats["sessions"]
                self.commands += stats["commands"]
                self.banner = self.banner or stats["banner"]
                self.extensions.update(stats["extensions"])
                self.used_waivers.update(stats["waivers"])

    def _keep(self, finding: Finding) -> None:
        if finding.failed:
            self.failing.append(finding)
            return
        known = self.others.get(finding.key)
        if known is None or finding.commands_sent < known.commands_sent:
            self.others[finding.key] = finding

    def findings(self) -> list[Finding]:
        """Return failing findings first, then the rest from worst to mildest."""
        # Sorted, because xdist delivers reports in no fixed order.
        failing = sorted(self.failing, key=lambda f: (f.property_name, f.key))
        rest = sorted(self.others.values(), key=lambda f: (-f.verdict, f.key))
        return [*failing, *rest]

    def policy_observations(self) -> list[str]:
        return sorted(
            {f.reason for f in self.others.values() if f.verdict is Verdict.POLICY}
        )

    def unused_waivers(self, waivers: tuple[Waiver, ...]) -> list[str]:
        return [w.describe() for w in waivers if w.describe() not in self.used_waivers]

"""Run reports: report.json for machines, report.html for people, replay files.

`RunReport` gathers the manifest of a run (versions, settings, target, banner,
EHLO keywords, policy observations, times and counts) and every finding.
`write_report` writes the three outputs into one directory. The HTML page is
rendered by Jinja2 with autoescaping on, so every byte that came from the
server is escaped; it has no scripts and fetches nothing.
"""

from __future__ import annotations

import json
import re
import sys
from collections import Counter
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import jinja2

from conformance.findings import Finding
from conformance.replay import write_replay
from conformance.transcript import format_entries

REPORT_FORMAT = 1


def versions() -> dict[str, str]:
    """Return the versions of the suite and of the tools it runs on."""
    found = {"python": sys.version.split()[0]}
    for name, package in [
        ("suite", "smtp-conformance"),
        ("hypothesis", "hypothesis"),
        ("pytest", "pytest"),
    ]:
        try:
            found[name] = metadata.version(package)
        except metadata.PackageNotFoundError:
            found[name] = "unknown"
    return found


def rfc_area(section: str) -> str:
    """Return the RFC and top-level section, e.g. "RFC 5321 §4" ."""
    match = re.match(r"(RFC \d+)(?: §(\d+))?", section)
    if match is None:
        return section or "transport"
    return f"{match.group(1)} §{match.group(2)}" if match.group(2) else match.group(1)


@dataclass
class RunReport:
    """Everything one run found, ready to be written out."""

    manifest: dict[str, Any]
    findings: list[Finding] = field(default_factory=list)

    def finding_ids(self) -> list[str]:
        ids = []
        for number, finding in enumerate(self.findings, start=1):
            name = finding.property_name.removeprefix("test_") or "session"
            section = re.sub(r"[^0-9a-z]+", "-", finding.section.lower()).strip("-")
            ids.append(f"{number:03d}-{name}-{section or 'transport'}")
        return ids

    def counts(self) -> dict[str, int]:
        counted = Counter(
            "waived" if finding.waived else finding.verdict.label
            for finding in self.findings
        )
        return dict(sorted(counted.items()))

    def to_json(self) -> dict[str, Any]:
        findings = []
        for finding_id, finding in zip(self.finding_ids(), self.findings, strict=True):
            data = finding.to_json()
            data["id"] = finding_id
            if finding.failed or finding.waived:
                data["replay"] = f"replay/{finding_id}.smtp"
            findings.append(data)
        return {
            "format": REPORT_FORMAT,
            "manifest": self.manifest,
            "counts": self.counts(),
            "findings": findings,
        }


def write_report(report: RunReport, directory: Path) -> Path:
    """Write report.json, report.html and replay files; return report.json."""
    replay_dir = directory / "replay"
    replay_dir.mkdir(parents=True, exist_ok=True)
    ids = report.finding_ids()
    for finding_id, finding in zip(ids, report.findings, strict=True):
        if finding.failed or finding.waived:
            write_replay(finding, replay_dir / f"{finding_id}.smtp")
    json_path = directory / "report.json"
    json_path.write_text(json.dumps(report.to_json(), indent=2) + "\n", "utf-8")
    html = render_html(report)
    (directory / "report.html").write_text(html, encoding="utf-8")
    return json_path


def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("conformance", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )


def render_html(report: RunReport) -> str:
    """Render the self-contained report page."""
    areas: Counter[str] = Counter(rfc_area(f.section) for f in report.findings)
    rows = []
    for finding_id, finding in zip(report.finding_ids(), report.findings, strict=True):
        rows.append(
            {
                "id": finding_id,
                "finding": finding,
                "status": _status(finding),
                "transcript": format_entries(list(finding.transcript)),
                "rerun": format_entries(list(finding.rerun)),
            }
        )
    template = _environment().get_template("report.html")
    return template.render(
        manifest=report.manifest,
        counts=report.counts(),
        areas=sorted(areas.items()),
        rows=rows,
    )


def _status(finding: Finding) -> str:
    if finding.waived:
        return "waived"
    if finding.failed:
        return "failed"
    return "reported"

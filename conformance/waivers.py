"""Waivers: known deviations that are reported but do not fail the run.

A waiver file is TOML with one ``[[waiver]]`` table per known deviation::

    [[waiver]]
    section = "RFC 5321 §4.2.4"          # the finding's clause, exactly
    property = "test_malformed_commands"  # optional: the property's test name
    contains = "502"                      # optional: text in the finding's reason
    reason = "unknown verbs get 502 until the parser is replaced"

A finding is waived when some waiver's section equals its clause and the
optional fields match too. The reason is required, so every waiver says why it
exists. A waiver that matched nothing in a run is reported as unused, so fixed
bugs get their waivers removed.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

from conformance.findings import Finding


class WaiverFileError(ValueError):
    """A waiver file is missing or malformed."""


@dataclass(frozen=True)
class Waiver:
    """One known deviation."""

    section: str
    reason: str
    property_name: str = ""
    contains: str = ""

    def matches(self, finding: Finding, property_name: str) -> bool:
        if finding.section != self.section:
            return False
        if self.property_name and self.property_name != property_name:
            return False
        return not self.contains or self.contains in finding.reason

    def describe(self) -> str:
        scope = f" in {self.property_name}" if self.property_name else ""
        text = f" containing {self.contains!r}" if self.contains else ""
        return f"{self.section}{scope}{text} ({self.reason})"


def load_waivers(path: Path) -> list[Waiver]:
    """Read a waiver file.

    Raises:
        WaiverFileError: the file cannot be read or an entry is malformed.
    """
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise WaiverFileError(f"cannot read {path}: {error.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise WaiverFileError(f"{path} is not valid TOML: {error}") from None
    entries = data.get("waiver", [])
    if not isinstance(entries, list):
        raise WaiverFileError(f"{path}: 'waiver' must be an array of tables")
    waivers = []
    for number, entry in enumerate(entries, start=1):
        if not isinstance(entry, dict):
            raise WaiverFileError(f"{path}: waiver {number} is not a table")
        unknown = set(entry) - {"section", "reason", "property", "contains"}
        if unknown:
            names = ", ".join(sorted(unknown))
            raise WaiverFileError(f"{path}: waiver {number} has unknown keys: {names}")
        for key in ("section", "reason"):
            if not isinstance(entry.get(key), str) or not entry[key].strip():
                raise WaiverFileError(f"{path}: waiver {number} needs a '{key}' text")
        waivers.append(
            Waiver(
                section=entry["section"],
                reason=entry["reason"],
                property_name=str(entry.get("property", "")),
                contains=str(entry.get("contains", "")),
            )
        )
    return waivers

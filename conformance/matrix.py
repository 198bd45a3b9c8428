"""Side-by-side comparison of several run reports.

Rows are (property, RFC clause, reason) triples, columns are the runs (named
by their report directory and target), and each cell holds the verdict the
target earned, linked to the finding in that run's report.html. A blank cell
means the run had no such finding.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2

from conformance.report import REPORT_FORMAT


class ReportFileError(ValueError):
    """A report.json could not be read."""


@dataclass(frozen=True)
class Column:
    """One run: its label and where its report lives."""

    label: str
    report: Path


@dataclass(frozen=True)
class Cell:
    verdict: str
    status: str
    link: str


def load_report(path: Path) -> dict[str, Any]:
    """Read a report.json written by the suite.

    Raises:
        ReportFileError: the file is unreadable or not a suite report.
    """
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ReportFileError(f"cannot read report {path}: {error}") from None
    if not isinstance(data, dict) or data.get("format") != REPORT_FORMAT:
        raise ReportFileError(f"{path} is not a report.json of this suite")
    return data


@dataclass
class Matrix:
    """The comparison table."""

    columns: list[Column]
    rows: list[tuple[str, str, str]]
    cells: dict[tuple[tuple[str, str, str], int], Cell]

    def cell(self, row: tuple[str, str, str], column: int) -> Cell | None:
        return self.cells.get((row, column))


def build_matrix(paths: list[Path], output: Path) -> Matrix:
    """Build the matrix of the reports at `paths`, linking relative to `output`."""
    columns: list[Column] = []
    cells: dict[tuple[tuple[str, str, str], int], Cell] = {}
    rows: set[tuple[str, str, str]] = set()
    reasons: dict[tuple[str, str, str], str] = {}
    for index, path in enumerate(paths):
        data = load_report(path)
        target = str(data["manifest"].get("target", ""))
        columns.append(Column(f"{path.parent.name} ({target})", path))
        page = Path(os.path.relpath(path.parent / "report.html", output))
        for finding in data["findings"]:
            # Numbers in reasons (line lengths, error counts) differ between
            # servers for the same departure, so rows ignore them.
            reason = re.sub(r"\d+", "N", finding["reason"])
            key = (finding["property"], finding["section"], reason)
            row = (key[0], key[1], reasons.setdefault(key, finding["reason"]))
            rows.add(row)
            status = (
                "waived"
                if finding["waived"]
                else ("failed" if finding["failed"] else "reported")
            )
            link = f"{page.as_posix()}#{finding['id']}"
            known = cells.get((row, index))
            if known is None or status == "failed":
                cells[(row, index)] = Cell(finding["verdict"], status, link)
    return Matrix(columns, sorted(rows), cells)


def write_matrix(paths: list[Path], output: Path) -> tuple[Path, Path]:
    """Write matrix.html and matrix.md into `output`; return both paths."""
    output.mkdir(parents=True, exist_ok=True)
    matrix = build_matrix(paths, output)
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("conformance", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    html = environment.get_template("matrix.html").render(matrix=matrix)
    html_path = output / "matrix.html"
    html_path.write_text(html, encoding="utf-8")
    markdown_path = output / "matrix.md"
    markdown_path.write_text(render_markdown(matrix), encoding="utf-8")
    return html_path, markdown_path


def _markdown_text(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(matrix: Matrix) -> str:
    """Render the matrix as a Markdown table."""
    header = ["property", "clause", "finding", *(c.label for c in matrix.columns)]
    lines = [
        "| " + " | ".join(_markdown_text(h) for h in header) + " |",
        "|" + "---|" * len(header),
    ]
    for row in matrix.rows:
        cells = []
        for index in range(len(matrix.columns)):
            cell = matrix.cell(row, index)
            if cell is None:
                cells.append("")
                continue
            waived = " (waived)" if cell.status == "waived" else ""
            cells.append(f"[{cell.verdict}{waived}]({cell.link})")
        texts = [_markdown_text(part) for part in row]
        lines.append("| " + " | ".join([*texts, *cells]) + " |")
    return "\n".join(lines) + "\n"

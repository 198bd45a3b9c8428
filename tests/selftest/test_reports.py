"""Reports, replay files, waivers, the certification profile and the matrix,
as a user gets them from real runs against reference servers."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import pytest

from conformance.embedded import EmbeddedServer
from conformance.reference import FAULTS, ReferenceServer
from conformance.replay import MAGIC

PROPERTIES = Path(__file__).parents[1] / "conformance" / "test_sessions.py"
TIMESTAMPS = {"started", "ended", "seconds"}


@pytest.fixture
def suite(pytester: pytest.Pytester) -> pytest.Pytester:
    """A pytester directory holding the conformance properties."""
    pytester.makepyfile(test_sessions=PROPERTIES.read_text())
    return pytester


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "conformance", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _load(directory: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((directory / "report.json").read_text())
    return data


def test_run_writes_json_html_and_replays(suite: pytest.Pytester) -> None:
    report_dir = suite.path / "report"
    with ReferenceServer(FAULTS["rcpt-without-mail-accepted"]) as server:
        result = suite.runpytest_subprocess(
            "--target", f"127.0.0.1:{server.port}", "--report-dir", str(report_dir)
        )

    assert result.ret == pytest.ExitCode.TESTS_FAILED
    data = _load(report_dir)
    assert data["manifest"]["target"] == f"127.0.0.1:{server.port}"
    assert data["manifest"]["banner"].startswith("reference.conformance.test")
    assert data["counts"]["MUST violation"] >= 1
    failing = [f for f in data["findings"] if f["failed"]]
    assert failing
    assert all(f["reproduced"] == "deterministic" for f in failing)
    assert all((report_dir / f["replay"]).is_file() for f in failing)
    assert (report_dir / "report.html").is_file()
    result.stdout.fnmatch_lines(
        ["*report: *report.json", "*python -m conformance replay*"]
    )


def test_replay_reproduces_only_against_the_faulty_server(
    suite: pytest.Pytester,
) -> None:
    report_dir = suite.path / "report"
    fault = FAULTS["rset-keeps-transaction"]
    with ReferenceServer(fault) as faulty, ReferenceServer() as fixed:
        suite.runpytest_subprocess(
            "--target", f"127.0.0.1:{faulty.port}", "--report-dir", str(report_dir)
        )
        replays = sorted((report_dir / "replay").glob("*.smtp"))
        still = [
            _cli("replay", str(p), "--target", f"127.0.0.1:{faulty.port}")
            for p in replays
        ]
        gone = [
            _cli("replay", str(p), "--target", f"127.0.0.1:{fixed.port}")
            for p in replays
        ]

    assert replays
    assert [r.returncode for r in still] == [1] * len(replays)
    assert all("reproduced: MUST violation" in r.stdout for r in still)
    assert [r.returncode for r in gone] == [0] * len(replays)
    assert all("not reproduced" in r.stdout for r in gone)


def test_certification_runs_give_identical_findings(suite: pytest.Pytester) -> None:
    reports = []
    with ReferenceServer(FAULTS["nested-mail-accepted"]) as server:
        for run in ("first", "second"):
            report_dir = suite.path / run
            suite.runpytest_subprocess(
                "--target",
                f"127.0.0.1:{server.port}",
                "--smtp-profile",
                "certification",
                "--smtp-examples",
                "30",
                "-n",
                "2",
                "--report-dir",
                str(report_dir),
            )
            reports.append(_load(report_dir))

    first, second = reports
    assert first["manifest"]["profile"] == "certification"
    assert first["findings"]
    assert first["findings"] == second["findings"]
    for data in reports:
        for key in TIMESTAMPS:
            del data["manifest"][key]
    assert first["manifest"] == second["manifest"]


def test_server_markup_is_escaped_in_html(suite: pytest.Pytester) -> None:
    report_dir = suite.path / "report"
    banner = "<script>alert('banner')</script><b>bold</b>"
    # STARTTLS off: this test is about escaping, and needs no test CA.
    with EmbeddedServer(ident=banner, tls_context=None) as server:
        suite.runpytest_subprocess(
            "--target",
            f"127.0.0.1:{server.port}",
            "--smtp-examples",
            "5",
            "--report-dir",
            str(report_dir),
        )

    html = (report_dir / "report.html").read_text()
    assert "<script>" not in html
    assert "&lt;script&gt;alert(&#39;banner&#39;)&lt;/script&gt;" in html
    assert "<b>bold</b>" not in html


def test_waiver_keeps_known_deviation_from_failing(suite: pytest.Pytester) -> None:
    waivers = suite.path / "waivers.toml"
    waivers.write_text(
        '[[waiver]]\nsection = "RFC 5321 §3.3"\n'
        'reason = "RCPT before MAIL is accepted until the 2.0 parser ships"\n'
    )
    report_dir = suite.path / "report"
    with ReferenceServer(FAULTS["rcpt-without-mail-accepted"]) as server:
        result = suite.runpytest_subprocess(
            "--target",
            f"127.0.0.1:{server.port}",
            "--waivers",
            str(waivers),
            "--report-dir",
            str(report_dir),
        )

    assert result.ret == pytest.ExitCode.OK
    waived = [f for f in _load(report_dir)["findings"] if f["waived"]]
    assert waived
    assert "until the 2.0 parser ships" in waived[0]["waived"]


def test_unused_waiver_fails_with_strict_waivers(suite: pytest.Pytester) -> None:
    waivers = suite.path / "waivers.toml"
    waivers.write_text(
        '[[waiver]]\nsection = "RFC 5321 §4.1.1.5"\nreason = "RSET bug, fixed now"\n'
    )
    with ReferenceServer() as server:
        target = f"127.0.0.1:{server.port}"
        lenient = suite.runpytest_subprocess(
            "--target", target, "--waivers", str(waivers), "--smtp-examples", "5"
        )
        strict = suite.runpytest_subprocess(
            "--target",
            target,
            "--waivers",
            str(waivers),
            "--smtp-examples",
            "5",
            "--strict-waivers",
        )

    assert lenient.ret == pytest.ExitCode.OK
    lenient.stdout.fnmatch_lines(["*unused waiver: RFC 5321 §4.1.1.5*"])
    assert strict.ret == pytest.ExitCode.TESTS_FAILED


def test_bad_waiver_file_is_usage_error(suite: pytest.Pytester) -> None:
    waivers = suite.path / "waivers.toml"
    waivers.write_text('[[waiver]]\nsection = "RFC 5321 §3.3"\n')

    result = suite.runpytest_subprocess("--waivers", str(waivers))

    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "needs a 'reason' text" in result.stderr.str()


def test_junit_failure_carries_clause_and_transcript(suite: pytest.Pytester) -> None:
    junit = suite.path / "junit.xml"
    with ReferenceServer(FAULTS["quit-without-221"]) as server:
        suite.runpytest_subprocess(
            "--target",
            f"127.0.0.1:{server.port}",
            f"--junitxml={junit}",
            "-k",
            "command_order",
        )

    failure = ElementTree.parse(junit).find(".//failure")
    assert failure is not None
    assert "RFC 5321 §4.1.1.10" in (failure.text or "")
    assert "C: QUIT" in (failure.text or "")


def test_matrix_puts_runs_side_by_side(suite: pytest.Pytester) -> None:
    paths = []
    for name in ("quit-without-221", "nested-mail-accepted"):
        report_dir = suite.path / name
        with ReferenceServer(FAULTS[name]) as server:
            suite.runpytest_subprocess(
                "--target",
                f"127.0.0.1:{server.port}",
                "--report-dir",
                str(report_dir),
                "--smtp-examples",
                "30",
            )
        paths.append(str(report_dir / "report.json"))

    output = suite.path / "matrix"
    result = _cli("matrix", *paths, "--output", str(output))

    assert result.returncode == 0, result.stderr
    markdown = (output / "matrix.md").read_text()
    assert "RFC 5321 §4.1.1.10" in markdown
    assert "](../quit-without-221/report.html#" in markdown
    html = (output / "matrix.html").read_text()
    assert "<th>quit-without-221 (127.0.0.1:" in html
    assert "<th>nested-mail-accepted (127.0.0.1:" in html


def test_matrix_rejects_a_file_that_is_not_a_report(tmp_path: Path) -> None:
    bogus = tmp_path / "report.json"
    bogus.write_text("{}")

    result = _cli("matrix", str(bogus), "--output", str(tmp_path / "out"))

    assert result.returncode == 2
    assert "is not a report.json of this suite" in result.stderr


def test_replay_of_hidden_credentials_needs_auth_user(tmp_path: Path) -> None:
    path = tmp_path / "auth.smtp"
    path.write_text(
        "\n".join(
            [
                MAGIC,
                "# verdict: MUST violation",
                "# clause: RFC 4954 §4",
                "# reason: AUTH during a mail transaction was processed",
                "C: AUTH PLAIN <PLAIN credentials>\\r\\n",
            ]
        )
        + "\n",
        encoding="utf-8",
    )

    result = _cli("replay", str(path), "--target", "127.0.0.1:9")

    assert result.returncode == 2
    assert "--auth-user" in result.stderr
    assert "SMTP_AUTH_PASSWORD" in result.stderr

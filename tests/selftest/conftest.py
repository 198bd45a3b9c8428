"""Fixtures shared by the suite's own tests."""

from __future__ import annotations

from typing import Any

pytest_plugins = ["pytester"]

#: User property under which the hostile-server tests record peak memory (KiB).
PEAK_MEMORY = "peak_memory_kib"


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Print the peak memory of the pytest runs the suite's tests started.

    ru_maxrss of RUSAGE_CHILDREN is a maximum over every child process of a
    worker so far, so the figure covers the hostile-server battery and any
    pytester run before it in the same worker.
    """
    peaks = [
        int(value)
        for reports in terminalreporter.stats.values()
        for report in reports
        for name, value in getattr(report, "user_properties", [])
        if name == PEAK_MEMORY
    ]
    if peaks:
        terminalreporter.write_line(
            f"peak memory of one pytest run started by these tests (the "
            f"hostile-server battery and those before it): "
            f"{max(peaks) / 1024:.0f} MiB"
        )

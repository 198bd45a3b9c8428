"""Fixtures shared by the suite's own tests."""

from __future__ import annotations

from typing import Any

pytest_plugins = ["pytester"]

#: User property under which the hostile-server tests record peak memory (KiB).
PEAK_MEMORY = "peak_memory_kib"


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Print the peak memory of the hostile-server battery's pytest runs."""
    peaks = [
        int(value)
        for reports in terminalreporter.stats.values()
        for report in reports
        for name, value in getattr(report, "user_properties", [])
        if name == PEAK_MEMORY
    ]
    if peaks:
        terminalreporter.write_line(
            f"hostile-server battery: peak memory of one pytest run "
            f"{max(peaks) / 1024:.0f} MiB"
        )

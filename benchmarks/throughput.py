"""Compare the suite's throughput with what a raw-socket client gets from a server.

Usage: python benchmarks/throughput.py [--target HOST:PORT] [--runs R]
       [--examples N] [--seed S] [--workers W] [--timeout SECONDS]
       [--pycache-prefix DIR]

Without --target this starts the reference server (python -m
conformance.reference) in its own process on 127.0.0.1, so that it does not
share a GIL with the client being measured. Each round then measures:

1. driver: every plan of strategies/plans.py, run once with Hypothesis through
   conformance.driver.run_session, as the properties do but without pytest.
   The first round records every command each session sends.
2. raw: a client with plain blocking sockets and no model replays the recorded
   sessions lock-step (send a command, read up to the final line of its reply),
   with 1 process and with W processes that split the sessions between them.
3. suite: pytest tests/conformance -m "not smtp_extension" --smtp-examples N
   (the base protocol's properties, whose plans the recording runs), without
   and with -n W, and again with --smtp-examples 1 to estimate the start-up
   cost.

The suite runs with --hypothesis-seed S and the recording with the same seed,
so both draw the same sessions against a deterministic server. The script
checks this by comparing the suite's own counts with the recording's. The
table at the end shows the median of each figure over the rounds.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import inspect
import multiprocessing
import os
import platform
import queue
import re
import select
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from multiprocessing.synchronize import Barrier
from pathlib import Path

from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from conformance.driver import QUIT, Chooser, run_session
from conformance.errors import ConformanceError
from conformance.findings import Violation
from conformance.plugin import SessionRunner
from conformance.rules import Verdict
from conformance.runner import Target
from conformance.state import Phase, SessionState
from strategies.commands import Profile
from strategies.plans import PLANS, Plan
from strategies.sessions import SEARCH_PHASES

ROOT = Path(__file__).resolve().parent.parent

#: Inputs a property sends before the driver ends the session, read from the
#: plugin so that the recording follows the suite if that default changes.
SUITE_MAX_STEPS: int = (
    inspect.signature(SessionRunner.run).parameters["max_steps"].default
)

#: Seconds any single pytest run may take before the benchmark gives up.
SUITE_TIME_LIMIT = 900.0
#: Seconds one replay of all recorded sessions may take, per process.
REPLAY_TIME_LIMIT = 600.0
#: Longest reply the raw client accepts, in octets (as conformance.runner).
MAX_REPLY = 64 * 1024

SUMMARY_LINE = re.compile(
    r"^target \S+: (\d+) sessions?, (\d+) commands? sent(?: in \S+ s)?$", re.M
)

#: Every input one session sent after the greeting, in order.
RecordedSession = list[bytes]


class BenchmarkError(Exception):
    """A measurement failed; the message names the step and the cause."""


@dataclass(frozen=True)
class Measurement:
    """One timed run: how many sessions and commands in how many seconds.

    `server_cpu_seconds` is the CPU time the server process used meanwhile,
    when the benchmark started the server and can read it.
    """

    sessions: int
    commands: int
    seconds: float
    server_cpu_seconds: float | None = None

    @property
    def sessions_per_second(self) -> float:
        return self.sessions / self.seconds

    @property
    def commands_per_second(self) -> float:
        return self.commands / self.seconds


# Recording the sessions the suite sends


class RecordingChooser:
    """A chooser that ends sessions as the driver does and keeps every input.

    The driver stops asking its chooser after `max_steps` inputs and sends the
    ending itself, which the chooser would not see. So this wrapper applies the
    suite's step limit and the driver's ending (end the message content, then
    QUIT) itself, and the driver runs it with a higher limit. Every byte sent
    then passes through the wrapper, except the QUIT the driver sends after
    content that could smuggle commands, which `_run_plan` adds. The inner
    chooser is called exactly as often as under the suite, so Hypothesis
    draws the same data.
    """

    def __init__(self, inner: Chooser, max_steps: int) -> None:
        self.inner = inner
        self.max_steps = max_steps
        self.inputs: RecordedSession = []

    def __call__(self, state: SessionState) -> bytes:
        data = None
        if len(self.inputs) < self.max_steps:
            data = self.inner(state)
        if data is None:
            data = b".\r\n" if state.phase is Phase.CONTENT else QUIT
        self.inputs.append(data)
        return data


@dataclass
class Recording:
    """Every session that one run of the plans sent, and how long it took.

    Attributes:
        sessions: the inputs of each session, in the order they were run.
        stopped_commands: commands sent in sessions that Hypothesis stopped
            before they ended, because its data for the example ran out. They
            went over the wire, but the plugin's "commands sent" count leaves
            them out.
        measurement: the counts of all sessions and commands sent, and the time.
    """

    sessions: list[RecordedSession]
    stopped_commands: int
    measurement: Measurement


def record_sessions(target: Target, examples: int, seed_value: int) -> Recording:
    """Run every plan as the properties do and record the inputs sent.

    Raises:
        BenchmarkError: the target failed a property, so the suite would spend
            its time shrinking and the figures would not be comparable.
    """
    sessions: list[RecordedSession] = []
    stopped: list[RecordedSession] = []
    start = time.perf_counter()
    for name, plan in PLANS.items():
        try:
            _run_plan(target, plan, examples, seed_value, sessions, stopped)
        except Violation as violation:
            raise BenchmarkError(
                f"the target failed property {name!r}: "
                f"{violation.finding.reason}. Measure a target that passes the "
                "suite, such as the reference server."
            ) from None
    seconds = time.perf_counter() - start
    commands = sum(len(inputs) for inputs in sessions)
    stopped_commands = sum(len(inputs) for inputs in stopped)
    measurement = Measurement(len(sessions), commands, seconds)
    return Recording(sessions, stopped_commands, measurement)


def _run_plan(
    target: Target,
    plan: Plan,
    examples: int,
    seed_value: int,
    sessions: list[RecordedSession],
    stopped: list[RecordedSession],
) -> None:
    profile = Profile()

    # The same settings as the plugin's "smtp-conformance" profile, with no
    # example database so earlier runs cannot change what is drawn.
    @seed(seed_value)
    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.function_scoped_fixture,
            HealthCheck.data_too_large,
        ],
        print_blob=False,
        phases=SEARCH_PHASES,
    )
    @given(st.data())
    def check(data: st.DataObject) -> None:
        chooser = RecordingChooser(plan(data, profile), SUITE_MAX_STEPS)
        ended = False
        try:
            record = run_session(
                target,
                chooser,
                max_steps=SUITE_MAX_STEPS + 10,
                fail_at=Verdict.MUST,
                while_waiting=getattr(chooser.inner, "draw_ahead", None),
            )
            ended = True
        finally:
            sessions.append(chooser.inputs)
            if not ended:
                stopped.append(chooser.inputs)
        # The driver sends a QUIT of its own after content that could smuggle
        # commands, and the raw client must send it too.
        sent = [entry.data for entry in record.transcript if entry.direction == "C"]
        if len(sent) > len(chooser.inputs):
            chooser.inputs.extend(sent[len(chooser.inputs) :])

    check()


# The raw-socket client


def replay(
    sessions: list[RecordedSession], host: str, port: int, timeout: float
) -> int:
    """Send each session lock-step on its own connection; return commands sent.

    Raises:
        BenchmarkError: a reply timed out or was oversized, or the replay ran
            over its time limit.
        OSError: the connection failed.
    """
    deadline = time.monotonic() + REPLAY_TIME_LIMIT
    commands = 0
    for inputs in sessions:
        if time.monotonic() > deadline:
            raise BenchmarkError(f"the replay took over {REPLAY_TIME_LIMIT:g} s")
        commands += _replay_session(inputs, host, port, timeout)
    return commands


def _replay_session(
    inputs: RecordedSession, host: str, port: int, timeout: float
) -> int:
    with socket.create_connection((host, port), timeout=timeout) as sock:
        # The suite's runner sets TCP_NODELAY too, so both send each command in
        # its own segment at once.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        buffer = bytearray()
        if _read_reply(sock, buffer) is None:
            return 0
        sent = 0
        for data in inputs:
            sock.sendall(data)
            sent += 1
            code = _read_reply(sock, buffer)
            if code is None:
                break
            if code in (221, 421):
                # The driver waits for the server to close after these replies.
                _read_until_closed(sock)
                break
        return sent


def _read_reply(sock: socket.socket, buffer: bytearray) -> int | None:
    """Read up to a reply's final line and return its code; None at EOF.

    A final line has a space or nothing after the code (RFC 5321 §4.2.1).
    """
    start = 0
    while True:
        end = buffer.find(b"\n", start)
        if end < 0:
            if len(buffer) > MAX_REPLY:
                raise BenchmarkError(f"a reply exceeded {MAX_REPLY} octets")
            chunk = _receive(sock)
            if not chunk:
                return None
            buffer += chunk
            continue
        line = bytes(buffer[start:end])
        start = end + 1
        if line[3:4] != b"-":
            del buffer[:start]
            return int(line[:3]) if line[:3].isdigit() else 0


def _read_until_closed(sock: socket.socket) -> None:
    received = 0
    while received <= MAX_REPLY:
        chunk = _receive(sock)
        if not chunk:
            return
        received += len(chunk)
    raise BenchmarkError("the server kept sending after 221 or 421")


def _receive(sock: socket.socket) -> bytes:
    try:
        return sock.recv(65536)
    except TimeoutError:
        raise BenchmarkError(
            f"timed out after {sock.gettimeout():g} s waiting for a reply (raise "
            "--timeout if the server is only slow)"
        ) from None
    except ConnectionResetError:
        return b""


def measure_raw(
    sessions: list[RecordedSession], host: str, port: int, workers: int, timeout: float
) -> Measurement:
    """Replay the sessions split over `workers` processes started together.

    The time runs from the moment all processes have started to the moment the
    last one finishes, so process start-up is not counted.
    """
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(workers)
    results: multiprocessing.Queue[tuple[float, float, int] | str] = context.Queue()
    shares = [sessions[index::workers] for index in range(workers)]
    processes = [
        context.Process(
            target=_raw_worker, args=(share, host, port, timeout, barrier, results)
        )
        for share in shares
    ]
    for process in processes:
        process.start()
    try:
        outcomes = [results.get(timeout=REPLAY_TIME_LIMIT + 60) for _ in processes]
    except queue.Empty:
        raise BenchmarkError("a raw-socket worker did not report back") from None
    finally:
        for process in processes:
            process.join(timeout=30)
            if process.is_alive():
                process.kill()
    errors = [outcome for outcome in outcomes if isinstance(outcome, str)]
    if errors:
        raise BenchmarkError(f"raw-socket worker failed: {errors[0]}")
    timings = [outcome for outcome in outcomes if not isinstance(outcome, str)]
    start = min(timing[0] for timing in timings)
    end = max(timing[1] for timing in timings)
    commands = sum(timing[2] for timing in timings)
    return Measurement(len(sessions), commands, end - start)


def _raw_worker(
    sessions: list[RecordedSession],
    host: str,
    port: int,
    timeout: float,
    barrier: Barrier,
    results: multiprocessing.Queue[tuple[float, float, int] | str],
) -> None:
    # CLOCK_MONOTONIC is one clock for the whole machine, so the times of
    # several processes can be compared.
    try:
        barrier.wait(timeout=60)
        start = time.clock_gettime(time.CLOCK_MONOTONIC)
        commands = replay(sessions, host, port, timeout)
        end = time.clock_gettime(time.CLOCK_MONOTONIC)
    except Exception as error:
        # Any error goes back to the parent, which would otherwise wait for a
        # result until its timeout.
        results.put(f"{type(error).__name__}: {error}")
        return
    results.put((start, end, commands))


# The suite under pytest


def run_suite(
    address: str,
    examples: int,
    workers: int,
    seed_value: int,
    environment: dict[str, str] | None = None,
) -> Measurement:
    """Run tests/conformance in a subprocess and read its own counts.

    The time is the wall time of the whole pytest process, start-up and the
    writing of its report included. `environment` replaces the inherited one.

    Raises:
        BenchmarkError: pytest failed, timed out, or printed no summary line.
    """
    command = [
        sys.executable,
        "-m",
        "pytest",
        "tests/conformance",
        # The recording runs the base protocol's plans only (PLANS), so the
        # suite leaves out the extension properties too.
        "-m",
        "not smtp_extension",
        "--target",
        address,
        "-p",
        "no:cacheprovider",
        "--smtp-examples",
        str(examples),
        "--hypothesis-seed",
        str(seed_value),
        "-q",
    ]
    if workers > 1:
        command += ["-n", str(workers)]
    # Each run writes its report to a directory of its own that is deleted
    # afterwards, so the benchmark leaves nothing in reports/.
    with tempfile.TemporaryDirectory(prefix="throughput-") as report_dir:
        command += ["--report-dir", report_dir]
        start = time.perf_counter()
        try:
            completed = subprocess.run(
                command,
                cwd=ROOT,
                env=environment,
                capture_output=True,
                text=True,
                timeout=SUITE_TIME_LIMIT,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise BenchmarkError(
                f"pytest took over {SUITE_TIME_LIMIT:g} s: {' '.join(command)}"
            ) from None
        seconds = time.perf_counter() - start
    match = SUMMARY_LINE.search(completed.stdout)
    if completed.returncode != 0 or match is None:
        tail = "\n".join([*completed.stdout.splitlines()[-15:], completed.stderr])
        raise BenchmarkError(
            f"pytest exited with status {completed.returncode} and printed:\n{tail}"
        )
    return Measurement(int(match.group(1)), int(match.group(2)), seconds)


# The target


@contextlib.contextmanager
def reference_server(timeout: float) -> Iterator[tuple[str, int]]:
    """Start python -m conformance.reference on a free port.

    Yields its HOST:PORT and its process id.
    """
    process = subprocess.Popen(
        [sys.executable, "-m", "conformance.reference", "--port", "0"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        ready, _, _ = select.select([process.stdout], [], [], timeout)
        line = process.stdout.readline() if ready else ""
        match = re.search(r"listening on (127\.0\.0\.1:\d+)", line)
        if match is None:
            raise BenchmarkError(
                f"the reference server did not start within {timeout:g} s "
                f"(its first output line: {line.strip()!r})"
            )
        yield match.group(1), process.pid
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def cpu_seconds(pid: int | None) -> float | None:
    """Return the user and system CPU time of process `pid`, from /proc (Linux).

    Returns None without a pid, or when /proc cannot be read.
    """
    if pid is None:
        return None
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The fields after the command name start with the state (field 3 in
    # proc(5)), so utime (field 14) and stime (field 15) are the 12th and 13th.
    fields = stat.rpartition(")")[2].split()
    ticks = int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def parse_address(value: str) -> tuple[str, int]:
    """Split "host:port" or "[v6-address]:port" into host and port."""
    host, _, port = value.rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    if not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise argparse.ArgumentTypeError(
            f"invalid address {value!r}: expected HOST:PORT, such as 127.0.0.1:2525"
        )
    return host, int(port)


# Reporting


@dataclass
class Results:
    """Every measurement of every round, by row label."""

    rows: dict[str, list[Measurement]]

    def add(self, label: str, measurement: Measurement) -> None:
        self.rows.setdefault(label, []).append(measurement)
        line = (
            f"  {label:28} {measurement.sessions:6} sessions "
            f"{measurement.commands:7} commands {measurement.seconds:8.2f} s"
        )
        if measurement.server_cpu_seconds is not None:
            line += f", server CPU {measurement.server_cpu_seconds:.2f} s"
        print(line, flush=True)

    def seconds(self, label: str) -> float:
        return statistics.median(m.seconds for m in self.rows[label])

    def sessions_per_second(self, label: str) -> float:
        return statistics.median(m.sessions_per_second for m in self.rows[label])

    def commands_per_second(self, label: str) -> float:
        return statistics.median(m.commands_per_second for m in self.rows[label])

    def server_busy(self, label: str) -> float | None:
        """Return the median share of wall time the server spent on a CPU.

        Returns None when the server's CPU time is unknown.
        """
        shares = [
            m.server_cpu_seconds / m.seconds
            for m in self.rows[label]
            if m.server_cpu_seconds is not None
        ]
        return statistics.median(shares) if shares else None


@dataclass(frozen=True)
class Row:
    """One line of the final table; `raw` names the row its ratio divides by."""

    label: str
    seconds: float
    sessions_per_second: float | None = None
    commands_per_second: float | None = None
    raw: str | None = None
    server_busy: float | None = None


def print_table(results: Results, workers: int) -> None:
    """Print the medians, the suite/raw ratios and the parallel speed-ups."""
    raw = {1: "raw, 1 process", workers: f"raw, {workers} processes"}
    suite = {1: "suite, 1 worker", workers: f"suite, -n {workers}"}
    startup = {1: "startup, 1 worker", workers: f"startup, -n {workers}"}
    parallel_rows = (raw[workers], suite[workers])
    rows = [
        Row(
            label,
            results.seconds(label),
            results.sessions_per_second(label),
            results.commands_per_second(label),
            raw[workers] if label in parallel_rows else raw[1],
            server_busy=results.server_busy(label),
        )
        for label in results.rows
        if label not in startup.values()
    ]
    rows += [
        Row(label, results.seconds(label), server_busy=results.server_busy(label))
        for label in startup.values()
    ]
    net = {
        count: _net_of_startup(results, suite[count], startup[count], raw[count])
        for count in (1, workers)
    }
    rows += list(net.values())

    print()
    print(
        f"{'median of ' + str(len(results.rows[raw[1]])) + ' rounds':32} "
        f"{'seconds':>8} {'sessions/s':>11} {'commands/s':>11} {'of raw':>7} "
        f"{'server CPU':>10}"
    )
    by_label = {row.label: row for row in rows}
    for row in rows:
        line = f"{row.label:32} {row.seconds:8.2f}"
        if row.sessions_per_second is not None and row.raw is not None:
            share = row.sessions_per_second / results.sessions_per_second(row.raw)
            line += (
                f" {row.sessions_per_second:11.1f} "
                f"{row.commands_per_second or 0:11.1f} {share:7.2f}"
            )
        else:
            line += " " * 32
        if row.server_busy is not None:
            line += f" {row.server_busy:10.0%}"
        print(line.rstrip())
    # Both sides count sessions alike, but the suite's command count leaves out
    # the commands of sessions Hypothesis stopped early, so ratios use sessions.
    print("of raw: sessions/s over the raw client's with as many processes")
    print("server CPU: the server's CPU time over the wall time")

    print()
    for first, second in (
        (raw[1], raw[workers]),
        (suite[1], suite[workers]),
        (net[1].label, net[workers].label),
    ):
        one = by_label[first].sessions_per_second
        parallel = by_label[second].sessions_per_second
        if one and parallel:
            print(f"{second} / {first}: {parallel / one:.2f}")


def _net_of_startup(results: Results, full: str, startup: str, raw: str) -> Row:
    # The marginal rate: the extra sessions of a full run over a one-example
    # run, divided by the extra time they took.
    def extra(count: Callable[[Measurement], float]) -> float:
        return statistics.median(map(count, results.rows[full])) - statistics.median(
            map(count, results.rows[startup])
        )

    label = f"{full}, net of start-up"
    seconds = extra(lambda m: m.seconds)
    if seconds <= 0:
        return Row(label, seconds)
    sessions = extra(lambda m: m.sessions) / seconds
    commands = extra(lambda m: m.commands) / seconds
    return Row(label, seconds, sessions, commands, raw)


def suite_environment(pycache_prefix: str | None) -> dict[str, str] | None:
    """Return the environment for pytest runs, or None to inherit this one.

    With a prefix, Python and pytest's assertion rewriter cache compiled
    modules under it, even where PYTHONDONTWRITEBYTECODE is set here.
    """
    if pycache_prefix is None:
        return None
    environment = dict(os.environ)
    environment.pop("PYTHONDONTWRITEBYTECODE", None)
    environment["PYTHONPYCACHEPREFIX"] = pycache_prefix
    return environment


def print_machine() -> None:
    """Print the CPU count and model and the Python version."""
    model = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.partition(":")[2].strip()
                break
    usable = len(os.sched_getaffinity(0))
    print(
        f"machine: {os.cpu_count()} CPUs ({usable} usable), {model}; "
        f"Python {platform.python_version()} ({platform.python_implementation()})"
    )


def print_load() -> None:
    """Print the load averages, since other work on the machine skews timings."""
    one, five, fifteen = os.getloadavg()
    print(f"load average: {one:.2f} {five:.2f} {fifteen:.2f} (1, 5, 15 min)")


# The command line


def measure(
    args: argparse.Namespace, address: str, server_pid: int | None = None
) -> Results:
    """Run every round against `address` and return the measurements.

    With `server_pid`, each measurement also records the server's CPU time.
    """
    host, port = parse_address(address)
    target = Target(host, port, timeout=args.timeout)
    workers = args.workers
    results = Results({})
    environment = suite_environment(args.pycache_prefix)
    # An unmeasured run first, so that the first round does not pay for
    # filling the file-system cache (and, with --pycache-prefix, the bytecode
    # cache).
    run_suite(address, 1, workers, args.seed, environment)
    first: Recording | None = None
    for round_number in range(1, args.runs + 1):
        print(f"round {round_number} of {args.runs}", flush=True)
        before = cpu_seconds(server_pid)
        recording = record_sessions(target, args.examples, args.seed)
        driver = _with_server_cpu(recording.measurement, server_pid, before)
        if first is None:
            first = recording
            print(
                f"  {recording.stopped_commands} recorded commands were sent in "
                "sessions Hypothesis stopped early (counted on both sides)"
            )
        elif recording.sessions != first.sessions:
            print("  NOTE: this round drew other sessions than round 1")
        results.add("driver, no pytest", driver)
        for count, label in (
            (1, "raw, 1 process"),
            (workers, f"raw, {workers} processes"),
        ):
            before = cpu_seconds(server_pid)
            raw = measure_raw(first.sessions, host, port, count, args.timeout)
            results.add(label, _with_server_cpu(raw, server_pid, before))
        counted = (driver.sessions, driver.commands)
        for count, label in ((1, "suite, 1 worker"), (workers, f"suite, -n {workers}")):
            before = cpu_seconds(server_pid)
            suite = run_suite(address, args.examples, count, args.seed, environment)
            suite = _with_server_cpu(suite, server_pid, before)
            if (suite.sessions, suite.commands) != counted:
                print(
                    f"  NOTE: the suite counted {suite.sessions} sessions and "
                    f"{suite.commands} commands, but the recording {counted[0]} "
                    f"and {counted[1]}, so they drew different sessions"
                )
            results.add(label, suite)
        for count, label in (
            (1, "startup, 1 worker"),
            (workers, f"startup, -n {workers}"),
        ):
            before = cpu_seconds(server_pid)
            startup = run_suite(address, 1, count, args.seed, environment)
            results.add(label, _with_server_cpu(startup, server_pid, before))
    return results


def _with_server_cpu(
    measurement: Measurement, server_pid: int | None, before: float | None
) -> Measurement:
    after = cpu_seconds(server_pid)
    if before is None or after is None:
        return measurement
    return dataclasses.replace(measurement, server_cpu_seconds=after - before)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python benchmarks/throughput.py",
        description="Compare the suite's sessions/s and commands/s with a "
        "raw-socket client's, against one server.",
    )
    parser.add_argument(
        "--target",
        metavar="HOST:PORT",
        help="measure this running server (default: start the reference server "
        "on 127.0.0.1)",
    )
    parser.add_argument(
        "--runs", type=int, default=3, help="rounds of measurements (default 3)"
    )
    parser.add_argument(
        "--examples",
        type=int,
        default=200,
        help="Hypothesis examples per property, as --smtp-examples (default "
        "200, the certification profile's)",
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="Hypothesis seed (default 0)"
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=2,
        help="processes for the parallel runs, as pytest -n; at least 2 (default 2)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=10.0,
        help="seconds to wait for each reply and for the server to start (default 10)",
    )
    parser.add_argument(
        "--pycache-prefix",
        metavar="DIR",
        help="run pytest with bytecode caching in DIR, even if "
        "PYTHONDONTWRITEBYTECODE is set (default: inherit the environment)",
    )
    args = parser.parse_args(argv)
    for option, value, bottom, top in (
        ("--runs", args.runs, 1, 20),
        ("--examples", args.examples, 1, 10_000),
        ("--workers", args.workers, 2, 64),
    ):
        if not bottom <= value <= top:
            parser.error(f"{option} {value} is invalid: expected {bottom} to {top}")
    if args.target is not None:
        try:
            parse_address(args.target)
        except argparse.ArgumentTypeError as error:
            parser.error(f"--target: {error}")

    print_machine()
    print_load()
    if sys.dont_write_bytecode and args.pycache_prefix is None:
        print(
            "NOTE: PYTHONDONTWRITEBYTECODE is set, so each pytest process compiles "
            "every module it imports and assertion-rewrites those of pytest "
            "plugins, Hypothesis included (see --pycache-prefix)"
        )
    try:
        if args.target is not None:
            results = measure(args, args.target)
        else:
            with reference_server(args.timeout) as (address, pid):
                print(f"reference server on {address}, process {pid}")
                results = measure(args, address, pid)
    except (BenchmarkError, ConformanceError, OSError) as error:
        print(f"benchmark failed: {error}", file=sys.stderr)
        return 1
    print_table(results, args.workers)
    print_load()
    return 0


if __name__ == "__main__":
    sys.exit(main())

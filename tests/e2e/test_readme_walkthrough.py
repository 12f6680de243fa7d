"""README's walk-through works as printed: every command of its `console` blocks, in order,
on a fresh `cachefleet up`, prints the lines the README shows.

The walk-through is the README's section "## Walk-through" (up to the next heading). In its
```console blocks a command starts with `$ ` (a line ending in `\\` goes on), and the lines
after it, up to the next command, are what it prints (stdout and stderr, as a terminal shows
them), compared with runs of white space made one space; a line `...` stands for any number
of lines, and `...` inside a line for any text. A command with no lines after it must only
succeed; one that shows "An error occurred" must exit 254. The first command, `cachefleet up`,
is the fleet this test starts itself, in a temporary directory that is the commands' working
directory (so `state/...` is its state), on a free port that CACHEFLEET_ENDPOINT names.
A command with a here-document (`<<'EOF'`) takes the lines after it, up to its delimiter, as
its input; what it prints follows the delimiter.
"""
from __future__ import annotations

import os
import pathlib
import re
import signal
import socket
import subprocess
import sys
import time

import pytest

from coordinator.up import fleet

ROOT = pathlib.Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
HOSTS = 3
ADDRESSES = [f"127.0.{block}.{host}" for block in range(1, 5) for host in range(1, HOSTS + 1)]
ENGINE_PORTS = (11211, 11212, 6379, 6380, 6381)   # the ports the walk-through's output shows
HEREDOC = re.compile(r"<<-?\s*'?\"?(\w+)'?\"?")     # `<<'EOF'`: the here-document's delimiter


class Step:
    def __init__(self, command: str, expected: list[str]) -> None:
        self.command, self.expected = command, expected

    @property
    def fails(self) -> bool:
        return any(line.startswith("An error occurred") for line in self.expected)


def walkthrough(text: str) -> list[Step]:
    """The walk-through's commands, in order, each with the lines it shows."""
    lines = text.splitlines()
    start = lines.index("## Walk-through")
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith(("## ", "### "))), len(lines))
    steps: list[Step] = []
    in_block, continuing, delimiter = False, False, ""
    for line in lines[start + 1:end]:
        if delimiter:                        # a here-document: the command's input, to its delimiter
            steps[-1].command += "\n" + line
            delimiter = "" if line == delimiter else delimiter
            continue
        if line.startswith("```"):
            in_block, continuing = line == "```console", False
            continue
        if not in_block:
            continue
        if continuing or line.startswith("$ "):
            if continuing:
                steps[-1].command += "\n" + line
            else:
                steps.append(Step(line[2:], []))
            marker = HEREDOC.search(line)
            delimiter = marker.group(1) if marker else ""
        elif steps:
            steps[-1].expected.append(line)
        continuing = line.endswith("\\") and bool(steps) and not delimiter
    return steps


def _normal(line: str) -> str:
    return " ".join(line.split())


def _line_matches(expected: str, actual: str) -> bool:
    pattern = ".*".join(re.escape(part) for part in _normal(expected).split("..."))
    return re.fullmatch(pattern, _normal(actual)) is not None


def output_matches(expected: list[str], actual: list[str]) -> bool:
    """actual fits expected, where a line `...` is any number of lines (doctest's ELLIPSIS)."""
    def trim(lines: list[str]) -> list[str]:
        while lines and not lines[-1].strip():
            lines = lines[:-1]
        return lines
    expected, actual = trim(expected), trim(actual)
    memo: dict[tuple[int, int], bool] = {}

    def fits(i: int, j: int) -> bool:
        if (i, j) not in memo:
            if i == len(expected):
                memo[i, j] = j == len(actual)
            elif expected[i].strip() == "...":
                memo[i, j] = fits(i + 1, j) or (j < len(actual) and fits(i, j + 1))
            else:
                memo[i, j] = j < len(actual) and _line_matches(expected[i], actual[j]) and fits(i + 1, j + 1)
        return memo[i, j]
    return fits(0, 0)


def test_walkthrough_parser_reads_commands_outputs_and_continuations():
    text = "intro\n## Walk-through\n```console\n$ a \\\n    b\nout\n...\n$ c\n```\n```sh\n$ no\n```\n## Next\n"
    steps = walkthrough(text)
    assert [(s.command, s.expected) for s in steps] == [("a \\\n    b", ["out", "..."]), ("c", [])]
    heredoc = walkthrough("## Walk-through\n```console\n$ python3 - <<'EOF'\nprint(1)\n$ not a command\nEOF\n1\n```\n")
    assert [(s.command, s.expected) for s in heredoc] == [("python3 - <<'EOF'\nprint(1)\n$ not a command\nEOF", ["1"])]
    assert output_matches(["x", "...", "z ..."], ["x", "1", "2", "z  y"])
    assert not output_matches(["x"], ["x", "y"])


def _free(address: str, port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((address, port))
        except OSError:
            return False
    return True


def _free_port(*addresses: str) -> int:
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind((addresses[0], 0))
            port = probe.getsockname()[1]
        if all(_free(a, port) for a in addresses):
            return port
    raise RuntimeError("no common free port")


@pytest.fixture
def up(tmp_path):
    """A fresh `cachefleet up` in tmp_path/state; its endpoint. Stopped, and all it started gone, at the end."""
    taken = [f"{a}:{p}" for a in ADDRESSES for p in ENGINE_PORTS if not _free(a, p)]
    if taken:
        pytest.skip(f"the walk-through's engine ports are in use here: {', '.join(taken[:5])}")
    listen = f"127.0.0.1:{_free_port('127.0.0.1')}"
    agent_port = _free_port(*ADDRESSES[:HOSTS])
    log = tmp_path / "up.log"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / "proto")]))
    with log.open("ab") as out:
        proc = subprocess.Popen([sys.executable, "-m", "coordinator.cli", "up", "--state-dir", str(tmp_path / "state"),
                                 "--listen", listen, "--agent-port", str(agent_port),
                                 "--query-api-listen", f"127.0.0.1:{_free_port('127.0.0.1')}"],
                                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                                cwd=tmp_path, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while "cachefleet is up" not in log.read_text():
            assert proc.poll() is None, f"up exited with {proc.returncode}\n{log.read_text()[-3000:]}"
            assert time.monotonic() < deadline, f"no banner within 60 s\n{log.read_text()[-3000:]}"
            time.sleep(0.1)
        yield listen, log
    finally:
        pids = [proc.pid, *fleet.descendants(proc.pid)]
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            for pid in [proc.pid, *fleet.descendants(proc.pid)]:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            proc.wait(10)
        deadline = time.monotonic() + 10
        while any(pathlib.Path(f"/proc/{pid}").exists() and fleet.cmdline(pid) for pid in pids[1:]) \
                and time.monotonic() < deadline:
            time.sleep(0.1)


def test_readme_walkthrough_runs_as_printed(up, tmp_path):
    listen, log = up
    steps = walkthrough(README.read_text())
    assert steps and steps[0].command == "cachefleet up", "the walk-through starts with `cachefleet up`"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    wrapper = bin_dir / "cachefleet"        # this tree's CLI, whatever is installed
    wrapper.write_text(f'#!/bin/sh\nexec {sys.executable} -m coordinator.cli "$@"\n')
    wrapper.chmod(0o755)
    env = dict(os.environ, CACHEFLEET_ENDPOINT=listen, PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
               PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / "proto")]))
    env.pop("CACHEFLEET_OUTPUT", None)
    started, status = time.monotonic(), 0
    for n, step in enumerate(steps[1:], start=2):
        took = time.monotonic()
        run = subprocess.run(["bash", "-c", f"(exit {status}); {step.command}"], cwd=tmp_path, env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                             text=True, timeout=120)
        status = run.returncode
        where = (f"README walk-through command {n}:\n$ {step.command}\nexit {status} after "
                 f"{time.monotonic() - took:.1f} s; it printed:\n{run.stdout}")
        wanted = 254 if step.fails else 0
        if not step.command.startswith("echo $?"):
            assert status == wanted, f"{where}\n(expected exit {wanted})\n--- up's log ---\n{log.read_text()[-2000:]}"
        if step.expected:
            assert output_matches(step.expected, run.stdout.splitlines()), \
                f"{where}\nexpected (README):\n" + "\n".join(step.expected)
    print(f"README walk-through: {len(steps) - 1} commands in {time.monotonic() - started:.1f} s")

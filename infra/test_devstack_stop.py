#!/usr/bin/env python3
"""`make dev` stopped by a signal stops everything it started (run by `make template`).

A stack is started as `make dev` starts it (`devstack.py up`, on ports of its own), then sent
SIGTERM (a service manager, `kill`, make passing it on) or SIGHUP (its terminal closed): every
process it started, the AWS emulator, the payment partner's emulator, cargo-lambda and the
functions under it, must be gone and every port free, so that the next `make dev` starts.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = ROOT / ".local" / "venv" / "bin" / "python"
PORTS = {"--api-port": 3470, "--aws-port": 4970, "--lambda-port": 9470, "--stripe-port": 8570}


def descendants(pid: int) -> set[int]:
    """Every process under `pid`, whatever session or group it moved to."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def alive(pid: int) -> bool:
    try:
        state = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def port_taken(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


class StopOnSignal(unittest.TestCase):
    def stopped_by(self, sig: signal.Signals) -> None:
        with tempfile.TemporaryDirectory() as folder:
            stack_file = Path(folder) / "stack.json"
            args = [str(PYTHON), str(ROOT / "infra" / "devstack.py"), "--stack-file", str(stack_file)]
            for flag, port in PORTS.items():
                args += [flag, str(port)]
            with open(Path(folder) / "devstack.log", "w") as log:
                stack = subprocess.Popen(args + ["up"], cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
            deadline = time.monotonic() + 600
            while not stack_file.exists():
                self.assertIsNone(stack.poll(), (Path(folder) / "devstack.log").read_text())
                self.assertLess(time.monotonic(), deadline, "the stack did not start")
                time.sleep(0.5)
            started = descendants(stack.pid)
            self.assertTrue(started, "devstack started nothing")
            stack.send_signal(sig)
            self.assertEqual(stack.wait(timeout=120), 0)
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and any(alive(p) for p in started):
                time.sleep(0.5)
            self.assertEqual([p for p in started if alive(p)], [], f"left running after {sig.name}")
            self.assertEqual([p for p in PORTS.values() if port_taken(p)], [], "ports still taken")
            self.assertFalse(stack_file.exists(), "the stack file outlived the stack")

    def test_sigterm_stops_everything(self):
        self.stopped_by(signal.SIGTERM)

    def test_sighup_stops_everything(self):
        self.stopped_by(signal.SIGHUP)


if __name__ == "__main__":
    if not PYTHON.exists():
        sys.exit("run through make (the venv is made by `make tools`)")
    unittest.main(verbosity=1)

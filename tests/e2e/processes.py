"""Background servers started by the suite: each is one Popen, logged to a file, stopped by PID."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from tests.sshd import HOST, free_port

__all__ = ["HOST", "Server", "free_port", "port_open"]


class Server:
    """One process; ``stop()`` signals exactly its PID (TERM, then KILL after 10 s)."""

    def __init__(self, name: str, argv: Sequence[str], log: Path, env: dict[str, str] | None = None) -> None:
        self.name = name
        self.log = log
        self.argv = list(argv)
        self.env = env
        self.proc = self._spawn()

    def _spawn(self) -> subprocess.Popen[bytes]:
        with self.log.open("ab") as log_file:
            return subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=log_file, stderr=log_file, env=self.env)

    def restart(self) -> None:
        """Stop it by PID, then start the same command again (one PID again)."""
        self.stop()
        self.proc = self._spawn()

    @property
    def pid(self) -> int:
        return self.proc.pid

    def running(self) -> bool:
        return self.proc.poll() is None

    def wait_until(self, ready: Callable[[], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.running():
                raise RuntimeError(f"{self.name} exited ({self.proc.returncode}) before {what}; log {self.log}:\n{self.tail()}")
            with contextlib.suppress(Exception):
                if ready():
                    return
            time.sleep(0.2)
        raise RuntimeError(f"{self.name} did not get {what} within {timeout:.0f} s; log {self.log}:\n{self.tail()}")

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


def port_open(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((HOST, port), 0.5):
        return True
    return False

"""What the benchmarks share to run a dev org in its own process (`salesops devorg serve`).

Imported by the scripts in this folder as `_devorg` (Python puts a script's folder first on
`sys.path`). Every process started here is remembered in `CHILDREN`; register `stop_children`
with `atexit` so an interrupted run leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import queue
import shlex
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import requests

EXPORT_KEYS = (
    "SALESFORCE_LOGIN_URL",
    "SALESFORCE_CA_BUNDLE",
    "SALESFORCE_CLIENT_ID",
    "SALESFORCE_CLIENT_SECRET",
    "SALESFORCE_USERNAME",
    "SALESFORCE_PASSWORD",
    "SALESFORCE_PRIVATE_KEY_FILE",
    "SALESFORCE_API_VERSION",
)
SERVER_START_TIMEOUT_S = 600.0

CHILDREN: list[subprocess.Popen] = []


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=15)


def stop_children() -> None:
    for proc in reversed(CHILDREN):
        with contextlib.suppress(Exception):
            stop(proc)


def start_devorg(data_dir: Path, log_path: Path) -> tuple[subprocess.Popen, dict[str, str], float]:
    """`salesops devorg serve` on a free port; returns (process, exported env, load seconds)."""
    salesops = Path(sys.executable).with_name("salesops")
    command = [str(salesops), "devorg", "serve", "--data", str(data_dir), "--port", "0"]
    command += ["--quiet", "--api-max", str(10**9)]
    started = time.perf_counter()
    log_file = log_path.open("w")
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log_file, text=True)
    CHILDREN.append(proc)
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    env: dict[str, str] = {}
    deadline = time.monotonic() + SERVER_START_TIMEOUT_S
    while not all(key in env for key in EXPORT_KEYS):
        try:
            line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
        except queue.Empty:
            line = None
        if line is None:
            stop(proc)
            tail = log_path.read_text()[-3000:]
            raise RuntimeError(f"the dev org did not start (see {log_path}):\n{tail}")
        words = shlex.split(line)
        if len(words) == 2 and words[0] == "export" and "=" in words[1]:
            name, _, value = words[1].partition("=")
            env[name] = value
    return proc, env, time.perf_counter() - started


def server_stats(env: dict[str, str]) -> dict[str, Any]:
    """The dev org's counters (an admin endpoint: not an API call, not seen by the client)."""
    with requests.Session() as session:
        session.trust_env = False
        answer = session.get(
            f"{env['SALESFORCE_LOGIN_URL']}/devorg/stats",
            verify=env["SALESFORCE_CA_BUNDLE"],
            timeout=30,
        )
        answer.raise_for_status()
        return answer.json()


def proc_memory_mb(pid: int) -> dict[str, float]:
    """VmRSS / VmHWM of another process (Linux), in MB."""
    out: dict[str, float] = {}
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(value.split()[0]) / 1024
    return out

"""`recbench ui` serves the MLflow UI over the embedded store, bound to 127.0.0.1."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from recbench.cli import main


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop(process: subprocess.Popen) -> None:
    """End a server started in its own session, with everything it spawned."""
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)


def start(command: str, tmp_path: Path, *args: str,
          port: int | None = None) -> tuple[subprocess.Popen, int, Path]:
    """Start ``recbench <command> --port P [args]`` in its own session and wait until it
    answers.

    Output goes to a log file, not a pipe nobody reads: a full pipe would block the server.
    """
    port, log = port or free_port(), tmp_path / f"{command}.log"
    server = subprocess.Popen([str(Path(sys.executable).with_name("recbench")), command,
                               "--port", str(port), *args], cwd=tmp_path,
                              start_new_session=True, stdout=open(log, "a"),
                              stderr=subprocess.STDOUT)
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2)
            return server, port, log
        except OSError:
            assert server.poll() is None, log.read_text()
            time.sleep(0.5)
    stop(server)
    raise AssertionError(f"recbench {command} did not answer within 120 s: {log.read_text()}")


def listening_addresses(port: int) -> set[str]:
    """IPv4 addresses with a socket LISTENing on ``port`` (from /proc/net/tcp)."""
    found = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        address, hex_port = local.split(":")
        if state == "0A" and int(hex_port, 16) == port:
            found.add(socket.inet_ntoa(bytes.fromhex(address)[::-1]))
    return found


def test_ui_lists_our_experiment_on_localhost_only(store, tmp_path):
    # embedded default store: run from tmp_path with no tracking.uri
    assert main(["run", "model=mostpop", "name=ui_test", "trainer.progress_bar=false"]) == 0
    assert (tmp_path / "mlflow.db").exists() and (tmp_path / "mlartifacts" / "ui_test").is_dir()
    server, port, _ = start("ui", tmp_path)
    try:
        url = f"http://127.0.0.1:{port}/api/2.0/mlflow/experiments/get-by-name?experiment_name=ui_test"
        body = json.load(urllib.request.urlopen(url, timeout=10))
        assert body["experiment"]["name"] == "ui_test"
        assert listening_addresses(port) == {"127.0.0.1"}  # loopback only, never 0.0.0.0
    finally:
        stop(server)

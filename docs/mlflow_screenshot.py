"""Screenshot the MLflow UI over the embedded store (docs/img/mlflow-ui.png).

Usage (after `make run`): `make screenshot`, which installs playwright into .venv and needs
Debian's chromium (`apt-get install chromium`). Starts `recbench ui` on a free port bound to
127.0.0.1, opens the experiment's runs in chart view filtered to NDCG@10 (per-epoch
validation curves and final metrics), saves the PNG and stops the server.
"""

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

from playwright.sync_api import sync_playwright

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_up(url: str, timeout: float = 90) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except OSError:
            time.sleep(0.5)
    raise SystemExit(f"MLflow UI did not start at {url}")


def main(experiment: str = "ml100k_baselines", out: str = "docs/img/mlflow-ui.png",
         metric_filter: str = "ndcg_10") -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    recbench = Path(sys.executable).with_name("recbench")
    server = subprocess.Popen([str(recbench), "ui", "--port", str(port)], start_new_session=True,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until_up(base)
        query = f"{base}/api/2.0/mlflow/experiments/get-by-name?experiment_name={experiment}"
        exp_id = json.load(urllib.request.urlopen(query))["experiment"]["experiment_id"]
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1600, "height": 1000})
            page.goto(f"{base}/#/experiments/{exp_id}/runs")
            page.wait_for_selector("text=/-seed|sweep-/", timeout=60_000)
            sweep = page.locator("[role=row]", has=page.locator("text=sweep-"))
            if sweep.count():  # runs of a sweep are nested under its parent run: expand it
                sweep.first.locator("button").first.click()
                page.wait_for_selector("text=-seed", timeout=30_000)
            close = page.get_by_role("button", name="Close")
            if close.count():
                close.first.click()  # the assistant side panel
            page.locator("input[type=radio][value=CHART]").dispatch_event("click")
            page.get_by_placeholder("Search metric charts").fill(metric_filter)
            page.wait_for_timeout(5000)
            Path(out).parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=out)
            browser.close()
        print(f"wrote {out}")
    finally:
        os.killpg(server.pid, signal.SIGTERM)  # the server and its worker processes
        server.wait(timeout=30)


if __name__ == "__main__":
    main(*sys.argv[1:])

"""`dagster dev -w workspace.yaml` starts, loads the code location and serves it over GraphQL."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

REPO = Path(__file__).resolve().parents[1]

_QUERY = """
{ repositoriesOrError { ... on RepositoryConnection { nodes {
    name location { name }
    assetNodes { assetKey { path } groupName }
    sensors { name }
    jobs { name }
} } } }
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_dagster_dev_serves_the_code_location(tmp_path):
    port = _free_port()
    env = {
        **os.environ,
        "DAGSTER_HOME": str(tmp_path),
        "SALESOPS_WAREHOUSE": str(tmp_path / "w.duckdb"),
    }
    (tmp_path / "dagster.yaml").write_text((REPO / "dagster.yaml").read_text())
    log = (tmp_path / "dagster-dev.log").open("w")
    dev = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("dagster")),
            "dev",
            "-w",
            "workspace.yaml",
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
        ],
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        data = None
        while time.monotonic() < deadline and dev.poll() is None:
            try:
                response = requests.post(
                    f"http://127.0.0.1:{port}/graphql", json={"query": _QUERY}, timeout=5
                )
                nodes = response.json()["data"]["repositoriesOrError"].get("nodes")
                if nodes:
                    data = nodes[0]
                    break
            except (requests.ConnectionError, KeyError, ValueError):
                pass
            time.sleep(1)
        assert data is not None, (tmp_path / "dagster-dev.log").read_text()[-3000:]
    finally:
        os.killpg(dev.pid, signal.SIGTERM)
        try:
            dev.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(dev.pid, signal.SIGKILL)
        log.close()
    assert data["location"]["name"] == "salesops_dagster"
    keys = {"/".join(n["assetKey"]["path"]) for n in data["assetNodes"]}
    assert {
        "salesforce/lead",
        "salesops/lead_routing_decision",
        "salesforce_publish/lead_owner",
    } <= keys
    assert {"salesforce_change_sensor", "salesops_automation"} <= {
        s["name"] for s in data["sensors"]
    }
    assert {"salesops_ingest", "salesops_transform_publish"} <= {j["name"] for j in data["jobs"]}

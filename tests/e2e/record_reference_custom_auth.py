"""Record what ``langgraph dev`` answers to the custom-auth scenario, into a fixture.

Run it once (and again when the scenario or the fixture's ``auth.py`` changes), with any
Python that has ``langgraph-cli[inmem]`` and ``langgraph-api`` in a throwaway venv (they are
not this project's dependencies)::

    python3 -m venv /tmp/lgref-venv
    /tmp/lgref-venv/bin/pip install "langgraph-cli[inmem]" langgraph-api
    /tmp/lgref-venv/bin/python tests/e2e/record_reference_custom_auth.py

It starts ``langgraph dev`` (in-memory runtime) with ``tests/e2e/fixtures/custom_auth/
langgraph.json``: LangGraph's documented ``auth.py`` ("Make conversations private") and a tiny
graph, runs :func:`tests.e2e.custom_auth_scenario.run` against it and writes the outcomes to
``tests/e2e/fixtures/custom_auth_reference.json`` with the versions that produced them.
``tests/e2e/test_custom_auth_sdk.py`` runs the same scenario against our server and compares.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import custom_auth_scenario  # noqa: E402 - the scenario next to this file, in any venv

CONFIG = HERE / "fixtures" / "custom_auth" / "langgraph.json"
FIXTURE = HERE / "fixtures" / "custom_auth_reference.json"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_ready(url: str, process: subprocess.Popen, timeout: float = 120) -> None:
    """Until ``/ok`` answers (the server is up), or the process died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"langgraph dev exited with {process.returncode}")
        try:
            if httpx.get(f"{url}/ok", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)  # polling a process we do not control for readiness
    raise TimeoutError("langgraph dev did not answer /ok")


def main() -> int:
    langgraph = Path(sys.executable).parent / "langgraph"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    workdir = tempfile.mkdtemp(prefix="lgref-custom-auth-")
    log = Path(workdir) / "server.log"
    env = {**os.environ, "LANGGRAPH_CLI_NO_ANALYTICS": "1"}
    env.pop("LANGGRAPH_API_KEY", None)
    argv = [str(langgraph), "dev", "--no-browser", "--no-reload", "--port", str(port)]
    argv += ["--config", str(CONFIG)]
    with log.open("wb") as out:
        process = subprocess.Popen(
            argv, cwd=CONFIG.parent, env=env, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        wait_ready(url, process)
        outcomes = custom_auth_scenario.run(url)
    finally:
        process.terminate()
        process.wait(30)
    recorded = {
        "recorded_with": {
            name: metadata.version(name)
            for name in ("langgraph-api", "langgraph-runtime-inmem", "langgraph-sdk", "langgraph")
        },
        "outcomes": outcomes,
    }
    FIXTURE.write_text(json.dumps(recorded, indent=1, sort_keys=True) + "\n")
    print(f"wrote {FIXTURE} (server log: {log})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""A worker built with the DuraGraph SDK from PyPI (``duragraph==0.3.3``), unchanged.

It runs in the SDK's own virtualenv (``tests/e2e/processes.sdk_python``), never in the
project's: the two packages both install a ``duragraph`` command. The remote-worker tests and
``bench/remote_workers.py`` start it with:

- ``DURAGRAPH_URL``: the control plane; ``WORKER_NAME``: its worker id;
- ``POLL_INTERVAL`` / ``HEARTBEAT_INTERVAL``: the SDK's own knobs (1 s and 30 s by default);
- ``EFFECTS_FILE``: where each node appends a line as it runs, the ground truth of how often
  each node of each run executed.
"""

from __future__ import annotations

import asyncio
import os

from duragraph import Graph, entrypoint, human_node, node
from duragraph.worker import Worker


def effect(line: str) -> None:
    if path := os.environ.get("EFFECTS_FILE"):
        with open(path, "a") as effects:  # O_APPEND: one short line is one atomic write
            effects.write(f"{os.environ.get('WORKER_NAME')} {line}\n")


@Graph(id="remote_hello")
class RemoteHello:
    """Two nodes; ``sleep`` in the input makes the second one slow, ``tag`` names the run."""

    @entrypoint
    @node()
    def greet(self, state):
        effect(f"greet {state.get('tag', '-')}")
        return {"greeting": f"Hello, {state.get('name', 'World')}!"}

    @node()
    async def farewell(self, state):
        await asyncio.sleep(float(state.get("sleep", 0)))  # async: heartbeats go on meanwhile
        effect(f"farewell {state.get('tag', '-')}")
        return {"farewell": "bye"}

    greet >> farewell


@Graph(id="remote_review")
class RemoteReview:
    """Stops at a human node: the worker asks for action and forgets the run. The SDK has no
    resume path, so a resumed run starts over and ``draft`` shows what it was given."""

    @entrypoint
    @node()
    def draft(self, state):
        return {"draft": f"about {state.get('topic')}", "seen_resume": state.get("resume")}

    @human_node(prompt="Approve the draft?")
    def review(self, state):
        return {}

    draft >> review


@Graph(id="remote_boom")
class RemoteBoom:
    @entrypoint
    @node()
    def explode(self, state):
        raise RuntimeError(f"boom: {state.get('why', 'no reason')}")


if __name__ == "__main__":
    worker = Worker(
        os.environ["DURAGRAPH_URL"],
        name=os.environ["WORKER_NAME"],
        poll_interval=float(os.environ.get("POLL_INTERVAL", "1")),
        heartbeat_interval=float(os.environ.get("HEARTBEAT_INTERVAL", "30")),
        max_concurrent_runs=int(os.environ.get("MAX_CONCURRENT_RUNS", "10")),
    )
    for graph in (RemoteHello(), RemoteReview(), RemoteBoom()):
        worker.register_graph(graph._get_definition(), instance=graph)
    worker.run()

"""Graph files (``path/to/file.py:attr``) are run once per process and never seen half run:
two graphs of one file loaded on two threads at once both load (the second waits for the
whole module, not finding it half run in ``sys.modules``); a file that fails to run fails every
load with its own error, not with what a half-run module lacks."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from assistants.graphs import GraphLoadError, RegisteredGraph

SLOW_FILE = """
import time
from typing import TypedDict
from langgraph.graph import END, START, StateGraph

class State(TypedDict):
    n: int

def _one(state):
    return {"n": 1}

first = StateGraph(State).add_node("one", _one).add_edge(START, "one").add_edge("one", END).compile()
time.sleep(0.5)  # the file takes a while to run: the second graph is defined late
second = StateGraph(State).add_node("one", _one).add_edge(START, "one").add_edge("one", END).compile()
"""


def test_two_graphs_of_one_file_load_at_once_on_two_threads(tmp_path: Path):
    path = tmp_path / "slow_graphs.py"
    path.write_text(SLOW_FILE)
    graphs = [RegisteredGraph(name, f"{path}:{name}") for name in ("first", "second")]
    loaded: dict[str, object] = {}
    errors: list[BaseException] = []

    def load(graph: RegisteredGraph) -> None:
        try:
            loaded[graph.graph_id] = graph.load()
        except BaseException as error:  # noqa: BLE001 - the test reads it
            errors.append(error)

    threads = [threading.Thread(target=load, args=(graph,)) for graph in graphs]
    threads[0].start()
    threads[1].start()
    for thread in threads:
        thread.join(10)
    assert errors == []
    assert sorted(loaded) == ["first", "second"]
    assert loaded["first"].invoke({"n": 0}) == {"n": 1}


def test_a_file_that_fails_fails_every_load_with_its_own_error(tmp_path: Path):
    path = tmp_path / "broken_graphs.py"
    path.write_text("first = 1\nraise RuntimeError('no database here')\nsecond = 2\n")
    for name in ("first", "second"):
        with pytest.raises(GraphLoadError, match="no database here"):
            RegisteredGraph(name, f"{path}:{name}").load()

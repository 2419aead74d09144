"""The custom-auth scenario: two users of LangGraph's documented ``auth.py`` driving
``langgraph-sdk`` against a server, recorded as a normalized outcome per step.

Shared by :mod:`tests.e2e.record_reference_custom_auth` (run against ``langgraph dev``, in a
throwaway venv: this module imports nothing but ``langgraph_sdk`` and ``httpx``) and
``tests/e2e/test_custom_auth_sdk.py`` (run against our daphne), which compare the outcomes.

An outcome is ``{"status": <HTTP status>}`` plus what the step shows: which of the scenario's
objects are visible (by label: ``t1`` is user1's first thread...), their ``owner`` metadata,
and a few values; never ids or timestamps.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
from langgraph_sdk import get_sync_client
from langgraph_sdk.errors import APIStatusError

GRAPH = "echo"
INPUT = {"items": ["hi"]}
SCHEDULE = "0 0 1 1 *"


def client(url: str, token: str | None) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return get_sync_client(url=url, api_key=None, headers=headers, timeout=30)


class Recorder:
    def __init__(self) -> None:
        self.labels: dict[str, str] = {}
        self.outcomes: dict[str, dict[str, Any]] = {}

    def label(self, label: str, object_id: str) -> None:
        self.labels[str(object_id)] = label

    def name(self, object_id: Any) -> str:
        return self.labels.get(str(object_id), "<other>")

    def step(self, name: str, call: Callable[[], Any], show: Callable[[Any], dict] | None = None):
        """Run one step; record its status and what *show* extracts from its answer."""
        try:
            result = call()
        except APIStatusError as error:
            self.outcomes[name] = {"status": error.status_code}
            return None
        except httpx.HTTPStatusError as error:
            self.outcomes[name] = {"status": error.response.status_code}
            return None
        self.outcomes[name] = {"status": 200, **(show(result) if show else {})}
        return result

    # what a step shows
    def owned(self, obj: dict) -> dict:
        return {"owner": (obj.get("metadata") or {}).get("owner")}

    def visible(self, key: str) -> Callable[[list[dict]], dict]:
        def show(rows: list[dict]) -> dict:
            return {
                "visible": sorted(self.name(row[key]) for row in rows),
                "owners": sorted(str((row.get("metadata") or {}).get("owner")) for row in rows),
            }

        return show


def run(url: str) -> dict[str, dict[str, Any]]:
    """The whole scenario against the server at *url*; its outcomes by step name."""
    clients = [client(url, token) for token in ("user1-token", "user2-token", None, "nobody")]
    try:
        return _run(*clients)
    finally:
        for each in clients:
            each.http.client.close()


def _run(u1: Any, u2: Any, anonymous: Any, forged: Any) -> dict[str, dict[str, Any]]:
    rec = Recorder()
    step = rec.step

    # -- authentication ------------------------------------------------------------------------
    step("anonymous search threads", lambda: anonymous.threads.search())
    step("forged token search threads", lambda: forged.threads.search())

    # -- threads -------------------------------------------------------------------------------
    t1 = step("u1 create thread", lambda: u1.threads.create(metadata={"topic": "a"}), rec.owned)
    rec.label("t1", t1["thread_id"])
    t2 = step("u2 create thread", lambda: u2.threads.create(), rec.owned)
    rec.label("t2", t2["thread_id"])
    t3 = step(
        "u1 create thread claiming user2",
        lambda: u1.threads.create(metadata={"owner": "user2"}),
        rec.owned,
    )
    rec.label("t3", t3["thread_id"])
    t1_id, t2_id = t1["thread_id"], t2["thread_id"]
    step("u1 search threads", lambda: u1.threads.search(limit=100), rec.visible("thread_id"))
    step("u2 search threads", lambda: u2.threads.search(limit=100), rec.visible("thread_id"))
    step(
        "u1 search threads by user2's owner",
        lambda: u1.threads.search(metadata={"owner": "user2"}, limit=100),
        rec.visible("thread_id"),
    )
    step("u1 count threads", lambda: u1.threads.count(), lambda n: {"count": n})
    step("u2 count threads", lambda: u2.threads.count(), lambda n: {"count": n})
    step("u1 get t1", lambda: u1.threads.get(t1_id), rec.owned)
    step("u2 get t1", lambda: u2.threads.get(t1_id), rec.owned)
    step(
        "u1 update t1",
        lambda: u1.threads.update(t1_id, metadata={"topic": "b"}),
        lambda t: {"owner": t["metadata"].get("owner"), "topic": t["metadata"].get("topic")},
    )
    step("u2 update t1", lambda: u2.threads.update(t1_id, metadata={"topic": "c"}))
    step("u1 get t1 after updates", lambda: u1.threads.get(t1_id), rec.owned)
    step("u2 delete t1", lambda: u2.threads.delete(t1_id))
    step("u1 get t1 after u2's delete", lambda: u1.threads.get(t1_id), rec.owned)
    step("u2 copy t1", lambda: u2.threads.copy(t1_id), rec.owned)
    copy = step("u1 copy t1", lambda: u1.threads.copy(t1_id), rec.owned)
    rec.label("t1-copy", copy["thread_id"])
    step("u2 create thread with t1's id", lambda: u2.threads.create(thread_id=t1_id))
    step(
        "u2 create thread with t1's id if_exists do_nothing",
        lambda: u2.threads.create(thread_id=t1_id, if_exists="do_nothing"),
        rec.owned,
    )
    step("u2 get state of t1", lambda: u2.threads.get_state(t1_id))
    step("u2 get history of t1", lambda: u2.threads.get_history(t1_id))
    step(
        "u2 update state of t1",
        lambda: u2.threads.update_state(t1_id, {"items": ["x"]}, as_node="echo"),
    )

    # -- runs ----------------------------------------------------------------------------------
    step(
        "u1 wait run on t1",
        lambda: u1.runs.wait(t1_id, GRAPH, input=INPUT),
        lambda values: {"values": values},
    )
    step("u2 wait run on t1", lambda: u2.runs.wait(t1_id, GRAPH, input=INPUT))
    step(
        "u1 get state of t1",
        lambda: u1.threads.get_state(t1_id),
        lambda s: {"values": s["values"]},
    )
    step(
        "u1 get history of t1",
        lambda: u1.threads.get_history(t1_id),
        lambda states: {"states": len(states) > 0},
    )
    run1 = step(
        "u1 create run on t1",
        lambda: u1.runs.create(t1_id, GRAPH, input=INPUT),
        lambda r: {"run_status_known": r["status"] in ("pending", "running", "success")},
    )
    rec.label("r1", run1["run_id"])
    step("u1 join run", lambda: u1.runs.join(t1_id, run1["run_id"]), lambda v: {"values": v})
    step("u2 join run", lambda: u2.runs.join(t1_id, run1["run_id"]))
    step("u1 get run", lambda: u1.runs.get(t1_id, run1["run_id"]), lambda r: {"got": True})
    step("u2 get run", lambda: u2.runs.get(t1_id, run1["run_id"]))
    step("u1 list runs of t1", lambda: u1.runs.list(t1_id), rec.visible("run_id"))
    step("u2 list runs of t1", lambda: u2.runs.list(t1_id), rec.visible("run_id"))
    step("u2 cancel run", lambda: u2.runs.cancel(t1_id, run1["run_id"]))
    step("u2 delete run", lambda: u2.runs.delete(t1_id, run1["run_id"]))
    step(
        "u1 stream run on t1",
        lambda: [part.event for part in u1.runs.stream(t1_id, GRAPH, input=INPUT)],
        lambda events: {"events": events},
    )
    step(
        "u2 stream run on t1",
        lambda: [part.event for part in u2.runs.stream(t1_id, GRAPH, input=INPUT)],
        lambda events: {"events": events},
    )
    step(
        "u1 stateless wait run",
        lambda: u1.runs.wait(None, GRAPH, input=INPUT),
        lambda values: {"values": values},
    )

    # -- assistants ----------------------------------------------------------------------------
    a1 = step(
        "u1 create assistant",
        lambda: u1.assistants.create(GRAPH, name="mine", metadata={"team": "x"}),
        rec.owned,
    )
    rec.label("a1", a1["assistant_id"])
    a1_id = a1["assistant_id"]
    step(
        "u1 search assistants",
        lambda: u1.assistants.search(limit=100),
        rec.visible("assistant_id"),
    )
    step(
        "u2 search assistants",
        lambda: u2.assistants.search(limit=100),
        rec.visible("assistant_id"),
    )
    step("u1 count assistants", lambda: u1.assistants.count(), lambda n: {"count": n})
    step("u2 count assistants", lambda: u2.assistants.count(), lambda n: {"count": n})
    step("u1 get assistant", lambda: u1.assistants.get(a1_id), rec.owned)
    step("u2 get assistant", lambda: u2.assistants.get(a1_id), rec.owned)
    step("u2 get assistant graph", lambda: u2.assistants.get_graph(a1_id))
    step("u2 get assistant schemas", lambda: u2.assistants.get_schemas(a1_id))
    step(
        "u1 update assistant",
        lambda: u1.assistants.update(a1_id, metadata={"team": "y"}),
        lambda a: {"owner": a["metadata"].get("owner"), "team": a["metadata"].get("team")},
    )
    step("u2 update assistant", lambda: u2.assistants.update(a1_id, metadata={"team": "z"}))
    step("u2 delete assistant", lambda: u2.assistants.delete(a1_id))
    step(
        "u2 wait run with u1's assistant",
        lambda: u2.runs.wait(t2_id, a1_id, input=INPUT),
        lambda values: {"values": values},
    )
    step(
        "u1 wait run with own assistant",
        lambda: u1.runs.wait(t1_id, a1_id, input=INPUT),
        lambda values: {"values": values},
    )

    # -- crons ---------------------------------------------------------------------------------
    cron = step(
        "u1 create cron on t1",
        lambda: u1.crons.create_for_thread(t1_id, a1_id, schedule=SCHEDULE, input=INPUT),
        lambda c: {"owner": (c.get("metadata") or {}).get("owner")},
    )
    if cron:
        rec.label("c1", cron["cron_id"])
    step(
        "u2 create cron on t1",
        lambda: u2.crons.create_for_thread(t1_id, GRAPH, schedule=SCHEDULE, input=INPUT),
    )
    step("u1 search crons", lambda: u1.crons.search(), rec.visible("cron_id"))
    step("u2 search crons", lambda: u2.crons.search(), rec.visible("cron_id"))
    step("u1 count crons", lambda: u1.crons.count(), lambda n: {"count": n})
    step("u2 count crons", lambda: u2.crons.count(), lambda n: {"count": n})
    if cron:
        step("u2 delete cron", lambda: u2.crons.delete(cron["cron_id"]))
        step("u1 search crons after u2's delete", lambda: u1.crons.search(), rec.visible("cron_id"))
        step("u1 delete cron", lambda: u1.crons.delete(cron["cron_id"]))

    # -- store ---------------------------------------------------------------------------------
    step("u1 put item", lambda: u1.store.put_item(["notes"], "k1", {"text": "one"}))
    step(
        "u1 put item owned",
        lambda: u1.store.put_item(["notes"], "k2", {"text": "two", "owner": "user1"}),
    )
    step(
        "u1 get item",
        lambda: u1.store.get_item(["notes"], "k1"),
        lambda item: {"value": item and item["value"]},
    )
    step(
        "u2 get item",
        lambda: u2.store.get_item(["notes"], "k1"),
        lambda item: {"value": item and item["value"]},
    )
    step(
        "u1 search items",
        lambda: u1.store.search_items(["notes"]),
        lambda page: {"keys": sorted(item["key"] for item in page["items"])},
    )
    step(
        "u2 search items",
        lambda: u2.store.search_items(["notes"]),
        lambda page: {"keys": sorted(item["key"] for item in page["items"])},
    )
    step(
        "u1 list namespaces",
        lambda: u1.store.list_namespaces(),
        # Only the scenario's own namespace: the e2e tests share one database, and the
        # documented example does not scope the store, so other tests' items show here too.
        lambda page: {"namespaces": sorted(ns for ns in page["namespaces"] if ns[:1] == ["notes"])},
    )
    step("u1 delete item", lambda: u1.store.delete_item(["notes"], "k1"))

    # -- deletes last --------------------------------------------------------------------------
    step("u1 delete assistant", lambda: u1.assistants.delete(a1_id))
    step("u1 delete t1", lambda: u1.threads.delete(t1_id))
    step("u1 get t1 after delete", lambda: u1.threads.get(t1_id))
    step(
        "u1 search threads at the end",
        lambda: u1.threads.search(limit=100),
        rec.visible("thread_id"),
    )
    return rec.outcomes

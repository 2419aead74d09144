"""Chaos: seconds to recover from each fault an operator meets, under a saturated backlog.

For each scenario, a fresh backlog of runs of the five-node ``chain`` graph (``--runs`` on
``--threads`` threads) is queued on a stack of real processes (daphne, two Celery executors of
two slots, ``manage.py scheduler``, ``manage.py relay_outbox``; leases of 6 s, see
``tests/e2e/chaos.py``), the fault lands while every slot is busy, and once the backlog has
finished the event log and the nodes' effects file are checked. Prints one table:

- seconds to recover: executor SIGKILL, until its runs are claimed again; executor SIGSTOP past
  its lease, until every run it held had its ``RunLeaseExpired``; ``pg_terminate_backend`` of
  every connection, until the API's last failed answer; relay SIGKILL (restarted after 1 s),
  until everything committed is in JetStream; daphne SIGKILL (restarted), until ``/ok`` answers;
- repeats of committed nodes (a node started again after its result had committed: must be 0),
  runs lost (not ``success``: must be 0), extra node executions (nodes in flight when the fault
  struck, legitimately run again), writes under an expired lease (must be 0).

Runs on an embedded PostgreSQL and nats-server of its own in a temporary directory.

    python bench/chaos.py [--runs 150] [--threads 15] [--repeats 1]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import sys
import tempfile
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
WORKDIR = tempfile.TemporaryDirectory(prefix="duragraph-chaos-")
os.chmod(WORKDIR.name, 0o755)  # the embedded PostgreSQL runs unprivileged when we are root
for variable in ("DATABASE_URL", "NATS_URL", "CELERY_BROKER_URL"):
    os.environ.pop(variable, None)
os.environ["DURAGRAPH_HOME"] = str(Path(WORKDIR.name) / "home")
os.environ["DURAGRAPH_GRAPHS"] = json.dumps(
    {"chain": f"{ROOT / 'tests' / 'e2e' / 'graphs.py'}:chain"}
)
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "duragraph_site.settings")

import django  # noqa: E402

django.setup()
logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request otherwise

from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from langgraph_sdk import get_sync_client  # noqa: E402

from assistants import services as assistant_services  # noqa: E402
from duragraph_site.embedded import EmbeddedNats  # noqa: E402
from tests.e2e import chaos  # noqa: E402
from tests.e2e.conftest import database_url  # noqa: E402

PAUSE = 0.1


def scenario(stack: chaos.Stack, name: str, runs: list[dict]) -> list[chaos.Recovery]:
    db = chaos.no_database
    if name == "kill-executor":
        return [chaos.kill_executor(stack, db, stack.executors[0])]
    if name == "freeze-executor":
        recovery, freeze = chaos.freeze_executor(
            stack, db, stack.executors[0], seconds=chaos.LEASE_SECONDS + 4
        )
        recovery.detail["freeze"] = freeze
        return [recovery]
    if name == "terminate-connections":
        return [chaos.terminate_connections(stack, db, runs[-1]["thread_id"])]
    if name == "kill-relay":
        return [chaos.kill_relay(stack, db)]
    if name == "kill-api":
        return [chaos.kill_api(stack)]
    raise ValueError(name)


SCENARIOS = ("kill-executor", "freeze-executor", "terminate-connections", "kill-relay", "kill-api")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=150)
    parser.add_argument("--threads", type=int, default=15)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--only", choices=SCENARIOS, action="append")
    args = parser.parse_args()

    call_command("migrate", interactive=False, verbosity=0)
    assistant_services.assistants_ensure_system()
    nats = EmbeddedNats.start(Path(WORKDIR.name) / "nats", preferred_port=None)
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        # With DATABASE_URL set and outside pytest, the children would be production processes,
        # which need the deployment's key (as manage.py dev hands its own to its children).
        "SECRET_KEY": settings.SECRET_KEY,
        "NATS_URL": nats.url,
        "DURAGRAPH_CELERY_QUEUE": f"duragraph-chaos-{uuid.uuid4().hex[:8]}",
        "PYTHONPATH": str(ROOT),
    }
    logs = Path(WORKDIR.name) / "logs"
    logs.mkdir()
    rows = []
    stack = chaos.Stack.start(env, logs, executors=2)
    try:
        with get_sync_client(url=stack.url, api_key=None) as client:
            for name in args.only or SCENARIOS:
                for repeat in range(args.repeats):
                    effects = logs / f"{name}-{repeat}.effects"
                    runs = chaos.submit_backlog(
                        client, runs=args.runs, threads=args.threads, path=effects, pause=PAUSE
                    )
                    recoveries = scenario(stack, name, runs)
                    chaos.wait_until_done(client, runs, timeout=600)
                    freezes = [r.detail.pop("freeze") for r in recoveries if "freeze" in r.detail]
                    verdict = chaos.verdict(
                        db=chaos.no_database, runs=runs, path=effects, freezes=freezes
                    )
                    rows.append((recoveries[0], verdict))
                    print(
                        f"  {name} #{repeat + 1}: {recoveries[0].seconds:.2f} s {recoveries[0].detail}",
                        flush=True,
                    )
    finally:
        stack.stop()
        nats.stop()

    print()
    print(
        f"{len(rows)} fault(s), each under a backlog of {args.runs} runs x 5 nodes on {args.threads} threads;"
    )
    print(
        f"leases {chaos.LEASE_SECONDS:g} s, reaper every {chaos.REAPER_SECONDS:g} s, 2 executors x 2 slots"
    )
    print()
    header = (
        "scenario",
        "recover s",
        "max s",
        "repeats of committed nodes",
        "runs lost",
        "extra node runs",
        "stale writes",
    )
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    by_scenario: dict[str, list] = {}
    for recovery, verdict in rows:
        by_scenario.setdefault(recovery.scenario, []).append((recovery, verdict))
    for name, results in by_scenario.items():
        seconds = [r.seconds for r, _ in results]
        print(
            f"| {name} | {statistics.median(seconds):.2f} | {max(seconds):.2f} | "
            f"{sum(len(v.repeated_committed_nodes) for _, v in results)} | "
            f"{sum(len(v.lost) for _, v in results)} | "
            f"{sum(v.executions - v.runs * 5 for _, v in results)} | "
            f"{sum(len(v.stale_writes) for _, v in results)} |"
        )


if __name__ == "__main__":
    main()

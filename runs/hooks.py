"""Where the apps above runs join in (``duragraph_site.hooks``)."""

from __future__ import annotations

from duragraph_site.hooks import Hook

#: ``run`` (its RunState) just reached a terminal status (``now``: when), called in the
#: transaction that ended it: a DAG job that started the run ends with it (``workflows``).
run_ended = Hook("run_ended", "a run reached a terminal status")

"""Where the apps above ``assistants`` join in (``duragraph_site.hooks``)."""

from __future__ import annotations

from duragraph_site.hooks import Hook

#: ``(assistant_id, delete_threads)``: the assistant is being deleted (its row locked, inside the
#: deleting transaction); ``threads`` deletes the threads it ran on when asked to.
assistant_deleting = Hook("assistant_deleting", "an assistant is being deleted")

#: ``(graph_id)`` -> a graph of the registry that is not local (``workers``: graphs that remote
#: workers registered), or None.
graph_lookup = Hook("graph_lookup", "find a graph that is not in the local registry")

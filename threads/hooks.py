"""Where the apps above ``threads`` join in (``duragraph_site.hooks``)."""

from __future__ import annotations

from duragraph_site.hooks import Hook

#: ``(thread_id)``: the thread is being deleted (its row locked, inside the deleting
#: transaction); ``runs`` cancels and deletes the thread's runs and crons.
thread_deleting = Hook("thread_deleting", "a thread is being deleted")

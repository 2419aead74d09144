"""The dashboard's Workers page: the built-in executors and remote workers, whether they live,
what they hold, and draining one. Live: the table is re-read when runs change.

Thin, like ``api/``: parse, call a selector or the service the admin calls, render.
"""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import path, reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from duragraph_site.errors import DuraGraphError
from duragraph_site.pages import Keyset, is_fragment, staff_page
from workers import selectors, services
from workers.models import WorkerKind, WorkerStatus

#: Newest registrations first (``workers_listed`` exposes ``registered_at`` as created_at).
KEYSET = Keyset("worker_id", parse_key=str)


def _age(seconds: float) -> str:
    """A short age: ``4 s``, ``3 min``, ``2 h``, ``5 d``."""
    seconds = max(seconds, 0)
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{int(seconds // size)} {unit}"
    return f"{int(seconds)} s"


@require_GET
@staff_page
def worker_list(request: HttpRequest) -> HttpResponse:
    """Workers by status and kind, with the runs they hold now; live."""
    status = request.GET.get("status") or None
    kind = request.GET.get("kind") or None
    problems = []
    if status and status not in WorkerStatus.values:
        problems.append(f"status: unknown status {status!r}")
        status = None
    if kind and kind not in WorkerKind.values:
        problems.append(f"kind: unknown kind {kind!r}")
        kind = None
    page = KEYSET.page(selectors.workers_listed(status=status, kind=kind), request.GET.get("after"))
    now = timezone.now()
    for worker in page.rows:
        worker.heartbeat_age = _age((now - worker.last_heartbeat_at).total_seconds())
    query = request.GET.copy()
    if page.after:
        query["after"] = page.after
    context = {
        "page": page,
        "problems": problems,
        "statuses": WorkerStatus.values,
        "kinds": WorkerKind.values,
        "counts": selectors.worker_counts(),
        "query": request.GET,
        "next_query": query.urlencode() if page.after else None,
        "refresh_url": request.get_full_path(),
        "drainable": (WorkerStatus.ONLINE,),
    }
    template = "workers/_worker_rows.html" if is_fragment(request) else "workers/list.html"
    return render(request, template, context)


@require_POST
@staff_page
def worker_drain(request: HttpRequest) -> HttpResponse:
    """Drain a worker: it finishes the runs it has and is handed no new ones."""
    worker_id = request.POST.get("worker_id", "")
    try:
        services.worker_drain(worker_id=worker_id)
        messages.success(request, f"Worker {worker_id} is draining.")
    except DuraGraphError as error:
        messages.error(request, f"Not drained: {error.message}")
    back = request.POST.get("back", "")
    if not url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}):
        back = reverse("dashboard:workers")
    return HttpResponseRedirect(back or reverse("dashboard:workers"))


urlpatterns = [
    path("workers/", worker_list, name="workers"),
    path("workers/drain", worker_drain, name="worker-drain"),
]

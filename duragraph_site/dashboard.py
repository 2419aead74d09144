"""The dashboard's URL table and its own pages: sign-in at ``/``, sign-out, the overview.

Each app's pages live in its ``pages.py`` (runs, threads, assistants, store, workers); this
module, part of the composition root, puts them under ``/dashboard/`` (a browser path:
sessions, CSRF, HTML errors) in the ``dashboard`` URL namespace. docs/dashboard.md describes
the pages and how they stay live.
"""

from __future__ import annotations

from django.contrib.auth import views as auth_views
from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import include, path, reverse
from django.views.decorators.http import require_GET

from assistants import pages as assistant_pages
from duragraph_site.pages import is_fragment, staff_page, tenant_scope
from events import metrics as event_metrics
from runs import pages as run_pages
from runs import selectors as run_selectors
from store import pages as store_pages
from threads import pages as thread_pages
from workers import pages as worker_pages
from workers import selectors as worker_selectors
from workflows import pages as workflow_pages

app_name = "dashboard"


class SignInView(auth_views.LoginView):
    """``/``: the sign-in form (Django's, throttled by ``accounts.login_throttle``); a
    signed-in staff user goes straight to the overview."""

    template_name = "dashboard/sign_in.html"

    def get_default_redirect_url(self) -> str:
        return reverse("dashboard:overview")


class SignOutView(auth_views.LogoutView):
    next_page = "dashboard:sign-in"


@require_GET
@staff_page
def overview(request: HttpRequest) -> HttpResponse:
    """Runs by status now and in the last hour, the queue, failures, workers, the outbox."""
    runs = run_selectors.runs_overview(tenant=tenant_scope(request))
    try:
        backlog = event_metrics.outbox_backlog()
    except DatabaseError:
        backlog = None
    context = {
        "runs": runs,
        "busiest": max([ok + failed for ok, failed in runs.ended_per_bucket] or [0]) or 1,
        "workers": worker_selectors.worker_counts(),
        "backlog": backlog,
    }
    template = (
        "dashboard/_overview_figures.html" if is_fragment(request) else "dashboard/overview.html"
    )
    return render(request, template, context)


def home(request: HttpRequest) -> HttpResponse:
    """``/``: sign in, or the overview for a signed-in staff user."""
    if request.method == "GET" and request.user.is_authenticated and request.user.is_staff:
        return HttpResponseRedirect(request.GET.get("next") or reverse("dashboard:overview"))
    return SignInView.as_view()(request)


urlpatterns = [
    path("", home, name="sign-in"),
    path("dashboard/", overview, name="overview"),
    path("dashboard/sign-out", SignOutView.as_view(), name="sign-out"),
    path("dashboard/", include(run_pages.urlpatterns)),
    path("dashboard/", include(assistant_pages.urlpatterns)),
    path("dashboard/", include(store_pages.urlpatterns)),
    path("dashboard/", include(worker_pages.urlpatterns)),
    path("dashboard/", include(thread_pages.urlpatterns)),
    path("dashboard/", include(workflow_pages.urlpatterns)),
]

"""``http.app``'s lifespan under a server that runs ASGI lifespan itself (uvicorn; here
Starlette's test client, which speaks it the same way): the app's own lifespan gets it, once,
and DuraGraph runs none of its own (daphne's case is tests/e2e/test_custom_app.py)."""

from __future__ import annotations

import contextlib

from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from duragraph_site import custom_app


def test_a_server_that_runs_lifespans_runs_the_custom_app_s_and_ours_stays_idle():
    ledger: list[str] = []

    @contextlib.asynccontextmanager
    async def lifespan(app):
        ledger.append("startup")
        yield {"greeting": "hello"}
        ledger.append("shutdown")

    async def greeting(request):
        return JSONResponse({"greeting": request.state.greeting})

    async def ours(scope, receive, send):
        await JSONResponse({"ours": True})(scope, receive, send)

    app = Starlette(routes=[Route("/greeting", greeting)], lifespan=lifespan)
    served = custom_app.mounted(ours, app)
    with TestClient(served) as http:
        assert ledger == ["startup"]
        assert http.get("/greeting").json() == {"greeting": "hello"}
        assert http.get("/threads").json() == {"ours": True}
        assert served.lifespan.run_by_server
    assert ledger == ["startup", "shutdown"], "once each: ours never ran it"

"""LangGraph Platform's SSE endpoints: create a run and stream it, join a run's stream, follow a
thread. The frames come from :mod:`runs.streams` (their format: :mod:`runs.frames`); this
module parses, validates (4xx JSON before the stream starts) and wraps them in a
``text/event-stream`` response.

The views are DRF views (synchronous, one thread hop, like every API view); the response body is
an async iterator that Django's ASGI handler consumes on the event loop, so an open stream holds
no thread and no database connection while it waits.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator

from django.http import StreamingHttpResponse
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.request import Request
from rest_framework.views import APIView

from accounts.authentication import principal_of
from duragraph_site import serde
from duragraph_site.api.params import parse_bool, validated
from duragraph_site.errors import InvalidInput
from runs import selectors, stream_log, streams
from runs.api import access
from runs.api.runs import api_prefix, create_run, parse_run_id, parse_thread_id, scope
from runs.api.serializers import RunCreateSerializer
from runs.api.waiting import cancel_quietly
from runs.frames import (
    HEARTBEAT_SSE,
    RUN_MODES,
    THREAD_MODES,
    Cursor,
    Frame,
    parse_last_event_id,
)
from runs.metrics import SSE_STREAMS_OPEN, counted
from threads import selectors as thread_selectors

logger = logging.getLogger(__name__)

CONTENT_TYPE = "text/event-stream; charset=utf-8"

SSE_RESPONSE = OpenApiResponse(
    response={"type": "string"},
    description=(
        "`text/event-stream`: `metadata` {run_id, attempt} first, then one event per chunk "
        "(`values`, `updates`, `messages/partial`, `custom`, ... `<mode>|<namespace>` inside "
        "subgraphs), `error` {error, message} if the run fails; every event has an `id:` to "
        "resume with `Last-Event-ID`; `: heartbeat` comments while idle."
    ),
)
LAST_EVENT_ID = OpenApiParameter(
    "Last-Event-ID",
    str,
    location=OpenApiParameter.HEADER,
    description="Resume after this event id (replays from the log)",
)


class SSEView(APIView):
    """A view answering ``text/event-stream`` (the SDK sends ``Accept: text/event-stream``):
    no content negotiation, errors before the stream are JSON ``{"detail"}`` all the same."""

    def perform_content_negotiation(self, request: Request, force: bool = False) -> tuple:
        renderer = self.get_renderers()[0]
        return renderer, renderer.media_type


def sse_response(
    request: Request,
    frames: AsyncIterator[Frame | None],
    *,
    location: str | None = None,
    content_location: str | None = None,
    cancel_run: uuid.UUID | None = None,
) -> StreamingHttpResponse:
    """*frames* as a ``text/event-stream`` response (heartbeat comments for None; with
    *cancel_run*, the run is cancelled if the client goes away first)."""
    response = StreamingHttpResponse(
        _encode(frames, cancel_run=cancel_run), content_type=CONTENT_TYPE
    )
    response["Cache-Control"] = "no-store"
    response["X-Accel-Buffering"] = "no"  # nginx: do not buffer the stream
    if location is not None:
        response["Location"] = location
    if content_location is not None:
        response["Content-Location"] = content_location
    return response


async def _encode(
    frames: AsyncIterator[Frame | None], *, cancel_run: uuid.UUID | None
) -> AsyncIterator[bytes]:
    """Frames as SSE bytes; a heartbeat comment for ``None``. With *cancel_run*, the run is
    cancelled when the client goes away before the stream ended (``on_disconnect="cancel"``)."""
    with counted(SSE_STREAMS_OPEN):
        try:
            async for frame in frames:
                yield HEARTBEAT_SSE if frame is None else frame.sse()
        except (asyncio.CancelledError, GeneratorExit):
            # Django cancels the response task on http.disconnect (or closes this iterator).
            if cancel_run is not None:
                await stream_log.db_call(cancel_quietly, cancel_run)
            raise
        except Exception as error:  # noqa: BLE001 - tell the client, as LangGraph does, then end
            logger.exception("stream failed")
            # No id: the client's last id stays the last frame it really got. No details
            # either (LangGraph: "An internal error occurred"); they are in the log.
            body = serde.dumps(
                {"error": type(error).__name__, "message": "An internal error occurred"}
            )
            yield b"event: error\r\ndata: " + body + b"\r\n\r\n"
        finally:
            await frames.aclose()  # type: ignore[attr-defined]


def _stream_modes(request: Request, *names: str) -> list[str]:
    """Query ``stream_mode`` values: repeated, a JSON array (LangGraph's form), comma-separated
    or empty (= all)."""
    values: list[str] = []
    for name in names:
        for raw in request.query_params.getlist(name):
            raw = raw.strip()
            if raw.startswith("["):
                raw = raw.strip("[]").replace('"', "")
            values.extend(part.strip() for part in raw.split(",") if part.strip())
    return values


def _run_modes(request: Request) -> list[str]:
    modes = _stream_modes(request, "stream_mode")
    if unknown := [mode for mode in modes if mode not in RUN_MODES]:
        raise InvalidInput(f"unknown stream mode(s) {unknown}; expected some of {list(RUN_MODES)}")
    return modes


def _last_event_id(request: Request) -> Cursor | None:
    return parse_last_event_id(request.headers.get("Last-Event-ID"))


# -- create and stream -----------------------------------------------------------------------
class ThreadRunStreamApi(SSEView):
    @extend_schema(
        operation_id="runs_stream",
        request=RunCreateSerializer,
        responses={(200, "text/event-stream"): SSE_RESPONSE},
    )
    def post(self, request: Request, thread_id: str) -> StreamingHttpResponse:
        data = validated(RunCreateSerializer, request.data)
        run, run_request = create_run(request, parse_thread_id(thread_id), data)
        base = f"{api_prefix(request)}/threads/{run.thread_id}/runs/{run.run_id}"
        return sse_response(
            request,
            streams.run_stream(run.run_id),
            location=f"{base}/stream",
            content_location=base,
            cancel_run=run.run_id if run_request.on_disconnect == "cancel" else None,
        )


class StatelessRunStreamApi(SSEView):
    @extend_schema(
        operation_id="runs_stream_stateless",
        request=RunCreateSerializer,
        responses={(200, "text/event-stream"): SSE_RESPONSE},
    )
    def post(self, request: Request) -> StreamingHttpResponse:
        data = validated(RunCreateSerializer, request.data)
        run, run_request = create_run(request, None, data)
        base = f"{api_prefix(request)}/runs/{run.run_id}"
        return sse_response(
            request,
            streams.run_stream(run.run_id),
            location=f"{base}/stream",
            content_location=base,
            cancel_run=run.run_id if run_request.on_disconnect == "cancel" else None,
        )


# -- join ------------------------------------------------------------------------------------
JOIN_PARAMETERS = [
    OpenApiParameter(
        "stream_mode",
        str,
        many=True,
        enum=list(RUN_MODES),
        description="Only these of the run's modes (repeat the parameter; empty: all)",
    ),
    OpenApiParameter("cancel_on_disconnect", bool, description="Cancel the run if the client goes"),
    LAST_EVENT_ID,
]


def _join(request: Request, run_id: uuid.UUID, location: str) -> StreamingHttpResponse:
    cancel = parse_bool(request.query_params.get("cancel_on_disconnect"), "cancel_on_disconnect")
    last_event_id = _last_event_id(request)
    return sse_response(
        request,
        streams.run_stream(
            run_id, modes=_run_modes(request), last_event_id=last_event_id, live=True
        ),
        location=f"{location}/stream",
        content_location=location,
        cancel_run=run_id if cancel else None,
    )


class RunJoinStreamApi(SSEView):
    @extend_schema(
        operation_id="runs_join_stream",
        parameters=JOIN_PARAMETERS,
        responses={(200, "text/event-stream"): SSE_RESPONSE},
    )
    def get(self, request: Request, thread_id: str, run_id: str) -> StreamingHttpResponse:
        """The run's events from now on, or after ``Last-Event-ID`` (also once it ended)."""
        access.run_thread_authorized(request, thread_id, run_id, "read")
        run = selectors.run_get(
            parse_run_id(run_id), thread_id=parse_thread_id(thread_id), tenant=scope(request)
        )
        return _join(
            request, run.run_id, f"{api_prefix(request)}/threads/{run.thread_id}/runs/{run.run_id}"
        )


class StatelessRunJoinStreamApi(SSEView):
    @extend_schema(
        operation_id="runs_join_stream_stateless",
        parameters=JOIN_PARAMETERS,
        responses={(200, "text/event-stream"): SSE_RESPONSE},
    )
    def get(self, request: Request, run_id: str) -> StreamingHttpResponse:
        """A stateless run's stream (the ``Location`` of ``POST /runs/stream``): its thread is
        deleted when it ends, its events stay."""
        run_uuid = parse_run_id(run_id)
        access.run_known_by_id(principal_of(request), scope(request), run_uuid)
        return _join(request, run_uuid, f"{api_prefix(request)}/runs/{run_uuid}")


# -- thread ----------------------------------------------------------------------------------
class ThreadStreamApi(SSEView):
    @extend_schema(
        operation_id="threads_join_stream",
        parameters=[
            OpenApiParameter(
                "stream_mode",
                str,
                many=True,
                enum=list(THREAD_MODES),
                description="run_modes (default): every run's events; lifecycle: run starts "
                "and ends only",
            ),
            OpenApiParameter(
                "stream_modes", str, description="The same, comma-separated (LangGraph's key)"
            ),
            LAST_EVENT_ID,
        ],
        responses={(200, "text/event-stream"): SSE_RESPONSE},
    )
    def get(self, request: Request, thread_id: str) -> StreamingHttpResponse:
        """Every run of the thread, live (or after ``Last-Event-ID``); ``metadata
        {"status": "run_done", "run_id"}`` after each run. Ids are global event ids."""
        thread_uuid = parse_thread_id(thread_id)
        modes = _stream_modes(request, "stream_mode", "stream_modes") or ["run_modes"]
        if unknown := [mode for mode in modes if mode not in THREAD_MODES]:
            raise InvalidInput(
                f"unknown stream mode(s) {unknown}; expected some of {list(THREAD_MODES)}"
            )
        last_event_id = _last_event_id(request)
        thread_selectors.thread_get(thread_uuid, tenant=scope(request))
        access.thread_authorized(principal_of(request), thread_uuid, "read")
        location = f"{api_prefix(request)}/threads/{thread_uuid}/stream"
        return sse_response(
            request,
            streams.thread_stream(thread_uuid, modes=modes, last_event_id=last_event_id),
            location=location,
            content_location=location,
        )

"""``GET /api/v1/runs/{run_id}/events``: a run's event history (DuraGraph's own route, as
Temporal's "workflow history"): every event of the run stream, in version order, as the run
page of the dashboard shows them and as ``manage.py replay`` folds them."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.authentication import principal_of
from duragraph_site.api import serializers as api
from duragraph_site.api.params import validated
from events import store
from runs.api import access
from runs.api.runs import parse_run_id, scope


class RunEventSerializer(api.Serializer):
    """One event of the run's stream (``events.domain.StoredEvent.as_json``)."""

    id = serializers.IntegerField()
    stream_type = serializers.CharField()
    stream_id = serializers.UUIDField()
    version = serializers.IntegerField()
    type = serializers.CharField()
    payload = serializers.DictField()
    metadata = serializers.DictField()
    created_at = serializers.DateTimeField()


class RunEventsApi(APIView):
    class QuerySerializer(api.Serializer):
        after_version = serializers.IntegerField(min_value=0, max_value=2**31 - 1, default=0)
        limit = serializers.IntegerField(min_value=1, max_value=10_000, default=1_000)

    @extend_schema(
        operation_id="runs_events",
        parameters=[QuerySerializer],
        responses={200: RunEventSerializer(many=True)},
        description="The run's events after `after_version`, oldest first (at most `limit`).",
    )
    def get(self, request: Request, run_id: str) -> Response:
        query = validated(self.QuerySerializer, request.query_params.dict())
        run_uuid = parse_run_id(run_id)
        access.run_known_by_id(principal_of(request), scope(request), run_uuid)
        events = store.load(run_uuid, after_version=query["after_version"])[: query["limit"]]
        return Response([event.as_json() for event in events])

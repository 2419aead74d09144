"""``GET /info``: version and capability flags, as LangGraph Platform reports them."""

from __future__ import annotations

from importlib import metadata

from django.conf import settings
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


class InfoApi(APIView):
    @extend_schema(
        operation_id="info",
        responses=inline_serializer(
            "Info",
            {
                "version": serializers.CharField(),
                "langgraph_py_version": serializers.CharField(allow_null=True),
                "flags": serializers.DictField(child=serializers.BooleanField()),
                "host": serializers.DictField(),
            },
        ),
    )
    def get(self, request: Request) -> Response:
        return Response(
            {
                "version": settings.SPECTACULAR_SETTINGS["VERSION"],
                "langgraph_py_version": _version("langgraph"),
                "flags": {
                    "assistants": True,
                    "crons": True,
                    "store": True,
                    "langsmith": False,
                    "durable_runs": True,
                    "replay": True,
                },
                "host": {
                    "kind": "self-hosted",
                    "project_id": None,
                    "revision_id": None,
                    "tenant_id": None,
                },
            }
        )

"""The DuraGraph SDK's prompt store (``duragraph.prompts.PromptStore``), under ``/api/v1``:

- ``GET /prompts?namespace&tag&limit&offset`` -> ``{"prompts": [...]}``;
- ``POST /prompts`` ``{prompt_id, content, description?, tags?, metadata?, version?}``;
- ``GET /prompts/{prompt_id}?version&variant`` -> one text (the latest by default);
- ``POST /prompts/{prompt_id}/versions`` ``{content, change_log?, version?, variant?}``;
- ``GET /prompts/{prompt_id}/versions`` -> every text, oldest first.

Thin: parse (types only; the rules are ``prompts.domain``'s), call one service or selector,
render. Prompt ids hold ``/`` (``support/classify_intent``), as the SDK sends them.
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.authentication import principal_of
from duragraph_site.api import serializers as api
from duragraph_site.api.fields import StrictCharField, limit_field, offset_field
from prompts import selectors, services


class PromptTextSerializer(api.Serializer):
    """One text of a prompt (a version, or a variant of one), with its prompt's fields."""

    prompt_id = serializers.CharField(source="prompt.prompt_id")
    namespace = serializers.CharField(source="prompt.namespace")
    description = serializers.CharField(source="prompt.description")
    tags = serializers.ListField(child=serializers.CharField(), source="prompt.tags")
    metadata = serializers.DictField(source="prompt.metadata")
    version = serializers.CharField()
    #: null for the version's default text.
    variant = serializers.SerializerMethodField()
    content = serializers.CharField()
    change_log = serializers.CharField()
    created_at = serializers.DateTimeField(format=None)

    class Meta:
        ref_name = "PromptText"

    def get_variant(self, text) -> str | None:
        return text.variant or None


class PromptSerializer(api.Serializer):
    prompt_id = serializers.CharField()
    namespace = serializers.CharField()
    description = serializers.CharField()
    tags = serializers.ListField(child=serializers.CharField())
    metadata = serializers.DictField()
    latest_version = serializers.CharField()
    created_at = serializers.DateTimeField(format=None)
    updated_at = serializers.DateTimeField(format=None)

    class Meta:
        ref_name = "Prompt"


class PromptListSerializer(api.Serializer):
    prompts = PromptSerializer(many=True)

    class Meta:
        ref_name = "PromptList"


class PromptVersionsSerializer(api.Serializer):
    versions = PromptTextSerializer(many=True)

    class Meta:
        ref_name = "PromptVersions"


class PromptsApi(APIView):
    """``/api/v1/prompts``: list and register prompts."""

    class ListInputSerializer(api.Serializer):
        namespace = serializers.CharField(required=False, allow_blank=True)
        tag = serializers.CharField(required=False, allow_blank=True)
        limit = limit_field(default=100)
        offset = offset_field()

    class CreateInputSerializer(api.Serializer):
        prompt_id = StrictCharField(help_text="A path such as 'support/classify_intent'.")
        content = StrictCharField(help_text="The prompt's text, a template with {variables}.")
        description = StrictCharField(required=False, allow_blank=True, allow_null=True)
        tags = serializers.ListField(child=StrictCharField(), required=False, allow_null=True)
        metadata = serializers.DictField(required=False, allow_null=True)
        version = StrictCharField(required=False, allow_null=True, help_text="Default: '1'.")

        class Meta:
            ref_name = "PromptCreate"

    @extend_schema(
        operation_id="prompts_list",
        parameters=[ListInputSerializer],
        responses={200: PromptListSerializer},
        description="The caller's prompts, by id: those under `namespace`, carrying `tag`.",
    )
    def get(self, request: Request) -> Response:
        params = self.ListInputSerializer.parse(request.query_params)
        prompts = selectors.prompt_list(
            namespace=params.get("namespace") or None,
            tag=params.get("tag") or None,
            limit=params["limit"],
            offset=params["offset"],
            tenant=principal_of(request).tenant,
        )
        return Response({"prompts": PromptSerializer.represent_many(prompts)})

    @extend_schema(
        operation_id="prompts_create",
        request=CreateInputSerializer,
        responses={201: PromptTextSerializer},
        description="Register a prompt with its first text (409 if the id is taken).",
    )
    def post(self, request: Request) -> Response:
        body = self.CreateInputSerializer.parse(request.data)
        text = services.prompt_create(
            prompt_id=body["prompt_id"],
            content=body["content"],
            description=body.get("description") or "",
            tags=body.get("tags"),
            metadata=body.get("metadata"),
            version=body.get("version"),
            tenant=principal_of(request).tenant,
        )
        return Response(PromptTextSerializer.represent(text), status=status.HTTP_201_CREATED)


class PromptApi(APIView):
    """``/api/v1/prompts/{prompt_id}``: one text of a prompt."""

    class GetInputSerializer(api.Serializer):
        version = serializers.CharField(required=False)
        variant = serializers.CharField(required=False)

    @extend_schema(
        operation_id="prompts_get",
        parameters=[GetInputSerializer],
        responses={200: PromptTextSerializer},
        description="The text at `version` (the latest by default) for `variant` (the "
        "default text when not given).",
    )
    def get(self, request: Request, prompt_id: str) -> Response:
        params = self.GetInputSerializer.parse(request.query_params)
        text = selectors.prompt_get(
            prompt_id,
            version=params.get("version"),
            variant=params.get("variant"),
            tenant=principal_of(request).tenant,
        )
        return Response(PromptTextSerializer.represent(text))


class PromptVersionsApi(APIView):
    """``/api/v1/prompts/{prompt_id}/versions``: a prompt's texts, and a new one."""

    class CreateInputSerializer(api.Serializer):
        content = StrictCharField()
        change_log = StrictCharField(required=False, allow_blank=True, allow_null=True)
        version = StrictCharField(
            required=False, allow_null=True, help_text="Default: the next number."
        )
        variant = StrictCharField(
            required=False,
            allow_null=True,
            help_text="An A/B variant of `version` (of the latest version when not given).",
        )

        class Meta:
            ref_name = "PromptVersionCreate"

    @extend_schema(
        operation_id="prompts_versions",
        responses={200: PromptVersionsSerializer},
        description="Every text of the prompt, oldest first.",
    )
    def get(self, request: Request, prompt_id: str) -> Response:
        texts = selectors.prompt_versions(prompt_id, tenant=principal_of(request).tenant)
        return Response({"versions": PromptTextSerializer.represent_many(texts)})

    @extend_schema(
        operation_id="prompts_create_version",
        request=CreateInputSerializer,
        responses={201: PromptTextSerializer},
        description="Add a version (or a variant of one); versions never change (409).",
    )
    def post(self, request: Request, prompt_id: str) -> Response:
        body = self.CreateInputSerializer.parse(request.data)
        text = services.prompt_version_create(
            prompt_id=prompt_id,
            content=body["content"],
            change_log=body.get("change_log") or "",
            version=body.get("version"),
            variant=body.get("variant"),
            tenant=principal_of(request).tenant,
        )
        return Response(PromptTextSerializer.represent(text), status=status.HTTP_201_CREATED)

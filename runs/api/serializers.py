"""The bodies and representations of runs and crons, as LangGraph Platform's API has them."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from duragraph_site.api import serializers as api
from duragraph_site.api.fields import JSONField, JSONObjectField, NodeListField, UUIDField
from runs import payloads, webhook_targets
from runs.domain import RunStatus

#: (value, name) pairs, as drf-spectacular reads ``ENUM_NAME_OVERRIDES["RunStatusEnum"]``, so
#: every run status field shares that one component.
RUN_STATUSES = [(status.value, status.name) for status in RunStatus]


class WebhookField(serializers.URLField):
    """A run's webhook: a URL whose host is public (``runs.webhook_targets``; docs/webhooks.md),
    or listed in ``WEBHOOK_ALLOWED_HOSTS``. A name that does not resolve (yet) is accepted:
    ``runs.webhooks.deliver`` checks again when sending."""

    def to_internal_value(self, data: Any) -> str:
        url = super().to_internal_value(data)
        try:
            target = webhook_targets.parse(url)
            try:
                addresses = webhook_targets.resolve(target)
            except OSError:
                addresses = ()
            webhook_targets.check(target, addresses, allowed_hosts=settings.WEBHOOK_ALLOWED_HOSTS)
        except webhook_targets.WebhookRefused as refused:
            raise serializers.ValidationError(refused.message) from None
        return url


class RunSerializer(api.Serializer):
    run_id = serializers.UUIDField()
    thread_id = serializers.UUIDField()
    assistant_id = serializers.UUIDField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    status = serializers.ChoiceField(choices=RUN_STATUSES)
    metadata = serializers.JSONField()
    multitask_strategy = serializers.CharField()
    kwargs = serializers.JSONField()
    attempt = serializers.IntegerField()
    cancel_reason = serializers.CharField(allow_null=True)


class CommandSerializer(api.Serializer):
    resume = JSONField(required=False, allow_null=True)
    update = JSONField(required=False, allow_null=True)
    goto = JSONField(required=False, allow_null=True)


@extend_schema_field(
    {
        "anyOf": [
            {"type": "string", "enum": list(payloads.STREAM_MODES)},
            {"type": "array", "items": {"type": "string", "enum": list(payloads.STREAM_MODES)}},
        ]
    }
)
class StreamModeField(serializers.Field):
    """One stream mode or a list of them."""

    valid = (*payloads.STREAM_MODES, *payloads.V2_ONLY_STREAM_MODES)

    def to_internal_value(self, data):
        modes = [data] if isinstance(data, str) else data
        if not isinstance(modes, list) or not all(isinstance(m, str) for m in modes):
            raise serializers.ValidationError("must be a stream mode or a list of stream modes")
        if unknown := [m for m in modes if m not in self.valid]:
            raise serializers.ValidationError(
                f"unknown stream mode(s) {unknown}; expected {list(payloads.STREAM_MODES)}"
            )
        return modes

    def to_representation(self, value):
        return value


class RunCreateSerializer(api.Serializer):
    """LangGraph's run-creation body (RunCreateStateful / RunCreateStateless)."""

    assistant_id = serializers.CharField()
    input = JSONField(required=False, allow_null=True)
    command = CommandSerializer(required=False, allow_null=True)
    metadata = JSONObjectField(required=False, allow_null=True)
    config = JSONObjectField(required=False, allow_null=True)
    context = JSONObjectField(required=False, allow_null=True)
    checkpoint = JSONObjectField(required=False, allow_null=True)
    checkpoint_id = UUIDField(required=False, allow_null=True)
    checkpoint_during = serializers.BooleanField(required=False, allow_null=True)
    interrupt_before = NodeListField(required=False, allow_null=True)
    interrupt_after = NodeListField(required=False, allow_null=True)
    webhook = WebhookField(required=False, allow_null=True)
    feedback_keys = serializers.ListField(
        child=serializers.CharField(), required=False, allow_null=True
    )
    multitask_strategy = serializers.ChoiceField(
        choices=payloads.MULTITASK_STRATEGIES, required=False, allow_null=True
    )
    if_not_exists = serializers.ChoiceField(
        choices=["create", "reject"], required=False, allow_null=True
    )
    on_completion = serializers.ChoiceField(
        choices=["delete", "keep"], required=False, allow_null=True
    )
    on_disconnect = serializers.ChoiceField(
        choices=["cancel", "continue"], required=False, allow_null=True
    )
    after_seconds = serializers.FloatField(
        min_value=0, max_value=365 * 24 * 3600, required=False, allow_null=True
    )
    stream_mode = StreamModeField(required=False, allow_null=True)
    stream_subgraphs = serializers.BooleanField(required=False, allow_null=True)
    stream_resumable = serializers.BooleanField(required=False, allow_null=True)
    durability = serializers.ChoiceField(
        choices=payloads.DURABILITIES, required=False, allow_null=True
    )

    def validate_config(self, config):
        if config is None:
            return config
        if "configurable" in config and not isinstance(config["configurable"], dict | type(None)):
            raise serializers.ValidationError("configurable must be a JSON object")
        if "tags" in config and not (
            isinstance(config["tags"], list) and all(isinstance(t, str) for t in config["tags"])
        ):
            raise serializers.ValidationError("tags must be a list of strings")
        limit = config.get("recursion_limit")
        if limit is not None and (
            not isinstance(limit, int) or isinstance(limit, bool) or limit < 1
        ):
            raise serializers.ValidationError("recursion_limit must be a positive integer")
        return config

    def validate_command(self, command):
        return (
            {key: value for key, value in command.items() if value is not None} if command else None
        )


class CronSerializer(serializers.Serializer):
    cron_id = serializers.UUIDField()
    assistant_id = serializers.UUIDField()
    thread_id = serializers.UUIDField(allow_null=True)
    user_id = serializers.CharField(allow_null=True)
    end_time = serializers.DateTimeField(allow_null=True)
    schedule = serializers.CharField()
    timezone = serializers.CharField(allow_null=True)
    payload = serializers.JSONField()
    next_run_date = serializers.DateTimeField(allow_null=True)
    metadata = serializers.JSONField()
    on_run_completed = serializers.CharField(allow_null=True)
    enabled = serializers.BooleanField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class CronCreateSerializer(RunCreateSerializer):
    schedule = serializers.CharField()
    #: The DuraGraph SDK's field: the input of every run the cron creates.
    payload = JSONObjectField(required=False, allow_null=True)
    end_time = serializers.DateTimeField(required=False, allow_null=True)
    enabled = serializers.BooleanField(default=True)
    timezone = serializers.CharField(required=False, allow_null=True)
    on_run_completed = serializers.ChoiceField(
        choices=["delete", "keep"], required=False, allow_null=True
    )

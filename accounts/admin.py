"""API keys in the Django admin: create one (its plaintext shown once), list, revoke.

A key is created through :func:`accounts.services.create_api_key`, exactly as
``manage.py apikey create`` does; the page after saving shows the plaintext once, in a message
(it is stored nowhere: only its digest is, and the digest is never shown). A key's authority
(tenant, scopes, all tenants) is fixed at creation: to change it, create another key and
revoke this one. Keys are revoked, never deleted, so the ``apikey:<prefix>`` actor recorded in
events keeps naming a key the admin can still show.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django import forms
from django.contrib import admin, messages
from django.utils import timezone
from django.utils.html import format_html

from accounts import domain, selectors, services
from accounts.models import ApiKey

if TYPE_CHECKING:
    from django.db.models import QuerySet
    from django.http import HttpRequest

#: The fields of the add form; the change form shows them too, all but three read-only.
CREATE_FIELDS = ("name", "tenant", "scopes", "all_tenants", "owner", "expires_at")
CHANGE_FIELDS = (
    "name",
    "key_prefix",
    "status",
    "tenant",
    "scopes",
    "all_tenants",
    "owner",
    "created_at",
    "last_used_at",
    "expires_at",
    "revoked_at",
)


class ApiKeyCreationForm(forms.ModelForm):
    scopes = forms.MultipleChoiceField(
        choices=[(scope, scope) for scope in domain.SCOPES],
        initial=[domain.SCOPE_API],
        widget=forms.CheckboxSelectMultiple,
        help_text="api: the LangGraph API (assistants, threads, runs, crons, store); "
        "worker: the DuraGraph worker protocol (/api/v1/workers).",
    )

    class Meta:
        model = ApiKey
        fields = CREATE_FIELDS

    def clean_expires_at(self) -> Any:
        expires_at = self.cleaned_data.get("expires_at")
        if expires_at is not None and expires_at <= timezone.now():
            raise forms.ValidationError("This moment is past: the key would never work.")
        return expires_at


class KeyStatusFilter(admin.SimpleListFilter):
    title = "status"
    parameter_name = "status"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list:
        return [("active", "active"), ("expired", "expired"), ("revoked", "revoked")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> QuerySet[ApiKey]:
        now = timezone.now()
        if self.value() == "revoked":
            return queryset.filter(revoked_at__isnull=False)
        if self.value() == "expired":
            return queryset.filter(revoked_at__isnull=True, expires_at__lte=now)
        if self.value() == "active":
            return queryset.filter(revoked_at__isnull=True).exclude(expires_at__lte=now)
        return queryset


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "key_prefix",
        "tenant",
        "scope_list",
        "all_tenants",
        "owner",
        "created_at",
        "last_used_at",
        "expires_at",
        "revoked_at",
        "status",
    )
    list_filter = (KeyStatusFilter, "tenant", "all_tenants")
    list_select_related = ("owner",)
    search_fields = ("name", "prefix", "tenant", "owner__username")
    date_hierarchy = "created_at"
    actions = ["revoke"]

    # -- columns -----------------------------------------------------------------------------
    @admin.display(description="key", ordering="prefix")
    def key_prefix(self, key: ApiKey) -> str:
        return f"dg_{key.prefix}_…"

    @admin.display(description="scopes")
    def scope_list(self, key: ApiKey) -> str:
        return ", ".join(key.scopes)

    @admin.display(description="status")
    def status(self, key: ApiKey) -> str:
        if key.revoked_at is not None:
            return "revoked"
        if key.expires_at is not None and key.expires_at <= timezone.now():
            return "expired"
        return "active"

    # -- forms -------------------------------------------------------------------------------
    def get_form(self, request: HttpRequest, obj: ApiKey | None = None, **kwargs: Any) -> Any:
        if obj is None:
            kwargs["form"] = ApiKeyCreationForm
        return super().get_form(request, obj, **kwargs)

    def get_fields(self, request: HttpRequest, obj: ApiKey | None = None) -> tuple:
        return CREATE_FIELDS if obj is None else CHANGE_FIELDS

    def get_readonly_fields(self, request: HttpRequest, obj: ApiKey | None = None) -> tuple:
        if obj is None:
            return ()
        return tuple(
            field for field in CHANGE_FIELDS if field not in ("name", "owner", "expires_at")
        )

    def get_changeform_initial_data(self, request: HttpRequest) -> dict[str, Any]:
        return {"owner": request.user.pk, **super().get_changeform_initial_data(request)}

    def save_form(self, request: HttpRequest, form: forms.ModelForm, change: bool) -> ApiKey:
        if change:
            return super().save_form(request, form, change)
        data = form.cleaned_data
        key, plaintext = services.create_api_key(
            name=data["name"],
            tenant=data["tenant"],
            scopes=data["scopes"],
            all_tenants=data["all_tenants"],
            owner=data["owner"],
            expires_at=data["expires_at"],
        )
        messages.warning(
            request,
            format_html(
                "The new key is <code>{}</code>. Copy it now: it is shown only this once and "
                "stored nowhere (only its digest is).",
                plaintext,
            ),
        )
        return key

    def save_model(self, request: HttpRequest, obj: ApiKey, form: Any, change: bool) -> None:
        if change:  # name, owner, expiry: this process forgets the old one now, others in the TTL
            super().save_model(request, obj, form, change)
            selectors.forget_cached_keys()
        # A new key was saved by save_form (services.create_api_key).

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        if change:  # a new key has nothing related to save, and its form never saved
            super().save_related(request, form, formsets, change)

    # -- revoking, never deleting --------------------------------------------------------------
    def has_delete_permission(self, request: HttpRequest, obj: ApiKey | None = None) -> bool:
        return False

    @admin.action(description="Revoke the selected API keys", permissions=["change"])
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> None:
        revoked = [
            services.revoke_api_key(key.prefix).prefix for key in queryset if key.revoked_at is None
        ]
        if revoked:
            self.message_user(
                request,
                f"Revoked {len(revoked)} key(s): {', '.join(f'dg_{p}_…' for p in revoked)}. "
                "Every process refuses them within API_KEY_CACHE_SECONDS.",
                messages.SUCCESS,
            )
        else:
            self.message_user(request, "The selected keys were revoked already.", messages.INFO)

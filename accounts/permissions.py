"""Who may call what: the API needs the ``api`` scope, the worker protocol ``worker``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.conf import settings
from rest_framework import exceptions, permissions

from accounts import domain

if TYPE_CHECKING:
    from rest_framework.request import Request
    from rest_framework.views import APIView


class _HasScope(permissions.BasePermission):
    scope: str

    def has_permission(self, request: Request, view: APIView) -> bool:
        principal = request.auth
        if not isinstance(principal, domain.Principal):
            return False  # DRF answers 401: no credentials
        if principal.may(self.scope):
            return True
        self.message = (
            f"This credential may not call these routes (it lacks the {self.scope!r} scope)"
        )
        return False


class HasApiScope(_HasScope):
    scope = domain.SCOPE_API


class HasWorkerScope(_HasScope):
    """Worker routes. With authentication off they stay open unless
    ``DURAGRAPH_WORKER_API_KEYS`` is set, as before (docs/remote-workers.md)."""

    scope = domain.SCOPE_WORKER

    def has_permission(self, request: Request, view: APIView) -> bool:
        if request.auth is domain.ANONYMOUS and settings.DURAGRAPH_WORKER_API_KEYS:
            raise exceptions.NotAuthenticated(
                "This server requires a worker key: X-Api-Key, a bearer token, or the key as "
                "the password of the control plane's URL (http://worker:<key>@host)"
            )
        return super().has_permission(request, view)

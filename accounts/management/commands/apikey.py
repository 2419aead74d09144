"""``manage.py apikey``: create, list and revoke API keys (docs/auth.md).

    manage.py apikey create --name ci --tenant acme --scope api --expires-in 90d
    manage.py apikey create --name workers --scope worker --all-tenants
    manage.py apikey list [--active]
    manage.py apikey revoke <prefix>          (or dg_<prefix>_…, or the whole key)

``create`` prints the key alone on stdout (``KEY=$(manage.py apikey create --name ci)``) and
what it is on stderr; the key is shown this once and stored nowhere. Thin: the commands are
:mod:`accounts.services`', the list is :func:`accounts.selectors.api_keys`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from accounts import domain, selectors, services
from accounts.models import ApiKey
from duragraph_site.errors import DuraGraphError

COLUMNS = (
    "prefix",
    "name",
    "tenant",
    "scopes",
    "owner",
    "created",
    "last used",
    "expires",
    "status",
)


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M") if moment is not None else "-"


def _status(key: ApiKey, now: datetime) -> str:
    if key.revoked_at is not None:
        return f"revoked {_when(key.revoked_at)}"
    if key.expires_at is not None and key.expires_at <= now:
        return "expired"
    return "active"


class Command(BaseCommand):
    help = "Create, list and revoke API keys."

    def add_arguments(self, parser: CommandParser) -> None:
        commands = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        create = commands.add_parser("create", help="Create a key and print it (once).")
        create.add_argument("--name", required=True, help="What the key is for.")
        create.add_argument("--tenant", default=domain.DEFAULT_TENANT)
        create.add_argument(
            "--scope",
            dest="scopes",
            action="append",
            choices=domain.SCOPES,
            help="Repeat for several (default: api).",
        )
        create.add_argument(
            "--all-tenants", action="store_true", help="See every tenant's objects."
        )
        create.add_argument(
            "--expires-in", help="90d, 12h, 1w2d, 30m, or seconds (default: never)."
        )
        create.add_argument("--owner", help="User name of the person accountable for it.")
        listing = commands.add_parser("list", help="List keys (never their secrets).")
        listing.add_argument("--active", action="store_true", help="Leave out revoked keys.")
        revoke = commands.add_parser("revoke", help="Revoke a key for good.")
        revoke.add_argument("prefix", help="The key's prefix, dg_<prefix>_…, or the key.")

    def handle(self, *args: Any, action: str, **options: Any) -> None:
        try:
            getattr(self, f"_{action}")(**options)
        except DuraGraphError as error:
            raise CommandError(error.message) from None

    def _create(
        self,
        *,
        name: str,
        tenant: str,
        scopes: list[str] | None,
        all_tenants: bool,
        expires_in: str | None,
        owner: str | None,
        **_: Any,
    ) -> None:
        try:
            lifetime = domain.parse_duration(expires_in) if expires_in else None
        except ValueError as error:
            raise CommandError(f"--expires-in: {error}") from None
        user = None
        if owner:
            user = (
                get_user_model().objects.filter(**{get_user_model().USERNAME_FIELD: owner}).first()
            )
            if user is None:
                raise CommandError(f"--owner: no user {owner!r}")
        key, plaintext = services.create_api_key(
            name=name,
            tenant=tenant,
            scopes=scopes or [domain.SCOPE_API],
            all_tenants=all_tenants,
            owner=user,
            expires_at=timezone.now() + lifetime if lifetime else None,
        )
        self.stderr.write(
            f"Created API key {key.name!r} (dg_{key.prefix}_…): tenant {key.tenant}"
            f"{' (sees all tenants)' if key.all_tenants else ''}, scopes {', '.join(key.scopes)}, "
            f"expires {_when(key.expires_at) if key.expires_at else 'never'}. "
            "This is the only time the key is shown:"
        )
        self.stdout.write(plaintext)

    def _list(self, *, active: bool, **_: Any) -> None:
        now = timezone.now()
        rows = [
            (
                f"dg_{key.prefix}_…",
                key.name,
                key.tenant + (" (all)" if key.all_tenants else ""),
                ",".join(key.scopes),
                key.owner.get_username() if key.owner else "-",
                _when(key.created_at),
                _when(key.last_used_at),
                _when(key.expires_at),
                _status(key, now),
            )
            for key in selectors.api_keys(include_revoked=not active)
        ]
        widths = [
            max(len(str(cell)) for cell in column) for column in zip(COLUMNS, *rows, strict=True)
        ]
        for row in (COLUMNS, *rows):
            self.stdout.write(
                "  ".join(
                    cell.ljust(width) for cell, width in zip(row, widths, strict=True)
                ).rstrip()
            )

    def _revoke(self, *, prefix: str, **_: Any) -> None:
        key = services.revoke_api_key(prefix)
        self.stdout.write(
            f"Revoked {key.name!r} (dg_{key.prefix}_…) at {_when(key.revoked_at)}; every "
            "process refuses it within API_KEY_CACHE_SECONDS."
        )

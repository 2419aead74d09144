"""Fixtures of the authentication tests: authentication on, keys made through the services."""

from __future__ import annotations

import base64

import pytest
from rest_framework.test import APIClient

from accounts import selectors, services


@pytest.fixture
def auth_on(settings):
    """``AUTH_ENABLED`` on (the suite runs with it off), no key remembered across tests."""
    settings.AUTH_ENABLED = True
    selectors.forget_cached_keys()
    yield settings
    selectors.forget_cached_keys()


@pytest.fixture
def api() -> APIClient:
    return APIClient()


@pytest.fixture
def new_key(db):
    """``new_key(**fields)``: an API key made by ``accounts.services``; ``(row, plaintext)``."""

    def make(**fields):
        fields.setdefault("name", "test key")
        return services.create_api_key(**fields)

    return make


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()

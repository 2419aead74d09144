"""Which exceptions mean "the database is unavailable" (503), and the request id on log records."""

from __future__ import annotations

import logging

import psycopg
import pytest
from django import db
from psycopg_pool import PoolTimeout

from duragraph_site.api.errors import database_unavailable, unexpected_error_response
from duragraph_site.logs import RequestIdFilter
from events import context


def django_error(django_class: type[Exception], cause: BaseException) -> Exception:
    """*cause* wrapped the way Django's ``wrap_database_errors`` does (``raise ... from``)."""
    try:
        raise django_class(*cause.args) from cause
    except django_class as error:
        return error


@pytest.mark.parametrize(
    "error",
    [
        django_error(db.OperationalError, psycopg.OperationalError("connection refused")),
        django_error(db.OperationalError, PoolTimeout("couldn't get a connection after 1 sec")),
        django_error(db.OperationalError, psycopg.errors.AdminShutdown("terminating connection")),
    ],
    ids=["refused", "pool timeout", "admin shutdown"],
)
def test_unreachable_database_errors_are_503(error):
    assert database_unavailable(error)
    response = unexpected_error_response(error)
    assert (response.status_code, response["Retry-After"]) == (503, "1")


@pytest.mark.parametrize(
    "error",
    [
        None,
        RuntimeError("boom"),
        db.OperationalError("raised by Django itself, not from psycopg"),
        django_error(db.IntegrityError, psycopg.errors.UniqueViolation("duplicate key")),
        django_error(db.DataError, psycopg.errors.NumericValueOutOfRange("bigint out of range")),
        psycopg.OperationalError("not wrapped by Django"),
    ],
    ids=["none", "bug", "django only", "integrity", "data", "bare psycopg"],
)
def test_other_errors_are_500(error):
    assert not database_unavailable(error)
    response = unexpected_error_response(error)
    assert response.status_code == 500
    assert not response.has_header("Retry-After")


def record() -> logging.LogRecord:
    return logging.LogRecord("x", logging.INFO, __file__, 1, "message", None, None)


def test_the_filter_puts_the_bound_request_id_on_records():
    log_filter = RequestIdFilter()
    outside = record()
    assert log_filter.filter(outside) and outside.request_id == "-"
    with context.bound(request_id="req-7"):
        inside = record()
        assert log_filter.filter(inside) and inside.request_id == "req-7"
    explicit = record()
    explicit.request_id = "given"
    assert log_filter.filter(explicit) and explicit.request_id == "given"

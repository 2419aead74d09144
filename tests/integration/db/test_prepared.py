"""``duragraph_site.db.prepared``: the hot statements are prepared on the server once per
connection, run in the caller's transaction, raise Django's errors, and nothing is prepared
when prepared statements are off (``prepare_threshold`` None, Django's default)."""

from __future__ import annotations

import pytest
from django.db import DataError, connection, transaction

from duragraph_site.db import prepared

pytestmark = pytest.mark.django_db

PROBE = "SELECT %(n)s::int * 2 AS doubled, 'prepared-probe' AS marker"


def prepared_probes() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE %s",
            ["%prepared-probe%"],
        )
        return cursor.fetchone()[0]


def test_a_statement_is_prepared_once_and_answers_with_its_columns():
    assert prepared.execute(PROBE, {"n": 3}) == (["doubled", "marker"], [(6, "prepared-probe")])
    assert prepared.execute(PROBE, {"n": 4})[1] == [(8, "prepared-probe")]
    assert prepared_probes() == 1


def test_it_runs_in_the_callers_transaction():
    with connection.cursor() as cursor:
        cursor.execute("CREATE TEMP TABLE probe (n int)")
    with pytest.raises(RuntimeError), transaction.atomic():
        prepared.execute("INSERT INTO probe VALUES (%(n)s)", {"n": 1})
        raise RuntimeError("roll back")
    assert prepared.execute("SELECT count(*) FROM probe", {})[1] == [(0,)]


def test_errors_are_djangos():
    with pytest.raises(DataError, match="division by zero"):
        prepared.execute("SELECT 1 / %(zero)s::int", {"zero": 0})


def test_nothing_is_prepared_when_prepared_statements_are_off():
    raw = connection.connection
    saved, raw.prepare_threshold = raw.prepare_threshold, None
    try:
        assert prepared.execute(PROBE, {"n": 1})[1] == [(2, "prepared-probe")]
        assert prepared_probes() == 0
    finally:
        raw.prepare_threshold = saved

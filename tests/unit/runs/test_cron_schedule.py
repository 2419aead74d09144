"""When a cron fires next (``runs.crons.next_run_after``) and which schedules are accepted: the
pure part of crons, no database."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from duragraph_site.errors import InvalidInput
from runs import crons


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize(
    ("schedule", "tz_name", "after", "expected"),
    [
        ("*/5 * * * *", "UTC", at(2026, 1, 1, 12, 3), at(2026, 1, 1, 12, 5)),
        # strictly after: a cron due now fires next at its following time
        ("*/5 * * * *", "UTC", at(2026, 1, 1, 12, 5), at(2026, 1, 1, 12, 10)),
        ("0 0 29 2 *", "UTC", at(2026, 1, 1), at(2028, 2, 29)),  # the next leap day
        # 9:00 in Paris is 8:00 UTC in winter (CET) and 7:00 UTC in summer (CEST)
        ("0 9 * * *", "Europe/Paris", at(2026, 1, 1), at(2026, 1, 1, 8)),
        ("0 9 * * *", "Europe/Paris", at(2026, 7, 1), at(2026, 7, 1, 7)),
        # Mondays at 9:00 in New York (EST, UTC-5): 2026-01-05 is the first Monday
        ("0 9 * * 1", "America/New_York", at(2026, 1, 1), at(2026, 1, 5, 14)),
        # 2:30 does not exist in Paris on 2026-03-29 (2:00 -> 3:00): it fires once, at 3:00
        ("30 2 * * *", "Europe/Paris", at(2026, 3, 28, 12), at(2026, 3, 29, 1)),
    ],
)
def test_the_next_firing_is_the_first_time_strictly_after(schedule, tz_name, after, expected):
    assert crons.next_run_after(schedule, tz_name, after) == expected


def test_the_next_firing_is_in_utc_whatever_the_zone_of_after():
    paris = crons.next_run_after("0 9 * * *", "Europe/Paris", at(2026, 1, 1))
    assert paris.utcoffset().total_seconds() == 0


@pytest.mark.parametrize("schedule", ["* * *", "61 * * * *", "not a cron"])
def test_a_bad_schedule_is_invalid_input_naming_it(schedule):
    with pytest.raises(InvalidInput, match="not a valid cron expression") as raised:
        crons.next_run_after(schedule, "UTC", at(2026, 1, 1))
    assert repr(schedule) in raised.value.message


@pytest.mark.parametrize("tz_name", ["Mars/Olympus", "", "UTC+2"])
def test_an_unknown_time_zone_is_invalid_input_naming_it(tz_name):
    with pytest.raises(InvalidInput, match="is not an IANA time zone name"):
        crons.next_run_after("* * * * *", tz_name, at(2026, 1, 1))


@pytest.mark.parametrize("schedule", ["*/5 * * * *", "0 9 * * 1-5", "15 3 1 * *"])
def test_five_field_schedules_are_accepted(schedule):
    crons._validate_schedule(schedule)


@pytest.mark.parametrize("schedule", ["* * * * * *", "* * *", "61 * * * *", "", 5, None, "@hourly"])
def test_anything_but_a_valid_five_field_schedule_is_refused(schedule):
    with pytest.raises(InvalidInput, match="must be a 5-field cron expression"):
        crons._validate_schedule(schedule)

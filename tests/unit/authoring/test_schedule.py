"""`ScheduleRecurrence`: v1's validation errors, the Airflow schedule it becomes, and its run times.

The expected run times are written out by hand (or by plain datetime arithmetic from the start
time) and compared with `next_runs`, which asks Airflow's own timetable (`next_dagrun_info`).
"""

from __future__ import annotations

import enum
import re
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

import airflow_provider_mlpipe as mlpipe
from airflow_provider_mlpipe.authoring.schedule import (
    WINDOWS_TIME_ZONES,
    ScheduleRecurrence,
    resolve_time_zone,
)

UTC = timezone.utc
BERLIN = ZoneInfo("Europe/Berlin")
LONDON = ZoneInfo("Europe/London")
LOS_ANGELES = ZoneInfo("America/Los_Angeles")


def utc(*fields: int) -> datetime:
    return datetime(*fields, tzinfo=UTC)


def berlin(*fields: int) -> datetime:
    return datetime(*fields, tzinfo=BERLIN)


def los_angeles(*fields: int) -> datetime:
    return datetime(*fields, tzinfo=LOS_ANGELES)


def test_exported_from_the_package_root():
    assert mlpipe.ScheduleRecurrence is ScheduleRecurrence
    assert "ScheduleRecurrence" in mlpipe.__all__


def test_making_and_validating_a_recurrence_imports_no_airflow():
    code = (
        "import sys\n"
        "from airflow_provider_mlpipe import ScheduleRecurrence\n"
        "ScheduleRecurrence('Week', 1, week_days=['Monday'], time_zone='Pacific Standard Time').validate()\n"
        "print(sorted(m for m in sys.modules if m == 'airflow' or m.startswith('airflow.')))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


# -- v1 validation ---------------------------------------------------------------------------------

INVALID = [
    # frequency
    (dict(frequency="Daily", interval=1), "frequency must be one of Minute, Hour, Day, Week, Month"),
    (dict(frequency="minute", interval=1), "frequency must be one of"),
    (dict(frequency=None, interval=1), "frequency must be one of"),
    # interval
    (dict(frequency="Day", interval=0), "interval must be an integer greater than 0"),
    (dict(frequency="Day", interval=-3), "interval must be an integer greater than 0"),
    (dict(frequency="Day", interval=1.5), "interval must be an integer greater than 0"),
    (dict(frequency="Day", interval="2"), "interval must be an integer greater than 0"),
    (dict(frequency="Day", interval=True), "interval must be an integer greater than 0"),
    # hours / minutes only with Day or Week
    (
        dict(frequency="Minute", interval=5, hours=[1]),
        "hours can only be specified when frequency is 'Day' or 'Week'",
    ),
    (
        dict(frequency="Hour", interval=1, hours=[1]),
        "hours can only be specified when frequency is 'Day' or 'Week'",
    ),
    (
        dict(frequency="Month", interval=1, hours=[1]),
        "hours can only be specified when frequency is 'Day' or 'Week'",
    ),
    (
        dict(frequency="Hour", interval=1, minutes=[15]),
        "minutes can only be specified when frequency is 'Day' or 'Week'",
    ),
    (
        dict(frequency="Month", interval=1, minutes=[15]),
        "minutes can only be specified when frequency is 'Day' or 'Week'",
    ),
    # week_days only with Week
    (
        dict(frequency="Day", interval=1, week_days=["Monday"]),
        "week_days can only be specified when frequency is 'Week'",
    ),
    (
        dict(frequency="Month", interval=1, week_days=["Monday"]),
        "week_days can only be specified when frequency is 'Week'",
    ),
    # hour and minute values
    (dict(frequency="Day", interval=1, hours=[24]), "hours must be integers between 0 and 23, got 24"),
    (dict(frequency="Day", interval=1, hours=[-1]), "hours must be integers between 0 and 23, got -1"),
    (dict(frequency="Day", interval=1, hours=["8"]), "hours must be integers between 0 and 23, got '8'"),
    (dict(frequency="Day", interval=1, hours=[True]), "hours must be integers between 0 and 23, got True"),
    (dict(frequency="Day", interval=1, hours=8), "hours must be a list of integers"),
    (dict(frequency="Day", interval=1, hours=[]), "hours must not be empty"),
    (dict(frequency="Week", interval=1, minutes=[60]), "minutes must be integers between 0 and 59, got 60"),
    (dict(frequency="Week", interval=1, minutes=[-5]), "minutes must be integers between 0 and 59, got -5"),
    (dict(frequency="Week", interval=1, minutes=[7.5]), "minutes must be integers between 0 and 59, got 7.5"),
    # week day names
    (dict(frequency="Week", interval=1, week_days=["Mon"]), "week_days must be names from Monday"),
    (dict(frequency="Week", interval=1, week_days=["monday"]), "week_days must be names from Monday"),
    (dict(frequency="Week", interval=1, week_days="Monday"), "week_days must be a list of day names"),
    (dict(frequency="Week", interval=1, week_days=[]), "week_days must not be empty"),
    # time_of_day
    (
        dict(frequency="Day", interval=1, time_of_day="09:30", hours=[9]),
        "time_of_day cannot be combined with hours or minutes",
    ),
    (
        dict(frequency="Day", interval=1, time_of_day="09:30", minutes=[30]),
        "time_of_day cannot be combined with hours or minutes",
    ),
    (dict(frequency="Day", interval=1, time_of_day="9.30"), "time_of_day must be a string in the form hh:mm"),
    (dict(frequency="Day", interval=1, time_of_day="0930"), "time_of_day must be a string in the form hh:mm"),
    (
        dict(frequency="Day", interval=1, time_of_day="09:30:00"),
        "time_of_day must be a string in the form hh:mm",
    ),
    (dict(frequency="Day", interval=1, time_of_day=930), "time_of_day must be a string in the form hh:mm"),
    (dict(frequency="Day", interval=1, time_of_day="24:00"), "time_of_day hour must be between 0 and 23"),
    (dict(frequency="Day", interval=1, time_of_day="12:60"), "time_of_day minute must be between 0 and 59"),
    (
        dict(frequency="Minute", interval=5, time_of_day="12:00"),
        "time_of_day can only be specified when frequency is 'Day' or 'Week'",
    ),
    (
        dict(frequency="Hour", interval=1, time_of_day="12:00"),
        "time_of_day can only be specified when frequency is 'Day' or 'Week'",
    ),
    (
        dict(frequency="Month", interval=1, time_of_day="12:00"),
        "time_of_day can only be specified when frequency is 'Day' or 'Week'",
    ),
    # start_time
    (
        dict(frequency="Day", interval=1, start_time=datetime(2024, 1, 1, tzinfo=UTC)),
        "start_time must not carry a time zone",
    ),
    (
        dict(frequency="Day", interval=1, start_time="2024-01-01T09:00:00+01:00"),
        "start_time must not carry a time zone",
    ),
    (
        dict(frequency="Day", interval=1, start_time="next tuesday"),
        "start_time must be a datetime or an ISO string",
    ),
    (
        dict(frequency="Day", interval=1, start_time=1704067200),
        "start_time must be a datetime or an ISO string",
    ),
    # time_zone
    (
        dict(frequency="Day", interval=1, time_zone="Mars/Olympus_Mons"),
        "time_zone 'Mars/Olympus_Mons' is not a known time zone",
    ),
    (
        dict(frequency="Day", interval=1, time_zone="Pacific Time"),
        "time_zone 'Pacific Time' is not a known time zone",
    ),
    (dict(frequency="Day", interval=1, time_zone=""), "time_zone must be a time zone name"),
    (dict(frequency="Day", interval=1, time_zone=5), "time_zone must be a time zone name"),
]


@pytest.mark.parametrize(("kwargs", "message"), INVALID)
def test_v1_validation_errors(kwargs, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        ScheduleRecurrence(**kwargs)


def test_validate_reruns_the_checks_after_a_change():
    recurrence = ScheduleRecurrence("Day", 1, hours=[8])
    recurrence.validate()
    recurrence.hours = [25]
    with pytest.raises(ValueError, match="hours must be integers between 0 and 23, got 25"):
        recurrence.validate()
    with pytest.raises(ValueError, match="hours must be integers"):
        recurrence.to_airflow_schedule()
    recurrence.hours = [9]
    recurrence.frequency = "Hour"
    with pytest.raises(ValueError, match="hours can only be specified"):
        recurrence.validate()


def test_valid_recurrences_from_the_v1_documentation():
    ScheduleRecurrence(frequency="Minute", interval=15)
    ScheduleRecurrence(frequency="Week", interval=2, week_days=["Monday", "Wednesday"], time_of_day="18:30")
    ScheduleRecurrence(frequency="Month", interval=1, start_time="2019-11-01T09:00:00")
    ScheduleRecurrence(frequency="Hour", interval=1, start_time="2020-01-13T12:55:00")
    ScheduleRecurrence(
        frequency="Minute",
        interval=30,
        start_time=datetime(2019, 5, 20, 16),
        time_zone="Pacific Standard Time",
    )


# -- time zones ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "iana"),
    [
        ("Europe/Berlin", "Europe/Berlin"),
        ("UTC", "UTC"),
        ("Pacific Standard Time", "America/Los_Angeles"),
        ("pacific standard time", "America/Los_Angeles"),
        ("W. Europe Standard Time", "Europe/Berlin"),
        ("GMT Standard Time", "Europe/London"),
        ("Eastern Standard Time", "America/New_York"),
        ("India Standard Time", "Asia/Kolkata"),
        ("Tokyo Standard Time", "Asia/Tokyo"),
        ("AUS Eastern Standard Time", "Australia/Sydney"),
    ],
)
def test_time_zone_names(name, iana):
    assert resolve_time_zone(name) == iana


def test_every_windows_name_maps_to_a_loadable_iana_zone():
    import pendulum

    for iana in WINDOWS_TIME_ZONES.values():
        ZoneInfo(iana)
        pendulum.timezone(iana)


def test_a_v1_timezone_enum_member_is_accepted():
    class TimeZone(enum.Enum):  # the shape of azureml.pipeline.core.schedule.TimeZone
        PacificStandardTime = "Pacific Standard Time"

    recurrence = ScheduleRecurrence("Day", 1, time_of_day="06:00", time_zone=TimeZone.PacificStandardTime)
    assert recurrence.to_airflow_schedule().timezone == "America/Los_Angeles"


# -- the Airflow schedule and the next runs ------------------------------------------------------


def _cron(schedule) -> tuple[str, str]:
    """(expression, timezone) of a CronTriggerTimetable."""
    from airflow.sdk import CronTriggerTimetable

    assert isinstance(schedule, CronTriggerTimetable), schedule
    return schedule.expression, schedule.timezone


def test_every_15_minutes():
    recurrence = ScheduleRecurrence("Minute", 15)
    assert recurrence.to_airflow_schedule() == "*/15 * * * *"
    assert recurrence.airflow_start_date is None
    assert recurrence.next_runs(5, utc(2024, 5, 10, 10, 7)) == [
        utc(2024, 5, 10, 10, 15),
        utc(2024, 5, 10, 10, 30),
        utc(2024, 5, 10, 10, 45),
        utc(2024, 5, 10, 11, 0),
        utc(2024, 5, 10, 11, 15),
    ]
    # "after" is exclusive: a run exactly at it is not a next run.
    assert recurrence.next_runs(2, utc(2024, 5, 10, 10, 15)) == [
        utc(2024, 5, 10, 10, 30),
        utc(2024, 5, 10, 10, 45),
    ]


def test_every_7_minutes_keeps_counting_across_hours():
    from airflow.sdk import DeltaTriggerTimetable

    recurrence = ScheduleRecurrence("Minute", 7, start_time="2024-05-10T10:00:00", time_zone="UTC")
    schedule = recurrence.to_airflow_schedule()
    assert isinstance(schedule, DeltaTriggerTimetable)
    assert schedule.delta == timedelta(minutes=7)
    assert recurrence.airflow_start_date == utc(2024, 5, 10, 10, 0)
    # 10:00 + 7 min * k; "*/7" would restart at 11:00 instead of 11:03.
    assert recurrence.next_runs(5, utc(2024, 5, 10, 10, 55)) == [
        utc(2024, 5, 10, 10, 56),
        utc(2024, 5, 10, 11, 3),
        utc(2024, 5, 10, 11, 10),
        utc(2024, 5, 10, 11, 17),
        utc(2024, 5, 10, 11, 24),
    ]
    # Far from the start, by plain arithmetic: the grid still holds.
    start = utc(2024, 5, 10, 10, 0)
    after = utc(2024, 8, 1, 0, 0)
    expected = [
        start + timedelta(minutes=7) * k for k in range(30_000) if start + timedelta(minutes=7) * k > after
    ]
    assert recurrence.next_runs(5, after) == expected[:5]


def test_a_future_start_time_makes_the_first_run_wait():
    recurrence = ScheduleRecurrence("Minute", 7, start_time="2024-05-10T10:00:00", time_zone="UTC")
    assert recurrence.next_runs(3, utc(2024, 5, 1)) == [
        utc(2024, 5, 10, 10, 0),
        utc(2024, 5, 10, 10, 7),
        utc(2024, 5, 10, 10, 14),
    ]
    monthly = ScheduleRecurrence("Month", 1, start_time="2030-06-15T08:00:00", time_zone="UTC")
    assert monthly.next_runs(2, utc(2024, 1, 1)) == [utc(2030, 6, 15, 8), utc(2030, 7, 15, 8)]


def test_every_7_minutes_without_start_time_counts_from_creation():
    # v1 runs at once when the schedule is made and every 7 minutes from then: made at `after`.
    recurrence = ScheduleRecurrence("Minute", 7)
    assert recurrence.next_runs(3, utc(2024, 5, 10, 10, 1)) == [
        utc(2024, 5, 10, 10, 8),
        utc(2024, 5, 10, 10, 15),
        utc(2024, 5, 10, 10, 22),
    ]


def test_every_2_hours_at_minute_30_from_start_time():
    recurrence = ScheduleRecurrence("Hour", 2, start_time=datetime(2024, 1, 15, 9, 30))
    assert _cron(recurrence.to_airflow_schedule()) == ("30 1-23/2 * * *", "UTC")
    assert recurrence.next_runs(5, utc(2024, 1, 20, 0, 0)) == [
        utc(2024, 1, 20, 1, 30),
        utc(2024, 1, 20, 3, 30),
        utc(2024, 1, 20, 5, 30),
        utc(2024, 1, 20, 7, 30),
        utc(2024, 1, 20, 9, 30),
    ]


def test_start_time_without_time_zone_is_v1s_gmt_standard_time_that_is_london():
    # v1 sets TimeZone.GMTStandardTime: 09:30 in July is 09:30 BST = 08:30 UTC, so even UTC hours.
    recurrence = ScheduleRecurrence("Hour", 2, start_time="2024-07-15T09:30:00")
    assert recurrence.airflow_start_date == datetime(2024, 7, 15, 9, 30, tzinfo=LONDON)
    assert recurrence.airflow_start_date == utc(2024, 7, 15, 8, 30)
    assert _cron(recurrence.to_airflow_schedule()) == ("30 */2 * * *", "UTC")
    assert recurrence.next_runs(5, utc(2024, 7, 20, 0, 0)) == [
        utc(2024, 7, 20, 0, 30),
        utc(2024, 7, 20, 2, 30),
        utc(2024, 7, 20, 4, 30),
        utc(2024, 7, 20, 6, 30),
        utc(2024, 7, 20, 8, 30),
    ]


def test_every_90_minutes_needs_two_crons():
    from airflow.sdk import MultipleCronTriggerTimetable

    recurrence = ScheduleRecurrence("Minute", 90)
    schedule = recurrence.to_airflow_schedule()
    assert isinstance(schedule, MultipleCronTriggerTimetable)
    assert [t.expression for t in schedule.timetables] == ["0 */3 * * *", "30 1-23/3 * * *"]
    assert recurrence.next_runs(5, utc(2024, 3, 8, 23, 0)) == [
        utc(2024, 3, 9, 0, 0),
        utc(2024, 3, 9, 1, 30),
        utc(2024, 3, 9, 3, 0),
        utc(2024, 3, 9, 4, 30),
        utc(2024, 3, 9, 6, 0),
    ]


def test_daily_at_0930_via_time_of_day():
    recurrence = ScheduleRecurrence("Day", 1, time_of_day="09:30")
    assert recurrence.to_airflow_schedule() == "30 9 * * *"
    assert recurrence.next_runs(5, utc(2024, 2, 27, 12, 0)) == [
        utc(2024, 2, 28, 9, 30),
        utc(2024, 2, 29, 9, 30),
        utc(2024, 3, 1, 9, 30),
        utc(2024, 3, 2, 9, 30),
        utc(2024, 3, 3, 9, 30),
    ]


def test_daily_at_hours_times_minutes():
    recurrence = ScheduleRecurrence("Day", 1, hours=[20, 8], minutes=[0, 30])
    assert recurrence.to_airflow_schedule() == "0,30 8,20 * * *"
    assert recurrence.next_runs(5, utc(2024, 6, 1, 8, 15)) == [
        utc(2024, 6, 1, 8, 30),
        utc(2024, 6, 1, 20, 0),
        utc(2024, 6, 1, 20, 30),
        utc(2024, 6, 2, 8, 0),
        utc(2024, 6, 2, 8, 30),
    ]


def test_every_3_days_crosses_months_without_restarting():
    from airflow.sdk import DeltaTriggerTimetable

    recurrence = ScheduleRecurrence("Day", 3, start_time="2024-02-26T06:00:00", time_zone="UTC")
    schedule = recurrence.to_airflow_schedule()
    assert isinstance(schedule, DeltaTriggerTimetable)
    assert schedule.delta == timedelta(days=3)
    # Feb 26 + 3 days = Feb 29 (a leap year), then Mar 3, ... ("*/3" would restart on Mar 1).
    assert recurrence.next_runs(5, utc(2024, 2, 27)) == [
        utc(2024, 2, 29, 6),
        utc(2024, 3, 3, 6),
        utc(2024, 3, 6, 6),
        utc(2024, 3, 9, 6),
        utc(2024, 3, 12, 6),
    ]


def test_every_3_days_at_a_given_hour_counts_days_from_start_time():
    recurrence = ScheduleRecurrence("Day", 3, hours=[9], start_time="2024-01-01T12:00:00", time_zone="UTC")
    # Jan 1 09:00 is before the start: the first run is on day 3 after it.
    assert recurrence.airflow_start_date == utc(2024, 1, 4, 9)
    assert recurrence.next_runs(3, utc(2023, 12, 1)) == [
        utc(2024, 1, 4, 9),
        utc(2024, 1, 7, 9),
        utc(2024, 1, 10, 9),
    ]


def test_weekly_on_monday_and_friday_at_1700():
    recurrence = ScheduleRecurrence("Week", 1, week_days=["Monday", "Friday"], time_of_day="17:00")
    assert recurrence.to_airflow_schedule() == "0 17 * * 1,5"
    # 2024-05-01 is a Wednesday.
    assert recurrence.next_runs(5, utc(2024, 5, 1, 12)) == [
        utc(2024, 5, 3, 17),
        utc(2024, 5, 6, 17),
        utc(2024, 5, 10, 17),
        utc(2024, 5, 13, 17),
        utc(2024, 5, 17, 17),
    ]


def test_every_2_weeks_on_wednesday():
    from airflow.sdk import DeltaTriggerTimetable

    # 2024-01-01 is a Monday: the first Wednesday is Jan 3, then every 14 days.
    recurrence = ScheduleRecurrence(
        "Week", 2, week_days=["Wednesday"], start_time="2024-01-01T10:00:00", time_zone="UTC"
    )
    schedule = recurrence.to_airflow_schedule()
    assert isinstance(schedule, DeltaTriggerTimetable)
    assert schedule.delta == timedelta(weeks=2)
    assert recurrence.airflow_start_date == utc(2024, 1, 3, 10)
    assert recurrence.next_runs(5, utc(2024, 1, 20)) == [
        utc(2024, 1, 31, 10),
        utc(2024, 2, 14, 10),
        utc(2024, 2, 28, 10),
        utc(2024, 3, 13, 10),
        utc(2024, 3, 27, 10),
    ]


def test_every_7_days_is_a_weekly_cron():
    # 2024-04-03 is a Wednesday.
    recurrence = ScheduleRecurrence("Day", 7, start_time="2024-04-03T07:15:00", time_zone="UTC")
    assert _cron(recurrence.to_airflow_schedule()) == ("15 7 * * 3", "UTC")
    assert recurrence.next_runs(3, utc(2024, 4, 1)) == [
        utc(2024, 4, 3, 7, 15),
        utc(2024, 4, 10, 7, 15),
        utc(2024, 4, 17, 7, 15),
    ]


def test_monthly_on_start_times_day():
    recurrence = ScheduleRecurrence("Month", 1, start_time="2024-01-15T08:00:00", time_zone="UTC")
    assert _cron(recurrence.to_airflow_schedule()) == ("0 8 15 * *", "UTC")
    assert recurrence.next_runs(5, utc(2024, 10, 20)) == [
        utc(2024, 11, 15, 8),
        utc(2024, 12, 15, 8),
        utc(2025, 1, 15, 8),
        utc(2025, 2, 15, 8),
        utc(2025, 3, 15, 8),
    ]


def test_every_3_months_counts_from_start_times_month():
    recurrence = ScheduleRecurrence("Month", 3, start_time="2024-02-10T08:00:00", time_zone="UTC")
    assert _cron(recurrence.to_airflow_schedule()) == ("0 8 10 2,5,8,11 *", "UTC")
    assert recurrence.next_runs(5, utc(2024, 3, 1)) == [
        utc(2024, 5, 10, 8),
        utc(2024, 8, 10, 8),
        utc(2024, 11, 10, 8),
        utc(2025, 2, 10, 8),
        utc(2025, 5, 10, 8),
    ]


def test_every_5_months_crosses_years():
    from airflow.sdk import DeltaTriggerTimetable

    recurrence = ScheduleRecurrence("Month", 5, start_time="2024-01-15T08:00:00", time_zone="UTC")
    assert isinstance(recurrence.to_airflow_schedule(), DeltaTriggerTimetable)
    assert recurrence.next_runs(5, utc(2024, 2, 1)) == [
        utc(2024, 6, 15, 8),
        utc(2024, 11, 15, 8),
        utc(2025, 4, 15, 8),
        utc(2025, 9, 15, 8),
        utc(2026, 2, 15, 8),
    ]


def test_monthly_without_start_time_is_the_first_at_midnight():
    assert ScheduleRecurrence("Month", 1).to_airflow_schedule() == "0 0 1 * *"
    assert ScheduleRecurrence("Month", 3).to_airflow_schedule() == "0 0 1 1,4,7,10 *"


def test_daily_in_berlin_keeps_0900_local_across_the_spring_dst_change():
    recurrence = ScheduleRecurrence("Day", 1, time_of_day="09:00", time_zone="Europe/Berlin")
    assert _cron(recurrence.to_airflow_schedule()) == ("0 9 * * *", "Europe/Berlin")
    runs = recurrence.next_runs(5, berlin(2024, 3, 29, 12))
    assert runs == [
        berlin(2024, 3, 30, 9),
        berlin(2024, 3, 31, 9),
        berlin(2024, 4, 1, 9),
        berlin(2024, 4, 2, 9),
        berlin(2024, 4, 3, 9),
    ]
    # Clocks go forward on 2024-03-31: 09:00 CET is 08:00 UTC, 09:00 CEST is 07:00 UTC.
    assert [run.astimezone(UTC).hour for run in runs] == [8, 7, 7, 7, 7]
    assert all(run.tzinfo == BERLIN for run in runs)


def test_daily_in_berlin_across_the_autumn_dst_change():
    recurrence = ScheduleRecurrence("Day", 1, hours=[9], minutes=[0], time_zone="W. Europe Standard Time")
    runs = recurrence.next_runs(3, datetime(2024, 10, 26, 0, 0))  # naive: read in Berlin time
    assert runs == [berlin(2024, 10, 26, 9), berlin(2024, 10, 27, 9), berlin(2024, 10, 28, 9)]
    assert [run.astimezone(UTC) for run in runs] == [
        utc(2024, 10, 26, 7),
        utc(2024, 10, 27, 8),
        utc(2024, 10, 28, 8),
    ]


def test_hourly_recurrence_in_berlin_is_elapsed_time_across_dst():
    # Every 6 hours from 21:00 CET: the spring-forward hour shifts the local clock, not the runs.
    recurrence = ScheduleRecurrence("Hour", 6, start_time="2024-03-30T21:00:00", time_zone="Europe/Berlin")
    runs = recurrence.next_runs(5, berlin(2024, 3, 30, 20))
    start = utc(2024, 3, 30, 20)  # 21:00 CET
    assert runs == [start + timedelta(hours=6) * k for k in range(5)]
    assert [run.hour for run in runs] == [21, 4, 10, 16, 22]  # local: 21:00 CET, then CEST


def test_windows_pacific_standard_time_across_the_us_dst_change():
    recurrence = ScheduleRecurrence("Day", 1, time_of_day="06:00", time_zone="Pacific Standard Time")
    assert _cron(recurrence.to_airflow_schedule()) == ("0 6 * * *", "America/Los_Angeles")
    runs = recurrence.next_runs(5, los_angeles(2024, 3, 8, 12))
    assert runs == [
        los_angeles(2024, 3, 9, 6),
        los_angeles(2024, 3, 10, 6),
        los_angeles(2024, 3, 11, 6),
        los_angeles(2024, 3, 12, 6),
        los_angeles(2024, 3, 13, 6),
    ]
    # US clocks go forward on 2024-03-10: 06:00 PST is 14:00 UTC, 06:00 PDT is 13:00 UTC.
    assert [run.astimezone(UTC) for run in runs] == [
        utc(2024, 3, 9, 14),
        utc(2024, 3, 10, 13),
        utc(2024, 3, 11, 13),
        utc(2024, 3, 12, 13),
        utc(2024, 3, 13, 13),
    ]


def test_start_time_matching_the_given_hours_does_not_run_v1_rule():
    explicit = ScheduleRecurrence(
        "Day", 1, hours=[9], minutes=[0], start_time="2024-04-01T09:00:00", time_zone="UTC"
    )
    assert explicit.next_runs(3, utc(2024, 3, 1)) == [
        utc(2024, 4, 2, 9),
        utc(2024, 4, 3, 9),
        utc(2024, 4, 4, 9),
    ]
    assert explicit.airflow_start_date == utc(2024, 4, 2, 9)
    from_start = ScheduleRecurrence("Day", 1, start_time="2024-04-01T09:00:00", time_zone="UTC")
    assert from_start.airflow_start_date == utc(2024, 4, 1, 9)
    assert _cron(from_start.to_airflow_schedule()) == ("0 9 * * *", "UTC")
    assert from_start.next_runs(3, utc(2024, 3, 1)) == [
        utc(2024, 4, 1, 9),
        utc(2024, 4, 2, 9),
        utc(2024, 4, 3, 9),
    ]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            dict(
                frequency="Day", interval=3, hours=[8, 20], start_time="2024-01-01T00:00:00", time_zone="UTC"
            ),
            "several run times",
        ),
        (
            dict(
                frequency="Week",
                interval=2,
                week_days=["Monday", "Friday"],
                start_time="2024-01-01T00:00:00",
                time_zone="UTC",
            ),
            "several run times",
        ),
        (
            dict(frequency="Day", interval=3, start_time="2024-01-01T09:00:00", time_zone="Europe/Berlin"),
            "daylight saving",
        ),
        (
            dict(
                frequency="Week",
                interval=2,
                start_time="2024-01-01T09:00:00",
                time_zone="Pacific Standard Time",
            ),
            "daylight saving",
        ),
        (
            dict(frequency="Month", interval=1, start_time="2024-01-31T09:00:00", time_zone="UTC"),
            "from day 31",
        ),
        (
            dict(frequency="Month", interval=5, start_time="2024-01-15T09:00:00", time_zone="Europe/Berlin"),
            "daylight saving",
        ),
        (dict(frequency="Month", interval=5), "needs a start_time"),
        (dict(frequency="Day", interval=3, hours=[9]), "give a start_time"),
    ],
)
def test_recurrences_no_builtin_timetable_fires_exactly_are_refused(kwargs, message):
    recurrence = ScheduleRecurrence(**kwargs)  # valid v1
    with pytest.raises(NotImplementedError, match=message):
        recurrence.to_airflow_schedule()


def test_every_3_days_in_a_zone_without_dst_is_exact():
    tokyo = ZoneInfo("Asia/Tokyo")
    recurrence = ScheduleRecurrence(
        "Day", 3, time_of_day="08:00", start_time="2024-03-01T00:00:00", time_zone="Tokyo Standard Time"
    )
    assert recurrence.next_runs(3, datetime(2024, 3, 1, tzinfo=tokyo)) == [
        datetime(2024, 3, 1, 8, tzinfo=tokyo),
        datetime(2024, 3, 4, 8, tzinfo=tokyo),
        datetime(2024, 3, 7, 8, tzinfo=tokyo),
    ]


def test_dag_kwargs_build_a_dag_that_serializes_with_the_same_timetable():
    from airflow.providers.standard.operators.empty import EmptyOperator
    from airflow.sdk import DAG
    from airflow.serialization.serialized_objects import DagSerialization
    from airflow.timetables.base import TimeRestriction

    recurrence = ScheduleRecurrence(
        "Week", 2, week_days=["Wednesday"], start_time="2024-01-01T10:00:00", time_zone="UTC"
    )
    kwargs = recurrence.dag_kwargs()
    assert kwargs["catchup"] is False
    assert kwargs["start_date"] == utc(2024, 1, 3, 10)
    with DAG("schedule_roundtrip", **kwargs) as dag:
        EmptyOperator(task_id="noop")
    scheduler_dag = DagSerialization.from_dict(DagSerialization.to_dict(dag))
    restriction = TimeRestriction(earliest=scheduler_dag.start_date, latest=None, catchup=True)
    info = scheduler_dag.timetable.next_dagrun_info(
        last_automated_data_interval=None, restriction=restriction
    )
    assert info.run_after == utc(2024, 1, 3, 10)
    info = scheduler_dag.timetable.next_dagrun_info(
        last_automated_data_interval=info.data_interval, restriction=restriction
    )
    assert info.run_after == utc(2024, 1, 17, 10)

    berlin_daily = ScheduleRecurrence("Day", 1, time_of_day="09:00", time_zone="Europe/Berlin")
    with DAG("schedule_roundtrip_berlin", **berlin_daily.dag_kwargs()) as dag:
        EmptyOperator(task_id="noop")
    assert DagSerialization.from_dict(DagSerialization.to_dict(dag)).timetable.summary == "0 9 * * *"


def test_next_runs_arguments():
    recurrence = ScheduleRecurrence("Minute", 15)
    assert recurrence.next_runs(0, utc(2024, 1, 1)) == []
    with pytest.raises(ValueError, match="count"):
        recurrence.next_runs(-1, utc(2024, 1, 1))
    with pytest.raises(TypeError, match="after"):
        recurrence.next_runs(1, "2024-01-01")

"""`ScheduleRecurrence`: v1's recurrence of a published pipeline, as an Airflow schedule.

The constructor, the field names and the validation rules are v1's
(``azureml.pipeline.core.ScheduleRecurrence``); every rule raises ``ValueError`` naming the field.
Plain Python: Airflow is imported only when a timetable is built (``to_timetable()`` and the
methods that use it), so a DAG file pays nothing for a recurrence it does not turn into a schedule.

How v1's times are read
-----------------------
* ``Minute`` and ``Hour`` recurrences are elapsed time: runs are ``start_time + k * interval``,
  whatever the time zone does (a daylight-saving change does not move them on the UTC clock).
* ``Day``, ``Week`` and ``Month`` recurrences are wall-clock times in ``time_zone``: "daily at
  09:00 Europe/Berlin" stays at 09:00 local time across a daylight-saving change.
* The times of day are ``hours`` x ``minutes`` (``time_of_day="hh:mm"`` is one hour and one minute).
  A component that is not given comes from ``start_time`` (its hour, minute, weekday, day of the
  month), or is 0 / Sunday / the 1st when there is no ``start_time``.
* ``Day`` every N days counts days from ``start_time``'s date; ``Week`` every N weeks counts weeks
  (Monday to Sunday) from the week holding ``start_time``; ``Month`` every N months counts months
  from ``start_time``'s month.
* Runs never precede ``start_time`` (a future start means the first run waits). The first run is
  ``start_time`` itself, except when ``hours``/``minutes``/``time_of_day`` are given: then, as v1
  documents, a ``start_time`` that matches them does not run and the first run is the next one.
* ``time_zone`` takes an IANA name (``"Europe/Berlin"``), a v1 Windows name
  (``"Pacific Standard Time"``, see `WINDOWS_TIME_ZONES`) or a v1 ``TimeZone`` enum member. Without
  one the times are UTC, except that v1 sets ``TimeZone.GMTStandardTime`` when a ``start_time`` is
  given: that is the Windows zone of London, so such a schedule follows British Summer Time.
* Without ``start_time`` v1 starts counting when the schedule is created, which a DAG file cannot
  know. The port then counts from the clock grid (midnight UTC, minute 0, the 1st, January) where a
  cron expression can express the recurrence, and from the DAG's start (or the moment it is
  unpaused) where only a `DeltaTriggerTimetable` can.

The Airflow schedule (``to_airflow_schedule()``)
------------------------------------------------
Always the most native schedule that fires at exactly those times; when no built-in Airflow
timetable is exact, ``NotImplementedError`` says why (no approximation is made):

=========================================  =========================================================
v1 recurrence                              Airflow schedule
=========================================  =========================================================
Minute/Hour, interval dividing a day,      cron string on the UTC clock: ``"*/15 * * * *"``,
no start_time, no time_zone                ``"0 */2 * * *"``, ``"0 * * * *"``
Minute/Hour, interval dividing a day,      ``CronTriggerTimetable(cron, timezone="UTC")`` shifted to
with start_time or time_zone               start_time: every 2 h from 09:30 -> ``"30 1-23/2 * * *"``;
                                           when one cron cannot hold the times (every 90 min),
                                           ``MultipleCronTriggerTimetable(..., timezone="UTC")``
Minute/Hour, interval not dividing a day   ``DeltaTriggerTimetable(timedelta(minutes=N))`` anchored
(every 7 min across hours, every 5 h)      on start_time
Day, interval 1                            ``"M1,M2 H1,H2 * * *"`` in time_zone (string only with no
                                           start_time and no time_zone, else CronTriggerTimetable)
Day, interval 7 (with start_time)          ``CronTriggerTimetable("M H * * D", timezone=...)``
Day, other intervals: one time of day      ``DeltaTriggerTimetable(timedelta(days=N))`` anchored on
in a zone without daylight saving          the first run
Week, interval 1                           ``CronTriggerTimetable("M H * * D1,D2", timezone=...)``
Week, interval N > 1: one day, one time,   ``DeltaTriggerTimetable(timedelta(weeks=N))`` anchored on
zone without daylight saving               the first run
Month, interval dividing 12                ``CronTriggerTimetable("M H D m1,m2 *", timezone=...)``
                                           (D and the months from start_time; no start_time:
                                           ``"0 0 1 * *"`` / ``"0 0 1 1,4,7,10 *"``)
Month, other intervals, day <= 28,         ``DeltaTriggerTimetable(relativedelta(months=N))`` anchored
zone without daylight saving               on start_time
Anything else (several times per run       ``NotImplementedError``: Airflow has no built-in timetable
day every N days, every N days or weeks    that fires exactly there (cron cannot count days or weeks
in a zone with daylight saving, monthly    across months; a delta counts UTC time)
on the 29th-31st, seconds that a cron
cannot hold)
=========================================  =========================================================

A plain cron string is returned only when neither ``start_time`` nor ``time_zone`` is given (it
is then read in the DAG's time zone, UTC by default); otherwise the timetable object carries the
zone. Give the DAG ``start_date=recurrence.airflow_start_date`` (``dag_kwargs()`` does): a
`DeltaTriggerTimetable` counts from it, and it keeps runs from preceding ``start_time``.
`next_runs()` asks the resulting Airflow timetable itself (``next_dagrun_info``) for the run times.
Local times that do not exist or exist twice on a daylight-saving day follow Airflow's rules.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

FREQUENCIES = ("Minute", "Hour", "Day", "Week", "Month")
WEEK_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")

#: The zone v1 sets when ``start_time`` is given without ``time_zone`` (``TimeZone.GMTStandardTime``).
V1_DEFAULT_START_TIME_ZONE = "GMT Standard Time"

#: v1 ``TimeZone`` (Windows) names -> IANA names, after the Unicode CLDR ``windowsZones`` table.
WINDOWS_TIME_ZONES = {
    "Dateline Standard Time": "Etc/GMT+12",
    "UTC-11": "Etc/GMT+11",
    "Hawaiian Standard Time": "Pacific/Honolulu",
    "Alaskan Standard Time": "America/Anchorage",
    "UTC-09": "Etc/GMT+9",
    "UTC-08": "Etc/GMT+8",
    "Pacific Standard Time (Mexico)": "America/Tijuana",
    "Pacific Standard Time": "America/Los_Angeles",
    "US Mountain Standard Time": "America/Phoenix",
    "Mountain Standard Time": "America/Denver",
    "Central America Standard Time": "America/Guatemala",
    "Central Standard Time": "America/Chicago",
    "Central Standard Time (Mexico)": "America/Mexico_City",
    "Canada Central Standard Time": "America/Regina",
    "SA Pacific Standard Time": "America/Bogota",
    "Eastern Standard Time": "America/New_York",
    "US Eastern Standard Time": "America/Indiana/Indianapolis",
    "Atlantic Standard Time": "America/Halifax",
    "Venezuela Standard Time": "America/Caracas",
    "SA Western Standard Time": "America/La_Paz",
    "Pacific SA Standard Time": "America/Santiago",
    "Newfoundland Standard Time": "America/St_Johns",
    "E. South America Standard Time": "America/Sao_Paulo",
    "Argentina Standard Time": "America/Argentina/Buenos_Aires",
    "UTC-02": "Etc/GMT+2",
    "Azores Standard Time": "Atlantic/Azores",
    "Cape Verde Standard Time": "Atlantic/Cape_Verde",
    "UTC": "UTC",
    "GMT Standard Time": "Europe/London",
    "Greenwich Standard Time": "Atlantic/Reykjavik",
    "W. Europe Standard Time": "Europe/Berlin",
    "Central Europe Standard Time": "Europe/Budapest",
    "Romance Standard Time": "Europe/Paris",
    "Central European Standard Time": "Europe/Warsaw",
    "W. Central Africa Standard Time": "Africa/Lagos",
    "GTB Standard Time": "Europe/Bucharest",
    "Egypt Standard Time": "Africa/Cairo",
    "South Africa Standard Time": "Africa/Johannesburg",
    "FLE Standard Time": "Europe/Kyiv",
    "Israel Standard Time": "Asia/Jerusalem",
    "Turkey Standard Time": "Europe/Istanbul",
    "Arab Standard Time": "Asia/Riyadh",
    "Russian Standard Time": "Europe/Moscow",
    "E. Africa Standard Time": "Africa/Nairobi",
    "Iran Standard Time": "Asia/Tehran",
    "Arabian Standard Time": "Asia/Dubai",
    "Pakistan Standard Time": "Asia/Karachi",
    "India Standard Time": "Asia/Kolkata",
    "Nepal Standard Time": "Asia/Kathmandu",
    "Bangladesh Standard Time": "Asia/Dhaka",
    "SE Asia Standard Time": "Asia/Bangkok",
    "China Standard Time": "Asia/Shanghai",
    "Singapore Standard Time": "Asia/Singapore",
    "W. Australia Standard Time": "Australia/Perth",
    "Taipei Standard Time": "Asia/Taipei",
    "Tokyo Standard Time": "Asia/Tokyo",
    "Korea Standard Time": "Asia/Seoul",
    "Cen. Australia Standard Time": "Australia/Adelaide",
    "AUS Central Standard Time": "Australia/Darwin",
    "E. Australia Standard Time": "Australia/Brisbane",
    "AUS Eastern Standard Time": "Australia/Sydney",
    "Tasmania Standard Time": "Australia/Hobart",
    "New Zealand Standard Time": "Pacific/Auckland",
    "UTC+12": "Etc/GMT-12",
}
_WINDOWS_BY_LOWER = {name.lower(): iana for name, iana in WINDOWS_TIME_ZONES.items()}

_TIME_OF_DAY = re.compile(r"[0-9]{1,2}:[0-9]{2}")
_MINUTES_PER_DAY = 24 * 60
_JUST_AFTER = timedelta(microseconds=1)
_UTC = timezone.utc


def resolve_time_zone(value: Any) -> str:
    """The IANA name of a v1 ``time_zone``: an IANA name, a Windows name or a ``TimeZone`` member."""
    name = value.value if isinstance(getattr(value, "value", None), str) else value
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"time_zone must be a time zone name such as 'Europe/Berlin', got {value!r}")
    name = name.strip()
    iana = WINDOWS_TIME_ZONES.get(name) or _WINDOWS_BY_LOWER.get(name.lower())
    if iana is not None:
        return iana
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValueError(
            f"time_zone {name!r} is not a known time zone: use an IANA name such as 'Europe/Berlin' "
            f"or one of the v1 Windows names such as 'Pacific Standard Time'"
        ) from None
    return name


@dataclass(frozen=True)
class _RecurrenceSpec:
    """A validated recurrence, every field normalised."""

    frequency: str
    interval: int
    zone_name: str  # IANA
    start: datetime | None  # aware, in zone_name
    hours: tuple[int, ...] | None  # as given (time_of_day included), sorted
    minutes: tuple[int, ...] | None
    week_days: tuple[int, ...] | None  # 0 = Monday


@dataclass(frozen=True)
class _TimetablePlan:
    """The Airflow schedule: cron expressions in a zone, or a delta; and the first allowed run."""

    crons: tuple[str, ...]
    zone_name: str
    delta: Any  # timedelta | relativedelta | None
    first: datetime | None  # cron: earliest run allowed (inclusive); delta: the first run


class ScheduleRecurrence:
    """How often a published pipeline runs: v1's ``ScheduleRecurrence``, as an Airflow schedule.

    :param frequency: ``"Minute"``, ``"Hour"``, ``"Day"``, ``"Week"`` or ``"Month"``.
    :param interval: how many frequency units between runs, an integer >= 1.
    :param start_time: a naive ``datetime`` or an ISO string ``"YYYY-MM-DDThh:mm:ss"``, read in
        ``time_zone``; no run precedes it.
    :param time_zone: an IANA name, a v1 Windows name or a v1 ``TimeZone`` member.
    :param hours: with ``Day`` or ``Week``: the hours (0-23) to run at.
    :param minutes: with ``Day`` or ``Week``: the minutes (0-59) to run at.
    :param week_days: with ``Week``: day names, ``"Monday"`` to ``"Sunday"``.
    :param time_of_day: with ``Day`` or ``Week`` and no ``hours``/``minutes``: ``"hh:mm"``.

    See the module documentation for how these become Airflow schedules.
    """

    def __init__(
        self,
        frequency: str,
        interval: int,
        start_time: datetime | str | None = None,
        time_zone: Any = None,
        hours: Sequence[int] | None = None,
        minutes: Sequence[int] | None = None,
        week_days: Sequence[str] | None = None,
        time_of_day: str | None = None,
    ) -> None:
        self.frequency = frequency
        self.interval = interval
        self.start_time = start_time
        self.time_zone = time_zone
        self.hours = hours
        self.minutes = minutes
        self.week_days = week_days
        self.time_of_day = time_of_day
        self.validate()

    def __repr__(self) -> str:
        fields = ("frequency", "interval", "start_time", "time_zone", "hours", "minutes", "week_days")
        given = [f"{name}={getattr(self, name)!r}" for name in (*fields, "time_of_day")]
        return f"ScheduleRecurrence({', '.join(given)})"

    # -- v1 validation -------------------------------------------------------------------------

    def validate(self) -> None:
        """Check the fields against v1's rules (again, after they were changed); ``ValueError`` if wrong."""
        frequency = self.frequency
        if frequency not in FREQUENCIES:
            raise ValueError(f"frequency must be one of {', '.join(FREQUENCIES)}; got {frequency!r}")
        interval = self.interval
        if isinstance(interval, bool) or not isinstance(interval, int) or interval < 1:
            raise ValueError(f"interval must be an integer greater than 0, got {interval!r}")
        start = _parse_start_time(self.start_time)
        if self.time_zone is not None:
            zone_name = resolve_time_zone(self.time_zone)
        elif start is not None:
            zone_name = resolve_time_zone(V1_DEFAULT_START_TIME_ZONE)
        else:
            zone_name = "UTC"
        if self.time_of_day is not None:
            if frequency not in ("Day", "Week"):
                raise ValueError(
                    f"time_of_day can only be specified when frequency is 'Day' or 'Week', not {frequency!r}"
                )
            if self.hours is not None or self.minutes is not None:
                raise ValueError(
                    "time_of_day cannot be combined with hours or minutes: it is a shorthand for one "
                    "hour and one minute"
                )
            hour, minute = _parse_time_of_day(self.time_of_day)
            hours: tuple[int, ...] | None = (hour,)
            minutes: tuple[int, ...] | None = (minute,)
        else:
            hours = _integers("hours", self.hours, 23, frequency)
            minutes = _integers("minutes", self.minutes, 59, frequency)
        week_days = _week_days(self.week_days, frequency)
        self._spec = _RecurrenceSpec(
            frequency=frequency,
            interval=interval,
            zone_name=zone_name,
            start=None if start is None else start.replace(tzinfo=ZoneInfo(zone_name)),
            hours=hours,
            minutes=minutes,
            week_days=week_days,
        )

    # -- the Airflow schedule ------------------------------------------------------------------

    def to_timetable(self) -> Any:
        """The Airflow timetable (``airflow.sdk``) that fires at this recurrence's times."""
        from airflow.sdk import CronTriggerTimetable, DeltaTriggerTimetable, MultipleCronTriggerTimetable

        plan = self._plan()
        if plan.delta is not None:
            return DeltaTriggerTimetable(plan.delta)
        if len(plan.crons) == 1:
            return CronTriggerTimetable(plan.crons[0], timezone=plan.zone_name)
        return MultipleCronTriggerTimetable(*plan.crons, timezone=plan.zone_name)

    def to_airflow_schedule(self) -> str | Any:
        """The DAG's ``schedule``: a cron string when that is exact and needs no zone, else a timetable.

        See the module documentation for the mapping. ``NotImplementedError`` when no built-in
        Airflow timetable fires at exactly this recurrence's times.
        """
        plan = self._plan()
        if plan.delta is None and len(plan.crons) == 1 and self.start_time is None and self.time_zone is None:
            return plan.crons[0]
        return self.to_timetable()

    @property
    def airflow_start_date(self) -> datetime | None:
        """The DAG's ``start_date`` (aware), or None without ``start_time``.

        ``start_time``, or the first run when that is later: a delta timetable counts from its
        first run, and v1 skips a ``start_time`` that matches the given hours and minutes.
        """
        plan = self._plan()
        start = self._spec.start
        if plan.delta is None and plan.first is not None and plan.first != start:
            runs = self.next_runs(1, plan.first)
            return runs[0] if runs else plan.first
        return plan.first

    def dag_kwargs(self) -> dict[str, Any]:
        """``schedule``, ``start_date`` and ``catchup=False`` (v1 does not run missed times) for a DAG.

        Where v1 and Airflow differ, it is only when the DAG is first unpaused after a past
        ``start_time``: with a cron timetable Airflow runs the latest missed time at once (v1 waits
        for the next), and a delta timetable starts its grid at that moment (v1 keeps
        ``start_time``'s grid). From then on, and with a future ``start_time``, the runs are v1's.
        """
        kwargs: dict[str, Any] = {"schedule": self.to_airflow_schedule(), "catchup": False}
        start_date = self.airflow_start_date
        if start_date is not None:
            kwargs["start_date"] = start_date
        return kwargs

    def next_runs(self, count: int, after: datetime) -> list[datetime]:
        """The next ``count`` run times strictly after ``after``, asked of the Airflow timetable itself.

        ``after`` may be naive (read in the recurrence's time zone) or aware. The times come back
        aware, in the recurrence's time zone. Airflow's ``next_dagrun_info`` computes every one,
        the way the scheduler does with ``start_date=airflow_start_date`` and no missed runs. A
        delta timetable without ``start_time`` counts from ``after`` (the schedule is taken as
        created then, its immediate first run already made).
        """
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise ValueError(f"count must be an integer >= 0, got {count!r}")
        if not isinstance(after, datetime):
            raise TypeError(f"after must be a datetime, got {after!r}")
        import pendulum
        from airflow.serialization.encoders import coerce_to_core_timetable
        from airflow.timetables.base import DataInterval, TimeRestriction

        plan = self._plan()
        zone = ZoneInfo(self._spec.zone_name)
        after_utc = (after if after.tzinfo is not None else after.replace(tzinfo=zone)).astimezone(_UTC)
        timetable = coerce_to_core_timetable(self.to_timetable())

        def instant(moment: datetime) -> Any:
            return pendulum.instance(moment.astimezone(_UTC))

        last = None
        if plan.delta is None:
            earliest = after_utc + _JUST_AFTER
            if plan.first is not None:
                earliest = max(earliest, plan.first.astimezone(_UTC))
        else:
            earliest = (plan.first or after_utc).astimezone(_UTC)
            if earliest <= after_utc:
                previous = _last_at_or_before(earliest, plan.delta, after_utc)
                last = DataInterval(instant(previous), instant(previous))
        restriction = TimeRestriction(earliest=instant(earliest), latest=None, catchup=True)
        runs: list[datetime] = []
        while len(runs) < count:
            info = timetable.next_dagrun_info(last_automated_data_interval=last, restriction=restriction)
            if info is None:
                break
            runs.append(_plain(info.run_after).astimezone(zone))
            last = info.data_interval
        return runs

    # -- v1 times -> cron or delta ---------------------------------------------------------------

    def _plan(self) -> _TimetablePlan:
        self.validate()
        spec = self._spec
        if spec.frequency in ("Minute", "Hour"):
            return _elapsed_plan(spec)
        return _calendar_plan(spec)


def _elapsed_plan(spec: _RecurrenceSpec) -> _TimetablePlan:
    """Minute and Hour: ``start + k * period`` on the UTC clock."""
    period = spec.interval * (1 if spec.frequency == "Minute" else 60)
    start = spec.start
    whole_minute = start is None or (start.second == 0 and start.microsecond == 0)
    if _MINUTES_PER_DAY % period == 0 and whole_minute:
        phase = 0
        if start is not None:
            utc = start.astimezone(_UTC)
            phase = utc.hour * 60 + utc.minute
        return _TimetablePlan(_day_cycle_crons(phase, period), "UTC", None, start)
    return _TimetablePlan((), "UTC", timedelta(minutes=period), start)


def _calendar_plan(spec: _RecurrenceSpec) -> _TimetablePlan:
    """Day, Week and Month: wall-clock times in the zone."""
    zone = ZoneInfo(spec.zone_name)
    start = spec.start
    explicit_time = spec.hours is not None or spec.minutes is not None
    hours = spec.hours or ((start.hour,) if start else (0,))
    minutes = spec.minutes or ((start.minute,) if start else (0,))
    whole_minute = explicit_time or start is None or (start.second == 0 and start.microsecond == 0)
    first = None if start is None else (start + _JUST_AFTER if explicit_time else start)
    n = spec.interval
    clock = f"{_field(minutes, 60)} {_field(hours, 24)}"

    def cron(expression: str) -> _TimetablePlan:
        return _TimetablePlan((expression,), spec.zone_name, None, first)

    if spec.frequency == "Day":
        if whole_minute and n == 1:
            return cron(f"{clock} * * *")
        if whole_minute and n == 7 and start is not None:
            return cron(f"{clock} * * {_cron_weekday(start.weekday())}")
        return _calendar_delta(spec, zone, timedelta(days=n), n, (0,), hours, minutes, first)

    if spec.frequency == "Week":
        days = spec.week_days or ((start.weekday(),) if start else (6,))
        if whole_minute and n == 1:
            return cron(f"{clock} * * {','.join(str(_cron_weekday(day)) for day in days)}")
        return _calendar_delta(spec, zone, timedelta(weeks=n), 7 * n, days, hours, minutes, first)

    # Month
    day = start.day if start else 1
    if day > 28:
        raise NotImplementedError(
            f"{_describe(spec)}: a monthly recurrence from day {day} of the month is not exact in Airflow "
            "(v1's service decides what happens in months without that day); start on day 1-28"
        )
    if start is None and 12 % n == 0:
        return cron(f"0 0 1 {_months(1, n)} *")
    if start is not None and whole_minute and 12 % n == 0:
        return cron(f"{start.minute} {start.hour} {day} {_months(start.month, n)} *")
    if start is None:
        raise NotImplementedError(
            f"{_describe(spec)}: every {n} months needs a start_time to count months from"
        )
    utc = start.astimezone(_UTC)
    if not _has_fixed_offset(zone, start.year) or utc.day > 28 or utc.month != start.month:
        raise NotImplementedError(
            f"{_describe(spec)}: every {n} months is exact in Airflow only as a UTC delta, so only in a "
            "time zone without daylight saving and where start_time is on the same day 1-28 in UTC"
        )
    from dateutil.relativedelta import relativedelta

    return _TimetablePlan((), spec.zone_name, relativedelta(months=n), start)


def _calendar_delta(
    spec: _RecurrenceSpec,
    zone: ZoneInfo,
    delta: timedelta,
    step_days: int,
    days: tuple[int, ...],
    hours: tuple[int, ...],
    minutes: tuple[int, ...],
    first: datetime | None,
) -> _TimetablePlan:
    """Every N days or weeks: one time per period, as a delta anchored on the first run."""
    what = _describe(spec)
    if len(days) * len(hours) * len(minutes) > 1:
        raise NotImplementedError(
            f"{what}: several run times every {spec.interval} {spec.frequency.lower()}s cannot be one "
            "Airflow timetable (cron cannot count days or weeks across months, a delta holds one time); "
            "make one DAG per run time or use frequency 'Day' with interval 1 or 'Week' with interval 1"
        )
    start = spec.start
    if not _has_fixed_offset(zone, start.year if start else datetime.now(_UTC).year):
        raise NotImplementedError(
            f"{what}: every {spec.interval} {spec.frequency.lower()}s at a wall-clock time in "
            f"{spec.zone_name!r}, which has daylight saving, is not exact in Airflow (a delta counts UTC "
            "time); use a time zone without daylight saving (e.g. 'UTC') or interval 1"
        )
    if start is None:
        if spec.hours is not None or spec.minutes is not None or spec.week_days is not None:
            raise NotImplementedError(
                f"{what}: give a start_time to count the {spec.frequency.lower()}s from"
            )
        return _TimetablePlan((), spec.zone_name, delta, None)
    assert first is not None
    at = time(hours[0], minutes[0])
    if spec.hours is None and spec.minutes is None:
        at = start.timetz().replace(tzinfo=None)
    period_start = start.date() - timedelta(days=start.weekday() if spec.frequency == "Week" else 0)
    k = 0
    while True:
        day = period_start + timedelta(days=step_days * k + days[0])
        run = datetime.combine(day, at, tzinfo=zone)
        if run >= first:
            return _TimetablePlan((), spec.zone_name, delta, run)
        k += 1


# -- helpers -----------------------------------------------------------------------------------


def _parse_start_time(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError:
            raise ValueError(
                f"start_time must be a datetime or an ISO string 'YYYY-MM-DDThh:mm:ss', got {value!r}"
            ) from None
    else:
        raise ValueError(
            f"start_time must be a datetime or an ISO string 'YYYY-MM-DDThh:mm:ss', got {value!r}"
        )
    if moment.tzinfo is not None:
        raise ValueError(
            f"start_time must not carry a time zone ({value!r}); give the local time and pass time_zone"
        )
    return moment


def _parse_time_of_day(value: Any) -> tuple[int, int]:
    if not isinstance(value, str) or not _TIME_OF_DAY.fullmatch(value):
        raise ValueError(f"time_of_day must be a string in the form hh:mm, got {value!r}")
    hour, minute = (int(part) for part in value.split(":"))
    if hour > 23:
        raise ValueError(f"time_of_day hour must be between 0 and 23, got {value!r}")
    if minute > 59:
        raise ValueError(f"time_of_day minute must be between 0 and 59, got {value!r}")
    return hour, minute


def _integers(field: str, value: Any, top: int, frequency: str) -> tuple[int, ...] | None:
    if value is None:
        return None
    if frequency not in ("Day", "Week"):
        raise ValueError(
            f"{field} can only be specified when frequency is 'Day' or 'Week', not {frequency!r}"
        )
    if not isinstance(value, (list, tuple, set, frozenset)):
        raise ValueError(f"{field} must be a list of integers from 0 to {top}, got {value!r}")
    if not value:
        raise ValueError(f"{field} must not be empty")
    for item in value:
        if isinstance(item, bool) or not isinstance(item, int) or not 0 <= item <= top:
            raise ValueError(f"{field} must be integers between 0 and {top}, got {item!r}")
    return tuple(sorted(set(value)))


def _week_days(value: Any, frequency: str) -> tuple[int, ...] | None:
    if value is None:
        return None
    if frequency != "Week":
        raise ValueError(f"week_days can only be specified when frequency is 'Week', not {frequency!r}")
    if not isinstance(value, (list, tuple, set, frozenset)):
        raise ValueError(f"week_days must be a list of day names (Monday to Sunday), got {value!r}")
    if not value:
        raise ValueError("week_days must not be empty")
    for item in value:
        if item not in WEEK_DAYS:
            raise ValueError(f"week_days must be names from {', '.join(WEEK_DAYS)}; got {item!r}")
    return tuple(sorted({WEEK_DAYS.index(item) for item in value}))


def _describe(spec: _RecurrenceSpec) -> str:
    return f"ScheduleRecurrence(frequency={spec.frequency!r}, interval={spec.interval})"


def _field(values: Sequence[int], size: int) -> str:
    """A cron field for ``values`` out of ``0..size-1``: ``*``, ``*/N``, ``A-B/N`` or a list."""
    values = sorted(set(values))
    if len(values) == size:
        return "*"
    if len(values) == 1:
        return str(values[0])
    step = values[1] - values[0]
    steady = all(b - a == step for a, b in zip(values, values[1:], strict=False))
    if steady and size % step == 0 and len(values) == size // step:
        # Short lists read better as lists: "0,30 8,20" rather than "*/30 8-23/12".
        if values[0] == 0 and len(values) >= 3:
            return f"*/{step}"
        if len(values) >= 4:
            return f"{values[0]}-{size - 1}/{step}"
    return ",".join(str(value) for value in values)


def _day_cycle_crons(phase: int, period: int) -> tuple[str, ...]:
    """Crons (UTC) firing at ``phase + k * period`` minutes of every day; ``period`` divides a day."""
    marks = {(phase + k * period) % _MINUTES_PER_DAY for k in range(_MINUTES_PER_DAY // period)}
    hours_by_minute: dict[int, set[int]] = {}
    for mark in marks:
        hours_by_minute.setdefault(mark % 60, set()).add(mark // 60)
    minutes_by_hours: dict[tuple[int, ...], list[int]] = {}
    for minute, hours in sorted(hours_by_minute.items()):
        minutes_by_hours.setdefault(tuple(sorted(hours)), []).append(minute)
    groups = sorted(minutes_by_hours.items(), key=lambda item: (item[0][0], item[1][0]))
    return tuple(f"{_field(minutes, 60)} {_field(hours, 24)} * * *" for hours, minutes in groups)


def _cron_weekday(day: int) -> int:
    """Python's weekday (0 = Monday) as cron's (0 = Sunday)."""
    return (day + 1) % 7


def _months(first_month: int, interval: int) -> str:
    if interval == 1:
        return "*"
    months = sorted({(first_month - 1 + k * interval) % 12 + 1 for k in range(12 // interval)})
    return ",".join(str(month) for month in months)


def _has_fixed_offset(zone: ZoneInfo, from_year: int) -> bool:
    """Whether ``zone`` keeps one UTC offset for 50 years from ``from_year`` (no daylight saving)."""
    offsets = {
        datetime(year, month, day, 12, tzinfo=zone).utcoffset()
        for year in range(from_year, from_year + 50)
        for month in range(1, 13)
        for day in (1, 15)
    }
    return len(offsets) == 1


def _last_at_or_before(anchor: datetime, delta: Any, moment: datetime) -> datetime:
    """The last ``anchor + k * delta`` (k >= 0) at or before ``moment`` (which is >= ``anchor``)."""
    if isinstance(delta, timedelta):
        return anchor + delta * ((moment - anchor) // delta)
    k = 0
    while anchor + delta * (k + 1) <= moment:
        k += 1
    return anchor + delta * k


def _plain(moment: datetime) -> datetime:
    """A pendulum time as a plain aware ``datetime`` in UTC."""
    utc = moment.astimezone(_UTC)
    return datetime(
        utc.year, utc.month, utc.day, utc.hour, utc.minute, utc.second, utc.microsecond, tzinfo=_UTC
    )


__all__ = ["FREQUENCIES", "WEEK_DAYS", "WINDOWS_TIME_ZONES", "ScheduleRecurrence", "resolve_time_zone"]

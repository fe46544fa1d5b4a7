"""When a cache or a materialized query refreshes next: Peaka's schedules, parsed and checked.

- A table's schedule is `{"type": "BASIC", "expression": "PT6H"}` (an ISO-8601 duration) or
  `{"type": "NONE"}`.
- A materialized query's is `{"type": "interval", "repeatDuration": "PT6H"}`,
  `{"type": "cron", "cronExpression": "0 0 * * *", "timezone": "UTC"}` or `{"type": "none"}`.

A schedule's first run comes one period after it is set; `next_run(schedule, after)` is the
first time past `after`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from parley.errors import BadRequest

DURATION = re.compile(
    r"^P(?:(?P<weeks>\d+)W)?(?:(?P<days>\d+)D)?"
    r"(?:T(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+(?:\.\d+)?)S)?)?$"
)
MIN_PERIOD = timedelta(minutes=1)
MAX_PERIOD = timedelta(days=366)


class InvalidSchedule(BadRequest):
    error_code = "INVALID_SCHEDULE"


def parse_duration(text: str) -> timedelta:
    """An ISO-8601 duration of weeks, days, hours, minutes and seconds (`PT15M`, `P1D`)."""
    found = DURATION.match(text.strip().upper()) if isinstance(text, str) else None
    if found is None or text.strip().upper() in ("P", "PT") or text.strip().upper().endswith("T"):
        raise InvalidSchedule(f"{text!r} is not an ISO-8601 duration such as PT15M, PT6H or P1D")
    parts = {k: float(v) for k, v in found.groupdict().items() if v is not None}
    period = timedelta(**parts)
    if not MIN_PERIOD <= period <= MAX_PERIOD:
        raise InvalidSchedule(f"a schedule's period must be between 1 minute and 366 days: {text}")
    return period


@dataclass(frozen=True)
class Cron:
    """A UNIX cron expression: minute hour day-of-month month day-of-week."""

    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday
    any_day: bool
    any_weekday: bool
    zone: ZoneInfo

    @classmethod
    def parse(cls, text: str, timezone: str | None) -> Cron:
        fields = text.split() if isinstance(text, str) else []
        if len(fields) != 5:
            raise InvalidSchedule(
                f"{text!r} is not a cron expression of 5 fields (minute hour day month weekday)"
            )
        try:
            zone = ZoneInfo(timezone or "UTC")
        except (ZoneInfoNotFoundError, ValueError) as err:
            raise InvalidSchedule(f"unknown timezone {timezone!r}") from err
        ranges = [(0, 59), (0, 23), (1, 31), (1, 12), (0, 7)]
        sets = [_cron_field(f, lo, hi, text) for f, (lo, hi) in zip(fields, ranges, strict=True)]
        weekdays = frozenset(d % 7 for d in sets[4])
        return cls(
            sets[0], sets[1], sets[2], sets[3], weekdays, fields[2] == "*", fields[4] == "*", zone
        )

    def _day_matches(self, when: datetime) -> bool:
        in_month = when.day in self.days
        in_week = (when.isoweekday() % 7) in self.weekdays
        if self.any_day or self.any_weekday:  # cron: both restricted means either matches
            return in_month and in_week
        return in_month or in_week

    def next_after(self, after: datetime) -> datetime:
        when = after.astimezone(self.zone).replace(second=0, microsecond=0) + timedelta(minutes=1)
        limit = when + timedelta(days=366 * 5)
        while when < limit:
            if when.month not in self.months or not self._day_matches(when):
                when = (when + timedelta(days=1)).replace(hour=0, minute=0)
                continue
            if when.hour not in self.hours:
                when = (when + timedelta(hours=1)).replace(minute=0)
                continue
            if when.minute not in self.minutes:
                when += timedelta(minutes=1)
                continue
            return when.astimezone(after.tzinfo)
        raise InvalidSchedule("this cron expression never fires")


def _cron_field(field: str, lo: int, hi: int, text: str) -> frozenset[int]:
    values: set[int] = set()
    for part in field.split(","):
        step = 1
        if "/" in part:
            part, _, raw_step = part.partition("/")
            if not raw_step.isdigit() or int(raw_step) < 1:
                raise InvalidSchedule(f"bad step in cron expression {text!r}")
            step = int(raw_step)
        if part == "*":
            start, end = lo, hi
        elif "-" in part:
            a, _, b = part.partition("-")
            if not (a.isdigit() and b.isdigit()):
                raise InvalidSchedule(f"bad range in cron expression {text!r}")
            start, end = int(a), int(b)
        elif part.isdigit():
            start = end = int(part)
            if step != 1:
                end = hi
        else:
            raise InvalidSchedule(f"cron expression {text!r}: {part!r} is not a number")
        if not lo <= start <= end <= hi:
            raise InvalidSchedule(f"cron expression {text!r}: {field} is out of {lo}-{hi}")
        values.update(range(start, end + 1, step))
    return frozenset(values)


def table_schedule(raw: dict[str, Any] | None) -> dict[str, Any] | None:
    """A table cache's schedule as stored (checked), or None for none."""
    if raw is None:
        return None
    kind = str(raw.get("type") or "").upper()
    if kind == "NONE":
        return None
    if kind != "BASIC":
        raise InvalidSchedule("a schedule's type is BASIC or NONE")
    expression = raw.get("expression")
    if not isinstance(expression, str):
        raise InvalidSchedule("a BASIC schedule needs an expression such as PT6H")
    parse_duration(expression)
    return {"type": "BASIC", "expression": expression.strip().upper()}


def query_schedule(raw: dict[str, Any] | None) -> dict[str, Any] | None:
    """A materialized query's schedule as stored (checked), or None for none."""
    if raw is None:
        return None
    kind = str(raw.get("type") or "").lower()
    if kind == "none":
        return None
    if kind == "interval":
        duration = raw.get("repeatDuration")
        if not isinstance(duration, str):
            raise InvalidSchedule("an interval schedule needs a repeatDuration such as PT6H")
        parse_duration(duration)
        return {"type": "interval", "repeatDuration": duration.strip().upper()}
    if kind == "cron":
        expression, zone = raw.get("cronExpression"), raw.get("timezone")
        if not isinstance(expression, str) or (zone is not None and not isinstance(zone, str)):
            raise InvalidSchedule("a cron schedule needs a cronExpression such as '0 0 * * *'")
        Cron.parse(expression, zone)
        return {"type": "cron", "cronExpression": expression.strip(), "timezone": zone or "UTC"}
    raise InvalidSchedule("a schedule's type is interval, cron or none")


def next_run(schedule: dict[str, Any] | None, after: datetime) -> datetime | None:
    """The first time a stored schedule fires after `after`; None for no schedule."""
    if schedule is None:
        return None
    if schedule["type"] == "cron":
        return Cron.parse(schedule["cronExpression"], schedule.get("timezone")).next_after(after)
    return after + parse_duration(schedule.get("expression") or schedule["repeatDuration"])


def period(schedule: dict[str, Any] | None) -> timedelta | None:
    """How long a copy on this schedule stays fresh; None when it has no period."""
    if schedule is None or schedule["type"] == "cron":
        return None
    return parse_duration(schedule.get("expression") or schedule["repeatDuration"])

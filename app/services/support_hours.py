"""When the support team is there: SUPPORT_HOURS in SUPPORT_TIMEZONE, read once at start.

The format is one or more periods separated by ";", each days then hours:

    Mon-Fri 08:00-18:00; Sat 09:00-13:00
    Mon,Wed,Fri 10:00-16:00

Days are Mon Tue Wed Thu Fri Sat Sun, as a range (Mon-Fri), a list (Mon,Wed) or both;
hours are HH:MM-HH:MM on the 24-hour clock, the end after the start (24:00 is midnight at
the end of the day). Empty means always staffed. Times are in SUPPORT_TIMEZONE, an IANA
name (zoneinfo), so a daylight-saving change moves the hours with the local clock.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_PERIOD = re.compile(r"(?P<days>[A-Za-z,\- ]+?)\s+(?P<start>\d{1,2}:\d{2})\s*-\s*(?P<end>\d{1,2}:\d{2})")


@dataclass(frozen=True)
class Period:
    """Some weekdays (0 = Monday), from `start` to `end` minutes after midnight."""

    days: frozenset[int]
    start: int
    end: int


class SupportHours:
    """The team's opening hours; `is_open(moment)` and `next_opening(moment)`."""

    def __init__(self, periods: tuple[Period, ...], zone: ZoneInfo) -> None:
        self.periods = periods
        self.zone = zone

    @classmethod
    def parse(cls, spec: str, timezone_name: str) -> SupportHours:
        """Read SUPPORT_HOURS and SUPPORT_TIMEZONE; raise ValueError, naming the setting, when either is wrong."""
        try:
            zone = ZoneInfo(timezone_name.strip() or "UTC")
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"SUPPORT_TIMEZONE must be an IANA time zone such as Europe/London, got {timezone_name!r}")
        periods = tuple(parse_period(part.strip()) for part in spec.split(";") if part.strip())
        return cls(periods, zone)

    @property
    def always_open(self) -> bool:
        """Return whether no hours are set: someone is always there."""
        return not self.periods

    def is_open(self, moment: datetime) -> bool:
        """Return whether the team is there at a (timezone-aware) moment."""
        if self.always_open:
            return True
        local = moment.astimezone(self.zone)
        minute = local.hour * 60 + local.minute
        return any(local.weekday() in p.days and p.start <= minute < p.end for p in self.periods)

    def next_opening(self, moment: datetime) -> datetime | None:
        """Return when the team is next there after a moment, in SUPPORT_TIMEZONE; None when always open."""
        if self.always_open:
            return None
        local = moment.astimezone(self.zone)
        for ahead in range(8):
            day = local.date() + timedelta(days=ahead)
            starts = sorted(p.start for p in self.periods if day.weekday() in p.days)
            for start in starts:
                opening = datetime.combine(day, time(start // 60, start % 60), tzinfo=self.zone)
                if opening > local:
                    return opening
        return None  # unreachable with at least one period: every weekday recurs within 8 days


def parse_period(text: str) -> Period:
    """Read one period, such as "Mon-Fri 08:00-18:00"."""
    match = _PERIOD.fullmatch(text)
    if match is None:
        raise ValueError(f'SUPPORT_HOURS: "{text}" is not "<days> HH:MM-HH:MM", e.g. "Mon-Fri 08:00-18:00"')
    start, end = minutes(match["start"]), minutes(match["end"])
    if not 0 <= start < end <= 24 * 60:
        raise ValueError(f'SUPPORT_HOURS: in "{text}" the hours must run forwards within one day (00:00-24:00)')
    return Period(parse_days(match["days"], text), start, end)


def parse_days(text: str, period: str) -> frozenset[int]:
    """Read "Mon-Fri", "Sat" or "Mon,Wed,Fri" into weekday numbers."""
    days: set[int] = set()
    for part in text.replace(" ", "").lower().split(","):
        first, _, last = part.partition("-")
        if first not in DAYS or (last and last not in DAYS):
            raise ValueError(f'SUPPORT_HOURS: in "{period}" days are Mon, Tue, Wed, Thu, Fri, Sat, Sun')
        low, high = DAYS.index(first), DAYS.index(last or first)
        days.update(range(low, high + 1) if low <= high else [*range(low, 7), *range(0, high + 1)])
    return frozenset(days)


def minutes(clock: str) -> int:
    """Return the minutes after midnight of "HH:MM"."""
    hours, _, mins = clock.partition(":")
    if int(mins) >= 60:
        raise ValueError(f"SUPPORT_HOURS: {clock} is not a time of day")
    return int(hours) * 60 + int(mins)

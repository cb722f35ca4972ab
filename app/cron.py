"""Cron expressions (`0 4 * * *`) as the keyword sets arq's `cron()` takes (checked when settings are read)."""

from __future__ import annotations

# (arq keyword, lowest, highest) for the five cron fields, in order.
_FIELDS = (("minute", 0, 59), ("hour", 0, 23), ("day", 1, 31), ("month", 1, 12), ("weekday", 0, 7))


class ScheduleError(ValueError):
    """The expression is not a five-field cron expression."""


def _values(field: str, low: int, high: int) -> set[int]:
    values: set[int] = set()
    for part in field.split(","):
        base, _, step_text = part.partition("/")
        step = int(step_text) if step_text else 1
        if base == "*":
            start, stop = low, high
        elif "-" in base:
            first, last = base.split("-", 1)
            start, stop = int(first), int(last)
        else:
            start = int(base)
            stop = high if step_text else start
        if not (low <= start <= stop <= high) or step < 1:
            raise ScheduleError(f"{part!r} is outside {low}-{high}")
        values.update(range(start, stop + 1, step))
    return values


def parse_cron(expression: str) -> dict[str, set[int]]:
    """arq cron keywords for a cron expression (UTC); `*` fields are left out (every value)."""
    fields = expression.split()
    if len(fields) != 5:
        raise ScheduleError(f"{expression!r}: expected five fields (minute hour day month weekday)")
    schedule: dict[str, set[int]] = {}
    try:
        for text, (name, low, high) in zip(fields, _FIELDS, strict=True):
            if text == "*":
                continue
            values = _values(text, low, high)
            if name == "weekday":
                # cron: 0 and 7 are Sunday, 1 Monday; arq follows Python: 0 Monday ... 6 Sunday.
                values = {(v - 1) % 7 for v in values}
            schedule[name] = values
    except ValueError as error:
        raise ScheduleError(f"{expression!r}: {error}") from None
    return schedule

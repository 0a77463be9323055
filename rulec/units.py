"""Resource units, shared by the Rulefile, profiles and the command line. Pure.

Memory: "4G", "500M", "1.5T", "100K" (an optional "B" or "iB" after the unit), or a bare
number of megabytes. Time: "30m", "2h", "1d", "1h30m", "45s", "[D-]HH:MM[:SS]", or a bare
number of minutes (as SLURM reads one).
"""

from __future__ import annotations

from .lazyre import Lazy

_MEM = Lazy(r"(\d+(?:\.\d+)?)\s*([KkMmGgTt])(?:i?[Bb])?")
_MEM_UNITS = {"K": 1 / 1024, "M": 1, "G": 1024, "T": 1024 * 1024}
_CLOCK = Lazy(r"(?:(\d+)-)?(\d+):(\d{1,2})(?::(\d{1,2}))?")
_UNITS = Lazy(r"(?:\d+[smhd])+")
_UNIT = Lazy(r"(\d+)([smhd])")
_TIME_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_mem(value) -> int | None:
    """Megabytes, or None when ``value`` is not a memory size."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return int(value) if value >= 0 else None
    if not isinstance(value, str):
        return None
    m = _MEM.fullmatch(value.strip())
    if not m:
        return None
    return max(int(round(float(m.group(1)) * _MEM_UNITS[m.group(2).upper()])), 1)


def parse_time(value) -> int | None:
    """Seconds, or None when ``value`` is not a duration."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return int(value * 60) if value >= 0 else None
    if not isinstance(value, str):
        return None
    text = value.strip()
    m = _CLOCK.fullmatch(text)
    if m:
        days = int(m.group(1) or 0)
        h, mi, s = int(m.group(2)), int(m.group(3)), int(m.group(4) or 0)
        if mi >= 60 or s >= 60:
            return None
        return ((days * 24 + h) * 60 + mi) * 60 + s
    if text and _UNITS.fullmatch(text):
        return sum(int(n) * _TIME_UNITS[u] for n, u in _UNIT.findall(text))
    return None

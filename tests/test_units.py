import pytest

from rulec.units import parse_mem, parse_time


@pytest.mark.parametrize("text, mb", [
    ("4G", 4096), ("500M", 500), ("1.5G", 1536), ("2T", 2 * 1024 * 1024), ("512K", 1), ("16GB", 16384),
    ("8GiB", 8192), (" 4g ", 4096), (100, 100), ("4X", None), ("G", None), ("-1G", None), (True, None), (-5, None),
])
def test_memory(text, mb):
    assert parse_mem(text) == mb


@pytest.mark.parametrize("text, seconds", [
    ("30m", 1800), ("2h", 7200), ("1d", 86400), ("1h30m", 5400), ("45s", 45), ("01:30:00", 5400),
    ("1-00:00:00", 86400), ("10:30", 37800), (30, 1800), ("1:60:00", None), ("30x", None), ("", None), (False, None),
])
def test_time(text, seconds):
    assert parse_time(text) == seconds

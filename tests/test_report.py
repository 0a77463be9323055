"""report.py: words for plans and runs; what reaches the terminal is safe to print."""

from __future__ import annotations

from rulec import report
from rulec.plan import Reason, Why


def test_shown_escapes_control_characters_and_masks_passwords():
    assert report.shown("fit[a\x1b[2Jb]") == "fit[a\\x1b[2Jb]"
    assert report.shown("x\ntouch PWNED\n.txt") == "x\\ntouch PWNED\\n.txt"
    assert report.shown("a\tb\rc\x7f\x85") == "a\\tb\\rc\\x7f\\x85"
    assert report.shown("ftp://user:pw@host/x") == "ftp://user:***@host/x"
    assert report.shown("données/été.csv") == "données/été.csv"  # printable text is kept
    assert report.shown("") == ""


def test_reason_text_shows_paths_safely():
    text = report.reason_text(Reason(Why.OUTPUT_MISSING, "s3://key:secret@bucket/a\x1bb"))
    assert text == "output missing: s3://key:***@bucket/a\\x1bb"
    assert "secret" not in report.reason_text(Reason(Why.INPUT_NEWER, "https://u:secret@h/x"))


def test_warnings_mask_passwords(capsys):
    report.warn("could not reach ftp://me:hunter2@example.org/data")
    err = capsys.readouterr().err
    assert "hunter2" not in err and "ftp://me:***@example.org/data" in err

"""Characters that cannot go into a scheduler option (analyze.py checks labels, profile.py
profiles): a module of its own, so the analyzer does not import the profile reader."""

from __future__ import annotations

from .lazyre import Lazy

# What cannot go into a scheduler option: every option becomes (part of) one directive line
# (``#SBATCH ...``, ``#BSUB ...``) or one word of a shell command, and a newline would start a
# line of its own: a directive, or a command of the job script. Control characters (C0, DEL,
# C1) and the Unicode line and paragraph separators are refused, in the Rulefile's labels
# (analyze.py) and in profiles (profile.py).
CONTROL = Lazy("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_CHAR_NAMES = {"\n": "a newline", "\r": "a carriage return", "\t": "a tab", "\x00": "a NUL character"}


def control_char(text: str) -> int:
    """The index of the first control character (newline, tab, ESC, ...) in ``text``, else -1."""
    m = CONTROL.search(text)
    return m.start() if m else -1


def describe_char(ch: str) -> str:
    """``"a newline"``, ``"a tab"``, ``"the control character U+001B"``."""
    return _CHAR_NAMES.get(ch, f"the control character U+{ord(ch):04X}")

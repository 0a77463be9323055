"""Errors: one class per phase, each with an exit status and (where there is one) a span."""

from __future__ import annotations

from .lazyre import Lazy

from .source import Span, render

EXIT_OK = 0
EXIT_JOB_FAILED = 1
EXIT_USAGE = 2  # a bad Rulefile, bad arguments, a bad state store: nothing was run
EXIT_INTERRUPTED = 130


class RulecError(Exception):
    """An error for the user: a message, an optional source span, an exit status."""

    exit_code = EXIT_USAGE
    phase = "error"

    def __init__(self, message: str, span: Span | None = None, hint: str | None = None):
        message = mask_secrets(message)
        super().__init__(message)
        self.message = message
        self.span = span
        self.hint = mask_secrets(hint) if hint else hint

    def render(self) -> str:
        # The source line shown under the message may hold a password in a URL too.
        text = mask_secrets(render(self.span, self.message))
        if self.hint:
            text += f"\n  hint: {self.hint}"
        return text

    def __str__(self) -> str:
        return self.render()


def brief(exc: BaseException) -> str:
    """An exception in one line, for a message: its first line, at most 300 characters,
    passwords in URLs masked."""
    return mask_secrets((str(exc) or type(exc).__name__).splitlines()[0])[:300]


# scheme://user:password@host: the password runs to the last '@' before the host, which ends
# at a '/', a blank, a quote or the end of the text (S3 secret keys may hold '/').
_USERINFO = Lazy(r"""([A-Za-z][A-Za-z0-9+.-]*://[^\s/:@'"]*):[^\s'"]*?@(?=[^\s/@'"]*(?:[\s/'"]|$))""")


def mask_secrets(text: str) -> str:
    """``text`` with the password of every URL in it written ``***``
    (``ftp://user:pw@host/x`` -> ``ftp://user:***@host/x``), for messages and logs."""
    if "@" not in text or "://" not in text:
        return text
    return _USERINFO.sub(r"\1:***@", text)


class ErrorGroup(RulecError):
    """Several errors found in one pass (the analyzer reports all it can)."""

    def __init__(self, errors: list[RulecError]):
        self.errors = sorted(errors, key=_order)
        first = self.errors[0]
        super().__init__(first.message, first.span, first.hint)
        self.exit_code = first.exit_code

    def render(self) -> str:
        return "\n".join(e.render() for e in self.errors)


def _order(err: RulecError):
    s = err.span
    return (s.file, s.line, s.col) if s else ("", 0, 0)


class SyntaxError_(RulecError):
    phase = "syntax"


class AnalysisError(RulecError):
    phase = "analysis"


class ResolveError(RulecError):
    phase = "resolve"


class StateError(RulecError):
    phase = "state"


class StorageError(RulecError):
    """A remote file system could not be reached or read (credentials, endpoint, network)."""


class LockError(RulecError):
    phase = "lock"


class BackendError(RulecError):
    phase = "backend"


class Interrupted(RulecError):
    phase = "run"
    exit_code = EXIT_INTERRUPTED

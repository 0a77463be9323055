"""Errors: one class per phase, each with an exit status and (where there is one) a span."""

from __future__ import annotations

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
        super().__init__(message)
        self.message = message
        self.span = span
        self.hint = hint

    def render(self) -> str:
        text = render(self.span, self.message)
        if self.hint:
            text += f"\n  hint: {self.hint}"
        return text

    def __str__(self) -> str:
        return self.render()


def brief(exc: BaseException) -> str:
    """An exception in one line, for a message: its first line, at most 300 characters."""
    return (str(exc) or type(exc).__name__).splitlines()[0][:300]


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


class JobFailed(RulecError):
    phase = "run"
    exit_code = EXIT_JOB_FAILED


class Interrupted(RulecError):
    phase = "run"
    exit_code = EXIT_INTERRUPTED

"""The typed options of a plan, light to import: the command line builds them before it
knows whether a remembered verdict lets it stop (``verdict.check_before_load``)."""

from __future__ import annotations

from .recordclass import record


@record(frozen=True)
class Target:
    """What to build: which Rulefile, from which folder, which targets."""

    rulefile: str = "Rulefile"
    workdir: str | None = None  # default: the Rulefile's folder
    targets: tuple[str, ...] = ()
    select: str | None = None  # -k EXPR
    overrides: tuple[tuple[str, tuple[str, ...]], ...] = ()  # --set dim=a,b
    config: tuple[str, ...] = ()  # --config KEY=VALUE, in order
    config_files: tuple[str, ...] = ()  # --config-file FILE: after the Rulefile's config files

    def __post_init__(self) -> None:
        # --set DIM=... twice would keep the last alone (a dict of them): refused, before a
        # remembered verdict could answer for the command
        names = [name for name, _ in self.overrides]
        twice = next((n for i, n in enumerate(names) if n in names[:i]), None)
        if twice is not None:
            from .errors import RulecError

            given = " ".join(f"--set {n}={','.join(v)}" for n, v in self.overrides if n == twice)
            values = dict.fromkeys(v for n, vs in self.overrides if n == twice for v in vs)
            raise RulecError(f"{given}: dimension {twice} is restricted twice",
                             hint=f"give its values once: --set {twice}={','.join(values)}")


@record(frozen=True)
class PlanOptions:
    force: frozenset[str] = frozenset()  # rule names or job ids
    force_all: bool = False
    explain: bool = False  # collect every reason, not only the first
    tolerance_ns: int = 0  # an input counts as newer only by more than this
    missing_sources_ok: bool = False  # a missing source is a reason (INPUT_MISSING), not an error

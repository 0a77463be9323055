"""Where a job's log goes when its rule has no ``log:``, and job ids as safe file names."""

from __future__ import annotations

from .digest import blake2b
import os
import re

from .dag import JobGraph


def default_log(graph: JobGraph, job: int) -> str:
    """Where a job's stdout/stderr go when the rule has no ``log:``:
    ``.rulec/logs/<rule>/<rule>.<values>.log``, the id made a safe file name (``file_name``)."""
    return os.path.join(".rulec", "logs", graph.rule_of(job).name, file_name(graph.job_id(job), ".log"))


_PLAIN = re.compile(r"[\w.,+=@:-]*").fullmatch  # values that need no escaping in a file name or a shell word
NAME_MAX = 255  # bytes in one file name on the usual file systems


def file_name(job_id: str, suffix: str = ".log") -> str:
    """``job_id`` + ``suffix`` as one file name that stays in its folder and that a shell can
    use unquoted: ``fit[d0,m1]`` is written ``fit.d0,m1.log`` (the rule name, a dot, the
    values as the id lists them). In the values every character but letters, digits and
    ``_.,+=@:-`` is written as ``%XX`` (its UTF-8 bytes), so a ``/`` in a value cannot make
    folders (nor ``..`` climb out of the folder), and a value's ``[``, ``]``, ``*``, ``?``,
    spaces or quotes are not shell syntax (zsh would take ``[...]`` for a glob). The name
    stays one to one with the id: a rule name has no dot, so the first dot ends it, and
    ``%`` is always escaped. A rule without wildcards keeps its name: ``all.log``. A name
    longer than a file system allows is cut and ends with ``~`` and a hash of the id."""
    head, bracket, rest = job_id.partition("[")
    if bracket and rest.endswith("]"):
        values = rest[:-1]
        if not _PLAIN(values):
            values = "".join(ch if _PLAIN(ch) else "".join(f"%{b:02X}" for b in ch.encode("utf-8", "surrogateescape"))
                             for ch in values)
        name = f"{head}.{values}{suffix}"
    else:  # a rule without wildcards: its name, an identifier
        name = job_id + suffix
    if len(name.encode("utf-8", "surrogateescape")) > NAME_MAX:
        digest = blake2b(job_id.encode("utf-8", "surrogateescape"), digest_size=8).hexdigest()
        keep = NAME_MAX - len(digest) - 1 - len(suffix.encode("utf-8", "surrogateescape"))
        cut = name.encode("utf-8", "surrogateescape")[:keep].decode("utf-8", "ignore")
        name = f"{cut}~{digest}{suffix}"
    return name

"""Paths and where they live: local files or remote URLs. The only user of fsspec.

Local paths never import fsspec, so a purely local workflow starts fast.
"""

from __future__ import annotations

import os
import re

from . import pattern as pat

REMOTE = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")


def is_remote(path: str) -> bool:
    return bool(REMOTE.match(path))


def glob_values(pattern: pat.Pattern, name: str, workdir: str) -> list[str]:
    """The values of wildcard ``name`` for which ``pattern`` names an existing file."""
    regex = re.compile(pat.regex_for(pattern, {name: ".+"}), re.DOTALL)
    glob_text = "".join(p if isinstance(p, str) else "*" for p in pattern.parts)
    if is_remote(pattern.text):
        import fsspec

        fs, _, _ = fsspec.get_fs_token_paths(glob_text)
        protocol = glob_text.split("://", 1)[0]
        found = [f"{protocol}://{p}" if not p.startswith(protocol + "://") else p for p in fs.glob(glob_text)]
    else:
        import glob

        base = os.path.abspath(workdir)
        found = [os.path.relpath(p, base) for p in glob.glob(os.path.join(glob.escape(base), glob_text), recursive=False)]
        found = [p.replace(os.sep, "/") for p in found]
    values = set()
    for path in found:
        m = regex.fullmatch(path)
        if m:
            values.add(m.group(name))
    return sorted(values)


def stat_many(urls: list[str]) -> dict[str, tuple[int, int]]:
    """(mtime ns, size) of the remote ``urls`` that exist: one listing per parent prefix."""
    import fsspec

    by_parent: dict[tuple[str, str], set[str]] = {}
    for url in urls:
        protocol, _, rest = url.partition("://")
        parent = rest.rsplit("/", 1)[0] if "/" in rest else rest
        by_parent.setdefault((protocol, parent), set()).add(url)
    out: dict[str, tuple[int, int]] = {}
    for (protocol, parent), wanted in by_parent.items():
        fs = fsspec.filesystem(protocol)
        try:
            entries = fs.ls(f"{protocol}://{parent}", detail=True)
        except (FileNotFoundError, OSError):
            continue
        for entry in entries:
            name = entry.get("name", "")
            url = name if "://" in name else f"{protocol}://{name}"
            if url in wanted and entry.get("type", "file") != "directory":
                out[url] = (_mtime_ns(entry), int(entry.get("size") or 0))
    return out


def _mtime_ns(entry: dict) -> int:
    for key in ("mtime", "LastModified", "last_modified", "created"):
        value = entry.get(key)
        if value is None:
            continue
        if hasattr(value, "timestamp"):
            return int(value.timestamp() * 1e9)
        try:
            return int(float(value) * 1e9)
        except (TypeError, ValueError):
            continue
    return 0

"""Paths and where they live: local files or remote URLs. The only user of fsspec.

Local paths never import fsspec, so a purely local workflow starts fast. Remote paths
(``s3://bucket/key`` and any other fsspec protocol) are listed in batches (one listing per
parent prefix), and a local run works on copies: a job's remote inputs are downloaded to
``.rulec/remote/<protocol>/<rest of the URL>`` (the same path under a local root) and its
remote outputs are written there, then uploaded once the job has succeeded. Options for a
protocol come from fsspec's configuration, e.g. ``FSSPEC_S3_ENDPOINT_URL`` or the usual
``AWS_*`` variables for S3.
"""

from __future__ import annotations

import errno
import os
import re

from . import pattern as pat
from .lazyre import Lazy

REMOTE = Lazy(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")


def is_remote(path: str) -> bool:
    """Whether ``path`` is a URL (``s3://…``); the substring test first keeps it cheap for
    the local paths that make up most workflows."""
    return "://" in path and REMOTE.match(path) is not None


def glob_values(pattern: pat.Pattern, name: str, workdir: str) -> list[str]:
    """The values of wildcard ``name`` for which ``pattern`` names an existing file."""
    # As with a shell glob, a value never holds a '/'.
    regex = re.compile(pat.regex_for(pattern, {name: "[^/]+"}), re.DOTALL)
    glob_text = "".join(p if isinstance(p, str) else "*" for p in pattern.parts)
    if is_remote(pattern.text):
        import fsspec

        # One recursive listing under the literal folder before the wildcard (an object
        # store lists a prefix in pages of 1,000 keys; fs.glob costs several times more),
        # then the pattern's own regex.
        cut = glob_text[: glob_text.rfind("/", 0, glob_text.find("*")) + 1]
        try:
            fs, _, _ = fsspec.get_fs_token_paths(cut)
            fs.invalidate_cache()
            listed = fs.find(cut)
        except FileNotFoundError:
            listed = []
        except Exception as exc:
            raise unreachable(glob_text, exc) from None
        # The file system answers with its own form of paths ("bucket/key", "/abs/path"):
        # put the URL's literal folder back in front of what follows it.
        stripped = fs._strip_protocol(cut).rstrip("/") + "/"
        found = [cut + p[len(stripped):] for p in listed if p.startswith(stripped)]
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
    by_parent: dict[tuple[str, str], list[str]] = {}
    for url in urls:
        protocol, _, rest = url.partition("://")
        parent = rest.rsplit("/", 1)[0] if "/" in rest else rest
        by_parent.setdefault((protocol, parent), []).append(url)
    out: dict[str, tuple[int, int]] = {}
    for (protocol, parent), wanted in by_parent.items():
        url = f"{protocol}://{parent}"
        try:
            fs, path = _fs(url)  # the URL's host, port and user too (ftp://user:pw@host/...)
            fs.invalidate_cache()  # a snapshot is of now, not of an earlier listing
            entries = fs.ls(path, detail=True)
        except FileNotFoundError:
            continue  # no such prefix (or bucket): none of its paths exist
        except Exception as exc:  # credentials, endpoint, network: each backend has its own
            raise unreachable(url, exc) from None
        # Listings name paths in the file system's own form ("bucket/key", "/abs/path").
        by_name = {fs._strip_protocol(u): u for u in wanted}
        for entry in entries:
            u = by_name.get(entry.get("name", ""))
            if u is not None and entry.get("type", "file") != "directory":
                out[u] = (_mtime_ns(entry), int(entry.get("size") or 0))
    return out


def stat_each(urls) -> dict[str, tuple[int, int]]:
    """(mtime ns, size) of a few remote files, one request each (for files just written,
    where listing a big folder again would cost more)."""
    out = {}
    for url in urls:
        fs, path = _fs(url)
        try:
            entry = fs.info(path)
        except FileNotFoundError:
            continue
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


SCRATCH = ".rulec/remote"


def unreachable(url: str, exc: BaseException) -> Exception:
    """The error for a remote location rulec could not list or read."""
    from .errors import StorageError, brief

    text = brief(exc)
    protocol = url.split("://", 1)[0].upper()
    return StorageError(f"cannot reach {url}: {text}",
                        hint=f"fsspec takes its settings from the environment (e.g. FSSPEC_{protocol}_ENDPOINT_URL, "
                             "and AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY for S3)")


def scratch_path(url: str) -> str:
    """Where a local run keeps its copy of a remote path (relative to the working folder).
    Keys may hold ``..``, ``.`` or empty parts (``a//b``); those are escaped, so that a copy
    never lands outside ``.rulec/remote/``."""
    protocol, _, rest = url.partition("://")
    parts = [p if p not in ("", ".", "..") else (p.replace(".", "%2E") or "%2F") for p in rest.lstrip("/").split("/")]
    return f"{SCRATCH}/{protocol}/" + "/".join(parts)


def _fs(url: str):
    from fsspec.core import url_to_fs

    return url_to_fs(url)


def download(urls, workdir: str) -> None:
    """Copy remote files to their scratch paths (raises OSError/FileNotFoundError). The files
    of one file system go in one ``get`` call, which async stores (S3, GCS, HTTP) run
    concurrently: a job gathering a thousand remote inputs does not wait for them in turn."""
    groups: dict[int, tuple] = {}
    for url in urls:
        local = os.path.join(workdir, scratch_path(url))
        make_dirs(os.path.dirname(local))
        fs, path = _fs(url)
        _, remote, locals_ = groups.setdefault(id(fs), (fs, [], []))
        remote.append(path)
        locals_.append(local)
    for fs, remote, locals_ in groups.values():
        parts = [p + ".part" for p in locals_]
        fs.get(remote, parts)
        for part, local in zip(parts, locals_):
            os.replace(part, local)


def upload(urls, workdir: str) -> None:
    """Copy the scratch files of remote outputs to their URLs (one PUT each: all or nothing
    on S3)."""
    for url in urls:
        fs, path = _fs(url)
        fs.put_file(os.path.join(workdir, scratch_path(url)), path)


PRIVATE_DIR = 0o755  # rulec's own folders: nobody else may write in them, whatever the umask


def make_dirs(path: str, mode: int = PRIVATE_DIR) -> None:
    """``os.makedirs(path, exist_ok=True)`` with every folder it creates (not only the last)
    made ``mode`` less the umask: under umask 000 ``.rulec/`` is not left writable to all."""
    missing = []
    while not os.path.isdir(path):
        missing.append(path)
        parent = os.path.dirname(path)
        if parent == path or not parent:
            break
        path = parent
    for folder in reversed(missing):
        try:
            os.mkdir(folder, mode)
        except FileExistsError:
            if not os.path.isdir(folder):
                raise


def read_regular(path: str, own: bool = False) -> bytes | None:
    """The bytes of a regular file; None for a missing or unreadable one and for anything
    else (a FIFO would block a read, a link to /dev/zero would never end). ``own``: also None
    unless the file is this user's and nobody else may write it, and for a symbolic link at
    ``path`` (``read_own``)."""
    from stat import S_ISREG

    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | (getattr(os, "O_NOFOLLOW", 0) if own else 0)
    try:
        fd = os.open(path, flags)
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if not S_ISREG(st.st_mode) or (own and (st.st_uid != os.geteuid() or st.st_mode & 0o022)):
            return None
        with os.fdopen(fd, "rb", closefd=False) as fh:
            return fh.read(st.st_size)
    except OSError:
        return None
    finally:
        os.close(fd)


def read_own(path: str) -> bytes | None:
    """What rulec itself wrote and will act on (its caches, the files of ``.rulec/``): read
    only when it is this user's file that nobody else may write, never through a symbolic
    link. A cache folder may be shared or writable by others: what a planted or swapped
    entry says is never believed (rulec writes them 0600)."""
    return read_regular(path, own=True)


def _create_temp(stem: str) -> tuple[int, str]:
    """A new private file ``STEM<random>.tmp``, open for writing, and its path: what
    ``tempfile.mkstemp`` makes (``O_EXCL``, 0600, never through a symbolic link), without
    importing tempfile, which costs every command that keeps a cache or a verdict a few
    milliseconds of its start (random, weakref, shutil)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOFOLLOW", 0)
    for _ in range(100):
        tmp = f"{stem}{os.urandom(6).hex()}.tmp"
        try:
            return os.open(tmp, flags, 0o600), tmp
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, "no free temporary name", stem + "*.tmp")


def write_replacing(path: str, data: bytes, mode: int | None = None) -> None:
    """Write ``path`` whole or not at all: a temporary file in its folder, renamed over it
    (a reader never sees half a file; nothing is left behind on failure or interrupt). The
    file is private (0600) unless ``mode`` is given, which the umask then narrows."""
    fd, tmp = _create_temp(os.path.join(os.path.dirname(path), f".{os.path.basename(path)}."))
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        if mode is not None:
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, mode & ~umask)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def prune_newest(folder: str, suffix: str, budget: int) -> None:
    """Remove the oldest (by mtime) files of ``folder`` ending in ``suffix`` beyond ``budget``
    bytes in all; the newest always stays, whatever its size (the caches' pruning)."""
    entries = []
    with os.scandir(folder) as it:
        for e in it:
            if e.name.endswith(suffix):
                try:
                    st = e.stat(follow_symlinks=False)
                except OSError:
                    continue
                entries.append((st.st_mtime_ns, st.st_size, e.path))
    entries.sort(reverse=True)
    total = 0
    for k, (_, size, p) in enumerate(entries):
        total += size
        if total > budget and k:
            try:
                os.unlink(p)
            except OSError:
                pass


def remove_local(path: str) -> None:
    """Remove a local file, link or folder; a missing one is fine."""
    try:
        os.unlink(path)
    except (FileNotFoundError, NotADirectoryError):  # (a file where a folder of the path should be: not there either)
        pass
    except (IsADirectoryError, PermissionError):
        if os.path.isdir(path) and not os.path.islink(path):
            import shutil

            shutil.rmtree(path)
        else:
            raise


def remove(urls) -> None:
    """Delete remote files; missing ones are fine."""
    for url in urls:
        fs, path = _fs(url)
        try:
            fs.rm_file(path)
        except FileNotFoundError:
            pass


def staged_command(command: str, inputs, outputs, python: str) -> str:
    """A cluster task's command for a job with remote paths (``command`` already names the
    local copies): fetch the remote inputs, delete stale remote outputs, run, then upload the
    remote outputs. The task runs it under ``set -e``, so nothing is uploaded unless the
    command succeeded, and a failed upload fails the task."""
    import shlex

    def call(verb: str, urls) -> str:
        return " ".join([shlex.quote(python), "-m", "rulec.storage", verb, *(shlex.quote(u) for u in urls)])

    remote_in = [p for p in inputs if is_remote(p)]
    remote_out = [p for p in outputs if is_remote(p)]
    lines = []
    if remote_in:
        lines.append(call("get", remote_in))
    if remote_out:
        lines.append(call("rm", remote_out))
    lines.append(command)
    if remote_out:
        lines.append(call("put", remote_out))
    return "\n".join(lines)


def main(argv=None) -> int:
    """``python -m rulec.storage get|put|rm URL...`` from the working folder: what cluster
    tasks run to copy remote paths to and from ``.rulec/remote/`` (fsspec on the node takes
    its settings from the environment, as rulec does)."""
    import sys

    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) < 1 or args[0] not in ("get", "put", "rm"):
        print("usage: python -m rulec.storage get|put|rm URL...", file=sys.stderr)
        return 2
    verb, urls = args[0], args[1:]
    try:
        {"get": lambda: download(urls, "."), "put": lambda: upload(urls, "."), "rm": lambda: remove(urls)}[verb]()
    except Exception as exc:
        from .errors import brief, mask_secrets

        print(mask_secrets(f"rulec: cannot {verb} {' '.join(urls)}: {brief(exc)}"), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

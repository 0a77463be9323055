"""A workflow's config: files (TOML, YAML, JSON) and ``--config KEY=VALUE`` overrides.

Pure but for ``read``: reading a file, merging tables key by key (later wins), typing an
override like the value it replaces, and looking a dotted key up with a suggestion. The
analyzer turns ``{config.key}`` and ``config.key`` into these values (rulec/analyze.py).
A config is data only: YAML is read with the safe loader, nothing in it can run code.
"""

from __future__ import annotations

import datetime
import difflib
import json
import os
import re

FORMATS = (".toml", ".yaml", ".yml", ".json")
KEY_PART = r"[A-Za-z_][A-Za-z0-9_-]*"
KEY = re.compile(rf"{KEY_PART}(?:\.{KEY_PART})*\Z")


class ConfigError(Exception):
    """A config file or an override that cannot be used; ``line`` is the file's line, if known."""

    def __init__(self, message: str, line: int | None = None, col: int | None = None):
        super().__init__(message)
        self.message = message
        self.line = line
        self.col = col

    def where(self, file: str) -> str:
        """``file:line:col`` (as much of it as is known)."""
        return file + (f":{self.line}" if self.line else "") + (f":{self.col}" if self.line and self.col else "")


# --------------------------------------------------------------------------- files


def read(path: str) -> tuple[dict, bytes]:
    """The table a config file holds, and the file's bytes; ConfigError for a file that is
    missing, unreadable, of an unknown format or not a table at its top."""
    ext = os.path.splitext(path)[1].lower()
    if ext not in FORMATS:
        raise ConfigError(f"unknown config format {ext or '(no extension)'!r}: expected a .toml, .yaml, .yml or .json file")
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except FileNotFoundError:
        raise ConfigError("no such file") from None
    except IsADirectoryError:
        raise ConfigError("is a folder, not a file") from None
    except OSError as exc:
        raise ConfigError(exc.strerror or str(exc)) from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ConfigError(f"not UTF-8 text (byte {exc.start})", line) from None
    if ext in (".toml", ".yaml", ".yml") and len(data) >= CACHE_MIN:
        value = _cached(ext, data, text)
    elif ext == ".toml":
        value = _toml(text)
    elif ext == ".json":
        try:
            value = json.loads(text) if text.strip() else {}
        except json.JSONDecodeError as exc:
            raise ConfigError(f"bad JSON: {exc.msg}", exc.lineno, exc.colno) from None
        except RecursionError:
            raise ConfigError("bad JSON: nested too deeply") from None
    else:
        value = _yaml(text)
    if value is None:  # an empty YAML file
        value = {}
    if not isinstance(value, dict):
        raise ConfigError(f"the file holds a {_kind(value)}, not a table of keys")
    return _clean(value, ()), data


CACHE_MIN = 16 * 1024  # a smaller file parses faster than a cache entry is found
CACHE_FORMAT = b"config-json-1"


def _cached(ext: str, data: bytes, text: str):
    """A big TOML or YAML file's table, from the user's cache when the same bytes were read
    before (tomllib takes ~60 ms for 10k keys, its JSON entry ~3 ms). Entries are JSON: data
    only, and one of any other shape reads as absent."""
    from .digest import blake2b
    import tempfile

    from .syntax import cache

    where = os.path.join(os.path.dirname(cache.folder()), "config")
    name = blake2b(CACHE_FORMAT + b"\0" + ext.encode() + b"\0" + data, digest_size=16).hexdigest()
    path = os.path.join(where, name + ".json")
    try:
        with open(path, "rb") as fh:
            value = json.loads(fh.read())
        if isinstance(value, dict):
            return value
    except (OSError, ValueError, RecursionError):
        pass
    value = _toml(text) if ext == ".toml" else _yaml(text)
    if not isinstance(value, dict):
        return value
    value = _clean(value, ())
    try:
        os.makedirs(where, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=where)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(value, fh, ensure_ascii=True, separators=(",", ":"))
        os.replace(tmp, path)
        cache._prune(where)
    except (OSError, TypeError, ValueError):
        pass
    return value


def _toml(text: str) -> dict:
    try:
        import tomllib
    except ModuleNotFoundError:  # pragma: no cover - Python 3.10
        import tomli as tomllib  # type: ignore[no-redef]
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        m = re.search(r" \(at line (\d+), column (\d+)\)", message)
        if m is None:
            if message.endswith(" (at end of document)"):
                lines = text.rstrip("\n").count("\n") + 1
                raise ConfigError(f"bad TOML: {message[: -len(' (at end of document)')]} at the end of the file", lines) from None
            raise ConfigError(f"bad TOML: {message}") from None
        raise ConfigError(f"bad TOML: {message[: m.start()] + message[m.end():]}", int(m.group(1)), int(m.group(2))) from None


def _yaml(text: str):
    try:
        import yaml
    except ModuleNotFoundError:  # pragma: no cover - a declared dependency
        raise ConfigError("reading YAML needs PyYAML (pip install pyyaml)") from None
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        return yaml.load(text, Loader=loader)  # noqa: S506 - a safe loader: data only
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        context = getattr(exc, "context", None)
        raise ConfigError(f"bad YAML: {problem}" + (f" ({context})" if context else ""),
                          mark.line + 1 if mark is not None else None, mark.column + 1 if mark is not None else None) from None
    except RecursionError:
        raise ConfigError("bad YAML: nested too deeply") from None


def _clean(value, path: tuple[str, ...]):
    """Plain values only: tables with string keys, lists, strings, numbers, booleans (dates
    become their ISO text; YAML's null stays None and is an error where it is used)."""
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if isinstance(k, bool):
                k = "true" if k else "false"
            out[str(k)] = _clean(v, path + (str(k),))
        return out
    if isinstance(value, (list, tuple)):
        return [_clean(v, path) for v in value]
    if isinstance(value, (datetime.date, datetime.time)):
        return value.isoformat()
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def merge(base: dict, other: dict) -> dict:
    """``other`` over ``base``: tables merge key by key, any other value is replaced."""
    out = dict(base)
    for k, v in other.items():
        old = out.get(k)
        out[k] = merge(old, v) if isinstance(old, dict) and isinstance(v, dict) else v
    return out


# --------------------------------------------------------------------------- overrides


def parse_override(item: str) -> tuple[str, str]:
    """``KEY=VALUE`` -> (dotted key, value text); ConfigError if it is not of that form."""
    key, sep, value = item.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ConfigError(f"--config {item!r}: expected KEY=VALUE, e.g. --config threads=4 or --config db.host=x")
    if not KEY.match(key):
        raise ConfigError(f"--config {item!r}: {key!r} is not a key: names of letters, digits, '_' and '-', "
                          "joined by '.' (db.host)")
    return key, value


def infer(text: str):
    """A value given on the command line, for a key no file has: true/false, a whole number,
    a number, a list ``a,b`` (each item typed so), else the text."""
    if "," in text:
        return [infer(x.strip()) for x in text.split(",") if x.strip()]
    return _scalar(text)


def _scalar(text: str):
    if text in ("true", "false"):
        return text == "true"
    if re.fullmatch(r"[+-]?\d+", text):
        return int(text)
    if re.fullmatch(r"[+-]?(\d+\.\d*|\.\d+|\d+)([eE][+-]?\d+)?", text):
        return float(text)
    return text


def coerce(key: str, text: str, old):
    """``text`` typed like ``old``, the value the files give ``key``: ConfigError when it
    cannot be (a word for a number, a value for a table)."""
    if old is None:
        return infer(text)
    if isinstance(old, dict):
        raise ConfigError(f"--config {key}={text}: {key} is a table in the config; set its keys "
                          f"(--config {key}.NAME=...)")
    if isinstance(old, bool):
        if text not in ("true", "false"):
            raise ConfigError(f"--config {key}={text}: {key} is true or false in the config, not {text!r}")
        return text == "true"
    if isinstance(old, int):
        try:
            return int(text)
        except ValueError:
            raise ConfigError(f"--config {key}={text}: {key} is a whole number in the config ({old}), not {text!r}") from None
    if isinstance(old, float):
        try:
            return float(text)
        except ValueError:
            raise ConfigError(f"--config {key}={text}: {key} is a number in the config ({old}), not {text!r}") from None
    if isinstance(old, list):
        items = [x.strip() for x in text.split(",")] if text.strip() else []
        kinds = {type(x) for x in old}
        if kinds == {str}:
            return items
        return [_scalar(x) for x in items]
    return text


def override(config: dict, key: str, value) -> dict:
    """``config`` with the dotted ``key`` set to ``value`` (tables made on the way)."""
    parts = key.split(".")
    out = dict(config)
    node = out
    for i, part in enumerate(parts[:-1]):
        child = node.get(part)
        if child is not None and not isinstance(child, dict):
            raise ConfigError(f"--config {key}=...: {'.'.join(parts[: i + 1])} is a {_kind(child)} in the config, "
                              "not a table")
        child = dict(child) if child else {}
        node[part] = child
        node = child
    node[parts[-1]] = value
    return out


# --------------------------------------------------------------------------- look-ups

_MISSING = object()


def get(config: dict, key: str, default=_MISSING):
    """The value of the dotted ``key``; ``default`` (else KeyError) when there is none."""
    node = config
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            if default is _MISSING:
                raise KeyError(key)
            return default
        node = node[part]
    return node


def keys(config: dict, prefix: str = "") -> list[str]:
    """Every dotted key of ``config``, tables included (``db``, ``db.host``)."""
    out = []
    for k, v in config.items():
        full = prefix + k
        out.append(full)
        if isinstance(v, dict):
            out.extend(keys(v, full + "."))
    return out


def suggest(config: dict, key: str) -> str:
    """`` (did you mean 'x'?)`` for a key the config does not have, or ""."""
    parts = key.split(".")
    # Within the deepest table the key reaches (quick even for 10k keys), then among all.
    node, at = config, 0
    while at < len(parts) - 1 and isinstance(node.get(parts[at]), dict):
        node = node[parts[at]]
        at += 1
    prefix = ".".join(parts[:at])
    near = difflib.get_close_matches(parts[at], list(node), n=1) if isinstance(node, dict) else []
    if near:
        return f" (did you mean '{prefix + '.' if prefix else ''}{near[0]}'?)"
    close = difflib.get_close_matches(key, keys(config)[:20000], n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


def text(value) -> str:
    """A scalar as it reads in a path or a command: true/false, numbers as Python writes them."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def is_scalar(value) -> bool:
    return isinstance(value, (str, int, float, bool))


def _kind(value) -> str:
    if isinstance(value, dict):
        return "table"
    if isinstance(value, list):
        return "list"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if value is None:
        return "null"
    return "string"


kind = _kind

"""Shell completion: ``rulec completion bash|zsh|fish`` prints a script; the script asks
``rulec __complete`` (hidden) for the words that may come next.

Commands and options come from the argparse parser (rulec/cli.py), so they never drift from
it; rule names, job ids and dimension values from the Rulefile the command line names (or
./Rulefile), read through the parse cache. ``rulec __complete [--shell bash] [--cur WORD] [--line
LINE | -- WORD...]`` prints one candidate per line, then ``@files`` (or ``@dirs``) when file
names (or folder names) fit there too: each shell completes those itself. ``--cur`` is the
current word as the shell split it (bash splits ``--set d=a`` at ``=``): candidates are cut to
fit it. Nothing is printed on any error: a completion never shows a traceback.

zsh and fish quote what they insert. bash does not: a COMPREPLY word goes into the command
line as it is, so a job id or a value holding ``$(...)``, ``;`` or a space would run or split
when Enter is pressed. So for bash (``--shell bash``) every candidate is printed quoted the way
the word being completed is quoted so far: backslashes if it has no open quote, else escaped
for the quote it leaves open (readline completes what follows that quote, and closes it). File
names offered beside rule names and job ids are listed here and quoted the same way; file
names alone are left to bash (``@files=WORD``: ``compgen -f`` of the unquoted word, with
``-o filenames``).
"""

from __future__ import annotations

import os
import shlex
import sys
from typing import NamedTuple

SHELLS = ("bash", "zsh", "fish")
MAX_IDS = 2000  # job ids offered at once

_PATH_OPTIONS = {"rulefile", "profile", "output", "bundle"}
_DIR_OPTIONS = {"directory"}


# --------------------------------------------------------------------------- the scripts

BASH = r'''# rulec completion for bash: source it, e.g. in ~/.bashrc:
#   source <(rulec completion bash)
# The candidates come quoted for the command line (a job id or a value holding $(...), ";" or
# a space is never run or split); only file names alone are left to bash (-o filenames).
_rulec() {
    local cur="${COMP_WORDS[COMP_CWORD]}" line c
    local -a out
    if [[ -n "${COMP_LINE-}" ]]; then
        line="${COMP_LINE:0:${COMP_POINT:-${#COMP_LINE}}}"
        mapfile -t out < <(command rulec __complete --shell bash --cur "$cur" --line "$line" 2>/dev/null)
    else
        mapfile -t out < <(command rulec __complete --shell bash --cur "$cur" -- "${COMP_WORDS[@]:1:COMP_CWORD}" 2>/dev/null)
    fi
    COMPREPLY=()
    for c in "${out[@]}"; do
        case "$c" in
            @files=*) compopt -o filenames 2>/dev/null; mapfile -t -O "${#COMPREPLY[@]}" COMPREPLY < <(compgen -f -- "${c#@files=}") ;;
            @dirs=*) compopt -o filenames 2>/dev/null; mapfile -t -O "${#COMPREPLY[@]}" COMPREPLY < <(compgen -d -- "${c#@dirs=}") ;;
            @nospace) compopt -o nospace 2>/dev/null ;;
            @*) ;;
            *) COMPREPLY+=("$c") ;;
        esac
    done
}
complete -F _rulec rulec
'''

ZSH = r'''#compdef rulec
# rulec completion for zsh: source it, e.g. in ~/.zshrc after compinit:
#   source <(rulec completion zsh)
# or write it as _rulec into a folder of $fpath.
_rulec() {
    local -a out cands
    local c files=0 dirs=0
    out=("${(@f)$(command rulec __complete --cur "${words[CURRENT]}" -- "${(@)words[2,CURRENT]}" 2>/dev/null)}")
    for c in "${out[@]}"; do
        case "$c" in
            @files) files=1 ;;
            @dirs) dirs=1 ;;
            "") ;;
            *) cands+=("$c") ;;
        esac
    done
    (( ${#cands} )) && compadd -- "${cands[@]}"
    (( files )) && _files
    (( dirs )) && _files -/
    return 0
}
if [[ "${zsh_eval_context[-1]}" == loadautofunc ]]; then
    _rulec "$@"
else
    compdef _rulec rulec
fi
'''

FISH = r'''# rulec completion for fish: save it as ~/.config/fish/completions/rulec.fish
#   rulec completion fish > ~/.config/fish/completions/rulec.fish
function __rulec_complete
    set -l tokens (commandline -opc)
    set -l cur (commandline -ct)
    set -e tokens[1]
    for c in (command rulec __complete --cur "$cur" -- $tokens "$cur" 2>/dev/null)
        switch $c
            case @files
                __fish_complete_path "$cur"
            case @dirs
                __fish_complete_directories "$cur"
            case '*'
                echo $c
        end
    end
end
complete -c rulec -f -a '(__rulec_complete)'
'''

SCRIPTS = {"bash": BASH, "zsh": ZSH, "fish": FISH}


def script(shell: str) -> str:
    return SCRIPTS[shell]


# --------------------------------------------------------------------------- the words

def main(argv: list[str]) -> int:
    """``rulec __complete ...``: print the candidates; always exit 0."""
    cur = None
    line = None
    shell = None
    words: list[str] = []
    args = list(argv)
    while args:
        head = args.pop(0)
        if head == "--cur" and args:
            cur = args.pop(0)
        elif head == "--line" and args:
            line = args.pop(0)
        elif head == "--shell" and args:
            shell = args.pop(0)
        elif head == "--":
            words = args
            break
    bash = shell == "bash"
    if bash and cur and cur.strip("=:") == "":
        cur = ""  # bash's word is the "=" (or ":") it split at; readline completes what follows it
    try:
        if line is not None:
            words = _split_line(line)
        else:
            words = [_bash_word(w).value if bash else _dequote(w) for w in words]
        if not words:
            words = [""]
        out = candidates(words)
        full = words[-1]
        typed = full if cur is None else _bash_word(cur).value if bash else _dequote(cur)
        cut = len(full) - len(typed) if full.endswith(typed) and len(typed) < len(full) else 0
        paths = [c for c in out if c in ("@files", "@dirs")]
        if bash and paths and (cut or len(paths) < len(out)):  # file names beside other words: listed here
            out = [c for c in out if not c.startswith("@")] + _paths(full, dirs_only="@files" not in paths)
        out = [c[cut:] if not c.startswith("@") else c for c in out]
        if bash:
            out = for_bash(out, cur if cur is not None else bash_quote(full))
    except Exception:  # noqa: BLE001 - a completion says nothing rather than a traceback
        return 0
    sys.stdout.write("".join(c + "\n" for c in out))
    return 0


def _split_line(line: str) -> list[str]:
    """The words of a command line up to the cursor (as bash would make them), the last one
    possibly unfinished (an open quote, a trailing backslash) or empty (after a space);
    without the program's name."""
    return [w.value for w in _bash_words(line)][1:]


# --------------------------------------------------------------------------- bash quoting

class Word(NamedTuple):
    """A word as bash would read it so far: ``value``; ``quote``, the quote it leaves open
    (``'``, ``"``, ``$'``, or ""); ``kept``, the value of what comes before that quote."""
    value: str
    quote: str = ""
    kept: str = ""


_C_ESCAPES = {"a": "\a", "b": "\b", "e": "\x1b", "E": "\x1b", "f": "\f", "n": "\n", "r": "\r",
              "t": "\t", "v": "\v", "\\": "\\", "'": "'", '"': '"', "?": "?"}


def _bash_words(line: str) -> list[Word]:
    """The words of ``line`` as bash splits and unquotes them (blanks outside quotes separate
    them; backslashes, ``'...'``, ``"..."`` and ``$'...'``); a line ending in a blank ends
    with an empty word. Expansions (``$x``, globs) are left as they are typed."""
    words: list[Word] = []
    out: list[str] = []
    started = False
    i, n = 0, len(line)
    while i < n:
        ch = line[i]
        if ch in " \t\n":
            if started:
                words.append(Word("".join(out)))
                out, started = [], False
            i += 1
            continue
        started = True
        if ch == "\\":
            if i + 1 < n and line[i + 1] != "\n":
                out.append(line[i + 1])
            i += 2  # a backslash at the end quotes what is not typed yet
        elif ch == "'":
            end = line.find("'", i + 1)
            if end < 0:
                return words + [Word("".join(out) + line[i + 1:], "'", "".join(out))]
            out.append(line[i + 1:end])
            i = end + 1
        elif ch == "$" and line[i + 1:i + 2] == "'":
            kept = "".join(out)
            j = i + 2
            while j < n and line[j] != "'":
                if line[j] == "\\" and j + 1 < n:
                    j, text = _c_escape(line, j + 1)
                    out.append(text)
                else:
                    out.append(line[j])
                    j += 1
            if j >= n:
                return words + [Word("".join(out), "$'", kept)]
            i = j + 1
        elif ch == '"' or ch == "$" and line[i + 1:i + 2] == '"':
            kept = "".join(out)
            j = i + (2 if ch == "$" else 1)
            while j < n and line[j] != '"':
                if line[j] == "\\" and j + 1 < n and line[j + 1] in '$`"\\\n':
                    if line[j + 1] != "\n":
                        out.append(line[j + 1])
                    j += 2
                elif line[j] == "\\" and j + 1 == n:
                    j += 1
                else:
                    out.append(line[j])
                    j += 1
            if j >= n:
                return words + [Word("".join(out), '"', kept)]
            i = j + 1
        else:
            out.append(ch)
            i += 1
    if started or not words or line[-1:] in (" ", "\t", "\n"):
        words.append(Word("".join(out)))
    return words


def _c_escape(text: str, i: int) -> tuple[int, str]:
    """The character a ``$'...'`` escape starting at ``text[i]`` (after its backslash) stands
    for, and where the escape ends."""
    ch = text[i]
    if ch in _C_ESCAPES:
        return i + 1, _C_ESCAPES[ch]
    for lead, size, base in (("x", 2, 16), ("u", 4, 16), ("U", 8, 16)):
        if ch == lead:
            digits = ""
            while len(digits) < size and i + 1 + len(digits) < len(text) and text[i + 1 + len(digits)] in "0123456789abcdefABCDEF":
                digits += text[i + 1 + len(digits)]
            if digits:
                return i + 1 + len(digits), chr(int(digits, base))
    if ch in "01234567":
        digits = ch
        while len(digits) < 3 and i + len(digits) < len(text) and text[i + len(digits)] in "01234567":
            digits += text[i + len(digits)]
        return i + len(digits), chr(int(digits, 8))
    return i + 1, "\\" + ch


def _bash_word(raw: str) -> Word:
    """One word as typed (``--cur``), read as bash would."""
    words = _bash_words(raw)
    return words[-1] if words else Word("")


_SAFE = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_./,:=+%-]@")


def _c_quoted(ch: str) -> str:
    """``ch`` as the inside of ``$'...'``."""
    if ch in "\\'":
        return "\\" + ch
    if ch.isprintable():
        return ch
    return "".join(f"\\x{b:02x}" for b in ch.encode("utf-8", "surrogateescape"))


def bash_quote(text: str, quote: str = "") -> str:
    """``text`` as it must go into a bash command line to reach rulec as it is: after the open
    ``quote`` (``'``, ``"``, ``$'``; readline closes it) or, with none, backslash-quoted as
    ``printf %q`` does (control characters as ``$'\\n'``)."""
    if quote == "'":
        return "".join("'\\''" if ch == "'" else ch if ch.isprintable() else f"'$'{_c_quoted(ch)}''" for ch in text)
    if quote == "$'":
        return "".join(_c_quoted(ch) for ch in text)
    if quote == '"':
        return "".join("\\" + ch if ch in '\\$`"' else '"\\!"' if ch == "!"
                       else ch if ch.isprintable() else f'"$\'{_c_quoted(ch)}\'"' for ch in text)
    out = []
    for i, ch in enumerate(text):
        if ch in _SAFE and not (ch == "@" and i == 0) or not ch.isascii() and ch.isprintable():
            out.append(ch)
        elif ch.isprintable():
            out.append("\\" + ch)
        else:
            out.append(f"$'{_c_quoted(ch)}'")
    return "".join(out)


def for_bash(out: list[str], cur: str) -> list[str]:
    """The candidates ``out`` (cut to fit ``cur``, the word as bash split it) as the words
    bash's COMPREPLY takes: each quoted as ``cur`` is (readline replaces what follows an open
    quote, else the whole word). File names alone (``@files`` or ``@dirs`` and nothing else,
    in a word bash did not split): ``@files=WORD`` for bash's own ``compgen -f`` of the
    unquoted word (``-o filenames``: readline quotes them). ``@nospace`` after a lone folder
    name."""
    word = _bash_word(cur)
    paths = [c for c in out if c in ("@files", "@dirs")]
    words = [c for c in out if not c.startswith("@")]
    if paths:
        return [f"{paths[0]}={word.value}"]
    words = [w for w in words if w.startswith(word.kept)]
    lines = [bash_quote(w[len(word.kept):], word.quote) for w in words]
    if len(words) == 1 and words[0].endswith("/"):
        lines.append("@nospace")
    return lines


def _paths(prefix: str, dirs_only: bool = False) -> list[str]:
    """The files (or folders) whose names start with ``prefix``, as ``compgen -f`` finds them;
    folders end with ``/``."""
    folder = prefix[:prefix.rfind("/") + 1]
    try:
        entries = sorted(os.scandir(folder or "."), key=lambda e: e.name)
    except OSError:
        return []
    out = []
    for entry in entries:
        path = folder + entry.name
        if not path.startswith(prefix):
            continue
        try:
            is_dir = entry.is_dir()
        except OSError:
            is_dir = False
        if is_dir:
            out.append(path + "/")
        elif not dirs_only:
            out.append(path)
    return out


def _dequote(word: str) -> str:
    """A word as typed (quotes, backslashes) as the program would get it."""
    for tail in ("", '"', "'"):
        try:
            parts = shlex.split(word + tail)
            return parts[0] if parts else ""
        except ValueError:
            continue
    return word


def candidates(words: list[str]) -> list[str]:
    """What may replace ``words[-1]`` (``words``: the command line after ``rulec``)."""
    from .cli import build_parser

    parser = build_parser()
    sub = _subparsers(parser)
    cur = words[-1]
    if len(words) == 1:
        if cur.startswith("-"):
            return _matching(_options(parser), cur)
        return _matching([n for n in sub.choices if not n.startswith("_")], cur)
    command = sub.choices.get(words[0])
    if command is None:
        return []
    options = {s: a for a in command._actions for s in a.option_strings}
    prev = words[-2] if len(words) >= 2 else ""
    if cur.startswith("--") and "=" in cur:  # --format=d
        name, _, value = cur.partition("=")
        action = options.get(name)
        if action is None or action.nargs == 0:
            return []
        return [f"{name}={c}" if not c.startswith("@") else c for c in _values(action, value, words)]
    action = options.get(prev)
    if action is not None and action.nargs != 0:
        return _values(action, cur, words)
    if cur.startswith("-"):
        return _matching(_options(command), cur)
    positional = [a for a in command._actions if not a.option_strings]
    if not positional:
        return []
    dest = positional[0].dest
    if dest == "shell":
        return _matching(list(SHELLS), cur)
    if dest == "folder":
        return ["@dirs"]
    if dest == "args":
        return _targets(words, cur) + ["@files"]
    return []


def _subparsers(parser):
    import argparse

    return next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))


def _options(parser) -> list[str]:
    import argparse

    return [s for a in parser._actions if a.help is not argparse.SUPPRESS for s in a.option_strings]


def _matching(items, prefix: str) -> list[str]:
    return [i for i in items if i.startswith(prefix)]


def _values(action, cur: str, words: list[str]) -> list[str]:
    """Candidates for the value of an option."""
    if action.choices:
        return _matching([str(c) for c in action.choices], cur)
    dest = action.dest
    if dest in _PATH_OPTIONS:
        return ["@files"]
    if dest in _DIR_OPTIONS:
        return ["@dirs"]
    if dest == "overrides":  # --set DIM=V1,V2
        return _dimension_values(words, cur)
    if dest == "force":
        return _targets(words, cur)
    if dest == "select":  # -k EXPR: a word of a job id
        workflow = _workflow(words)
        if workflow is None:
            return []
        names = [r.name for r in workflow.rules] + sorted({v for d in workflow.dimensions.values() for v in d.values})
        return _matching(names, cur)
    return []


def _workflow(words: list[str]):
    """The Rulefile the command line names (``-f``, ``-d``, a first argument that is a
    Rulefile or its folder; else ./Rulefile), loaded; None if it cannot be."""
    from . import api
    from .cli import _looks_like_rulefile

    target = _target(words, api, _looks_like_rulefile)
    if not os.path.isfile(target.rulefile) and not os.path.isdir(target.rulefile):
        return None
    try:
        return api.load(target)
    except Exception:  # noqa: BLE001 - a Rulefile being edited: no dynamic candidates
        return None


def _target(words: list[str], api, looks_like_rulefile):
    rulefile = directory = None
    first = None
    i = 1
    while i < len(words) - 1:  # the last word is being typed
        w = words[i]
        if w in ("-f", "--rulefile") and i + 1 < len(words) - 1:
            rulefile = words[i + 1]
            i += 2
            continue
        if w in ("-d", "--directory") and i + 1 < len(words) - 1:
            directory = words[i + 1]
            i += 2
            continue
        if w.startswith("--rulefile="):
            rulefile = w.partition("=")[2]
        elif w.startswith("--directory="):
            directory = w.partition("=")[2]
        elif not w.startswith("-") and first is None:
            first = w
        i += 1
    if rulefile is None:
        rulefile = first if first is not None and looks_like_rulefile(first) else "Rulefile"
    return api.Target(rulefile, directory)


def _targets(words: list[str], cur: str) -> list[str]:
    """Rule names, and the job ids of a rule once it is the only one the word can be (``fi``
    for ``fit``, or ``fit[d0``): so a shell stops after ``fit``, where ``[`` follows."""
    workflow = _workflow(words)
    if workflow is None:
        return []
    names = [r.name for r in workflow.rules]
    out = _matching(names, cur)
    if "[" in cur:
        rule = cur.partition("[")[0]
        typed = True
    else:
        rule = out[0] if len(out) == 1 else (cur if cur in names else None)
        typed = False
    if rule not in names:
        return out
    ir_rule = next(r for r in workflow.rules if r.name == rule)
    if not ir_rule.wildcards:
        return out
    if not typed:  # listing every id of a big rule would take a dry run's time: only when asked
        size = 1
        for w in ir_rule.wildcards:
            dim = workflow.dimensions.get(w)
            size *= len(dim.values) if dim is not None else MAX_IDS + 1
        if size > MAX_IDS:
            return out
    from .recordclass import replace

    from . import api
    from .cli import _looks_like_rulefile

    target = replace(_target(words, api, _looks_like_rulefile), targets=(rule,))
    try:
        graph = api.graph_of(workflow, target)
    except Exception:  # noqa: BLE001
        return out
    ids = [graph.job_id(j) for j in graph.order if graph.rule_of(j).name == rule]
    return out + [i for i in _matching(ids, cur) if i != rule][:MAX_IDS]


def _dimension_values(words: list[str], cur: str) -> list[str]:
    """``--set`` values: ``DIM=`` for each dimension, then ``DIM=VALUE`` (after commas too)."""
    workflow = _workflow(words)
    if workflow is None:
        return []
    if "=" not in cur:
        return _matching([f"{name}=" for name in workflow.dimensions], cur)
    name, _, given = cur.partition("=")
    dim = workflow.dimensions.get(name)
    if dim is None:
        return []
    head, comma, last = given.rpartition(",")
    lead = f"{name}={head}{comma}"
    chosen = set(head.split(",")) if comma else set()
    return [lead + v for v in dim.values if v.startswith(last) and v not in chosen]

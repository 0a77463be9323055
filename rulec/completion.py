"""Shell completion: ``rulec completion bash|zsh|fish`` prints a script; the script asks
``rulec __complete`` (hidden) for the words that may come next.

Commands and options come from the argparse parser (rulec/cli.py), so they never drift from
it; rule names, job ids and dimension values from the Rulefile the command line names (or
./Rulefile), read through the parse cache. ``rulec __complete [--cur WORD] [--line LINE | --
WORD...]`` prints one candidate per line, then ``@files`` (or ``@dirs``) when file names (or
folder names) fit there too: each shell completes those itself. ``--cur`` is the current word
as the shell split it (bash splits ``--set d=a`` at ``=``): candidates are cut to fit it.
Nothing is printed on any error: a completion never shows a traceback.
"""

from __future__ import annotations

import os
import shlex
import sys

SHELLS = ("bash", "zsh", "fish")
MAX_IDS = 2000  # job ids offered at once

_PATH_OPTIONS = {"rulefile", "profile", "output", "bundle"}
_DIR_OPTIONS = {"directory"}


# --------------------------------------------------------------------------- the scripts

BASH = r'''# rulec completion for bash: source it, e.g. in ~/.bashrc:
#   source <(rulec completion bash)
_rulec() {
    local cur="${COMP_WORDS[COMP_CWORD]}" line c
    local -a out
    if [[ -n "${COMP_LINE-}" ]]; then
        line="${COMP_LINE:0:${COMP_POINT:-${#COMP_LINE}}}"
        mapfile -t out < <(command rulec __complete --cur "$cur" --line "$line" 2>/dev/null)
    else
        mapfile -t out < <(command rulec __complete --cur "$cur" -- "${COMP_WORDS[@]:1:COMP_CWORD}" 2>/dev/null)
    fi
    COMPREPLY=()
    for c in "${out[@]}"; do
        case "$c" in
            @files) compopt -o filenames 2>/dev/null; mapfile -t -O "${#COMPREPLY[@]}" COMPREPLY < <(compgen -f -- "$cur") ;;
            @dirs) compopt -o filenames 2>/dev/null; mapfile -t -O "${#COMPREPLY[@]}" COMPREPLY < <(compgen -d -- "$cur") ;;
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
    (( ${#cands} )) && compadd -S ' ' -- "${cands[@]}"
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
    words: list[str] = []
    args = list(argv)
    while args:
        head = args.pop(0)
        if head == "--cur" and args:
            cur = args.pop(0)
        elif head == "--line" and args:
            line = args.pop(0)
        elif head == "--":
            words = args
            break
    try:
        words = _split_line(line) if line is not None else [_dequote(w) for w in words]
        if not words:
            words = [""]
        out = candidates(words)
    except Exception:  # noqa: BLE001 - a completion says nothing rather than a traceback
        return 0
    full = words[-1]
    cut = len(full) - len(cur) if cur is not None and full.endswith(cur) and len(cur) < len(full) else 0
    sys.stdout.write("".join((c[cut:] if not c.startswith("@") else c) + "\n" for c in out))
    return 0


def _split_line(line: str) -> list[str]:
    """The words of a command line up to the cursor, the last one possibly unfinished (an
    open quote) or empty (after a space); without the program's name."""
    for tail in ("", '"', "'"):
        try:
            words = shlex.split(line + tail)
            break
        except ValueError:
            continue
    else:
        words = line.split()
    if line[-1:].isspace() and not tail:
        words.append("")
    return words[1:]


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

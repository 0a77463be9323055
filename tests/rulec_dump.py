r'''Compact text dumps of declarations and of the analyzed IR, so test tables stay readable.

    dump_module(parse(text))   one line per statement:
        dimension model = ['a', 'b']
        dimension dataset: data_0(subset='s1') data_1(subset='s2')
        rule r | input: 'a', data='b' | shell: """echo"""
        ruleorder a > b
        include 'sub/Rulefile'

    dump_workflow(analyze(...))   dimensions, then per rule only what is not a default:
        dimension dataset [block] = data_0 data_1 | subset
        rule estimate[dataset,model]
          output 'bld/{dataset}_{model}.json'
          input data='bld/{dataset}.csv'
          params seed=42
          shell 'python x ' {input.data} ' ' {output}
'''

from __future__ import annotations

from rulec import ir
from rulec import pattern as pat
from rulec.syntax import decls as d


# --------------------------------------------------------------------------- declarations

def dump_expr(e) -> str:
    if isinstance(e, d.Str):
        return f"block{e.value!r}" if e.long else repr(e.value)
    if isinstance(e, d.Num):
        return repr(e.value)
    if isinstance(e, d.Word):
        return e.name
    if isinstance(e, d.Dotted):
        return "<" + e.text + ">"
    if isinstance(e, d.ListV):
        return "[" + ", ".join(dump_expr(x) for x in e.items) + "]"
    if isinstance(e, d.Named):
        return f"{e.name}={dump_expr(e.value)}"
    if isinstance(e, d.Call):
        return f"{e.func}(" + ", ".join(dump_expr(x) for x in e.args) + ")"
    raise TypeError(type(e))


def _items(items) -> str:
    return ", ".join(dump_expr(x) for x in items)


def dump_decl(decl) -> str:
    if isinstance(decl, d.DimensionDecl):
        if decl.expr is not None:
            return f"dimension {decl.name} = {dump_expr(decl.expr)}"
        entries = [f"{e.key}({_items(e.fields)})" if e.fields else e.key for e in decl.entries]
        return f"dimension {decl.name}: " + " ".join(entries)
    if isinstance(decl, (d.RuleDecl, d.LabelDecl)):
        kind = "rule" if isinstance(decl, d.RuleDecl) else "label"
        return f"{kind} {decl.name}" + "".join(f" | {f.name}: {_items(f.items)}" for f in decl.fields)
    if isinstance(decl, d.RuleorderDecl):
        return "ruleorder " + " > ".join(name for name, _ in decl.names)
    if isinstance(decl, d.IncludeDecl):
        return f"include {decl.path.value!r}"
    if isinstance(decl, d.ConfigDecl):
        return f"config {decl.path.value!r}"
    raise TypeError(type(decl))


def dump_module(module: d.Module) -> str:
    return "\n".join(dump_decl(x) for x in module.decls)


# --------------------------------------------------------------------------- IR

def _param(value) -> str:
    if isinstance(value, pat.Pattern):
        return f"pattern({value.text!r})"
    if isinstance(value, tuple):
        return "(" + ", ".join(_param(v) for v in value) + ")"
    return repr(value)


def _ref(r: ir.Ref) -> str:
    text = {
        "wildcard": r.key,
        "field": f"{r.key}.{r.attr}",
    }.get(r.kind, r.kind + (f".{r.key}" if r.key else ""))
    if r.index is not None:
        text += f"[{r.index}]"
    if r.raw:
        text += ":raw"
    return "{" + text + "}"


def dump_shell(shell: ir.ShellTemplate) -> str:
    return " ".join(repr(p) if isinstance(p, str) else _ref(p) for p in shell.parts)


def _spec(s) -> str:
    return (f"{s.name}=" if s.name else "") + repr(s.pattern.text)


def dump_rule(rule: ir.Rule, dimensions=()) -> str:
    lines = [f"rule {rule.name}[{','.join(rule.wildcards)}]" if rule.wildcards else f"rule {rule.name}"]
    # constraints only: a dimension's regex (a trie of its values) is implied
    regex = [f"{w}={r}" for w, r in rule.wildcard_regex if r != pat.FREE and w not in dimensions]
    if regex:
        lines.append("  regex " + " ".join(regex))
    if rule.outputs:
        lines.append("  output " + ", ".join(_spec(s) for s in rule.outputs))
    if rule.logs:
        lines.append("  log " + ", ".join(_spec(s) for s in rule.logs))
    for s in rule.inputs:
        text = _spec(s)
        if s.kind != "one":
            text = f"{s.kind}({text}) over {','.join(s.expanded) or '-'}: " + " ".join("/".join(c) for c in s.combos)
        lines.append("  input " + text)
    if rule.params:
        lines.append("  params " + " ".join(f"{n}={_param(v)}" for n, v in rule.params))
    if rule.resources != ir.Resources():
        lines.append("  resources " + " ".join(f"{k}={v}" for k, v in rule.resources.as_dict().items()))
    if rule.label:
        lines.append(f"  label {rule.label}")
    if rule.persist:
        lines.append("  persist")
    if rule.priority:
        lines.append(f"  priority {rule.priority}")
    if rule.shell is not None:
        lines.append("  shell " + dump_shell(rule.shell))
    return "\n".join(lines)


def dump_dimension(dim: ir.Dimension) -> str:
    def show(v: str) -> str:
        return v if v and not any(c.isspace() for c in v) else repr(v)

    text = f"dimension {dim.name} [{dim.origin}] = " + " ".join(show(v) for v in dim.values)
    if dim.fields:
        text += " | " + " ".join(
            f"{show(v)}:" + ",".join(f"{f}={dim.table[v][f]}" for f in dim.fields) for v in dim.values
        )
    return text


def dump_label(label: ir.Label) -> str:
    parts = [f"label {label.name}"]
    if label.limit is not None:
        parts.append(f"limit={label.limit}")
    if label.slurm:
        parts.append("slurm(" + " ".join(f"{k}={v}" for k, v in label.slurm) + ")")
    if label.lsf:
        parts.append("lsf(" + " ".join(f"{k}={v}" for k, v in label.lsf) + ")")
    if label.jbsub is not None:
        parts.append(f"jbsub({label.jbsub})")
    return " ".join(parts)


def dump_workflow(wf: ir.Workflow) -> str:
    lines = [dump_dimension(x) for x in wf.dimensions.values()]
    lines += [dump_label(x) for x in wf.labels.values()]
    lines += [dump_rule(x, wf.dimensions) for x in wf.rules]
    if wf.precedence:
        lines.append("precedence " + " ".join(f"{a}>{b}" for a, b in sorted(wf.precedence)))
    return "\n".join(lines)

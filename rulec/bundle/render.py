"""The only jinja2 Environment: job-script templates from the shipped ``templates`` folder.

Templates substitute; they decide nothing. Everything they print (directive lines, paths,
dependency specs) is computed by the backend modules, and every value goes in quoted for
where it lands: ``|sh`` makes one shell word of it (``bundle.word``: bare, '...' or $'...',
never more than one line), ``|comment`` makes it safe after a ``#`` (control characters
become ``?``: a newline there would start a command). Directive lines (``#SBATCH ...``) are
checked in ``render_arrays``: a control character in one is an error. StrictUndefined makes
a missing variable an error instead of an empty string.
"""

from __future__ import annotations

from ..errors import BackendError
from ..profile import control_char, describe_char

_ENV = None


def environment():
    global _ENV
    if _ENV is None:
        import jinja2

        from ..resources import data_dir

        _ENV = jinja2.Environment(
            loader=jinja2.FileSystemLoader(str(data_dir("templates"))),
            undefined=jinja2.StrictUndefined,
            autoescape=False,
            keep_trailing_newline=True,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        from .files import MISSING_OUTPUT, comment, word

        _ENV.filters["sh"] = lambda value: word(str(value))
        _ENV.filters["comment"] = comment
        _ENV.globals["no_output"] = MISSING_OUTPUT  # a status marker's "exited 0 without an output"
    return _ENV


def render(template: str, /, **context) -> str:
    """Render ``templates/<template>`` (e.g. ``slurm/array.sbatch.j2``)."""
    return environment().get_template(template).render(**context)


def render_arrays(bundle, context: dict, template: str, directives, dependency_note, dependency_flags):
    """Render one script per array of ``bundle.layout`` and the ``submit.sh`` entries that go
    with them; shared by the SLURM and LSF backends, which differ only in what they pass.

    ``dependency_flags(array)`` gives the extra submission flags of an array ("" if none).
    Returns (files by bundle path, submissions for the submit.sh template).
    """
    layout = bundle.layout
    files: dict[str, str] = {}
    submissions = []
    for array in layout.arrays:
        lines = directives(array)
        for line in lines:
            at = control_char(line)
            if at >= 0:  # a label's or profile's setting; rulec check refuses these
                raise BackendError(
                    f"rule {array.rule.name}: the directive {line!r} holds {describe_char(line[at])}; "
                    "a directive is one line of the job script"
                )
        files[bundle.script(array)] = render_array(array, template, lines, dependency_note(layout, array), context)
        submissions.append({"name": array.name, "size": len(array), "flags": dependency_flags(array)})
    return files, submissions


def render_array(array, template: str, directives: list[str], note: str, context: dict, only: int | None = None) -> str:
    """One array's script: its directives, then the task wrapper (``common/task.sh.j2``, or
    ``common/pack.sh.j2`` for a packed array; ``only``: the line of the one job a retry of a
    packed job runs)."""
    from .files import kind_context

    packed = array.pack > 1
    return render(
        template,
        directives=directives,
        name=array.name,
        rule=array.rule.name,
        size=len(array),
        tasks_file=f"{array.name}.tasks",
        dependency_note=note,
        task_template="common/pack.sh.j2" if packed else "common/task.sh.j2",
        pack=array.pack,
        width=array.width,
        only="" if only is None else int(only),
        prefix=(),  # a SLURM or LSF cluster job has no label prefix (files.build refuses one)
        **kind_context(array.rule),
        **context,
    )

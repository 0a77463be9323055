"""The only jinja2 Environment: job-script templates from the shipped ``templates`` folder.

Templates substitute; they decide nothing. Everything they print (directive lines, paths,
dependency specs) is computed and quoted by the backend modules. StrictUndefined makes a
missing variable an error instead of an empty string.
"""

from __future__ import annotations

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
    return _ENV


def render(template: str, /, **context) -> str:
    """Render ``templates/<template>`` (e.g. ``slurm/array.sbatch.j2``)."""
    return environment().get_template(template).render(**context)

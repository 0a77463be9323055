"""Where the shipped data files (grammar, templates) are, installed or in a source checkout."""

from __future__ import annotations

from pathlib import Path


def data_dir(name: str) -> Path:
    """The folder ``grammar`` or ``templates``: inside the wheel as ``rulec/<name>``, else the repo's."""
    here = Path(__file__).resolve().parent
    for candidate in (here / name, here.parent / name):
        if candidate.is_dir():
            return candidate
    try:  # an editable install maps the package to the repo folder
        from importlib.resources import files

        found = Path(str(files(f"rulec.{name}")))
        if found.is_dir():
            return found
    except (ImportError, ModuleNotFoundError, TypeError):
        pass
    raise FileNotFoundError(f"rulec's {name} folder is missing from the installation")

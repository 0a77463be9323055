"""Where the shipped data files (grammar, templates) are, installed or in a source checkout."""

from __future__ import annotations

import os


def data_dir(name: str) -> str:
    """The folder ``grammar`` or ``templates``: inside the wheel as ``rulec/<name>``, else the repo's.
    (os.path, not pathlib: pathlib's import is 3-4 ms of every start.)"""
    here = os.path.dirname(os.path.realpath(__file__))
    for candidate in (os.path.join(here, name), os.path.join(os.path.dirname(here), name)):
        if os.path.isdir(candidate):
            return candidate
    try:  # an editable install maps the package to the repo folder
        from importlib.resources import files

        found = str(files(f"rulec.{name}"))
        if os.path.isdir(found):
            return found
    except (ImportError, ModuleNotFoundError, TypeError):
        pass
    raise FileNotFoundError(f"rulec's {name} folder is missing from the installation")

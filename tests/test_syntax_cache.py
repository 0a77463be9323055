"""rulec/syntax/cache.py: parsed Rulefiles kept by text, file name and grammar."""

from __future__ import annotations

import os
import time

import pytest

from rulec import syntax
from rulec.syntax import cache

TEXT = 'dimension d = ["a", "b"]\nrule r:\n    output: "out/{d}.txt"\n    shell: "touch {output}"\n'


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("RULEC_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache" / "parse"


def test_a_second_read_comes_from_the_cache_without_parsing(cache_dir, tmp_path, monkeypatch):
    rulefile = tmp_path / "Rulefile"
    rulefile.write_text(TEXT)
    first = syntax.parse_file(str(rulefile))
    assert len(list(cache_dir.iterdir())) == 1

    from rulec.syntax import parser

    def no_parse(*args, **kwargs):
        raise AssertionError("parsed again")

    monkeypatch.setattr(parser, "parse", no_parse)
    assert syntax.parse_file(str(rulefile)) == first


def test_an_edited_text_or_another_file_name_is_parsed_afresh(cache_dir, tmp_path):
    a = tmp_path / "Rulefile"
    a.write_text(TEXT)
    first = syntax.parse_file(str(a))
    a.write_text(TEXT.replace('"b"', '"c"'))
    edited = syntax.parse_file(str(a))
    assert edited != first and edited == syntax.parse(TEXT.replace('"b"', '"c"'), str(a))
    b = tmp_path / "Other"
    b.write_text(TEXT)
    syntax.parse_file(str(b))
    assert len(list(cache_dir.iterdir())) == 3


def test_a_damaged_entry_is_ignored_and_replaced(cache_dir, tmp_path):
    rulefile = tmp_path / "Rulefile"
    rulefile.write_text(TEXT)
    good = syntax.parse_file(str(rulefile))
    entry, = cache_dir.iterdir()
    entry.write_bytes(b"not a pickle")
    assert syntax.parse_file(str(rulefile)) == good
    assert entry.read_bytes() != b"not a pickle"


def test_only_the_most_recently_used_entries_are_kept(cache_dir, tmp_path, monkeypatch):
    monkeypatch.setattr(cache, "KEEP", 3)
    rulefile = tmp_path / "Rulefile"
    files = []
    for n in range(3):
        rulefile.write_text(TEXT + f"# version {n}\n")
        syntax.parse_file(str(rulefile))
        files.append(sorted(cache_dir.iterdir(), key=os.path.getmtime)[-1])
        time.sleep(0.01)
    # using the oldest entry again makes it the most recent
    rulefile.write_text(TEXT + "# version 0\n")
    syntax.parse_file(str(rulefile))
    time.sleep(0.01)
    rulefile.write_text(TEXT + "# version 3\n")
    syntax.parse_file(str(rulefile))
    left = set(cache_dir.iterdir())
    assert len(left) == 3
    assert files[0] in left and files[1] not in left and files[2] in left


def test_errors_are_not_cached(cache_dir, tmp_path):
    rulefile = tmp_path / "Rulefile"
    rulefile.write_text("rule r:\n    output: \n")
    with pytest.raises(Exception):
        syntax.parse_file(str(rulefile))
    assert not cache_dir.exists() or not list(cache_dir.iterdir())

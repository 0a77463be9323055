"""rulec/cli.py: the parser built for the one command given is the full parser's, for it; help
looks like argparse's own."""

from __future__ import annotations

import argparse
import subprocess
import sys

import pytest

from rulec import cli
from rulec.cli import COMMANDS, build_parser


def _sub(parser: argparse.ArgumentParser) -> argparse._SubParsersAction:
    (sub,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return sub


@pytest.mark.parametrize("name", list(COMMANDS))
def test_the_parser_of_one_command_is_the_full_parsers(name):
    full, only = _sub(build_parser()).choices[name], build_parser(name)
    assert only.prog == full.prog == f"rulec {name}"
    assert only.format_help() == full.format_help()
    assert only.format_usage() == full.format_usage()
    assert [a.option_strings for a in only._actions] == [a.option_strings for a in full._actions]


@pytest.mark.parametrize("argv", [
    ["run", "-j", "2", "--keep-going", "--force", "fit", "-q", "Rulefile", "all"],
    ["dryrun", "-q"],
    ["emit", "--slurm", "-o", "b"],
    ["completion", "bash"],
])
def test_a_command_line_parses_the_same_either_way(argv):
    assert vars(build_parser(argv[0]).parse_args(argv[1:])) == vars(build_parser().parse_args(argv))


@pytest.mark.parametrize("argv", [["emit"], ["completion", "tcsh"], ["run", "-j", "x"]])
def test_a_bad_command_line_is_the_same_message_either_way(argv, capsys):
    with pytest.raises(SystemExit) as one:
        build_parser(argv[0]).parse_args(argv[1:])
    alone = capsys.readouterr().err
    with pytest.raises(SystemExit) as every:
        build_parser().parse_args(argv)
    assert one.value.code == every.value.code == 2
    assert alone == capsys.readouterr().err and alone.startswith(f"usage: rulec {argv[0]}")


def test_an_unknown_option_is_shown_with_its_commands_usage(capsys):
    """The full parser leaves an unknown option to the top level ("usage: rulec [-h] [-V]
    COMMAND ..."); the command's own usage says more."""
    from rulec import cli

    with pytest.raises(SystemExit) as exc:
        cli.main(["run", "--no-such-option"])
    err = capsys.readouterr().err
    assert exc.value.code == 2
    assert err.startswith("usage: rulec run [-h]") and "rulec run: error: unrecognized arguments: --no-such-option" in err


def _stock(parser: argparse.ArgumentParser) -> None:
    """``parser`` (and its subparsers) with argparse's own formatters instead of rulec's."""
    from rulec import cli

    parser.formatter_class = {cli._Formatter: argparse.HelpFormatter,
                              cli._RawFormatter: argparse.RawDescriptionHelpFormatter}[parser.formatter_class]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                _stock(sub)


@pytest.mark.parametrize("columns", ["40", "72", "160"])
@pytest.mark.parametrize("name", [None, "run", "dryrun", "emit", "init"])
def test_help_is_argparses_at_the_terminals_width(name, columns, monkeypatch):
    """The width is looked up when help is formatted (not for every option added, which
    imported shutil at every start), and the help is what argparse's formatters give."""
    monkeypatch.setenv("COLUMNS", columns)
    ours, stock = build_parser(name), build_parser(name)
    _stock(stock)
    assert ours.format_help() == stock.format_help()
    assert ours.format_usage() == stock.format_usage()


def test_the_help_follows_the_terminals_width(monkeypatch):
    widths = []
    for columns in ("40", "160"):
        monkeypatch.setenv("COLUMNS", columns)
        widths.append(max(map(len, build_parser().format_help().splitlines())))
    assert widths[0] <= 38 < widths[1]


def test_a_formatter_given_a_width_keeps_it():
    from rulec import cli

    formatter = cli._Formatter("rulec", width=50)
    formatter.add_text("word " * 40)
    assert max(map(len, formatter.format_help().splitlines())) <= 50


def test_console_is_main_then_an_exit_without_a_last_collection(monkeypatch):
    """The ``rulec`` program returns main's status, with what is left frozen, so that
    Python's exit does not walk it with the cyclic collector."""
    import gc

    monkeypatch.setattr(cli, "main", lambda argv=None: 3)
    gc.unfreeze()
    try:
        assert cli.console() == 3
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()


def test_python_dash_m_rulec_exits_with_the_commands_status(tmp_path):
    (tmp_path / "Rulefile").write_text('rule x:\n    output: "x.txt"\n    shell: "touch {output}"\n    bogus: 1\n')
    out = subprocess.run([sys.executable, "-m", "rulec", "check", str(tmp_path)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "Traceback" not in out.stderr and "Rulefile:4:" in out.stderr


@pytest.mark.parametrize("command", ["check", "dryrun", "run", "status"])
def test_a_working_folder_that_is_a_file_is_refused(tmp_path, monkeypatch, capsys, command):
    (tmp_path / "Rulefile").write_text('rule a:\n    output: "x"\n    shell: "touch {output}"\n')
    monkeypatch.chdir(tmp_path)
    assert cli.main([command, "-d", "Rulefile"]) == 2
    err = capsys.readouterr().err
    assert "-d Rulefile: not a folder" in err and "File exists" not in err
    assert not (tmp_path / ".rulec").exists()

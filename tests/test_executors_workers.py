"""rulec/executors/workers.py: the bash workers that run local jobs, on real bash processes.

A job must see what ``bash -euo pipefail -c COMMAND JOB_ID`` would show it, in its own
process group, with its output in its log; these tests hold the worker to that.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import time
from pathlib import Path

import pytest

from helpers import gate
from rulec.executors import workers as local


@pytest.fixture
def launcher(tmp_path):
    with local.Launcher(str(tmp_path)) as lnch:
        yield lnch


def run_one(launcher, command, log="job.log", lazy=False, job_id="j[x]"):
    """Run one job to its end: (proc, exit code, log text or None)."""
    launcher.spawn(0, job_id, command, log, lazy=lazy)
    (proc, code), = launcher.wait_any()
    path = Path(launcher.workdir, proc.log) if proc.log else None
    return proc, code, (path.read_text() if path and path.exists() else None)


def bash_c(tmp_path, command, job_id="j[x]"):
    """What plain ``bash -euo pipefail -c`` does with the command: (exit code, output)."""
    res = subprocess.run(["bash", "-euo", "pipefail", "-c", command, job_id], cwd=tmp_path,
                         stdin=subprocess.DEVNULL, capture_output=True, text=True)
    return res.returncode, res.stdout + res.stderr


@pytest.mark.parametrize("command", [
    "echo out; echo err >&2",
    "exit 3",
    "false; echo not reached",
    "false | true",
    "x=$(false); echo not reached",
    "echo $undefined_variable",
    "no-such-command-here",
    "true\n\nno-such-command-on-line-3",
    "echo $0",
    "if",
    "printf '%s|' \"$#\" \"$-\"",
    "echo ${__j-unset} ${__l-unset} ${__m-unset} ${__c-unset} ${__p-unset} ${__s-unset} ${__g-unset} ${__o-unset} ${__h-unset} ${__sf-unset}",
    "set +e; false; echo went on",
    "ls no-such-file-here",  # one program: exec'ed (see test_a_job_of_one_program_is_that_program)
    "cat /dev/null > empty.txt",
    "expr 6 \\* 7",  # (a backslash: not plain, forked as before)
    "sleep-no-such-program 1",
    "cat /dev/null > no-such-dir/x",  # one program whose redirection fails
    'echo "$BASH_EXECUTION_STRING"',  # (bash -c's command, which the worker reads into it)
])
def test_a_job_behaves_as_under_bash_c(launcher, tmp_path, command):
    run_one(launcher, "true")  # a worker with an earlier job behind it (its variables set)
    _, code, text = run_one(launcher, command)
    want_code, want_text = bash_c(tmp_path, command)
    assert code == want_code
    # bash names the parser ``-c`` when it reads a -c string, ``eval`` in a worker
    assert text.replace("j[x]: eval: ", "j[x]: -c: ") == want_text


def test_stdin_is_empty_and_the_job_runs_in_the_workdir(launcher, tmp_path):
    _, code, text = run_one(launcher, "cat; pwd")
    assert code == 0 and text == f"{tmp_path}\n"


def test_each_job_is_the_leader_of_its_own_process_group(launcher):
    _, code, text = run_one(launcher, "sleep 0.1 | cat; ps -o pgid= -p $BASHPID; echo $BASHPID")
    pgid, pid = text.split()
    assert code == 0 and pgid == pid
    assert int(pgid) != os.getpgid(0)


def test_dollar_dollar_is_the_jobs_own_pid(launcher, tmp_path):
    """In a forked subshell ``$$`` would be the worker's pid: such commands get their own bash."""
    proc, code, text = run_one(launcher, "echo $$ ${$}")
    assert code == 0 and text.split() == [str(proc.pid)] * 2


def test_a_job_with_its_own_bash_keeps_its_job_id_as_dollar_0(launcher):
    proc, code, text = run_one(launcher, "echo $$ $0", job_id="it's [a b]")
    assert code == 0 and text == f"{proc.pid} it's [a b]\n"


def test_non_ascii_and_undecodable_fields_reach_the_job_as_they_are(launcher, tmp_path):
    """(a request whose fields are not all ASCII has its fields NUL-terminated)"""
    (tmp_path / "lögs").mkdir()
    job_id = "j[é,\udcff]"  # (an undecodable byte from a file name, as surrogateescape keeps it)
    launcher.spawn(0, job_id, "printf '%s|' \"$0\" ü", "lögs/é.log")
    (proc, code), = launcher.wait_any()
    assert code == 0
    assert (tmp_path / "lögs" / "é.log").read_bytes() == "j[é,\udcff]|ü|".encode("utf-8", "surrogateescape")
    assert run_one(launcher, "echo next")[1:] == (0, "next\n")  # the worker read the request to its end


def test_a_log_path_that_is_a_variables_name_leaves_the_variable_alone(tmp_path, monkeypatch):
    """The worker unsets its own variables before the fork, the log path along with them
    (see workers._UNSET): the path must never name one of the worker's variables."""
    monkeypatch.setenv("RULEC_KEPT", "kept")
    with local.Launcher(str(tmp_path)) as lnch:
        assert run_one(lnch, "echo first", log="RULEC_KEPT")[1:] == (0, "first\n")
        assert (tmp_path / "RULEC_KEPT").read_text() == "first\n"
        assert run_one(lnch, 'echo "$RULEC_KEPT"')[1:] == (0, "kept\n")


def test_a_newline_in_the_job_id_cannot_forge_a_status_line(launcher, tmp_path):
    """Bash's complaint about a log it cannot open starts with ``$0``: a job id with newlines
    there would put lines of its own on the worker's answer pipe."""
    job_id = "a\n123 0\nb"
    proc, code, _ = run_one(launcher, "echo never", log="no/such/folder/x.log", job_id=job_id)
    assert code == 1 and proc.pid != 123
    assert proc.notes == ["a\\n123 0\\nb: line 1: no/such/folder/x.log: No such file or directory"]
    # the job itself sees its id, and bash's line numbers count from its command
    command = "printf '%s|' \"$0\"\nno-such-command-on-line-2"
    proc, code, text = run_one(launcher, command, job_id=job_id)
    assert (code, text) == bash_c(tmp_path, command, job_id=job_id)


def test_a_newline_in_a_log_path_that_cannot_be_opened_cannot_forge_a_status_line(launcher, tmp_path):
    log = "no/such\n123 0\n/x.log"
    proc, code, _ = run_one(launcher, "echo never", log=log)
    assert code == 1 and proc.pid != 123
    assert proc.notes == [f"j[x]: line 1: {log}: No such file or directory"]
    assert run_one(launcher, "echo next")[1:] == (0, "next\n")
    (tmp_path / "a\n1 0").mkdir()
    assert run_one(launcher, "echo there", log="a\n1 0/x.log")[1:] == (0, "there\n")


def test_a_signal_death_reads_as_killed_by_that_signal(launcher):
    _, code, _ = run_one(launcher, "kill -9 $BASHPID")
    assert code == -signal.SIGKILL
    _, code, _ = run_one(launcher, "kill -TERM $$")
    assert code == -signal.SIGTERM


def _comm(pid: int) -> str:
    return Path(f"/proc/{pid}/comm").read_text().strip()


def _children(pid: int) -> list[int]:
    return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def _until(check, timeout=5.0):
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_a_job_of_one_program_is_that_program(launcher):
    """As under ``bash -c``, a job that runs one program is that program (exec'ed by the
    job's shell): its pid and process group are the program's, and no shell waits for it."""
    launcher.spawn(0, "j", "sleep 5", "one.log")
    proc = launcher.running()[0]
    pid = launcher._pid_of(proc, [])
    _until(lambda: _comm(pid) == "sleep")  # (the pid is said as soon as it is forked)
    assert os.getpgid(pid) == pid and _children(pid) == []
    os.killpg(pid, signal.SIGTERM)
    (_, code), = launcher.wait_any()
    assert code == -signal.SIGTERM


@pytest.mark.parametrize("command", [
    "sleep 5; true",  # two commands
    "sleep 5 &&  true",
    "A=1 sleep 5",  # an assignment first
    "sleep 5 # note",
    "sleep \"5\"",  # quotes
    "sleep $((5))",  # an expansion
])
def test_a_job_of_more_than_one_plain_program_keeps_its_shell(launcher, command):
    launcher.spawn(0, "j", command, "more.log")
    proc = launcher.running()[0]
    pid = launcher._pid_of(proc, [])
    _until(lambda: [_comm(c) for c in _children(pid)] == ["sleep"])  # its shell runs sleep as a child
    assert _comm(pid) == "bash"
    os.killpg(pid, signal.SIGKILL)
    launcher.wait_any()


def test_only_a_program_on_path_that_no_shell_function_or_builtin_shadows_is_exec_ed(tmp_path):
    words = local.ExecWords({"PATH": os.environ["PATH"], "BASH_FUNC_sort%%": "() { echo mine; }"})
    assert words("cp a b") and words("cat a b > c") and words("python3 s.py --n=3 2> err")
    assert not words("sort a")  # an exported function of that name: bash runs the function
    assert not words("echo a > b") and not words("test -f a") and not words("time cp a b")  # builtins, words
    assert not words("no-such-program-anywhere a")  # bash's own "command not found" then
    assert not words("./run.sh") and not words("cat <<EOF")
    # BASH_ENV may define anything, and a relative folder in PATH depends on the job's folder
    assert not local.ExecWords({"PATH": os.environ["PATH"], "BASH_ENV": "/etc/x.sh"})("cp a b")
    assert not local.ExecWords({"PATH": "bin:" + os.environ["PATH"]})("cp a b")


def test_a_program_is_found_on_path_as_shutil_which_finds_it(tmp_path):
    import shutil

    plain, folder, tool = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    for d in (plain, folder, tool):
        d.mkdir()
    (plain / "mytool").write_text("#!/bin/sh\n")  # not executable
    (folder / "mytool").mkdir()  # a folder of that name
    (tool / "mytool").write_text("#!/bin/sh\n")
    path = os.pathsep.join(map(str, (plain, folder)))
    assert not local.ExecWords({"PATH": path})("mytool x") and shutil.which("mytool", path=path) is None
    (tool / "mytool").chmod(0o755)
    path += os.pathsep + str(tool)
    assert local.ExecWords({"PATH": path})("mytool x") and shutil.which("mytool", path=path) == str(tool / "mytool")


def test_an_exported_function_runs_rather_than_the_program_of_its_name(tmp_path, monkeypatch):
    monkeypatch.setenv("BASH_FUNC_sort%%", "() { echo function sort \"$@\"; }")
    with local.Launcher(str(tmp_path)) as lnch:
        _, code, text = run_one(lnch, "sort a b")
    assert code == 0 and text == "function sort a b\n"


def test_long_commands_and_nul_bytes_go_through_a_script_file(launcher, tmp_path):
    filler = "# " + "x" * local.INLINE_LIMIT + "\n"
    _, code, text = run_one(launcher, filler + "echo long; exit 4", job_id="long[1]")
    assert code == 4 and text == "long\n"
    assert Path(local.script_path(str(tmp_path), "long[1]")).read_text().endswith("echo long; exit 4\n")


def test_a_script_file_replaces_what_is_at_its_path_never_writing_through_it(launcher, tmp_path):
    victim = tmp_path / "victim"
    victim.write_text("keep\n")
    script = Path(local.script_path(str(tmp_path), "long[2]"))
    script.parent.mkdir(parents=True, exist_ok=True)
    os.symlink(victim, script)
    filler = "# " + "x" * local.INLINE_LIMIT + "\n"
    _, code, text = run_one(launcher, filler + "echo long", job_id="long[2]")
    assert code == 0 and text == "long\n"
    assert victim.read_text() == "keep\n" and not script.is_symlink()
    assert script.stat().st_mode & 0o777 == 0o644


def test_a_stopped_job_is_waited_for_until_it_ends(launcher):
    launcher.spawn(0, "j", "sleep 0.6; echo end", "stop.log")
    proc = launcher.running()[0]
    pid = launcher._pid_of(proc, [])
    os.killpg(pid, signal.SIGSTOP)
    assert launcher.wait_any(block=False) == []
    time.sleep(0.3)
    assert launcher.wait_any(block=False) == []
    os.killpg(pid, signal.SIGCONT)
    (done, code), = launcher.wait_any()
    assert code == 0 and Path(launcher.workdir, "stop.log").read_text() == "end\n"


def test_workers_are_reused_and_one_per_running_job(launcher):
    for n in range(3):
        launcher.spawn(n, f"j{n}", "sleep 0.2", f"{n}.log")
    assert len(launcher.workers) == 3
    finished = []
    while len(finished) < 3:
        finished += launcher.wait_any()
    assert sorted(code for _, code in finished) == [0, 0, 0]
    for n in range(3):
        run_one(launcher, "true")
    assert len(launcher.workers) == 3


def test_stop_all_terms_the_groups_then_kills_what_ignores_it(launcher, tmp_path):
    launcher.spawn(0, "polite", "sleep 30 & wait", "a.log")
    launcher.spawn(1, "stubborn", "trap '' TERM; touch stubborn.ready; sleep 30 & wait; sleep 30", "b.log")
    pids = [launcher._pid_of(p, []) for p in launcher.running()]
    _until(lambda: (tmp_path / "stubborn.ready").exists(), 30)  # its trap is set
    t0 = time.monotonic()
    done = launcher.stop_all(grace=0.5)
    assert time.monotonic() - t0 < 5
    assert sorted(code for _, code in done) in ([-signal.SIGKILL, -signal.SIGTERM], [-signal.SIGTERM, -signal.SIGKILL])
    assert launcher.running() == []
    for pid in pids:  # nothing of either group is left, grandchildren included
        assert _group_gone(pid)


def _group_gone(pgid: int, timeout: float = 5.0) -> bool:
    """Whether the process group is empty within ``timeout`` (killed members are reaped by
    init, which takes a moment)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


def test_a_killed_worker_loses_its_job(launcher):
    launcher.spawn(0, "j", "sleep 30", "k.log")
    proc = launcher.running()[0]
    pid = launcher._pid_of(proc, [])
    proc.worker.popen.kill()
    (lost, code), = launcher.wait_any()
    assert lost is proc and code is None
    assert _group_gone(pid)  # its job is stopped too
    assert run_one(launcher, "echo fresh")[1:] == (0, "fresh\n")  # a new worker takes over


def test_a_replacement_worker_gets_a_spool_of_its_own(launcher, tmp_path):
    (tmp_path / "logs").mkdir()
    launcher.spawn(0, "a", "sleep 30", "logs/a.log", lazy=True)
    launcher.spawn(1, "b", "sleep 0.3; echo b-output", "logs/b.log", lazy=True)
    first, second = launcher.workers
    launcher._pid_of(first.proc, [])
    first.popen.kill()
    events = []
    while not any(code is None for _, code in events):  # (b may end first on a slow machine)
        events += launcher.wait_any()
    assert [p.job for p, code in events if code is None] == [0]
    launcher.spawn(2, "c", "echo c-output", "logs/c.log", lazy=True)
    third = launcher.workers[-1]
    assert third.spool != second.spool
    finished = {p.job: p for p, code in events if code is not None}
    while len(finished) < 2:
        finished.update((p.job, p) for p, _ in launcher.wait_any())
    assert (tmp_path / "logs/b.log").read_text() == "b-output\n"
    assert (tmp_path / "logs/c.log").read_text() == "c-output\n"


def test_a_killed_workers_job_keeps_what_it_printed(launcher, tmp_path):
    (tmp_path / "logs").mkdir()
    launcher.spawn(0, "a", "echo before the end; touch printed; sleep 30", "logs/a.log", lazy=True)
    proc = launcher.running()[0]
    launcher._pid_of(proc, [])
    _until(lambda: (tmp_path / "printed").exists(), 30)
    proc.worker.popen.kill()
    (lost, code), = launcher.wait_any()
    assert code is None and lost.log == "logs/a.log"
    assert (tmp_path / "logs/a.log").read_text() == "before the end\n"


def test_a_log_that_cannot_be_opened_fails_the_job_with_bashs_words(launcher):
    proc, code, _ = run_one(launcher, "echo never", log="no/such/folder/x.log")
    assert code == 1
    assert proc.notes and "no/such/folder/x.log: No such file or directory" in proc.notes[0]


# --------------------------------------------------------------------------- lazy logs

def test_a_silent_job_leaves_no_log(launcher, tmp_path):
    proc, code, text = run_one(launcher, "true", log="logs/quiet.log", lazy=True)
    (tmp_path / "logs").mkdir(exist_ok=True)
    assert code == 0 and proc.log is None and text is None
    assert not (tmp_path / "logs/quiet.log").exists()


def test_a_job_that_prints_gets_its_log_and_the_spool_is_fresh_for_the_next(launcher, tmp_path):
    (tmp_path / "logs").mkdir()
    proc, code, text = run_one(launcher, "echo hello; echo oops >&2; exit 2", log="logs/a.log", lazy=True)
    assert code == 2 and proc.log == "logs/a.log" and text == "hello\noops\n"
    proc, code, text = run_one(launcher, "true", log="logs/b.log", lazy=True)
    assert proc.log is None and not (tmp_path / "logs/b.log").exists()
    assert (tmp_path / "logs/a.log").read_text() == "hello\noops\n"


def test_each_lazy_log_holds_its_own_jobs_output_and_nothing_of_an_earlier_job(launcher, tmp_path, monkeypatch):
    """A spool is opened without truncating it (it is empty or gone whenever a job gets it):
    a log holding the tail of an earlier job's output would show that it was not."""
    monkeypatch.setattr(local.Launcher, "LIVE_AFTER", 0.2)
    (tmp_path / "logs").mkdir()
    long_text = "a" * 300 + "\n"
    jobs = [("long", f"printf '{long_text}'", long_text), ("silent", "true", None), ("short", "echo c", "c\n"),
            ("live", "echo started; sleep 0.5; echo l", "started\nl\n"), ("silent2", ":", None),
            ("after-live", "echo x", "x\n"), ("last", "echo y", "y\n")]
    for n, (name, command, want) in enumerate(jobs):
        launcher.spawn(n, name, command, f"logs/{name}.log", lazy=True)
        (proc, code), = launcher.wait_any()
        assert code == 0
        path = tmp_path / "logs" / f"{name}.log"
        assert (path.read_text() if path.exists() else None) == want, name
    assert len(launcher.workers) == 1  # one worker, its two spools taken in turn


def test_a_spool_is_opened_as_it_is(launcher, tmp_path):
    """What the log letter "k" means: the worker does not truncate the spool (which is why
    rulec leaves none with content)."""
    (tmp_path / "logs").mkdir()
    run_one(launcher, "true", log="logs/first.log", lazy=True)  # (the spools' folder is made)
    worker = launcher.workers[0]
    spool = tmp_path / worker.spools[worker.turn]
    spool.write_text("0123456789\n")
    proc, code, text = run_one(launcher, "printf ab", log="logs/b.log", lazy=True)
    assert code == 0 and text == "ab23456789\n"


def test_a_declared_log_is_truncated(launcher, tmp_path):
    (tmp_path / "old.log").write_text("an earlier run's log, longer than the new one\n")
    assert run_one(launcher, "echo new", log="old.log")[1:] == (0, "new\n")


def test_a_long_job_can_be_followed_at_its_log_path_while_it_runs(launcher, tmp_path, monkeypatch):
    monkeypatch.setattr(local.Launcher, "LIVE_AFTER", 0.2)
    (tmp_path / "logs").mkdir()
    launcher.spawn(0, "long", "echo started; while [ ! -e go ]; do sleep 0.01; done; echo ended", "logs/long.log", lazy=True)
    spool = tmp_path / launcher.running()[0].spool
    _until(lambda: spool.exists() and spool.read_text() == "started\n", 30)
    time.sleep(0.3)  # (past LIVE_AFTER)
    assert launcher.wait_any(block=False) == []  # the turn that links the log
    assert (tmp_path / "logs/long.log").read_text() == "started\n"
    (tmp_path / "go").touch()
    (proc, code), = launcher.wait_any()
    assert code == 0 and (tmp_path / "logs/long.log").read_text() == "started\nended\n"
    assert os.stat(tmp_path / "logs/long.log").st_nlink == 1  # the spool name is gone


def test_a_silent_job_that_ran_long_enough_to_be_followed_leaves_no_log(launcher, tmp_path, monkeypatch):
    monkeypatch.setattr(local.Launcher, "LIVE_AFTER", 0.2)
    (tmp_path / "logs").mkdir()
    launcher.spawn(0, "quiet", "while [ ! -e go ]; do sleep 0.01; done", "logs/quiet.log", lazy=True)
    time.sleep(0.3)  # (past LIVE_AFTER)
    assert launcher.wait_any(block=False) == []  # the turn that links the log
    assert (tmp_path / "logs/quiet.log").exists()
    (tmp_path / "go").touch()
    (proc, code), = launcher.wait_any()
    assert code == 0 and proc.log is None and not (tmp_path / "logs/quiet.log").exists()


def test_spools_of_an_earlier_run_are_cleared_and_none_outlive_the_run(tmp_path):
    spool = tmp_path / ".rulec" / "spool"
    spool.mkdir(parents=True)
    (spool / "99999-0.log").write_text("left by a killed run")
    with local.Launcher(str(tmp_path)) as lnch:
        run_one(lnch, "echo x", log="x.log", lazy=True)
        assert not (spool / "99999-0.log").exists()
    assert list(spool.iterdir()) == []


def test_closing_ends_every_worker(tmp_path):
    lnch = local.Launcher(str(tmp_path))
    run_one(lnch, "true")
    popen = lnch.workers[0].popen
    lnch.close()
    assert popen.poll() is not None


def test_stop_all_copes_with_a_request_cut_short(launcher, monkeypatch):
    """An interrupt in the middle of writing a request: the worker never starts the job."""
    real_write = os.write

    def half_write(fd, data):
        real_write(fd, bytes(data[:5]))
        raise KeyboardInterrupt

    monkeypatch.setattr(local.os, "write", half_write)
    with pytest.raises(KeyboardInterrupt):
        launcher.spawn(0, "cut", "echo never", "cut.log")
    monkeypatch.setattr(local.os, "write", real_write)
    proc = launcher.running()[0]
    t0 = time.monotonic()
    assert launcher.stop_all(grace=0.2) == [(proc, None)]
    assert time.monotonic() - t0 < 8 and launcher.running() == []
    assert run_one(launcher, "echo next")[1:] == (0, "next\n")


# --------------------------------------------------------------------------- a job ends with its group

def _read_pid(path: Path, timeout: float = 5.0) -> int:
    deadline = time.monotonic() + timeout
    while not (path.exists() and path.read_text().strip()):
        assert time.monotonic() < deadline, f"{path} was not written"
        time.sleep(0.01)
    return int(path.read_text())


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return False


def test_a_job_whose_shell_is_killed_does_not_end_before_its_children(launcher, tmp_path):
    """SIGKILL of a job's shell leaves its children running, in its group: the job is
    reported only once they are gone too (its outputs are judged, or removed, next)."""
    launcher.spawn(0, "j", "sleep 30 & echo $! > child; echo $BASHPID > leader; wait", "j.log")
    leader, child = _read_pid(tmp_path / "leader"), _read_pid(tmp_path / "child")
    os.kill(leader, signal.SIGKILL)
    (proc, code), = launcher.wait_any()
    assert code == -signal.SIGKILL
    assert proc.left == [child] and not _alive(child)  # (a zombie until init reaps it)
    assert _group_gone(proc.pid)


def test_a_job_that_exits_0_leaving_a_child_running_has_it_stopped(launcher, tmp_path):
    _, code, _ = run_one(launcher, "(sleep 30; echo late > late.txt) & echo $! > child")
    child = int((tmp_path / "child").read_text())
    assert code == 0 and launcher.running() == []
    assert not _alive(child)  # stopped before the job was reported, not 30 s later
    assert not (tmp_path / "late.txt").exists()


def test_a_child_that_ignores_term_is_killed_after_the_grace(launcher, tmp_path, monkeypatch):
    monkeypatch.setattr(local.Launcher, "LEFTOVER_GRACE", 0.3)
    t0 = time.monotonic()
    proc, code, _ = run_one(launcher, "(trap '' TERM; while :; do sleep 0.05; done) & echo $! > child; sleep 0.1")
    assert code == 0 and proc.left and not _alive(int((tmp_path / "child").read_text()))
    assert time.monotonic() - t0 < 3


def test_a_job_that_waits_for_its_children_leaves_nothing(launcher):
    proc, code, text = run_one(launcher, "sleep 0.1 | cat; (echo sub) & wait")
    assert (code, text, proc.left) == (0, "sub\n", [])


class Journal:
    def __init__(self):
        self.calls = []

    def worker(self, pid):
        self.calls.append(("worker", pid))

    def handed(self, worker, job_id):
        self.calls.append(("handed", worker, job_id))


def test_the_journal_hears_of_each_worker_before_its_first_job_and_of_each_job_before_it_starts(tmp_path):
    journal = Journal()
    with local.Launcher(str(tmp_path), journal) as lnch:
        proc, code, _ = run_one(lnch, "true", job_id="a[1]")
        worker = lnch.workers[0].popen.pid
        assert journal.calls == [("worker", worker), ("handed", worker, "a[1]")]
        assert os.getsid(worker) == worker  # a session of its own: what a later run looks for


def test_a_running_jobs_pid_is_its_workers_child_and_comes_with_its_status(launcher, tmp_path):
    """The worker says nothing when a job starts (one wake-up of rulec less per job): the
    pid is asked of the system when needed, and said with the job's status."""
    launcher.spawn(0, "j", "echo $BASHPID > pid; sleep 0.3", "j.log")
    proc = launcher.running()[0]
    assert proc.pid is None
    pid = launcher._pid_of(proc, [])
    assert local._children(proc.worker.popen.pid) == [pid] and _read_pid(tmp_path / "pid") == pid
    proc.pid = None  # forgotten: the status line says it again
    (done, code), = launcher.wait_any()
    assert done is proc and code == 0 and proc.pid == pid


def test_a_newline_in_the_job_id_of_a_long_command_runs_nothing(launcher, tmp_path):
    """The script file's first line is a comment with the job id: a newline in it (a value
    from a file name) must not end the comment."""
    jid = "long[x\ntouch PWNED\n]"
    _, code, text = run_one(launcher, ": " + "x" * local.INLINE_LIMIT + "\necho ran", job_id=jid)
    assert (code, text) == (0, "ran\n")
    assert not (tmp_path / "PWNED").exists()
    first = Path(local.script_path(str(tmp_path), jid)).read_text().splitlines()[0]
    assert first == "# long[x\\x0atouch PWNED\\x0a]"


def test_an_interrupt_while_waiting_for_a_jobs_leftovers_leaves_the_job_to_stop_all(launcher, tmp_path, monkeypatch):
    monkeypatch.setattr(local.Launcher, "LEFTOVER_GRACE", 30.0)
    real = local.end_group

    def interrupted(pgid, grace):
        if grace:
            raise KeyboardInterrupt  # (Ctrl-C while it waits out the grace)
        return real(pgid, grace)

    monkeypatch.setattr(local, "end_group", interrupted)
    launcher.spawn(0, "j", "sleep 30 & echo $! > child", "j.log")
    with pytest.raises(KeyboardInterrupt):
        launcher.wait_any()
    (proc,) = launcher.running()  # still the launcher's: the run loop removes its outputs
    (done, code), = launcher.stop_all(grace=0.2)
    assert done is proc and code == 0 and proc.left
    assert not _alive(int((tmp_path / "child").read_text())) and launcher.running() == []
    monkeypatch.setattr(local, "end_group", real)
    assert run_one(launcher, "echo next")[1:] == (0, "next\n")  # its worker is free again


# --------------------------------------------------------------------------- queued jobs

def _first(launcher, job_id, command, log="a.log", **kw):
    """Start a job and wait until its worker runs it (its pid is known)."""
    proc = launcher.spawn(0, job_id, command, log, **kw)
    launcher._pid_of(proc, [])
    return proc


def _collect(launcher, n, timeout=10.0):
    """What wait_any says until ``n`` finished jobs have come: [(job id, code)] in order."""
    out, ended = [], 0
    deadline = time.monotonic() + timeout
    while ended < n:
        assert time.monotonic() < deadline, f"timed out: {out}"
        for proc, code in launcher.wait_any():
            out.append((proc.job_id, code))
            ended += code not in (local.STARTED, local.RETURNED)
    return out


def test_a_queued_job_starts_when_the_job_before_it_ends_and_is_said_to_then(launcher, tmp_path):
    first = _first(launcher, "first", gate() + "; date +%s.%N > first.end")
    second = launcher.spawn(1, "second", "date +%s.%N > second.start", "b.log", after=first)
    assert launcher.running() == [first] and launcher.queued() == [second]  # queued: not running
    assert not (tmp_path / "second.start").exists()
    (tmp_path / "go").touch()
    (p, code), (q, started) = launcher.wait_any()
    assert (p, code, q, started) == (first, 0, second, local.STARTED)
    assert launcher.running() == [second] and launcher.queued() == []
    assert _collect(launcher, 1) == [("second", 0)]
    assert float((tmp_path / "second.start").read_text()) >= float((tmp_path / "first.end").read_text())
    assert len(launcher.workers) == 1  # the same worker ran both
    assert run_one(launcher, "echo next")[1:] == (0, "next\n")  # and is idle again


def test_a_job_whose_worker_started_the_next_is_not_checked_again_for_processes_left(launcher, monkeypatch):
    # The worker starts a queued job only once the group of the one before is gone: that
    # job needs no killpg of its own; the last one, with none behind it, gets one.
    checked = []
    monkeypatch.setattr(local, "end_group", lambda pgid, grace: checked.append(pgid) or [])
    first = _first(launcher, "first", gate())
    launcher.spawn(1, "second", "true", "b.log", after=first)
    (Path(launcher.workdir) / "go").touch()
    assert _collect(launcher, 2) == [("first", 0), ("second", local.STARTED), ("second", 0)]
    assert len(checked) == 1 and checked != [first.pid]


@pytest.mark.parametrize("command, guard, why", [
    ("sleep 0.2; exit 3", "", "its exit status"),
    ("sleep 0.2", local.guard(["out.txt"]), "an output it did not write"),
    ("sleep 0.2", ("out.txt",), "its one output, not written"),
    ("sleep 0.2; touch made", ("made/",), "its one folder output, a file"),
    ("sleep 0.2; touch out.txt; exit 3", ("out.txt",), "its exit status, with its one output"),
    ("sleep 0.2; mkdir d; exit 3", ("d/",), "its exit status, with its one folder"),
    ("sleep 0.2; touch a", ("a", "b/"), "one of its outputs missing"),
    ("sleep 0.2; exit 1", (), "its exit status, with no outputs"),
    ("sleep 0.2; mkdir -p made", local.guard(["made", "folder/"]), "a folder output missing"),
    ("sleep 0.2; sleep 30 &", "", "a process it left in its group"),
])
def test_a_queued_job_does_not_start_after_the_job_before_it_failed(launcher, tmp_path, command, guard, why):
    first = _first(launcher, "first", command)
    launcher.spawn(1, "second", "touch second.ran", "b.log", after=first, guard=guard)
    happened = launcher.wait_any()
    assert [(p.job_id, code) for p, code in happened][1:] == [("second", local.RETURNED)], why
    time.sleep(0.1)
    assert not (tmp_path / "second.ran").exists()
    assert launcher.running() == [] and launcher.queued() == [] and launcher.idle


def test_a_queued_job_whose_guard_holds_starts(launcher, tmp_path):
    first = _first(launcher, "first", "sleep 0.2; echo x > 'out put.txt'; mkdir -p d")
    launcher.spawn(1, "second", "touch second.ran", "b.log", after=first, guard=local.guard(["out put.txt", "d/"]))
    assert _collect(launcher, 2) == [("first", 0), ("second", local.STARTED), ("second", 0)]
    assert (tmp_path / "second.ran").exists()


@pytest.mark.parametrize("outputs", [
    ("it's a file -n",), ("-n",), ("a folder/",), ("x", "-y", "z z/"), (),
])
def test_a_queued_job_starts_when_the_job_before_leaves_its_outputs(launcher, tmp_path, outputs):
    make = "; ".join(f"mkdir -p -- {shlex.quote(o)}" if o.endswith("/") else f"touch -- {shlex.quote(o)}" for o in outputs)
    first = _first(launcher, "first", "sleep 0.2; " + (make or "true"))
    launcher.spawn(1, "second", "touch second.ran", "b.log", after=first, guard=outputs)
    assert _collect(launcher, 2) == [("first", 0), ("second", local.STARTED), ("second", 0)]
    assert (tmp_path / "second.ran").exists()


def test_without_a_guard_a_queued_job_starts_however_the_job_before_ended(launcher, tmp_path):
    """(--keep-going)"""
    first = _first(launcher, "first", "sleep 0.2; exit 4")
    launcher.spawn(1, "second", "touch second.ran", "b.log", after=first, guard=None)
    assert _collect(launcher, 2) == [("first", 4), ("second", local.STARTED), ("second", 0)]
    assert (tmp_path / "second.ran").exists()


def test_a_queued_request_that_comes_after_the_job_ended_gets_its_verdict_on_a_line_of_its_own(launcher, tmp_path):
    """rulec may queue a job behind one whose end it has not read yet: the worker has printed
    that job's line already and reads the request as a fresh one; its verdict follows alone."""
    first = launcher.spawn(0, "first", "true", "a.log")
    time.sleep(0.3)  # ended, its line unread
    second = launcher.spawn(1, "second", "touch second.ran", "b.log", after=first, guard="")
    (p, code), (q, verdict) = launcher.wait_any()  # (one call: the verdict is read at once)
    assert (p, code, q, verdict) == (first, 0, second, local.STARTED)
    assert _collect(launcher, 1) == [("second", 0)]
    first = launcher.spawn(0, "third", "exit 1", "a.log")
    time.sleep(0.3)
    launcher.spawn(1, "fourth", "touch fourth.ran", "b.log", after=first, guard="")
    assert [(p.job_id, c) for p, c in launcher.wait_any()] == [("third", 1), ("fourth", local.RETURNED)]
    assert not (tmp_path / "fourth.ran").exists()


def test_a_held_queued_job_is_given_back_unstarted(launcher, tmp_path):
    first = _first(launcher, "first", gate())
    second = launcher.spawn(1, "second", "touch second.ran", "b.log", after=first, guard=None)
    assert launcher.hold(second) and not launcher.hold(first)
    (tmp_path / "go").touch()
    assert _collect(launcher, 1) == [("first", 0), ("second", local.RETURNED)]
    assert not (tmp_path / "second.ran").exists()
    first = _first(launcher, "third", gate("go2"))  # the same worker queues again afterwards
    launcher.spawn(1, "fourth", "touch fourth.ran", "b.log", after=first, guard=None)
    (tmp_path / "go2").touch()
    assert _collect(launcher, 2) == [("third", 0), ("fourth", local.STARTED), ("fourth", 0)]


def test_stop_all_never_starts_a_queued_job(launcher, tmp_path):
    first = _first(launcher, "first", "sleep 30", "a.log")
    other = _first(launcher, "other", "sleep 30", "o.log")
    launcher.spawn(2, "second", "touch second.ran", "b.log", after=first, guard=None)
    launcher.spawn(3, "third", "touch third.ran", "c.log", after=other, guard="")
    done = {p.job_id: code for p, code in launcher.stop_all(grace=0.5)}
    assert done == {"first": -signal.SIGTERM, "other": -signal.SIGTERM, "second": local.RETURNED, "third": local.RETURNED}
    time.sleep(0.1)
    assert not (tmp_path / "second.ran").exists() and not (tmp_path / "third.ran").exists()
    assert launcher.running() == [] and launcher.queued() == []


def test_a_killed_worker_gives_its_queued_job_back(launcher, tmp_path):
    first = _first(launcher, "first", "sleep 30", "a.log")
    launcher.spawn(1, "second", "touch second.ran", "b.log", after=first, guard=None)
    first.worker.popen.kill()
    assert [(p.job_id, c) for p, c in launcher.wait_any()] == [("first", None), ("second", local.RETURNED)]
    assert _group_gone(first.pid) and not (tmp_path / "second.ran").exists()


def test_stop_all_copes_with_a_queued_request_cut_short(launcher, monkeypatch, tmp_path):
    first = _first(launcher, "first", "sleep 30", "a.log")
    real_write = os.write

    def half_write(fd, data):
        real_write(fd, bytes(data[:5]))
        raise KeyboardInterrupt

    monkeypatch.setattr(local.os, "write", half_write)
    with pytest.raises(KeyboardInterrupt):
        launcher.spawn(1, "cut", "touch cut.ran", "b.log", after=first, guard=None)
    monkeypatch.setattr(local.os, "write", real_write)
    t0 = time.monotonic()
    done = [(p.job_id, c) for p, c in launcher.stop_all(grace=0.3)]
    assert time.monotonic() - t0 < 5
    assert done == [("first", None), ("cut", local.RETURNED)]  # its worker could not say: killed
    assert _group_gone(first.pid) and not (tmp_path / "cut.ran").exists()


def test_queued_jobs_lazy_logs_do_not_mix(launcher, tmp_path):
    """A queued job starts while the job before it is finished: the two write to different spools."""
    (tmp_path / "logs").mkdir()
    first = _first(launcher, "a", "echo from a; sleep 0.2; echo end of a", "logs/a.log", lazy=True)
    # (b runs until c is queued behind it: else it may end before its start is read)
    second = launcher.spawn(1, "b", "echo from b; " + gate(), "logs/b.log", lazy=True, after=first, guard="")
    third = None
    events = []
    while len([e for e in events if e[1] not in (local.STARTED, local.RETURNED)]) < 3:
        for proc, code in launcher.wait_any():
            events.append((proc.job_id, code))
            if proc is second and code is local.STARTED:
                third = launcher.spawn(2, "c", "true", "logs/c.log", lazy=True, after=second, guard="")
                (tmp_path / "go").touch()
    assert third is not None and events[-1] == ("c", 0)
    assert (tmp_path / "logs/a.log").read_text() == "from a\nend of a\n"
    assert (tmp_path / "logs/b.log").read_text() == "from b\n"
    assert not (tmp_path / "logs/c.log").exists()


def test_the_journal_names_a_queued_job_only_once_it_has_started(tmp_path):
    class Journal:
        def __init__(self):
            self.lines = []

        def worker(self, pid):
            self.lines.append(("w", pid))

        def handed(self, worker, job_id):
            self.lines.append(("q", job_id))

    journal = Journal()
    with local.Launcher(str(tmp_path), journal) as lnch:
        first = _first(lnch, "first", "sleep 0.3")
        lnch.spawn(1, "second", "true", "b.log", after=first, guard="")
        assert [x for x in journal.lines if x[0] == "q"] == [("q", "first")]
        _collect(lnch, 1)
        assert [x for x in journal.lines if x[0] == "q"] == [("q", "first"), ("q", "second")]
        _collect(lnch, 1)


def test_a_guard_quotes_every_path(tmp_path):
    text = local.guard(["a b", "-n", "it's", "$(touch pwned)", "dir/"])
    assert text == "[[ -e 'a b' && -e ./-n && -e 'it'\"'\"'s' && -e '$(touch pwned)' && -d dir ]]"
    for name in ("a b", "-n", "it's", "$(touch pwned)"):
        (tmp_path / name).write_text("")
    (tmp_path / "dir").mkdir()
    res = subprocess.run(["bash", "-c", text], cwd=tmp_path)
    assert res.returncode == 0 and not (tmp_path / "pwned").exists()
    assert local.guard([]) == ""

"""rulec/storage.py on fsspec's in-memory file system (``memory://``): listings, copies to and
from the scratch folder, and clear errors. The same code against a real S3 server is in
tests/e2e/test_s3.py."""

from __future__ import annotations

import os

import fsspec
import pytest

from rulec import pattern as pat
from rulec import storage
from rulec.errors import StorageError


@pytest.fixture
def mem():
    fs = fsspec.filesystem("memory")
    root = "/rulec-test"
    if fs.exists(root):
        fs.rm(root, recursive=True)
    yield fs
    if fs.exists(root):
        fs.rm(root, recursive=True)


def test_is_remote():
    assert storage.is_remote("s3://bucket/key")
    assert storage.is_remote("memory://x/y")
    assert not storage.is_remote("bld/x.txt")
    assert not storage.is_remote("/abs/path:with://colon")


def test_scratch_path_keeps_the_urls_path():
    assert storage.scratch_path("s3://bucket/raw/a.txt") == ".rulec/remote/s3/bucket/raw/a.txt"
    assert storage.scratch_path("memory:///x/a.txt") == ".rulec/remote/memory/x/a.txt"


def test_scratch_path_never_leaves_the_scratch_folder():
    for url in ("s3://b/../../../etc/passwd", "s3://b/./x/../y", "s3://b/a//c"):
        path = storage.scratch_path(url)
        assert os.path.normpath(path).startswith(".rulec/remote/s3/b"), path
    assert storage.scratch_path("s3://b/../x") == ".rulec/remote/s3/b/%2E%2E/x"
    assert storage.scratch_path("s3://b/a//c") == ".rulec/remote/s3/b/a/%2F/c"


def test_stat_many_lists_each_folder_once_and_skips_what_is_missing(mem, monkeypatch):
    mem.pipe_file("/rulec-test/raw/a.txt", b"alpha")
    mem.pipe_file("/rulec-test/raw/b.txt", b"bb")
    calls = []
    real_ls = type(mem).ls

    def counting_ls(self, path, *args, **kwargs):
        calls.append(path)
        return real_ls(self, path, *args, **kwargs)

    monkeypatch.setattr(type(mem), "ls", counting_ls)
    urls = ["memory://rulec-test/raw/a.txt", "memory://rulec-test/raw/b.txt", "memory://rulec-test/raw/c.txt",
            "memory://rulec-test/nowhere/d.txt"]
    found = storage.stat_many(urls)
    assert sorted(found) == urls[:2]
    assert found[urls[0]][1] == 5 and found[urls[1]][1] == 2
    assert found[urls[0]][0] > 0  # a modification time, in ns
    assert len(calls) == 2  # one listing per parent, missing parent included


def test_glob_values_of_a_remote_pattern(mem):
    for name in ("s1", "s2", "s10"):
        mem.pipe_file(f"/rulec-test/raw/{name}.csv", b"x")
    mem.pipe_file("/rulec-test/raw/notes.txt", b"x")
    mem.pipe_file("/rulec-test/raw/deeper/s4.csv", b"x")  # as in a shell glob: no '/' in a value
    values = storage.glob_values(pat.compile("memory://rulec-test/raw/{sample}.csv"), "sample", ".")
    assert values == ["s1", "s10", "s2"]
    assert storage.glob_values(pat.compile("memory://rulec-test/nothing/{sample}.csv"), "sample", ".") == []


def test_download_upload_remove(mem, tmp_path):
    mem.pipe_file("/rulec-test/raw/a.txt", b"alpha")
    url = "memory://rulec-test/raw/a.txt"
    storage.download([url], str(tmp_path))
    local = tmp_path / storage.scratch_path(url)
    assert local.read_bytes() == b"alpha"
    assert not os.path.exists(str(local) + ".part")

    out = "memory://rulec-test/out/b.txt"
    (tmp_path / storage.scratch_path(out)).parent.mkdir(parents=True)
    (tmp_path / storage.scratch_path(out)).write_bytes(b"result")
    storage.upload([out], str(tmp_path))
    assert mem.cat_file("/rulec-test/out/b.txt") == b"result"
    storage.remove([out, "memory://rulec-test/out/never.txt"])
    assert not mem.exists("/rulec-test/out/b.txt")


def test_an_unreachable_store_is_a_clear_error(monkeypatch):
    class Broken(fsspec.AbstractFileSystem):
        protocol = "brokenfs"

        def ls(self, path, detail=True, **kwargs):
            raise ConnectionError("Could not connect to the endpoint URL\nsecond line")

    fsspec.register_implementation("brokenfs", Broken, clobber=True)
    with pytest.raises(StorageError) as info:
        storage.stat_many(["brokenfs://b/x.txt"])
    assert info.value.message == "cannot reach brokenfs://b: Could not connect to the endpoint URL"
    assert "FSSPEC_BROKENFS_ENDPOINT_URL" in info.value.hint


def test_the_module_command_cluster_tasks_run(mem, tmp_path, monkeypatch, capsys):
    """``python -m rulec.storage get|put|rm URL...``, run from the working folder."""
    monkeypatch.chdir(tmp_path)
    mem.pipe_file("/rulec-test/raw/a.txt", b"alpha")
    assert storage.main(["get", "memory://rulec-test/raw/a.txt"]) == 0
    assert (tmp_path / ".rulec/remote/memory/rulec-test/raw/a.txt").read_bytes() == b"alpha"
    out = tmp_path / ".rulec/remote/memory/rulec-test/out/b.txt"
    out.parent.mkdir(parents=True)
    out.write_bytes(b"made")
    assert storage.main(["put", "memory://rulec-test/out/b.txt"]) == 0
    assert mem.cat_file("/rulec-test/out/b.txt") == b"made"
    assert storage.main(["rm", "memory://rulec-test/out/b.txt"]) == 0
    assert not mem.exists("/rulec-test/out/b.txt")
    assert storage.main(["get", "memory://rulec-test/raw/missing.txt"]) == 1
    assert "rulec: cannot get memory://rulec-test/raw/missing.txt" in capsys.readouterr().err
    assert storage.main(["copy"]) == 2


def test_staged_command_only_wraps_what_is_remote():
    cmd = storage.staged_command("sort in > out", ["s3://b/in", "local.txt"], ["s3://b/out"], "/usr/bin/python3")
    assert cmd.splitlines() == [
        "/usr/bin/python3 -m rulec.storage get s3://b/in",
        "/usr/bin/python3 -m rulec.storage rm s3://b/out",
        "sort in > out",
        "/usr/bin/python3 -m rulec.storage put s3://b/out",
    ]
    assert storage.staged_command("x", ["s3://b/in"], ["local"], "py").splitlines() == ["py -m rulec.storage get s3://b/in", "x"]


# --------------------------------------------------------------------------- passwords in URLs

def test_mask_secrets_hides_the_password_of_every_url():
    from rulec.errors import mask_secrets

    assert mask_secrets("ftp://user:pw@host/x") == "ftp://user:***@host/x"
    assert mask_secrets("cannot reach s3://key:secret@bucket/a/b: denied") == "cannot reach s3://key:***@bucket/a/b: denied"
    assert mask_secrets("https://u:p@h/x and sftp://me:s3@h:22/y.") == "https://u:***@h/x and sftp://me:***@h:22/y."
    assert mask_secrets("['ftp://u:p@h/x', 'b']") == "['ftp://u:***@h/x', 'b']"
    assert mask_secrets("s3://AKIA:wJal/K7MD@cret@bucket/key") == "s3://AKIA:***@bucket/key"  # '/' and '@' in it
    assert mask_secrets("ftp://:pw@host") == "ftp://:***@host"
    for text in ("ftp://user@host/x", "https://host:8080/x", "http://h/x?a=b:c@d", "mail me@host", "a:b@c"):
        assert mask_secrets(text) == text


def test_a_storage_error_on_a_url_with_a_password_does_not_show_it():
    # Nothing listens on port 1: the connection is refused at once.
    url = "ftp://user:s3cr3tpw@127.0.0.1:1/data/x.txt"
    with pytest.raises(StorageError) as info:
        storage.stat_many([url])
    text = info.value.render()
    assert "s3cr3tpw" not in text and "s3cr3tpw" not in str(info.value)
    # the URL's host and port are used (not a file system without them)
    assert text.startswith("cannot reach ftp://user:***@127.0.0.1:1/data: "), text
    assert "host" not in text.split(": ", 1)[1], text


def test_the_module_command_does_not_show_passwords(capsys):
    assert storage.main(["get", "ftp://user:s3cr3tpw@127.0.0.1:1/x.txt"]) == 1
    err = capsys.readouterr().err
    assert "s3cr3tpw" not in err and "ftp://user:***@127.0.0.1:1/x.txt" in err, err


def test_read_regular_reads_files_only(tmp_path):
    from rulec.storage import read_regular

    (tmp_path / "f").write_bytes(b"data")
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "link").symlink_to("/dev/zero")
    assert read_regular(str(tmp_path / "f")) == b"data"
    assert read_regular(str(tmp_path / "fifo")) is None  # never blocks
    assert read_regular(str(tmp_path / "link")) is None  # never endless
    assert read_regular(str(tmp_path / "missing")) is None
    assert read_regular(str(tmp_path)) is None


def test_write_replacing_is_whole_or_nothing(tmp_path, monkeypatch):
    from rulec.storage import write_replacing

    target = tmp_path / "out.bin"
    write_replacing(str(target), b"first")
    assert target.read_bytes() == b"first" and (target.stat().st_mode & 0o777) == 0o600
    umask = os.umask(0)
    os.umask(umask)
    write_replacing(str(target), b"second", mode=0o666)
    assert target.read_bytes() == b"second" and (target.stat().st_mode & 0o777) == 0o666 & ~umask

    def broken(src, dst):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", broken)
    with pytest.raises(KeyboardInterrupt):
        write_replacing(str(target), b"third")
    assert target.read_bytes() == b"second"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.bin"]  # no temporary file left


def test_write_replacing_takes_a_free_temporary_name(tmp_path, monkeypatch):
    """The temporary file is made with O_EXCL: a name that is taken (a file, or a symbolic
    link an attacker planted) is never written through; the next random name is tried."""
    from rulec import storage

    target = tmp_path / "out.bin"
    victim = tmp_path / "victim"
    victim.write_bytes(b"keep")
    names = iter([b"\x00" * 6, b"\x00" * 6, b"\x01" * 6])
    monkeypatch.setattr(os, "urandom", lambda n: next(names))
    taken = tmp_path / ".out.bin.000000000000.tmp"
    taken.symlink_to(victim)
    storage.write_replacing(str(target), b"data")
    assert target.read_bytes() == b"data" and victim.read_bytes() == b"keep"
    assert sorted(p.name for p in tmp_path.iterdir()) == [".out.bin.000000000000.tmp", "out.bin", "victim"]

import os

from rulec.state import Snapshot, snapshot


def test_snapshot_reads_existing_files_in_batches(tmp_path):
    (tmp_path / "a").mkdir()
    for i in range(5):
        (tmp_path / "a" / f"f{i}.txt").write_text("x" * i)
    (tmp_path / "top.txt").write_text("top")
    paths = [f"a/f{i}.txt" for i in range(7)] + ["top.txt", "nodir/x.txt", "a/f1.txt/bad"]
    snap = snapshot(paths, str(tmp_path))
    assert len(snap) == 6
    assert snap.get("a/f3.txt")[1] == 3
    assert snap.get("a/f3.txt")[0] == os.stat(tmp_path / "a" / "f3.txt").st_mtime_ns
    assert snap.exists("top.txt")
    assert not snap.exists("a/f6.txt")
    assert not snap.exists("nodir/x.txt")
    assert snap.get("a/f1.txt/bad") is None


def test_snapshot_is_a_plain_value():
    snap = Snapshot({"x": (5, 1)}, tolerance_ns=3)
    assert snap.mtime("x") == 5 and snap.mtime("y") is None
    snap.update("y", (7, 2))
    snap.update("x", None)
    assert snap.as_dict() == {"y": (7, 2)}
    assert snap.tolerance_ns == 3


def _tree(root):
    (root / "idx" / "sub" / "deeper").mkdir(parents=True)
    (root / "idx" / "a.bin").write_text("aaaa")
    (root / "idx" / "sub" / "deeper" / "b.bin").write_text("bb")
    (root / "plain.txt").write_text("p")


def test_a_folder_given_as_a_tree_is_signed_by_every_file_under_it(tmp_path):
    from rulec.state import tree_stat

    _tree(tmp_path)
    idx = tmp_path / "idx"
    first = tree_stat(str(idx))
    assert first == tree_stat(str(idx))  # the same tree, the same stat
    deep = idx / "sub" / "deeper" / "b.bin"
    assert first[0] == max(os.stat(p).st_mtime_ns for p in (idx, idx / "sub", idx / "sub" / "deeper", idx / "a.bin", deep))
    # a file changed deep inside (same size, another mtime): the folders' own stats do not move
    folder_stats = [os.stat(p) for p in (idx, idx / "sub")]
    os.utime(deep, ns=(deep.stat().st_atime_ns, deep.stat().st_mtime_ns - 10**9))
    assert [os.stat(p) for p in (idx, idx / "sub")] == folder_stats
    second = tree_stat(str(idx))
    assert second != first
    deep.write_text("BB")  # same size, content changed (and mtime)
    third = tree_stat(str(idx))
    assert third not in (first, second)
    (idx / "sub" / "new.txt").write_text("")  # a file added
    assert tree_stat(str(idx)) != third
    (idx / "sub" / "new.txt").unlink()
    (idx / "sub" / "empty").mkdir()  # an empty folder added
    assert tree_stat(str(idx))[1] != third[1]
    assert tree_stat(str(tmp_path / "plain.txt")) is None
    assert tree_stat(str(tmp_path / "missing")) is None


def test_only_the_paths_given_as_trees_are_walked(tmp_path, monkeypatch):
    from rulec import state

    _tree(tmp_path)
    walked = []
    real = state.tree_stat
    monkeypatch.setattr(state, "tree_stat", lambda p: walked.append(p) or real(p))
    plain = snapshot(["idx", "plain.txt", "gone"], str(tmp_path))
    assert walked == [] and plain.get("idx") == (os.stat(tmp_path / "idx").st_mtime_ns, os.stat(tmp_path / "idx").st_size)
    signed = snapshot(["idx", "plain.txt", "gone"], str(tmp_path), trees={"idx", "plain.txt", "gone", "elsewhere"})
    # a missing tree is not looked at; one that is a file keeps its stat as a file
    assert sorted(os.path.basename(p) for p in walked) == ["idx", "plain.txt"]
    assert signed.get("idx") == real(str(tmp_path / "idx"))
    assert signed.get("plain.txt") == plain.get("plain.txt")
    assert signed.get("gone") is None and "elsewhere" not in signed


def test_snapshot_of_a_folder_holds_what_exists_and_nothing_else(tmp_path):
    (tmp_path / "d").mkdir()
    for name in ("a", "b", "c"):
        (tmp_path / "d" / name).write_text(name * 3)
    (tmp_path / "d" / "dangling").symlink_to(tmp_path / "nowhere")
    (tmp_path / "d" / "link").symlink_to(tmp_path / "d" / "a")
    (tmp_path / "f").write_text("a file, not a folder")
    paths = ["d/a", "d/b", "d/c", "d/gone", "d/dangling", "d/link", "f/x", "f/y", "f/z", "no/1", "no/2", "no/3"]
    snap = snapshot(paths, str(tmp_path))
    assert sorted(snap.as_dict()) == ["d/a", "d/b", "d/c", "d/link"]
    st = os.stat(tmp_path / "d" / "a")
    assert snap.get("d/a") == (st.st_mtime_ns, 3)
    assert snap.get("d/link") == snap.get("d/a")  # a link counts as its target


def test_paths_of_folders_taken_in_turn_are_all_read(tmp_path):
    """Paths of one folder come mostly one after another (runs are grouped): a folder met
    again later, and the top folder, are read as well."""
    from rulec.state import snapshot

    for rel in ("a/x", "b/y", "a/z", "top", "b/w"):
        (tmp_path / rel).parent.mkdir(exist_ok=True)
        (tmp_path / rel).write_text(rel)
    paths = ["a/x", "b/y", "a/z", "top", "a/none", "b/w", "c/none", "a/x"]
    snap = snapshot(paths, str(tmp_path))
    assert sorted(p for p in paths if p in snap) == ["a/x", "a/x", "a/z", "b/w", "b/y", "top"]
    assert snap.get("a/z")[1] == 3 and "a/none" not in snap and "c/none" not in snap

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

"""Written files: atomic, checksummed, following the umask, and refused or reported in words when the disk fails."""

from __future__ import annotations

import errno
import os
import resource
import subprocess
import sys
import textwrap

import pytest
import torch

from art_sor.storage import DiskFullError, load_checked, save_checked, write_text


def test_a_full_disk_keeps_the_previous_file_and_says_so(tmp_path, monkeypatch):
    path = save_checked(tmp_path / "state.pt", {"epoch": torch.tensor(1)})
    before = path.read_bytes()

    def no_space(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(torch, "save", no_space)
    with pytest.raises(DiskFullError, match=r"no space left on the device while writing .*state.pt; the previous "
                                            r"state.pt is untouched .* nothing saved before was lost"):
        save_checked(path, {"epoch": torch.tensor(2)})
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["state.pt"]  # no partial file left behind
    with pytest.raises(OSError, match="Permission"):  # other OS errors pass through unchanged
        monkeypatch.setattr(torch, "save", lambda *a, **k: (_ for _ in ()).throw(PermissionError("Permission")))
        save_checked(path, {})
    write_text(tmp_path / "ok.txt", "fine")


def test_the_file_size_limit_while_saving_names_the_file_and_the_limit(tmp_path):
    code = textwrap.dedent(f"""
        import torch
        from art_sor.storage import DiskFullError, save_checked, write_text
        for write in (lambda: save_checked({str(tmp_path / 'state.pt')!r}, {{"w": torch.zeros(100_000)}}),
                      lambda: write_text({str(tmp_path / 'report.json')!r}, "x" * 200_000)):
            try:
                write()
            except DiskFullError as error:
                print(error)
    """)
    child = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                           preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (100_000, 100_000)))
    assert child.returncode == 0, child.stderr
    lines = child.stdout.splitlines()
    assert len(lines) == 2, child.stdout + child.stderr
    for line, name in zip(lines, ("state.pt", "report.json"), strict=True):
        assert line.startswith("the file-size limit of 100000 bytes (ulimit -f) was reached while writing")
        assert name in line and f"no {name} was written" in line
    assert not list(tmp_path.iterdir())


WRITER = textwrap.dedent("""
    import sys, torch
    from art_sor.storage import save_checked
    for i in range(40):
        save_checked(sys.argv[1], {"value": torch.full((1000,), float(sys.argv[2])), "i": i})
""")


@pytest.mark.slow
def test_concurrent_writers_never_collide_or_tear(tmp_path):
    path = tmp_path / "state.pt"
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, str(path), str(k)], stderr=subprocess.PIPE)
               for k in (1, 2)]
    errors = [w.communicate()[1].decode() for w in writers]
    assert all(w.returncode == 0 for w in writers), errors
    state = load_checked(path)
    assert state["value"].unique().numel() == 1
    assert not list(tmp_path.glob("*.tmp"))


def test_save_is_atomic_under_a_unique_name(tmp_path):
    save_checked(tmp_path / "a.pt", {"x": torch.zeros(3)})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.pt"]


def test_written_files_follow_the_umask(tmp_path):
    import os

    from art_sor.storage import write_text

    previous = os.umask(0o022)
    try:
        assert (write_text(tmp_path / "a.txt", "x").stat().st_mode & 0o777) == 0o644
        os.umask(0o077)
        assert (write_text(tmp_path / "b.txt", "x").stat().st_mode & 0o777) == 0o600
    finally:
        os.umask(previous)


def test_checksum_covers_every_field_not_only_tensors(tmp_path):
    import torch

    from art_sor.storage import CHECKSUM_KEY, CorruptFileError, load_checked, save_checked

    path = save_checked(tmp_path / "state.pt", {"model": {"w": torch.ones(2)}, "metadata": {"eps": 0.1,
                                                                                          "clip": [0.0, 1.0]}})
    assert load_checked(path)["metadata"]["eps"] == 0.1
    for field, value in (("eps", 0.2), ("clip", [0.0, 255.0])):
        state = torch.load(path, weights_only=True)
        state["metadata"][field] = value
        torch.save(state, tmp_path / "edited.pt")
        with pytest.raises(CorruptFileError, match="edited"):
            load_checked(tmp_path / "edited.pt")
    # art-sor before 0.3.0 wrote a checksum over the tensors only (no "all:" prefix): such a file is refused, and
    # the message says how to write it afresh.
    state = torch.load(path, weights_only=True)
    torch.save({**state, CHECKSUM_KEY: state[CHECKSUM_KEY].removeprefix("all:")}, tmp_path / "tensors_only.pt")
    with pytest.raises(CorruptFileError, match=r"covers its tensors only; .*run what wrote it again"):
        load_checked(tmp_path / "tensors_only.pt")


def test_an_edited_cached_evaluation_is_refused_not_reported(tmp_path):
    from art_sor.storage import CorruptFileError, read_checked_json, write_checked_json

    path = write_checked_json(tmp_path / "evaluation.json", {"key": {"plan": 1}, "result": {"accuracy": 0.624}})
    assert read_checked_json(path)["result"]["accuracy"] == 0.624
    path.write_text(path.read_text().replace("0.624", "0.669"))
    with pytest.raises(CorruptFileError, match="edited"):
        read_checked_json(path)

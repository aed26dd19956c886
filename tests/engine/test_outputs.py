"""engine.outputs: exclusive temporaries, atomic replace, cleanup, one-sentence errors."""

import errno
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from engine import outputs
from engine.outputs import OutputError, atomic_output, check_outputs, write_text

ROOT = Path(__file__).resolve().parents[2]


def test_temporary_never_an_existing_path_and_user_files_survive(tmp_path):
    final = tmp_path / "talk.mp4"
    # user files with every name older versions used for temporaries
    mine = {tmp_path / n: b"mine" for n in ("talk.part.mp4", "talk.mp4.part", ".talk.mp4.tmp.mp4")}
    for p, data in mine.items():
        p.write_bytes(data)
    with atomic_output(final) as tmp:
        assert tmp.parent == tmp_path and tmp.suffix == ".mp4"
        assert tmp not in mine and outputs.is_temporary_name(tmp.name)
        tmp.write_bytes(b"new")
    assert final.read_bytes() == b"new"
    assert all(p.read_bytes() == d for p, d in mine.items())
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([final.name, *(p.name for p in mine)])


def test_failure_and_interrupt_remove_the_temporary(tmp_path):
    final = tmp_path / "m.json"
    for exc in (ValueError("boom"), KeyboardInterrupt()):
        with pytest.raises(type(exc)), atomic_output(final) as tmp:
            tmp.write_text("half")
            raise exc
    assert list(tmp_path.iterdir()) == []
    assert not outputs._live


def test_no_overwrite_refuses_a_file_that_appeared_meanwhile(tmp_path):
    final = tmp_path / "a.txt"
    with pytest.raises(OutputError, match="appeared"), atomic_output(final, overwrite=False) as tmp:
        tmp.write_text("ours")
        final.write_text("theirs")
    assert final.read_text() == "theirs"
    assert [p.name for p in tmp_path.iterdir()] == ["a.txt"]


def test_check_outputs(tmp_path):
    (tmp_path / "exists.json").write_text("x")
    with pytest.raises(OutputError, match="already exists; use --overwrite"):
        check_outputs([(tmp_path / "new.json", "motion"), (tmp_path / "exists.json", "plot")], False)
    check_outputs([(tmp_path / "exists.json", "plot")], True)
    with pytest.raises(OutputError, match="is a folder"):
        check_outputs([(tmp_path, "motion")], True)
    with pytest.raises(OutputError, match="same file"):
        check_outputs([(tmp_path / "a.png", "plot"), (tmp_path / "a.png", "preview")], True)
    with pytest.raises(OutputError, match="is a file, not a folder"):
        check_outputs([(tmp_path / "exists.json" / "x.png", "plot")], True)
    check_outputs([(tmp_path / "sub" / "dir" / "x.png", "plot")], False)
    assert (tmp_path / "sub" / "dir").is_dir()


def test_os_errors_become_one_sentence_naming_the_file(tmp_path, monkeypatch):
    def full(*_a, **_k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(outputs.os, "replace", full)
    with pytest.raises(OutputError, match=r"no space left on device while writing .*x\.json"):
        write_text(tmp_path / "x.json", "{}")
    assert list(tmp_path.iterdir()) == []
    assert "permission denied" in outputs.describe_os_error(OSError(errno.EACCES, "x"), "/a/b")


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
def test_unwritable_folder_is_refused_up_front():
    # /proc refuses new files even for root (CI runs as root, so chmod cannot be used)
    with pytest.raises(OutputError):
        check_outputs([("/proc/talking_head_test.json", "motion")], False)


@pytest.mark.skipif(os.name != "posix", reason="SIGTERM")
def test_a_sigterm_as_the_temporary_is_created_leaves_nothing(tmp_path):
    """The signal arriving right after the temporary exists on disk (before it was registered for
    the cleanup) still removes it: the command exits 143 and leaves no temporary."""
    script = textwrap.dedent(f"""
        import os, signal, sys, tempfile
        sys.path.insert(0, {str(ROOT)!r})
        from engine import outputs
        outputs.install_signal_cleanup()
        real = tempfile.mkstemp

        def mkstemp(*a, **k):
            made = real(*a, **k)
            os.kill(os.getpid(), signal.SIGTERM)  # the file exists, not yet registered
            return made

        tempfile.mkstemp = mkstemp
        outputs.write_bytes({str(tmp_path / "frame.png")!r}, b"png")
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 128 + signal.SIGTERM, proc.stderr
    assert list(tmp_path.iterdir()) == [], list(tmp_path.iterdir())


@pytest.mark.skipif(not hasattr(signal, "pthread_kill"), reason="POSIX threads and signals")
def test_a_sigterm_another_thread_receives_as_the_temporary_is_created_leaves_nothing(tmp_path):
    """The kernel hands a process's SIGTERM to any thread that does not block it (a render has
    cv2 and BLAS workers); Python then runs the handler in the main thread at its next bytecode,
    which may lie between the temporary's creation and its registration (CI: a render killed
    with SIGTERM left ``.frame_000002.png.<random>.tmp.png``)."""
    script = textwrap.dedent(f"""
        import os, signal, sys, tempfile, threading, time
        sys.path.insert(0, {str(ROOT)!r})
        from engine import outputs
        outputs.install_signal_cleanup()
        worker = threading.Thread(target=time.sleep, args=(30,), daemon=True)  # SIGTERM not blocked
        worker.start()
        real = tempfile.mkstemp

        def mkstemp(*a, **k):
            made = real(*a, **k)
            signal.pthread_kill(worker.ident, signal.SIGTERM)  # the file exists, not yet registered
            time.sleep(0.2)  # the worker's C handler has flagged it for the main thread
            return made

        tempfile.mkstemp = mkstemp
        outputs.write_bytes({str(tmp_path / "frame.png")!r}, b"png")
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 128 + signal.SIGTERM, proc.stderr
    assert list(tmp_path.iterdir()) == [], list(tmp_path.iterdir())


def test_the_signal_cleanup_does_not_deadlock_on_its_own_lock():
    """The handler runs in the main thread between two bytecodes, possibly while that thread
    holds the registry's lock (adding or forgetting a temporary): it must not wait on it."""
    script = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(ROOT)!r})
        from engine import outputs
        with outputs._live_lock:  # as if the signal came in inside _forget / _new_temporary
            outputs.remove_live_temporaries()
        print("done")
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and proc.stdout.strip() == "done", proc.stderr

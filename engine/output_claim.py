"""One job at a time per output folder: a claim file created exclusively in the folder.

Frames are written one file at a time (each atomically, engine/outputs.py), so two renders into
one folder at once would each succeed and leave a mix of both portraits. Every frame writer
(``pipeline.render_motion``: the engine CLI, ``blender -c talking_head``, the Render button, farm
chunks) therefore claims the folder first; a second job gets one sentence and exit status 2.

Files (docs/files.md#one-job-per-output-folder):

    .talking_head_claim                   {"job", "host", "pid", "since"}: which job owns the folder;
                                          created with O_EXCL, so exactly one job wins it
    .talking_head_claim.<random>.holder   one per process writing there (same fields)

Chunks of ONE farm job write different frames into one folder at the same time: they pass the
same ``job`` id (the farm job's) and share the claim, each with its own holder file. A plain
render is a job of its own (a fresh id). The claim lives while a holder of its job lives; the
last holder out removes it. Stale claims are taken over: a holder whose process is gone (same
host, pid not running: a ``kill -9`` or a crash) is removed when seen; a holder on another host
counts as alive (its pid cannot be checked from here) and the message names it.

Why holders *and* a claim: a holder is always created before the claim is read or made, and a
job that wins the claim then looks for live holders of another job (refusing if there are
any). So two different jobs can never both go on, even when one job's last holder leaves just as
another job's process joins; in such a tight race both may be refused, never both accepted.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from .outputs import OutputError, describe_os_error

CLAIM = ".talking_head_claim"
_HOLDER_SUFFIX = ".holder"
_YOUNG_S = 10.0  # a claim file still empty this long after its creation is being written, not stale


def is_claim_name(name: str) -> bool:
    """True for the claim and holder files (folder clean-ups may remove leftovers of a crash)."""
    return name == CLAIM or (name.startswith(CLAIM + ".") and name.endswith(_HOLDER_SUFFIX))


@dataclass(frozen=True)
class _Owner:
    job: str
    host: str
    pid: int
    since: str

    def describe(self) -> str:
        here = self.host == socket.gethostname()
        return f"pid {self.pid}{'' if here else f' on {self.host}'}, since {self.since}"


def _me(job: str) -> dict:
    return {"job": job, "host": socket.gethostname(), "pid": os.getpid(),
            "since": time.strftime("%Y-%m-%d %H:%M:%S")}


def _read(path: Path) -> _Owner | None:
    """The owner a claim/holder file names; None when it is gone or not (yet) readable."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        return _Owner(str(doc["job"]), str(doc["host"]), int(doc["pid"]), str(doc.get("since", "?")))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _create(path: Path, doc: dict) -> None:
    """Create ``path`` exclusively (FileExistsError if it exists) holding ``doc``."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        os.write(fd, json.dumps(doc).encode("utf-8"))
    finally:
        os.close(fd)


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` of this machine is running (an unknown answer counts as yes)."""
    if pid <= 0:
        return False
    if os.name == "nt":  # os.kill(pid, 0) would TerminateProcess on Windows
        import ctypes

        kernel32 = ctypes.windll.kernel32  # type: ignore[attr-defined]
        handle = kernel32.OpenProcess(0x1000, False, pid)  # PROCESS_QUERY_LIMITED_INFORMATION
        if not handle:
            return kernel32.GetLastError() == 5  # access denied: it exists
        try:
            code = ctypes.c_ulong()
            kernel32.GetExitCodeProcess(handle, ctypes.byref(code))
            return code.value == 259  # STILL_ACTIVE
        finally:
            kernel32.CloseHandle(handle)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: someone else's process, alive
        return True
    return True


def _alive(owner: _Owner) -> bool:
    return owner.host != socket.gethostname() or pid_alive(owner.pid)


def _live_holders(folder: Path, *, mine: Path | None = None) -> list[_Owner]:
    """Owners of the live holder files in ``folder`` (except ``mine``); dead ones are removed."""
    found: list[_Owner] = []
    try:
        names = os.listdir(folder)
    except OSError:
        return found
    for name in names:
        if not (name.startswith(CLAIM + ".") and name.endswith(_HOLDER_SUFFIX)):
            continue
        path = folder / name
        if mine is not None and path == mine:
            continue
        owner = _read(path)
        if owner is None:
            continue  # being written right now, or gone: its process reads the claim next
        if _alive(owner):
            found.append(owner)
        else:
            with contextlib.suppress(OSError):
                path.unlink()
    return found


def _busy(folder: Path, owner: _Owner) -> OutputError:
    return OutputError(f"another job is writing into {folder} ({owner.describe()}); wait for it to "
                       "finish or choose another output folder")


def _claim_is_live(folder: Path, claim: _Owner) -> bool:
    return any(h.job == claim.job for h in _live_holders(folder))


def _remove_stale(path: Path, seen: _Owner | None) -> None:
    """Remove a stale claim, unless it changed since it was judged stale (someone took it over)."""
    if _read(path) == seen:
        with contextlib.suppress(OSError):
            path.unlink()


class FolderClaim:
    """This process's share of a folder's claim; ``release()`` (idempotent) on every exit path."""

    def __init__(self, folder: Path, job: str, holder: Path):
        self.folder, self.job, self.holder = folder, job, holder

    def release(self) -> None:
        if self.holder is None:
            return
        with contextlib.suppress(OSError):
            self.holder.unlink()
        self.holder = None
        claim = self.folder / CLAIM
        if any(h.job == self.job for h in _live_holders(self.folder)):
            return  # another process of this job (a farm chunk) is still writing
        owner = _read(claim)
        if owner is not None and owner.job == self.job:
            with contextlib.suppress(OSError):
                claim.unlink()


def claim(folder: str | os.PathLike[str], job: str | None = None) -> FolderClaim:
    """Claim ``folder`` (created if missing) for ``job`` (None: a job of its own). Raises
    OutputError naming the other job when a live job of another id has it."""
    folder = Path(folder)
    job = job or f"render-{uuid.uuid4().hex[:12]}"
    me = _me(job)
    holder = folder / f"{CLAIM}.{uuid.uuid4().hex[:12]}{_HOLDER_SUFFIX}"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create output folder {folder}: {exc.strerror or exc}; "
                          "choose a folder you can write to") from exc
    try:
        _create(holder, me)  # first: a job that wins the claim later sees this holder
    except OSError as exc:
        raise OutputError(f"cannot write to {folder}: {exc.strerror or exc}; "
                          "choose a folder you can write to") from exc
    held = FolderClaim(folder, job, holder)
    path = folder / CLAIM
    try:
        for _attempt in range(5):
            try:
                _create(path, me)
            except FileExistsError:
                owner = _read(path)
                if owner is None:  # just created by someone, not written yet -- or left empty
                    with contextlib.suppress(OSError):
                        if time.time() - path.stat().st_mtime > _YOUNG_S:
                            _remove_stale(path, None)
                            continue
                    time.sleep(0.05)
                    continue
                if owner.job == job:
                    return held  # a chunk of the same farm job: share the claim
                if _claim_is_live(folder, owner):
                    raise _busy(folder, owner) from None
                _remove_stale(path, owner)  # every holder of that job is gone: take it over
                continue
            except OSError as exc:
                raise OutputError(describe_os_error(exc, path)) from exc
            # Won the claim: a live holder of another job means it is still writing here (it
            # read a claim that its last holder then removed); leave it the folder.
            others = [h for h in _live_holders(folder, mine=holder) if h.job != job]
            if others:
                _remove_stale(path, _Owner(**me))
                raise _busy(folder, others[0])
            return held
        raise OutputError(f"cannot claim {folder}: its claim file {CLAIM} keeps changing; another "
                          "job is starting there, choose another output folder")
    except BaseException:
        held.release()
        raise


def refuse_if_claimed(folder: str | os.PathLike[str], job: str | None = None) -> None:
    """Up-front check (before a long capture): OutputError if another live job holds ``folder``.
    The render itself claims it (``claim``); this only fails early with the same sentence."""
    folder = Path(folder)
    owner = _read(folder / CLAIM)
    if owner is not None and owner.job != job and _claim_is_live(folder, owner):
        raise _busy(folder, owner)


@contextlib.contextmanager
def claimed(folder: str | os.PathLike[str], job: str | None = None) -> Iterator[FolderClaim]:
    held = claim(folder, job)
    try:
        yield held
    finally:
        held.release()

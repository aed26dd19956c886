"""One job at a time per output folder: a claim file created exclusively in the folder.

Frames are written one file at a time (each atomically, engine/outputs.py), so two renders into
one folder at once would each succeed and leave a mix of both portraits. Every frame writer
(``pipeline.render_motion``: the engine CLI, ``blender -c talking_head``, the Render button, farm
chunks) therefore claims the folder first; a second job gets one sentence and exit status 2.

Files (docs/files.md#one-job-per-output-folder):

    .talking_head_claim                   {"job", "host", "pid", "since"}: which job owns the folder;
                                          created with O_EXCL, so exactly one job wins it
    .talking_head_claim.<random>.holder   one per process writing there (same fields and a state:
                                          "pending" while it claims, "active" once it writes)

Chunks of ONE farm job write different frames into one folder at the same time: they pass the
same ``job`` id (the farm job's) and share the claim, each with its own holder file. A plain
render is a job of its own (a fresh id). The claim lives while a holder of its job lives; the
last holder out removes it. Stale claims are taken over: a holder whose process is gone (same
host, pid not running: a ``kill -9`` or a crash) is removed when seen; a holder on another host
counts as alive (its pid cannot be checked from here) and the message names it.

Why holders *and* a claim. A process creates its holder (pending) first, then wins or joins the
claim, refuses if it sees an *active* holder of another job, marks its holder active, and reads
the claim again: if it no longer names its job (its job's last holder left and removed it just
then), it goes back to pending and starts over. Two jobs can therefore never both write: of two
processes, the one that marks itself active later sees the other's claim or active holder. Two
renders started at the same instant get exactly one winner (the loser is still pending when the
winner looks, and then finds the winner's claim alive).
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from .outputs import OutputError, describe_os_error

CLAIM = ".talking_head_claim"
_HOLDER_SUFFIX = ".holder"
_TMP_SUFFIX = ".tmp"  # a holder being rewritten: ".talking_head_claim.<random>.holder.tmp"
_YOUNG_S = 10.0  # a claim file still empty this long after its creation is being written, not stale


def is_claim_name(name: str) -> bool:
    """True for the claim and holder files (folder clean-ups may remove leftovers of a crash)."""
    return name == CLAIM or (name.startswith(CLAIM + ".")
                             and name.endswith((_HOLDER_SUFFIX, _HOLDER_SUFFIX + _TMP_SUFFIX)))


@dataclass(frozen=True)
class _Owner:
    job: str
    host: str
    pid: int
    since: str
    state: str = "active"

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
        return _Owner(str(doc["job"]), str(doc["host"]), int(doc["pid"]), str(doc.get("since", "?")),
                      str(doc.get("state", "active")))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _set_state(holder: Path, doc: dict, state: str) -> None:
    """Rewrite a holder atomically (a temporary beside it, then one rename): never half-read."""
    tmp = holder.with_name(holder.name + _TMP_SUFFIX)
    tmp.write_text(json.dumps({**doc, "state": state}), encoding="utf-8")
    os.replace(tmp, holder)


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
        for leftover in (self.holder, self.holder.with_name(self.holder.name + _TMP_SUFFIX)):
            with contextlib.suppress(OSError):
                leftover.unlink()
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
        _create(holder, {**me, "state": "pending"})  # first: whoever wins the claim later sees it
    except OSError as exc:
        raise OutputError(f"cannot write to {folder}: {exc.strerror or exc}; "
                          "choose a folder you can write to") from exc
    held = FolderClaim(folder, job, holder)
    path = folder / CLAIM
    try:
        for _attempt in range(20):
            created = _win_or_join(folder, path, job, me)
            if created is None:
                continue  # the claim changed under us (being written, taken over): look again
            # A live *active* holder of another job writes here (it joined a claim that its job's
            # last holder then removed): leave it the folder. Pending ones are still claiming and
            # will find ours.
            others = [h for h in _live_holders(folder, mine=holder) if h.job != job and h.state == "active"]
            if others:
                if created:
                    _remove_stale(path, _Owner(**me))
                raise _busy(folder, others[0])
            _set_state(holder, me, "active")
            now = _read(path)
            if now is not None and now.job == job:
                return held
            _set_state(holder, me, "pending")  # our job's claim went away meanwhile: start over
        raise OutputError(f"cannot claim {folder}: its claim file {CLAIM} keeps changing; another "
                          "job is starting there, choose another output folder")
    except OSError as exc:
        held.release()
        raise OutputError(describe_os_error(exc, path)) from exc
    except BaseException:
        held.release()
        raise


def _win_or_join(folder: Path, path: Path, job: str, me: dict) -> bool | None:
    """Create the claim for ``job`` (True), find it already ``job``'s (False: a chunk of the same
    farm job shares it), or None to look again (just taken over, or not readable yet). Raises
    OutputError when another job's live claim holds the folder."""
    try:
        _create(path, me)
        return True
    except FileExistsError:
        pass
    owner = _read(path)
    if owner is None:  # just created by someone and not written yet -- or left empty by a crash
        with contextlib.suppress(OSError):
            if time.time() - path.stat().st_mtime > _YOUNG_S:
                _remove_stale(path, None)
                return None
        time.sleep(0.02)
        return None
    if owner.job == job:
        return False
    if _claim_is_live(folder, owner):
        raise _busy(folder, owner)
    _remove_stale(path, owner)  # every holder of that job is gone: take it over
    return None


def refuse_if_claimed(folder: str | os.PathLike[str], job: str | None = None) -> None:
    """Up-front check (before a long capture): OutputError if another live job holds ``folder``.
    The render itself claims it (``claim``); this only fails early with the same sentence."""
    folder = Path(folder)
    owner = _read(folder / CLAIM)
    if owner is not None and owner.job != job and _claim_is_live(folder, owner):
        raise _busy(folder, owner)


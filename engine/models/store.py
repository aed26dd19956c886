"""Per-user model storage: verified downloads (progress, resume, cancel) and offline installs.

Layout: ``<root>/<set>/<file>`` holds only verified files. Downloads go to
``<root>/<set>/.partial/<file>.part`` (kept on cancel or a dropped connection so the next
download resumes with an HTTP Range request) and are moved into place with ``os.replace`` only
after their size and sha256 match the registry, so a failure never leaves a half-installed
file where the renderer looks. ``<root>/<set>/.state.json`` caches which files were verified at
which size and mtime (so status checks do not rehash hundreds of MB) and which files the user
vouched for without a published checksum.

Network: nothing here opens a connection unless the caller passes ``allow_network=True``; then
every request goes through engine/net_policy.py (redirects checked hop by hop, no proxy for a
loopback mirror, deadlines, cancel) and a file is never read past the registry's size.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import tempfile
import zipfile
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from .. import limits
from ..errors import EngineError
from ..net_policy import NetworkPolicy
from ..outputs import describe_os_error
from ..progress import Progress
from .registry import ModelFile, ModelSet, get_set

Opener = Callable[[], IO[bytes]]

ENV_MODELS_DIR = "TALKING_HEAD_MODELS"
ENV_BASE_URL = "TALKING_HEAD_MODELS_URL"  # replaces every file URL's folder (mirrors, tests)
CHUNK = 1 << 20

OK, MISSING, CORRUPT, UNVERIFIED, TRUSTED = "ok", "missing", "corrupt", "unverified", "trusted"


class ModelStoreError(EngineError):
    """A model file could not be obtained or is not the expected file."""


class NetworkNotAllowed(ModelStoreError):
    """A download was needed but the user has not allowed network access."""


class _DownloadBroke(ModelStoreError):
    """The network policy's sentence for a broken download (reworded with the file's name)."""


class ChecksumMismatch(ModelStoreError):
    """A file's content differs from the registry's sha256 or size."""


def default_models_dir() -> Path:
    """Where models live when the caller does not say: $TALKING_HEAD_MODELS, else the OS cache
    dir (%LOCALAPPDATA%, ~/Library/Caches, $XDG_CACHE_HOME or ~/.cache) + talking_head/models.
    Blender passes its extension user directory explicitly instead."""
    env = os.environ.get(ENV_MODELS_DIR)
    if env:
        return Path(env).expanduser()
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Caches"
    else:
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "talking_head" / "models"


def sha256_file(path: Path, progress: Progress | None = None) -> str:
    h = hashlib.sha256()
    total = path.stat().st_size
    done = 0
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
            done += len(chunk)
            if progress is not None:
                progress.update(done, total, f"checking {path.name}")
    return h.hexdigest()


def _fmt_mb(n: int | None) -> str:
    return "size unknown" if n is None else f"{n / 1e6:.1f} MB"


class ModelStore:
    def __init__(self, root: Path | str | None = None, base_url: str | None = None):
        self.root = Path(root) if root is not None else default_models_dir()
        self.base_url = base_url or os.environ.get(ENV_BASE_URL) or None

    # ----------------------------------------------------------------- paths and state
    def set_dir(self, set_name: str) -> Path:
        return self.root / get_set(set_name).name

    def path(self, set_name: str, file_name: str) -> Path:
        return self.set_dir(set_name) / file_name

    def paths(self, set_name: str) -> dict[str, Path]:
        """role -> installed path, for every file of the set (installed or not)."""
        ms = get_set(set_name)
        return {f.role: self.path(set_name, f.name) for f in ms.files}

    def url(self, mf: ModelFile) -> str:
        if self.base_url:
            return f"{self.base_url.rstrip('/')}/{mf.name}"
        return mf.url

    def _state_path(self, set_name: str) -> Path:
        return self.set_dir(set_name) / ".state.json"

    def _load_state(self, set_name: str) -> dict:
        try:
            doc = json.loads(self._state_path(set_name).read_text("utf-8"))
            return doc if isinstance(doc, dict) else {}
        except (OSError, ValueError):
            return {}

    def _save_state(self, set_name: str, state: dict) -> None:
        p = self._state_path(set_name)
        p.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=p.parent, prefix=".state-", suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(state, f, indent=1, sort_keys=True)
        os.replace(tmp, p)

    def _remember(self, set_name: str, name: str, digest: str, trusted: bool) -> None:
        st = self.path(set_name, name).stat()
        state = self._load_state(set_name)
        state[name] = {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": digest,
                       "trusted": bool(trusted)}
        self._save_state(set_name, state)

    # ----------------------------------------------------------------- checking
    def _check(self, set_name: str, mf: ModelFile, state: dict, rehash: bool) -> str:
        p = self.path(set_name, mf.name)
        if not p.is_file():
            return MISSING
        st = p.stat()
        if mf.size is not None and st.st_size != mf.size:
            return CORRUPT
        rec = state.get(mf.name) if isinstance(state.get(mf.name), dict) else None
        cached = (rec is not None and rec.get("size") == st.st_size
                  and rec.get("mtime_ns") == st.st_mtime_ns)
        digest = rec.get("sha256") if cached and not rehash else None
        if digest is None:
            digest = sha256_file(p)
            if mf.sha256 is not None and digest == mf.sha256:
                self._remember(set_name, mf.name, digest, trusted=False)
        if mf.sha256 is None:
            # No published checksum: only a file the user vouched for, unchanged since, counts.
            if rec is not None and rec.get("trusted") and rec.get("sha256") == digest:
                return TRUSTED
            return UNVERIFIED
        return OK if digest == mf.sha256 else CORRUPT

    def status(self, set_name: str) -> dict[str, str]:
        """file -> "ok" | "missing" | "corrupt" | "unverified" | "trusted" (cached hashes)."""
        ms = get_set(set_name)
        state = self._load_state(set_name)
        return {f.name: self._check(set_name, f, state, rehash=False) for f in ms.files}

    def verify(self, set_name: str) -> dict[str, str]:
        """Like status() but rehashes every present file."""
        ms = get_set(set_name)
        state = self._load_state(set_name)
        return {f.name: self._check(set_name, f, state, rehash=True) for f in ms.files}

    def is_installed(self, set_name: str) -> bool:
        return all(s in (OK, TRUSTED) for s in self.status(set_name).values())

    def missing(self, set_name: str) -> list[str]:
        """Files that are not usable (missing, corrupt, or unverified)."""
        return [n for n, s in self.status(set_name).items() if s not in (OK, TRUSTED)]

    def how_to_get(self, set_name: str) -> str:
        ms = get_set(set_name)
        return (f"get them with `python -m engine models download {ms.name} --allow-network` "
                f"(in Blender: allow online access, then Download in the add-on preferences), or "
                f"on an offline machine download them from {ms.files[0].url.rsplit('/', 1)[0]}/ and "
                f"run `python -m engine models install FOLDER_OR_ZIP`")

    # ----------------------------------------------------------------- download
    def download(self, set_name: str, *, allow_network: bool, progress: Progress | None = None,
                 timeout: float = 30.0) -> None:
        """Fetch every file of the set that is not already verified. Raises NetworkNotAllowed
        without permission, ChecksumMismatch / ModelStoreError on bad data or network failure,
        progress.Cancelled when cancelled (the partial file is kept for resuming)."""
        ms = get_set(set_name)
        status = self.status(set_name)
        todo = [f for f in ms.files if status[f.name] not in (OK, TRUSTED)]
        if not todo:
            return
        unverifiable = [f.name for f in todo if f.sha256 is None]
        if unverifiable:
            raise ModelStoreError(
                f"no published checksum for {', '.join(unverifiable)}: it cannot be downloaded and "
                f"verified automatically. Get it from a source you trust and install it with "
                f"`python -m engine models install PATH --trust-unverified`")
        if not allow_network:
            size = sum(f.size or 0 for f in todo)
            raise NetworkNotAllowed(
                f"{len(todo)} model file(s) of {ms.label} are needed ({', '.join(f.name for f in todo)}"
                f"{', at least ' + _fmt_mb(size) if size else ''}) and downloading needs network "
                f"access, which is off. Run `python -m engine models download {ms.name} "
                f"--allow-network`, or in Blender enable Preferences > System > Allow Online "
                f"Access; offline, install them with `python -m engine models install PATH`")
        prog = progress or Progress()
        for i, mf in enumerate(todo):
            self._download_one(ms, mf, prog, timeout, f"[{i + 1}/{len(todo)}] {mf.name}")

    def _download_one(self, ms: ModelSet, mf: ModelFile, prog: Progress, timeout: float,
                      label: str) -> None:
        final = self.path(ms.name, mf.name)
        partial_dir = final.parent / ".partial"
        partial_dir.mkdir(parents=True, exist_ok=True)
        part = partial_dir / (mf.name + ".part")
        url = self.url(mf)
        if not url.startswith(("https://", "http://")):
            raise ModelStoreError(f"refusing to download {mf.name} from a non-HTTP URL: {url}")

        have = part.stat().st_size if part.is_file() else 0
        if mf.size is not None and have > mf.size:
            part.unlink()
            have = 0
        h = hashlib.sha256()
        if have:
            with open(part, "rb") as f:
                while chunk := f.read(CHUNK):
                    h.update(chunk)
        complete = mf.size is not None and have == mf.size
        if not complete:
            # through the product's one network policy: consent was given (download() checks),
            # redirects are checked hop by hop (a mirror's CDN yes, ftp:// or https->http never),
            # no proxy for a loopback mirror, idle + overall deadlines, cancel wakes a blocked read
            policy = NetworkPolicy(True, error=_DownloadBroke, refusal=NetworkNotAllowed)
            headers = {"User-Agent": "talking-head-models/1"}
            if have:
                headers["Range"] = f"bytes={have}-"
            try:
                resp = policy.open("GET", url, headers=headers, idle=timeout,
                                   deadline=limits.NET_MODEL_DEADLINE_S, cancelled=lambda: prog.cancelled)
            except _DownloadBroke as exc:
                raise ModelStoreError(f"download of {mf.name} failed: {exc}") from None
            except OSError as exc:
                raise ModelStoreError(f"cannot reach {url} ({getattr(exc, 'reason', exc)}); check "
                                      f"the network or install from a local copy") from None
            with resp:
                if resp.status == 416 and have:  # we already hold the whole file
                    pass
                elif resp.status >= 400:
                    raise ModelStoreError(f"download of {mf.name} failed: HTTP {resp.status} from {url}; "
                                          f"try again later or install from a local copy")
                else:
                    if have and resp.status != 206:  # server ignored Range: start over
                        have = 0
                        h = hashlib.sha256()
                    length = resp.declared_length()
                    total = mf.size or (have + length if length is not None else 0)
                    # the registry's size caps what we accept (checked before reading when declared)
                    limit = (mf.size - have) if mf.size is not None else limits.MODEL_FILE_MAX_BYTES
                    with open(part, "ab" if have else "wb") as out:
                        done = have
                        prog.update(done, total, label)
                        try:
                            for chunk in resp.stream(limit, f"{mf.name}", CHUNK):
                                out.write(chunk)
                                h.update(chunk)
                                done += len(chunk)
                                prog.update(done, total, label)  # raises Cancelled; .part kept
                        except _DownloadBroke as exc:
                            raise ModelStoreError(f"download of {mf.name} was interrupted ({exc}); "
                                                  "run the download again to resume") from None
        got = part.stat().st_size
        if mf.size is not None and got < mf.size:
            raise ModelStoreError(f"download of {mf.name} is incomplete ({got} of {mf.size} bytes); "
                                  f"run the download again to resume")
        digest = h.hexdigest()
        if (mf.size is not None and got != mf.size) or digest != mf.sha256:
            part.unlink(missing_ok=True)
            raise ChecksumMismatch(
                f"{mf.name} from {url} is not the expected file (sha256 {digest[:12]}…, "
                f"{got} bytes; expected {mf.sha256[:12]}…"
                f"{'' if mf.size is None else f', {mf.size} bytes'}); it was discarded. The mirror may "
                f"serve a different version: report it, or install a verified copy from a folder")
        os.replace(part, final)
        self._remember(ms.name, mf.name, digest, trusted=False)

    # ----------------------------------------------------------------- offline install
    def install_from(self, path: Path | str, set_name: str | None = None, *,
                     trust_unverified: bool = False) -> list[str]:
        """Install the set's files found in a folder or .zip (searched recursively by file name).
        Every found file is copied to a temp file and verified first; if any fails, none is
        installed. Returns the installed file names. Files not found are left as they were."""
        src = Path(path)
        if not src.exists():
            raise ModelStoreError(f"{src} does not exist; pass a folder or .zip holding the model files")
        with _open_source(src) as found:
            names = set(found)
            if set_name is None:
                best = max(MODEL_SETS_ORDER(), key=lambda s: len(names & {f.name for f in s.files}))
                set_name = best.name
            ms = get_set(set_name)
            wanted = [f for f in ms.files if f.name in names]
            if not wanted:
                raise ModelStoreError(
                    f"no {ms.label} files in {src}; expected file names: "
                    f"{', '.join(f.name for f in ms.files)}")
            unverifiable = [f.name for f in wanted if f.sha256 is None]
            if unverifiable and not trust_unverified:
                raise ModelStoreError(
                    f"{', '.join(unverifiable)} has no published checksum, so it cannot be verified; "
                    f"if you trust {src}, install again with --trust-unverified")
            target = self.set_dir(ms.name)
            target.mkdir(parents=True, exist_ok=True)
            staged: list[tuple[ModelFile, Path, str]] = []
            try:
                for mf in wanted:
                    fd, tmp = tempfile.mkstemp(dir=target, prefix=f".{mf.name}-", suffix=".tmp")
                    h = hashlib.sha256()
                    try:
                        with os.fdopen(fd, "wb") as out, found[mf.name]() as inp:
                            while chunk := inp.read(CHUNK):
                                out.write(chunk)
                                h.update(chunk)
                    except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
                        Path(tmp).unlink(missing_ok=True)
                        raise ModelStoreError(
                            f"{src} is damaged ({mf.name}: {exc}); download or copy the archive "
                            f"again; nothing was installed") from None
                    except OSError as exc:
                        Path(tmp).unlink(missing_ok=True)
                        raise ModelStoreError(describe_os_error(exc, target / mf.name)) from None
                    staged.append((mf, Path(tmp), h.hexdigest()))
                    size = Path(tmp).stat().st_size
                    if mf.size is not None and size != mf.size:
                        raise ChecksumMismatch(
                            f"{mf.name} in {src} has {size} bytes, expected {mf.size} (truncated or a "
                            f"different version); nothing was installed")
                    if mf.sha256 is not None and staged[-1][2] != mf.sha256:
                        raise ChecksumMismatch(
                            f"{mf.name} in {src} does not match its published sha256 (corrupted or a "
                            f"different version); nothing was installed")
            except BaseException:
                for _, tmp, _ in staged:
                    tmp.unlink(missing_ok=True)
                for leftover in target.glob(".*.tmp"):
                    if any(leftover.name.startswith(f".{mf.name}-") for mf in wanted):
                        leftover.unlink(missing_ok=True)
                raise
        for mf, tmp, digest in staged:
            os.replace(tmp, target / mf.name)
            self._remember(ms.name, mf.name, digest, trusted=mf.sha256 is None)
        return [mf.name for mf, _, _ in staged]


def MODEL_SETS_ORDER() -> list[ModelSet]:  # noqa: N802 - tiny helper kept next to its one use
    from .registry import MODEL_SETS

    return list(MODEL_SETS.values())


@contextmanager
def _open_source(src: Path) -> Iterator[dict[str, Opener]]:
    """file name -> zero-arg callable returning a binary stream, for a folder or a zip."""
    if src.is_dir():
        found: dict[str, Opener] = {}
        for p in sorted(src.rglob("*")):
            if p.is_file() and p.name not in found:
                found[p.name] = (lambda p=p: open(p, "rb"))  # noqa: SIM115
        yield found
        return
    if not zipfile.is_zipfile(src):
        raise ModelStoreError(f"{src} is neither a folder nor a .zip archive")
    try:
        zf = zipfile.ZipFile(src)
    except (zipfile.BadZipFile, zlib.error, EOFError, ValueError) as exc:
        raise ModelStoreError(f"{src} is a damaged .zip archive ({exc}); download or copy it again") from None
    with zf:
        found = {}
        for info in zf.infolist():
            name = info.filename.replace("\\", "/").rsplit("/", 1)[-1]
            if info.is_dir() or not name or name in found:
                continue
            found[name] = (lambda info=info: zf.open(info))
        yield found

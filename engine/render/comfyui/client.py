"""HTTP + websocket client of a ComfyUI server (its public API, no ComfyUI code).

What it does: checks the network rules, uploads inputs (``/upload/image`` takes images, mp4 and
audio files), queues an API-format prompt with our ``client_id``, follows ``/ws`` for per-node
and per-step progress, the queue position and errors, cancels (``/interrupt`` + ``/queue``
delete), downloads outputs through ``/view`` and forgets the job in ``/history``.

What ComfyUI's API does not allow: deleting an uploaded input file. Uploads therefore go to one
subfolder (``input/talking_head/``) under names made from their content hash, so a re-render of
the same portrait or clip reuses the file instead of piling up copies; see docs/comfyui.md.

Network rules (engine/net_policy.py, shared with every client of the product): a loopback server
(127.0.0.0/8, ::1, localhost) needs nothing; any other host only with ``allow_network=True`` (CLI
``--allow-network``, Blender's *Allow Online Access*), redirects included; the token (sent as
``Authorization: Bearer ...``) goes only to the configured host and is never logged, repr'd or
put in messages; loopback requests never go through a proxy. https/wss: certificates are always
verified (system roots + an optional ``ca_file``).

Everything the server sends is untrusted: answers are read against the caps of engine/limits.py,
every wait has an idle and an overall deadline, cancel interrupts a blocked read at once, JSON of
the wrong shape and unsafe file names are one sentence, and a queued prompt is cancelled on the
server on every failure path. Server text in messages goes through ``printable``.
"""

from __future__ import annotations

import hashlib
import json
import math
import mimetypes
import re
import ssl
import time
import urllib.parse
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ... import limits
from ...errors import EngineError
from ...net_policy import NetworkPolicy, Response, is_loopback
from ...progress import Cancelled, Progress
from ...safe_text import printable
from .websocket import WebSocket, WebSocketError, WebSocketTimeout

__all__ = ["TOKEN_ENV", "ComfyClient", "ComfyUIError", "NetworkNotAllowed", "is_loopback"]

UPLOAD_SUBFOLDER = "talking_head"
#: the environment variable the CLI (and Blender, as a fallback) reads the server token from
TOKEN_ENV = "TALKING_HEAD_COMFYUI_TOKEN"
#: what a prompt id may look like (ComfyUI: a uuid4); it goes into URLs and messages
_PROMPT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_FILE_KINDS = ("output", "temp", "input")


class ComfyUIError(EngineError):
    """The ComfyUI server refused or failed a job; one sentence saying what to do."""


class NetworkNotAllowed(ComfyUIError):
    pass


def tls_context(ca_file: str | Path | None = None) -> ssl.SSLContext:
    """Certificates are always verified (system roots). ``ca_file`` adds one trusted CA (PEM),
    e.g. the self-signed certificate of a GPU box's reverse proxy; verification is never off."""
    ctx = ssl.create_default_context()
    if ca_file:
        try:
            ctx.load_verify_locations(cafile=str(ca_file))
        except (OSError, ssl.SSLError) as exc:
            raise ComfyUIError(f"cannot use {Path(ca_file).name} as the ComfyUI server's CA "
                               "certificate (not found or not a PEM certificate); give the "
                               "server's CA .pem file") from exc
    return ctx


def _tls_refusal(url: str, exc: BaseException) -> str | None:
    """One sentence when ``exc`` is a refused server certificate, else None."""
    # urllib wraps it in URLError(.reason); the websocket raises it as the cause
    reason = exc if isinstance(exc, ssl.SSLCertVerificationError) else getattr(exc, "reason", exc)
    if not isinstance(reason, ssl.SSLCertVerificationError):
        return None
    why = getattr(reason, "verify_message", "") or "not trusted"
    return (f"the ComfyUI server at {url} presented a certificate this machine does not trust "
            f"({why}); give its CA certificate with --ca-file (Blender: the server's CA File) "
            "or install a trusted certificate on the server")


def normalize_url(url: str) -> str:
    url = (url or "").strip()
    if not url:
        raise ComfyUIError("no ComfyUI server given; pass --server http://127.0.0.1:8188 "
                           "(or add one in the preferences)")
    if "://" not in url:
        url = "http://" + url
    bad = f"bad ComfyUI server address {printable(url, 120)!r}; use http://HOST:PORT or https://HOST"
    try:  # urlsplit and .port raise ValueError on a bad IPv6 host or a port that is no number
        parts = urllib.parse.urlsplit(url)
        port = parts.port
    except ValueError:
        raise ComfyUIError(f"{bad} (the port is a number from 1 to 65535)") from None
    if parts.scheme not in ("http", "https") or not parts.hostname or port == 0:
        raise ComfyUIError(bad)
    if parts.username is not None or parts.password is not None:
        # a password in the address would be printed in messages and kept in .blend files
        raise ComfyUIError("put no user name or password in the ComfyUI server address; give the "
                           "token in $TALKING_HEAD_COMFYUI_TOKEN (or the add-on preferences)")
    return f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}"


def safe_file_name(name: Any, what: str = "file") -> str:
    """A file name the server gave us, refused unless it is one plain name (no NUL or control
    characters, no path separators, not ``..``)."""
    if (not isinstance(name, str) or not name or len(name) > 255 or _CONTROL.search(name)
            or "/" in name or "\\" in name or name in (".", "..")):
        raise ComfyUIError(f"the ComfyUI server returned an unusable {what} name "
                           f"{printable(repr(name), 80)}; refused (no folders, .. or control characters)")
    return name


def safe_subfolder(sub: Any) -> str:
    """A subfolder the server gave us: relative, no ``..`` part, no control characters."""
    if sub is None or sub == "":
        return ""
    if (not isinstance(sub, str) or len(sub) > 255 or _CONTROL.search(sub) or sub.startswith(("/", "\\"))
            or ":" in sub or any(part in ("..", ".") for part in re.split(r"[/\\]", sub))):
        raise ComfyUIError(f"the ComfyUI server returned an unusable subfolder "
                           f"{printable(repr(sub), 80)}; refused (only plain relative folders)")
    return sub


@dataclass
class JobProgress:
    """What the websocket told us so far (read by progress callbacks)."""
    queue_position: int | None = None  # prompts ahead of ours; None once running
    node: str | None = None
    node_type: str = ""
    step: int = 0
    steps: int = 0
    nodes_done: int = 0
    nodes_total: int = 0

    def describe(self) -> str:
        if self.queue_position is not None:
            return f"queued, {self.queue_position} ahead" if self.queue_position else "queued, next"
        if self.node is None:
            return "starting"
        text = f"node {self.node} {self.node_type}".strip()
        return text + (f" step {self.step}/{self.steps}" if self.steps else "")


@dataclass
class JobResult:
    prompt_id: str
    outputs: dict[str, Any] = field(default_factory=dict)  # node id -> executed output
    seconds: float = 0.0


class ComfyClient:
    """``timeout``: idle seconds per read (and connect). The deadlines default to engine/limits.py;
    tests pass small ones. ``cancelled``: a callable checked while any request blocks (the
    renderer sets it from its Progress)."""

    def __init__(self, url: str, token: str | None = None, *, allow_network: bool = False,
                 timeout: float | None = None, ca_file: str | Path | None = None,
                 request_deadline: float | None = None, download_deadline: float | None = None,
                 job_deadline: float | None = None, job_idle: float | None = None,
                 poll_after: float | None = None):
        self.url = normalize_url(url)
        parts = urllib.parse.urlsplit(self.url)
        self.host = parts.hostname or ""
        self.policy = NetworkPolicy(allow_network, error=ComfyUIError, refusal=NetworkNotAllowed)
        self.policy.check(self.url)
        self._token = token or None
        # None: engine/limits.py's value, read now (not at import), so one place sets them all
        self.timeout = timeout or limits.NET_IDLE_TIMEOUT_S
        self.request_deadline = request_deadline or limits.NET_REQUEST_DEADLINE_S
        self.download_deadline = download_deadline or limits.NET_DOWNLOAD_DEADLINE_S
        self.job_deadline = job_deadline or limits.COMFYUI_JOB_DEADLINE_S
        self.job_idle = job_idle or limits.COMFYUI_JOB_IDLE_S
        self.poll_after = poll_after or limits.COMFYUI_POLL_AFTER_S
        self.cancelled: Callable[[], bool] | None = None
        # https/wss: verified against the system's roots (+ ca_file); never unverified
        self._tls = tls_context(ca_file) if parts.scheme == "https" else None
        self.client_id = uuid.uuid4().hex

    def __repr__(self) -> str:  # never shows the token
        return f"ComfyClient({self.url!r}, token={'set' if self._token else 'none'})"

    # -- plumbing ----------------------------------------------------------------------------
    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._token}"} if self._token else {}

    def _open(self, method: str, path: str, body: bytes | None = None, content_type: str | None = None,
              deadline: float | None = None, cancellable: bool = True) -> Response:
        """Send a request through the network policy; the token only ever goes to our host."""
        try:
            resp = self.policy.open(
                method, self.url + path, body=body,
                headers={"Content-Type": content_type} if content_type else None,
                credentials=self._headers(), context=self._tls, idle=self.timeout,
                deadline=deadline or self.request_deadline,
                cancelled=self.cancelled if cancellable else None)
        except OSError as exc:
            refusal = _tls_refusal(self.url, exc)
            if refusal:
                raise ComfyUIError(refusal) from None
            raise ComfyUIError(f"cannot reach the ComfyUI server at {self.url} "
                               f"({printable(getattr(exc, 'reason', exc), 120)}); start it or check "
                               "the address") from None
        if resp.status in (401, 403):  # every call, uploads and downloads included
            resp.close()
            raise ComfyUIError(self._auth_refusal(resp.status))
        return resp

    def _request(self, method: str, path: str, body: bytes | None = None,
                 content_type: str | None = None, *, limit: int | None = None,
                 deadline: float | None = None, cancellable: bool = True) -> tuple[int, bytes]:
        """(status, body): a success's body against ``limit``, an error's first bytes only."""
        with self._open(method, path, body, content_type, deadline, cancellable) as resp:
            if resp.status >= 400:
                return resp.status, resp.read_prefix(limits.ERROR_BODY_MAX_BYTES)
            return resp.status, resp.read(limit or limits.JSON_REPLY_MAX_BYTES,
                                          f"the answer to {method} {path.split('?')[0]}")

    def _auth_refusal(self, status: int | str) -> str:
        # the token itself is never part of a message
        if self._token:
            return (f"the ComfyUI server at {self.url} refused the token (HTTP {status}); "
                    f"check the server's token (Blender: the server's Token; CLI: ${TOKEN_ENV})")
        return (f"the ComfyUI server at {self.url} needs a token (HTTP {status}); set it in the "
                f"server's Token (Blender) or ${TOKEN_ENV} (CLI)")

    def _json(self, method: str, path: str, payload: Any = None, what: str = "",
              shape: type | tuple[type, ...] = dict, **kw: Any) -> Any:
        body = None if payload is None else json.dumps(payload).encode()
        status, data = self._request(method, path, body, "application/json" if body else None, **kw)
        if status >= 400:
            raise ComfyUIError(f"ComfyUI {what or path} failed (HTTP {status}): {_excerpt(data)}")
        doc = self._parse(data, path)
        if doc is not None and not isinstance(doc, shape):
            raise ComfyUIError(f"{self.url}{path.split('?')[0]} answered JSON of the wrong shape "
                               f"({type(doc).__name__}); is this a ComfyUI server?")
        return doc

    def _parse(self, data: bytes, path: str) -> Any:
        try:
            return json.loads(data) if data.strip() else None
        except (ValueError, RecursionError):
            raise ComfyUIError(f"{self.url}{path.split('?')[0]} did not answer JSON (or JSON nested "
                               "too deeply); is this a ComfyUI server?") from None

    # -- API ---------------------------------------------------------------------------------
    def system_stats(self) -> dict:
        return self._json("GET", "/system_stats") or {}

    def object_info(self) -> dict:
        return self._json("GET", "/object_info", what="node list (/object_info)") or {}

    def queue(self, **kw: Any) -> dict:
        return self._json("GET", "/queue", **kw) or {}

    def history(self, prompt_id: str, **kw: Any) -> dict:
        return self._json("GET", f"/history/{urllib.parse.quote(prompt_id)}", **kw) or {}

    def upload(self, data: bytes, suffix: str, *, kind: str = "input") -> str:
        """Upload a file into the server's input folder; returns the name LoadImage / LoadVideo /
        LoadAudio take (``talking_head/<sha>.ext``). Same content, same name: no duplicates."""
        name = hashlib.sha256(data).hexdigest()[:24] + suffix.lower()
        boundary = uuid.uuid4().hex
        mime = mimetypes.guess_type(name)[0] or "application/octet-stream"
        fields = [("subfolder", UPLOAD_SUBFOLDER), ("type", kind), ("overwrite", "true")]
        parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
                 for k, v in fields]
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="{name}"'
                     f"\r\nContent-Type: {mime}\r\n\r\n".encode() + data + b"\r\n")
        body = b"".join(parts) + f"--{boundary}--\r\n".encode()
        status, resp = self._request("POST", "/upload/image", body,
                                     f"multipart/form-data; boundary={boundary}",
                                     deadline=max(self.request_deadline, self.download_deadline / 4))
        if status >= 400:
            raise ComfyUIError(f"uploading {name} to {self.url} failed (HTTP {status}): {_excerpt(resp)}")
        info = self._parse(resp, "/upload/image")
        if not isinstance(info, dict):
            raise ComfyUIError(f"{self.url}/upload/image answered something that is not an upload "
                               "result; is this a ComfyUI server?")
        got = safe_file_name(info.get("name"), "uploaded file")
        sub = safe_subfolder(info.get("subfolder"))
        return f"{sub}/{got}" if sub else got

    def upload_file(self, path: str | Path) -> str:
        p = Path(path)
        return self.upload(p.read_bytes(), p.suffix)

    def _view_query(self, filename: str, subfolder: str, kind: str) -> str:
        safe_file_name(filename, "output file")
        safe_subfolder(subfolder)
        if kind not in _FILE_KINDS:
            raise ComfyUIError(f"the ComfyUI server listed an output of type {printable(repr(kind), 40)}; "
                               f"refused (only {', '.join(_FILE_KINDS)})")
        return "/view?" + urllib.parse.urlencode({"filename": filename, "subfolder": subfolder, "type": kind})

    def view_to(self, filename: str, subfolder: str, kind: str, out: Any, limit: int | None = None) -> int:
        """Stream an output file into the binary file object ``out`` (never whole into memory);
        returns its size. Refused above ``limit`` bytes, before reading when the size is declared."""
        query = self._view_query(filename, subfolder, kind)
        shown = printable(f"{subfolder + '/' if subfolder else ''}{filename}", 120)
        with self._open("GET", query, deadline=self.download_deadline) as resp:
            if resp.status >= 400:
                raise ComfyUIError(f"the server has no output {shown} (HTTP {resp.status}); "
                                   "was it deleted?")
            size = 0
            for chunk in resp.stream(limit or limits.OUTPUT_FILE_MAX_BYTES, f"output {shown}"):
                out.write(chunk)
                size += len(chunk)
        return size

    def view(self, filename: str, subfolder: str = "", kind: str = "output",
             limit: int | None = None) -> bytes:
        import io

        buf = io.BytesIO()
        self.view_to(filename, subfolder, kind, buf, limit)
        return buf.getvalue()

    def interrupt(self, prompt_id: str | None = None, **kw: Any) -> None:
        self._json("POST", "/interrupt", {"prompt_id": prompt_id} if prompt_id else {}, shape=object, **kw)

    def delete_queued(self, prompt_ids: list[str], **kw: Any) -> None:
        self._json("POST", "/queue", {"delete": list(prompt_ids)}, shape=object, **kw)

    def forget(self, prompt_id: str) -> None:
        """Remove our finished prompt from the server's history (its output files stay)."""
        try:
            self._json("POST", "/history", {"delete": [prompt_id]}, shape=object, **self._quick())
        except (ComfyUIError, Cancelled):
            pass

    def _quick(self) -> dict[str, Any]:
        """Keywords of housekeeping requests (cancel, forget): short, and not cancellable -- they
        run *because* the user cancelled."""
        return {"deadline": min(self.request_deadline, 10.0), "cancellable": False}

    def queue_position(self, prompt_id: str) -> int | None:
        """Prompts ahead of ours (0: next), or None when ours is running or gone."""
        where = self._where(prompt_id, self.queue())
        return where if isinstance(where, int) else None

    @staticmethod
    def _where(prompt_id: str, q: dict) -> int | str | None:
        """``"running"``, the number of prompts ahead, or None when the queue does not hold it."""
        running, pending = q.get("queue_running", []), q.get("queue_pending", [])
        if not isinstance(running, list) or not isinstance(pending, list):
            raise ComfyUIError("the ComfyUI server's /queue is not shaped like ComfyUI's "
                               "(queue_running / queue_pending lists); is this a ComfyUI server?")
        if any(_queue_item_id(item) == prompt_id for item in running):
            return "running"
        pending = sorted(pending, key=_queue_item_number)
        for k, item in enumerate(pending):
            if _queue_item_id(item) == prompt_id:
                return k + len(running)
        return None

    def submit(self, prompt: Mapping[str, Any]) -> str:
        body = json.dumps({"prompt": prompt, "client_id": self.client_id}).encode()
        status, data = self._request("POST", "/prompt", body, "application/json")
        try:
            doc = json.loads(data)
        except (ValueError, RecursionError):
            doc = None
        if status >= 400 or not isinstance(doc, dict) or "prompt_id" not in doc:
            raise ComfyUIError(describe_validation_error(doc, status, data))
        prompt_id = doc["prompt_id"]
        if not isinstance(prompt_id, str) or not _PROMPT_ID.match(prompt_id):
            raise ComfyUIError(f"the ComfyUI server answered /prompt with an unusable prompt id "
                               f"{printable(repr(prompt_id), 60)}; is this a ComfyUI server?")
        return prompt_id

    def _socket(self) -> WebSocket:
        scheme = "wss" if self.url.startswith("https") else "ws"
        rest = self.url.split("://", 1)[1]
        try:
            return WebSocket(f"{scheme}://{rest}/ws?clientId={self.client_id}", self._headers(),
                             timeout=self.timeout, ssl_context=self._tls, idle=self.timeout,
                             max_message=limits.WS_MESSAGE_MAX_BYTES, cancelled=self.cancelled)
        except WebSocketError as exc:
            if exc.status in (401, 403):
                raise ComfyUIError(self._auth_refusal(exc.status)) from None
            refusal = _tls_refusal(self.url, exc.__cause__ or exc)
            if refusal:
                raise ComfyUIError(refusal) from None
            raise ComfyUIError(f"cannot open the ComfyUI websocket at {self.url} ({printable(exc, 160)}); "
                               "start the server or check the address") from None

    def run(self, prompt: Mapping[str, Any], progress: Progress | None = None,
            on_update: Callable[[JobProgress], None] | None = None) -> JobResult:
        """Queue ``prompt``, follow it to the end and return its outputs. Cancelling
        ``progress`` interrupts it on the server (or removes it from the queue); so does every
        failure once it is queued. When the websocket is silent the queue and history are
        asked; the job has an idle and an overall deadline."""
        t0 = time.monotonic()
        if progress is not None:
            self.cancelled = lambda: progress.cancelled
        ws = self._socket()  # connect first: messages only go to a socket that exists
        state = JobProgress(nodes_total=len(prompt))
        prompt_id = None
        done = False
        try:
            prompt_id = self.submit(prompt)
            state.queue_position = self.queue_position(prompt_id)
            last_poll = last_event = last_life = time.monotonic()
            finished = False
            gone = 0
            while True:
                now = time.monotonic()
                if self.cancelled is not None and self.cancelled():
                    raise Cancelled("cancelled")
                if now - t0 > self.job_deadline:
                    raise ComfyUIError(f"the ComfyUI job did not finish within {self.job_deadline:g} s "
                                       "(the deadline); it was cancelled on the server")
                if now - last_life > self.job_idle:
                    raise ComfyUIError(f"the ComfyUI server showed no sign of working on the job for "
                                       f"{self.job_idle:g} s; it was cancelled there, render again")
                if now - last_event > self.poll_after and now - last_poll > self.poll_after:
                    # no news on the websocket: ask the server where our job is
                    last_poll = now
                    where = self._poll(prompt_id)
                    if where == "done":
                        break
                    if where is None:
                        gone += 1
                        if gone >= 2:
                            raise ComfyUIError("the ComfyUI server no longer knows the job "
                                               "(restarted, or someone cleared its queue); render again")
                    else:
                        gone = 0
                        last_life = now
                        state.queue_position = where if isinstance(where, int) else None
                elif state.queue_position is not None and now - last_poll > 1.0:
                    last_poll = now
                    state.queue_position = self.queue_position(prompt_id)
                try:
                    msg = ws.recv(timeout=0.25)
                except WebSocketTimeout:
                    msg = None
                except WebSocketError as exc:
                    if exc.protocol:  # a broken frame: a sentence of its own, not "restart it"
                        raise ComfyUIError(f"the ComfyUI server at {self.url} broke the websocket protocol "
                                           f"while rendering ({printable(exc, 120)}); is this a ComfyUI "
                                           "server?") from None
                    raise ComfyUIError(f"the ComfyUI server at {self.url} stopped or dropped the connection "
                                       f"while rendering ({printable(exc, 120)}); restart it and render "
                                       "again") from None
                if msg is None or isinstance(msg, bytes):  # binary = preview images: not needed
                    if isinstance(msg, bytes):
                        last_life = now
                    if on_update:
                        on_update(state)
                    continue
                kind, data = _event(msg)
                if data.get("prompt_id") not in (None, prompt_id):
                    continue  # someone else's job on a shared server
                if kind in _KNOWN_EVENTS and kind != "status":
                    # only news of a job counts as life: chatter (status, other extensions'
                    # events) never stops us from asking the history
                    last_event = last_life = now
                if self._apply(kind, data, prompt, prompt_id, state, finished):
                    break
                finished = finished or kind == "execution_success"
                if on_update:
                    on_update(state)
            outputs = self._outputs(prompt_id)
            done = True
            self.forget(prompt_id)
            return JobResult(prompt_id, outputs, time.monotonic() - t0)
        except BaseException:
            if prompt_id is not None and not done:
                self._cancel(prompt_id)  # never leave our prompt queued on the server
            raise
        finally:
            ws.close()

    @staticmethod
    def _apply(kind: str, data: dict, prompt: Mapping[str, Any], prompt_id: str, state: JobProgress,
               finished: bool) -> bool:
        """Update ``state`` from one event; True when the job is over."""
        if kind == "execution_start":
            state.queue_position = None
        elif kind == "execution_cached":
            nodes = data.get("nodes") or []
            if not isinstance(nodes, list):
                raise _bad_event(kind)
            state.nodes_done += len(nodes)
        elif kind == "executing":
            node = data.get("node")
            if node is None:
                return finished or data.get("prompt_id") == prompt_id
            if not isinstance(node, (str, int)) or isinstance(node, bool):
                raise _bad_event(kind)
            if state.node is not None:
                state.nodes_done += 1
            state.queue_position = None
            state.node = printable(node, 40)
            info = prompt.get(str(node))
            state.node_type = str(info.get("class_type", "")) if isinstance(info, dict) else ""
            state.step = state.steps = 0
        elif kind == "progress":
            value, most = data.get("value", 0), data.get("max", 0)
            if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
                       and 0 <= v < 1e12 for v in (value, most)):
                raise _bad_event(kind)
            state.step, state.steps = int(value), int(most)
        elif kind == "execution_error":
            raise ComfyUIError(describe_execution_error(data))
        elif kind == "execution_interrupted":
            raise ComfyUIError("the job was interrupted on the ComfyUI server "
                               "(someone pressed Cancel there?); render again")
        return False

    def _poll(self, prompt_id: str) -> int | str | None:
        """Where the job is when the websocket says nothing: ``"done"`` (in the history as
        finished; an error there raises), ``"running"``, prompts ahead, or None (unknown)."""
        entry = self.history(prompt_id).get(prompt_id)
        if isinstance(entry, dict):
            status = entry.get("status") if isinstance(entry.get("status"), dict) else {}
            if status.get("status_str") == "error":
                for message in status.get("messages") or []:
                    if (isinstance(message, list) and len(message) == 2 and message[0] == "execution_error"
                            and isinstance(message[1], dict)):
                        raise ComfyUIError(describe_execution_error(message[1]))
                raise ComfyUIError("the ComfyUI job failed on the server (its history says error); "
                                   "see the server's log")
            if status.get("completed") or entry.get("outputs"):
                return "done"
        return self._where(prompt_id, self.queue())

    def _outputs(self, prompt_id: str) -> dict[str, Any]:
        entry = self.history(prompt_id).get(prompt_id) or {}
        outputs = entry.get("outputs") if isinstance(entry, dict) else None
        if outputs is None:
            return {}
        if not isinstance(outputs, dict):
            raise ComfyUIError("the ComfyUI server's history lists its outputs in the wrong shape; "
                               "is this a ComfyUI server?")
        return outputs

    def _cancel(self, prompt_id: str) -> None:
        """Stop our prompt wherever it is: drop it from the queue, interrupt it if it runs. Short
        deadlines, not cancellable, never raises: it runs on the way out of a failure."""
        try:
            self.delete_queued([prompt_id], **self._quick())
            q = self.queue(**self._quick())
            if self._where(prompt_id, q) == "running":
                self.interrupt(prompt_id, **self._quick())
            self._json("POST", "/history", {"delete": [prompt_id]}, shape=object, **self._quick())
        except (ComfyUIError, Cancelled):
            pass  # the server is gone or broken: one wait at most, nothing left to cancel


_KNOWN_EVENTS = ("status", "execution_start", "execution_cached", "executing", "executed", "progress",
                 "execution_success", "execution_error", "execution_interrupted")


def _excerpt(data: bytes) -> str:
    return printable(data[:200].decode(errors="replace").strip(), 200)


def _bad_event(kind: str) -> ComfyUIError:
    return ComfyUIError(f"the ComfyUI server sent a {printable(kind, 40)} websocket event of the wrong "
                        "shape; is this a ComfyUI server?")


def _event(msg: str) -> tuple[str, dict]:
    """(type, data) of a websocket text message; one sentence when it is not a ComfyUI event."""
    try:
        event = json.loads(msg)
    except (ValueError, RecursionError):
        raise ComfyUIError("the ComfyUI server sent a websocket message that is not JSON; "
                           "is this a ComfyUI server?") from None
    if not isinstance(event, dict) or not isinstance(event.get("type"), str):
        raise ComfyUIError("the ComfyUI server sent a websocket event of the wrong shape; "
                           "is this a ComfyUI server?")
    data = event.get("data")
    if data is None:
        data = {}
    if not isinstance(data, dict):
        if event["type"] in _KNOWN_EVENTS:
            raise _bad_event(event["type"])
        data = {}  # another extension's event: not ours to judge
    return event["type"], data


def _queue_item_id(item: Any) -> str | None:
    # this fork returns dicts, upstream ComfyUI lists [number, prompt_id, prompt, extra, outputs]
    if isinstance(item, dict):
        return item.get("prompt_id")
    if isinstance(item, (list, tuple)) and len(item) > 1:
        return item[1]
    return None


def _queue_item_number(item: Any) -> float:
    number = item.get("number") if isinstance(item, dict) else (
        item[0] if isinstance(item, (list, tuple)) and item else 0)
    # a hostile queue may hold anything here: sort what is no finite number last
    if isinstance(number, (int, float)) and not isinstance(number, bool) and math.isfinite(number):
        return float(number)
    return math.inf


def describe_validation_error(doc: Any, status: int, raw: bytes) -> str:
    """One sentence for a refused ``/prompt`` (HTTP 400 with ``error`` + ``node_errors``). The
    server's text is escaped, and a reply of another shape still gives a sentence."""
    if not isinstance(doc, dict):
        return f"the ComfyUI server refused the workflow (HTTP {status}: {_excerpt(raw[:160])})"
    err = doc.get("error") or {}
    node_errors = doc.get("node_errors") or {}
    if isinstance(err, dict) and err.get("type") == "missing_node_type":
        extra = err.get("extra_info") if isinstance(err.get("extra_info"), dict) else {}
        missing = printable(extra.get("class_type") or err.get("details") or err.get("message"), 80)
        from .packs import pack_for_class

        pack = pack_for_class(str(missing))
        hint = f"install the node pack {pack}" if pack else "install the node pack that provides it"
        return f"the ComfyUI server has no node {missing}: {hint} and restart ComfyUI"
    for node_id, info in (node_errors.items() if isinstance(node_errors, dict) else ()):
        errors = info.get("errors") if isinstance(info, dict) else None
        for e in errors if isinstance(errors, list) else ():
            if not isinstance(e, dict):
                continue
            typ = printable(e.get("type", ""), 40)
            details = printable(e.get("details") or e.get("message") or "", 160)
            extra = e.get("extra_info") if isinstance(e.get("extra_info"), dict) else {}
            name = printable(extra.get("input_name", ""), 60)
            cls = printable(info.get("class_type", "?"), 60)
            node = printable(node_id, 40)
            if typ == "value_not_in_list":
                value = printable(repr(extra.get("received_value", details)), 120)
                return (f"node {node} ({cls}) input {name}: {value} is not on the server; "
                        f"put that file in ComfyUI's models folder (or fix the workflow)")
            return f"node {node} ({cls}) input {name or '?'}: {details or '?'} ({typ})"
    if isinstance(err, dict) and err:
        detail = printable(f"{err.get('message')} {err.get('details') or ''}".strip(), 200)
        return f"the ComfyUI server refused the workflow: {detail}"
    return f"the ComfyUI server refused the workflow (HTTP {status})"


def describe_execution_error(data: Mapping[str, Any]) -> str:
    text = data.get("exception_message")
    msg = str(text if text is not None else "").strip().splitlines()
    first = printable(msg[0] if msg else "unknown error", 300)
    return (f"ComfyUI node {printable(data.get('node_id'), 40)} ({printable(data.get('node_type'), 60)}) "
            f"failed: {first}")

"""HTTP + websocket client of a ComfyUI server (its public API, no ComfyUI code).

What it does: checks the network rules, uploads inputs (``/upload/image`` takes images, mp4 and
audio files), queues an API-format prompt with our ``client_id``, follows ``/ws`` for per-node
and per-step progress, the queue position and errors, cancels (``/interrupt`` + ``/queue``
delete), downloads outputs through ``/view`` and forgets the job in ``/history``.

What ComfyUI's API does not allow: deleting an uploaded input file. Uploads therefore go to one
subfolder (``input/talking_head/``) under names made from their content hash, so a re-render of
the same portrait or clip reuses the file instead of piling up copies; see docs/comfyui.md.

Network rules: a loopback server (127.0.0.0/8, ::1, localhost) needs nothing; any other host
only with ``allow_network=True`` (CLI ``--allow-network``, Blender's *Allow Online Access*).
The token (sent as ``Authorization: Bearer ...``) is never logged, repr'd or put in messages.
https/wss: certificates are always verified (system roots + an optional ``ca_file``).
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import mimetypes
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ...errors import EngineError
from ...progress import Cancelled, Progress
from .websocket import WebSocket, WebSocketError, WebSocketTimeout

UPLOAD_SUBFOLDER = "talking_head"
#: the environment variable the CLI (and Blender, as a fallback) reads the server token from
TOKEN_ENV = "TALKING_HEAD_COMFYUI_TOKEN"


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


def is_loopback(host: str) -> bool:
    host = (host or "").strip("[]").lower()
    if host in ("localhost", "localhost.localdomain") or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def normalize_url(url: str) -> str:
    url = (url or "").strip()
    if not url:
        raise ComfyUIError("no ComfyUI server given; pass --server http://127.0.0.1:8188 "
                           "(or add one in the preferences)")
    if "://" not in url:
        url = "http://" + url
    bad = f"bad ComfyUI server address {url!r}; use http://HOST:PORT or https://HOST"
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
    def __init__(self, url: str, token: str | None = None, *, allow_network: bool = False,
                 timeout: float = 30.0, ca_file: str | Path | None = None):
        self.url = normalize_url(url)
        parts = urllib.parse.urlsplit(self.url)
        self.host = parts.hostname or ""
        if not is_loopback(self.host) and not allow_network:
            raise NetworkNotAllowed(
                f"{self.host} is not this machine: allow network access to use it "
                "(CLI --allow-network; Blender: Preferences > System > Allow Online Access)")
        self._token = token or None
        self.timeout = timeout
        # https/wss: verified against the system's roots (+ ca_file); never unverified
        self._tls = tls_context(ca_file) if parts.scheme == "https" else None
        self.client_id = uuid.uuid4().hex

    def __repr__(self) -> str:  # never shows the token
        return f"ComfyClient({self.url!r}, token={'set' if self._token else 'none'})"

    # -- plumbing ----------------------------------------------------------------------------
    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._token}"} if self._token else {}

    def _request(self, method: str, path: str, body: bytes | None = None,
                 content_type: str | None = None, timeout: float | None = None) -> tuple[int, bytes]:
        headers = self._headers()
        if content_type:
            headers["Content-Type"] = content_type
        req = urllib.request.Request(self.url + path, data=body, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=timeout or self.timeout, context=self._tls) as resp:
                return resp.status, resp.read()
        except urllib.error.HTTPError as exc:
            status, data = exc.code, exc.read()
        except (urllib.error.URLError, OSError) as exc:
            refusal = _tls_refusal(self.url, exc)
            if refusal:
                raise ComfyUIError(refusal) from None
            reason = getattr(exc, "reason", exc)
            raise ComfyUIError(f"cannot reach the ComfyUI server at {self.url} ({reason}); "
                               "start it or check the address") from exc
        if status in (401, 403):  # every call, uploads and downloads included
            raise ComfyUIError(self._auth_refusal(status))
        return status, data

    def _auth_refusal(self, status: int | str) -> str:
        # the token itself is never part of a message
        if self._token:
            return (f"the ComfyUI server at {self.url} refused the token (HTTP {status}); "
                    f"check the server's token (Blender: the server's Token; CLI: ${TOKEN_ENV})")
        return (f"the ComfyUI server at {self.url} needs a token (HTTP {status}); set it in the "
                f"server's Token (Blender) or ${TOKEN_ENV} (CLI)")

    def _json(self, method: str, path: str, payload: Any = None, what: str = "") -> Any:
        body = None if payload is None else json.dumps(payload).encode()
        status, data = self._request(method, path, body, "application/json" if body else None)
        if status >= 400:
            raise ComfyUIError(f"ComfyUI {what or path} failed (HTTP {status}): "
                               f"{data[:200].decode(errors='replace').strip()}")
        try:
            return json.loads(data) if data.strip() else None
        except ValueError as exc:
            raise ComfyUIError(f"{self.url}{path} did not answer JSON; is this a ComfyUI server?") from exc

    # -- API ---------------------------------------------------------------------------------
    def system_stats(self) -> dict:
        return self._json("GET", "/system_stats")

    def object_info(self) -> dict:
        return self._json("GET", "/object_info", what="node list (/object_info)")

    def queue(self) -> dict:
        return self._json("GET", "/queue")

    def history(self, prompt_id: str) -> dict:
        return self._json("GET", f"/history/{urllib.parse.quote(prompt_id)}") or {}

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
                                     timeout=max(self.timeout, 120))
        if status >= 400:
            raise ComfyUIError(f"uploading {name} to {self.url} failed (HTTP {status}): "
                               f"{resp[:200].decode(errors='replace').strip()}")
        info = json.loads(resp)
        sub = info.get("subfolder") or ""
        return f"{sub}/{info['name']}" if sub else info["name"]

    def upload_file(self, path: str | Path) -> str:
        p = Path(path)
        return self.upload(p.read_bytes(), p.suffix)

    def view(self, filename: str, subfolder: str = "", kind: str = "output") -> bytes:
        query = urllib.parse.urlencode({"filename": filename, "subfolder": subfolder, "type": kind})
        status, data = self._request("GET", f"/view?{query}", timeout=max(self.timeout, 120))
        if status >= 400:
            raise ComfyUIError(f"the server has no output {subfolder + '/' if subfolder else ''}{filename} "
                               f"(HTTP {status}); was it deleted?")
        return data

    def interrupt(self, prompt_id: str | None = None) -> None:
        self._json("POST", "/interrupt", {"prompt_id": prompt_id} if prompt_id else {})

    def delete_queued(self, prompt_ids: list[str]) -> None:
        self._json("POST", "/queue", {"delete": list(prompt_ids)})

    def forget(self, prompt_id: str) -> None:
        """Remove our finished prompt from the server's history (its output files stay)."""
        try:
            self._json("POST", "/history", {"delete": [prompt_id]})
        except ComfyUIError:
            pass

    def queue_position(self, prompt_id: str) -> int | None:
        """Prompts ahead of ours (0: next), or None when ours is running or gone."""
        q = self.queue()
        for item in q.get("queue_running", []):
            if _queue_item_id(item) == prompt_id:
                return None
        pending = sorted(q.get("queue_pending", []), key=_queue_item_number)
        running = len(q.get("queue_running", []))
        for k, item in enumerate(pending):
            if _queue_item_id(item) == prompt_id:
                return k + running
        return None

    def submit(self, prompt: Mapping[str, Any]) -> str:
        body = json.dumps({"prompt": prompt, "client_id": self.client_id}).encode()
        status, data = self._request("POST", "/prompt", body, "application/json")
        try:
            doc = json.loads(data)
        except ValueError:
            doc = None
        if status in (401, 403):
            raise ComfyUIError(f"the ComfyUI server at {self.url} refused access (HTTP {status}); "
                               "check the server's token")
        if status >= 400 or not isinstance(doc, dict) or "prompt_id" not in doc:
            raise ComfyUIError(describe_validation_error(doc, status, data))
        return doc["prompt_id"]

    def _socket(self) -> WebSocket:
        scheme = "wss" if self.url.startswith("https") else "ws"
        rest = self.url.split("://", 1)[1]
        try:
            return WebSocket(f"{scheme}://{rest}/ws?clientId={self.client_id}", self._headers(),
                             timeout=self.timeout, ssl_context=self._tls)
        except WebSocketError as exc:
            if exc.status in (401, 403):
                raise ComfyUIError(self._auth_refusal(exc.status)) from None
            refusal = _tls_refusal(self.url, exc.__cause__ or exc)
            if refusal:
                raise ComfyUIError(refusal) from None
            raise ComfyUIError(f"cannot open the ComfyUI websocket at {self.url} ({exc}); "
                               "start the server or check the address") from exc

    def run(self, prompt: Mapping[str, Any], progress: Progress | None = None,
            on_update: Callable[[JobProgress], None] | None = None) -> JobResult:
        """Queue ``prompt``, follow it to the end and return its outputs. Cancelling
        ``progress`` interrupts it on the server (or removes it from the queue)."""
        t0 = time.monotonic()
        ws = self._socket()  # connect first: messages only go to a socket that exists
        state = JobProgress(nodes_total=len(prompt))
        prompt_id = None
        try:
            prompt_id = self.submit(prompt)
            state.queue_position = self.queue_position(prompt_id)
            last_poll = time.monotonic()
            finished = False
            while True:
                if progress is not None and progress.cancelled:
                    raise Cancelled("cancelled")
                try:
                    msg = ws.recv(timeout=0.25)
                except WebSocketTimeout:
                    msg = None
                except WebSocketError as exc:
                    raise ComfyUIError(f"the ComfyUI server at {self.url} stopped or dropped the "
                                       "connection while rendering; restart it and render again") from exc
                if msg is None or isinstance(msg, bytes):  # binary = preview images: not needed
                    if state.queue_position is not None and time.monotonic() - last_poll > 1.0:
                        last_poll = time.monotonic()
                        state.queue_position = self.queue_position(prompt_id)
                    if on_update:
                        on_update(state)
                    continue
                event = json.loads(msg)
                kind, data = event.get("type"), event.get("data") or {}
                if data.get("prompt_id") not in (None, prompt_id):
                    continue  # someone else's job on a shared server
                if kind == "execution_start":
                    state.queue_position = None
                elif kind == "execution_cached":
                    state.nodes_done += len(data.get("nodes") or [])
                elif kind == "executing":
                    node = data.get("node")
                    if node is None:
                        if finished or data.get("prompt_id") == prompt_id:
                            break
                    else:
                        if state.node is not None:
                            state.nodes_done += 1
                        state.queue_position = None
                        state.node = str(node)
                        state.node_type = str(prompt.get(state.node, {}).get("class_type", ""))
                        state.step = state.steps = 0
                elif kind == "progress":
                    state.step, state.steps = int(data.get("value", 0)), int(data.get("max", 0))
                elif kind == "execution_success":
                    finished = True
                elif kind == "execution_error":
                    raise ComfyUIError(describe_execution_error(data))
                elif kind == "execution_interrupted":
                    raise ComfyUIError("the job was interrupted on the ComfyUI server "
                                       "(someone pressed Cancel there?); render again")
                if on_update:
                    on_update(state)
            outputs = (self.history(prompt_id).get(prompt_id) or {}).get("outputs") or {}
            self.forget(prompt_id)
            return JobResult(prompt_id, outputs, time.monotonic() - t0)
        except (Cancelled, KeyboardInterrupt):
            if prompt_id is not None:
                self._cancel(prompt_id)
            raise
        finally:
            ws.close()

    def _cancel(self, prompt_id: str) -> None:
        """Stop our prompt wherever it is: drop it from the queue, interrupt it if it runs."""
        try:
            self.delete_queued([prompt_id])
            q = self.queue()
            if any(_queue_item_id(i) == prompt_id for i in q.get("queue_running", [])):
                self.interrupt(prompt_id)
            self.forget(prompt_id)
        except ComfyUIError:
            pass  # the server is gone: nothing left to cancel


def _queue_item_id(item: Any) -> str | None:
    # this fork returns dicts, upstream ComfyUI lists [number, prompt_id, prompt, extra, outputs]
    if isinstance(item, dict):
        return item.get("prompt_id")
    if isinstance(item, (list, tuple)) and len(item) > 1:
        return item[1]
    return None


def _queue_item_number(item: Any) -> float:
    if isinstance(item, dict):
        return float(item.get("number", 0) or 0)
    if isinstance(item, (list, tuple)) and item:
        return float(item[0])
    return 0.0


def describe_validation_error(doc: Any, status: int, raw: bytes) -> str:
    """One sentence for a refused ``/prompt`` (HTTP 400 with ``error`` + ``node_errors``)."""
    if not isinstance(doc, dict):
        return (f"the ComfyUI server refused the workflow (HTTP {status}: "
                f"{raw[:160].decode(errors='replace').strip()})")
    err = doc.get("error") or {}
    node_errors = doc.get("node_errors") or {}
    if isinstance(err, dict) and err.get("type") == "missing_node_type":
        missing = (err.get("extra_info") or {}).get("class_type") or err.get("details") or err.get("message")
        from .packs import pack_for_class

        pack = pack_for_class(str(missing))
        hint = f"install the node pack {pack}" if pack else "install the node pack that provides it"
        return f"the ComfyUI server has no node {missing}: {hint} and restart ComfyUI"
    for node_id, info in node_errors.items():
        for e in info.get("errors") or []:
            typ, details = e.get("type", ""), str(e.get("details") or e.get("message") or "")
            extra = e.get("extra_info") or {}
            name = extra.get("input_name", "")
            cls = info.get("class_type", "?")
            if typ == "value_not_in_list":
                value = extra.get("received_value", details)
                return (f"node {node_id} ({cls}) input {name}: {value!r} is not on the server; "
                        f"put that file in ComfyUI's models folder (or fix the workflow)")
            return f"node {node_id} ({cls}) input {name or '?'}: {details or e.get('message')} ({typ})"
    if isinstance(err, dict) and err:
        detail = f"{err.get('message')} {err.get('details') or ''}".strip()
        return f"the ComfyUI server refused the workflow: {detail}"
    return f"the ComfyUI server refused the workflow (HTTP {status})"


def describe_execution_error(data: Mapping[str, Any]) -> str:
    msg = str(data.get("exception_message") or "").strip().splitlines()
    first = msg[0] if msg else "unknown error"
    return (f"ComfyUI node {data.get('node_id')} ({data.get('node_type')}) failed: "
            f"{first[:300]}")

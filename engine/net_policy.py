"""The network policy every request and download of the product goes through.

One object decides, for the ComfyUI client, the model store and the GPU runtime's pip:

- **consent**: a request may leave loopback (127.0.0.0/8, ::1, localhost) only when the user
  allowed network access (CLI ``--allow-network``, Blender's *Allow Online Access*);
- **redirects**: each hop is checked like the first request (http/https only, never a downgrade
  from https to http, consent for a host off loopback, at most ``NET_MAX_REDIRECTS``); only GET
  and HEAD follow them -- an answer to a POST comes from the host we asked or not at all;
- **credentials** (a bearer token) go only to the host they were configured for: host identity is
  scheme + host + port, and a redirect elsewhere is made without them;
- **proxies**: ``http_proxy`` / ``https_proxy`` are used only for hosts off loopback (a loopback
  request with a token and a portrait must never leave the machine through a proxy);
- **deadlines**: every request has an idle timeout (per read) and an overall deadline, and a
  ``cancelled`` callable is checked every ``NET_TICK_S``: a watchdog shuts the socket down, so a
  blocked read ends at once on cancel, and a server trickling a byte at a time ends at the deadline;
- **sizes**: a body is read against a cap, refused from its declared length before any read.

Connection failures (refused, DNS, TLS) come out as ``OSError`` for the caller to word; every
other failure is one sentence in the caller's error class.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from . import limits
from .errors import EngineError
from .progress import Cancelled
from .safe_text import printable

CONSENT_HINT = "(CLI --allow-network; Blender: Preferences > System > Allow Online Access)"
_REDIRECTS = (301, 302, 303, 307, 308)
_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}


class NetworkError(EngineError):
    """A server broke the protocol, lied about a size, stalled past a deadline or redirected
    somewhere it may not; one sentence."""


class NetworkNotAllowed(NetworkError):
    """A request would leave this machine and the user has not allowed network access."""


def is_loopback(host: str) -> bool:
    host = (host or "").strip("[]").lower()
    if host in ("localhost", "localhost.localdomain") or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def origin(url: str) -> tuple[str, str, int]:
    """Host identity: (scheme, host, port), ws/wss counted as http/https."""
    parts = urllib.parse.urlsplit(url)
    scheme = {"ws": "http", "wss": "https"}.get(parts.scheme, parts.scheme)
    return scheme, (parts.hostname or "").lower(), parts.port or _DEFAULT_PORTS.get(scheme, 0)


def _show(url: str) -> str:
    scheme, host, port = origin(url)
    return printable(f"{scheme}://{host}:{port}", 120)


@dataclass
class NetworkPolicy:
    """``allow_network``: the user's consent to leave loopback. ``error`` / ``refusal``: the
    caller's error classes (a ComfyUI failure reads as a ComfyUIError)."""

    allow_network: bool = False
    error: type[EngineError] = NetworkError
    refusal: type[EngineError] = NetworkNotAllowed
    hint: str = CONSENT_HINT

    # -- consent ----------------------------------------------------------------------------
    def allows(self, url: str) -> bool:
        return self.allow_network or is_loopback(urllib.parse.urlsplit(url).hostname or "")

    def check(self, url: str, what: str = "") -> None:
        """Refuse a URL that is not http(s)/ws(s) or that leaves loopback without consent."""
        try:
            parts = urllib.parse.urlsplit(url)
            parts.port  # noqa: B018 - raises ValueError on a port that is no number
        except ValueError:
            raise self.error(f"{what or 'address'} {printable(url, 120)} is not a valid address") from None
        if parts.scheme not in ("http", "https", "ws", "wss") or not parts.hostname:
            raise self.error(f"{what or 'address'} {printable(url, 120)}: only http:// and https:// "
                             "addresses are used")
        if not self.allows(url):
            host = printable(parts.hostname, 120)
            raise self.refusal(f"{what + ' ' if what else ''}{host} is not this machine: allow "
                               f"network access to use it {self.hint}")

    # -- requests ---------------------------------------------------------------------------
    def open(self, method: str, url: str, *, body: bytes | None = None,
             headers: dict[str, str] | None = None, credentials: dict[str, str] | None = None,
             context: ssl.SSLContext | None = None, idle: float | None = None,
             deadline: float | None = None, cancelled: Callable[[], bool] | None = None) -> Response:
        """Send one request and return its response (status and headers read; the body is read
        with ``Response.read`` / ``Response.stream``; close it, or use it in ``with``).
        ``credentials`` are headers sent only to ``url``'s own host. Raises ``OSError`` when the
        server cannot be reached, the caller's errors for anything else."""
        self.check(url)
        idle = idle or limits.NET_IDLE_TIMEOUT_S
        watch = _Watchdog(time.monotonic() + (deadline or limits.NET_REQUEST_DEADLINE_S), cancelled)
        home = origin(url)
        hops = 0
        try:
            while True:
                extra = dict(headers or {})
                if credentials and origin(url) == home:
                    extra.update(credentials)
                conn = self._connection(url, idle, context)
                watch.conn = conn
                try:
                    conn.request(method, self._target(url, conn), body=body, headers=extra)
                    resp = conn.getresponse()
                except http.client.HTTPException as exc:
                    conn.close()
                    watch.raise_if_fired(self, url)
                    raise self.error(f"{_show(url)} did not answer with HTTP "
                                     f"({type(exc).__name__}); is this the right server?") from None
                except TimeoutError:
                    conn.close()
                    watch.raise_if_fired(self, url)
                    raise self.error(f"{_show(url)} did not answer within {idle:g} s (a stalled or "
                                     "overloaded server?); try again") from None
                except OSError:
                    conn.close()
                    watch.raise_if_fired(self, url)
                    raise
                watch.raise_if_fired(self, url)
                location = resp.getheader("Location") if resp.status in _REDIRECTS else None
                if location is None:
                    return Response(self, url, conn, resp, watch)
                conn.close()
                url = self._redirect(method, url, location, hops)
                hops += 1
        except BaseException:
            watch.stop()
            raise

    def _redirect(self, method: str, url: str, location: str, hops: int) -> str:
        target = urllib.parse.urljoin(url, location.strip())
        shown = printable(target, 160)
        if method not in ("GET", "HEAD"):
            path = printable(urllib.parse.urlsplit(url).path, 60)
            raise self.error(f"{_show(url)} answered {method} {path} with a redirect to {shown}; "
                             f"an answer to a {method} is only taken from the server that was "
                             "asked, so the request was refused")
        if hops >= limits.NET_MAX_REDIRECTS:
            raise self.error(f"{_show(url)} redirected more than {limits.NET_MAX_REDIRECTS} times; "
                             "refused")
        scheme = urllib.parse.urlsplit(target).scheme
        if scheme not in ("http", "https"):
            raise self.error(f"{_show(url)} redirected to {shown}; only http:// and https:// "
                             "redirects are followed, so it was refused")
        if urllib.parse.urlsplit(url).scheme == "https" and scheme == "http":
            raise self.error(f"{_show(url)} redirected from https to plain http ({shown}); refused")
        if not self.allows(target):
            host = printable(urllib.parse.urlsplit(target).hostname or "?", 120)
            raise self.refusal(f"{_show(url)} redirected to {host}, which is not this machine: "
                               f"allow network access to follow it {self.hint}")
        return target

    @staticmethod
    def _connection(url: str, idle: float, context: ssl.SSLContext | None) -> http.client.HTTPConnection:
        parts = urllib.parse.urlsplit(url)
        host, port = parts.hostname or "", parts.port
        tls = parts.scheme == "https"
        proxy = None if is_loopback(host) else _proxy_for(parts.scheme, host)
        ctx = (context or ssl.create_default_context()) if tls else None
        if proxy is None:
            if tls:
                return http.client.HTTPSConnection(host, port, timeout=idle, context=ctx)
            return http.client.HTTPConnection(host, port, timeout=idle)
        p = urllib.parse.urlsplit(proxy)
        if tls:  # CONNECT tunnel: the proxy sees only the host name, TLS goes end to end
            conn = http.client.HTTPSConnection(p.hostname or "", p.port or 8080, timeout=idle, context=ctx)
            conn.set_tunnel(host, port)
            return conn
        conn = http.client.HTTPConnection(p.hostname or "", p.port or 8080, timeout=idle)
        conn._th_absolute = True  # type: ignore[attr-defined] - plain http: absolute-URI request
        return conn

    @staticmethod
    def _target(url: str, conn: http.client.HTTPConnection) -> str:
        if getattr(conn, "_th_absolute", False):
            return url
        parts = urllib.parse.urlsplit(url)
        return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")


def _proxy_for(scheme: str, host: str) -> str | None:
    """The user's proxy for ``scheme`` unless ``no_proxy`` bypasses ``host``; never for loopback."""
    proxies = urllib.request.getproxies()
    proxy = proxies.get(scheme)
    if not proxy or urllib.request.proxy_bypass(host):
        return None
    if "://" not in proxy:
        proxy = "http://" + proxy
    return proxy


class Response:
    """A response whose body is read against a cap, under the request's deadlines."""

    def __init__(self, policy: NetworkPolicy, url: str, conn: http.client.HTTPConnection,
                 resp: http.client.HTTPResponse, watch: _Watchdog):
        self.policy, self.url, self._conn, self._resp, self._watch = policy, url, conn, resp, watch
        self.status = resp.status
        self.headers = resp.headers

    def __enter__(self) -> Response:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._watch.stop()
        self._conn.close()

    def declared_length(self) -> int | None:
        value = (self._resp.getheader("Content-Length") or "").strip()
        return int(value) if value.isdigit() and len(value) < 20 else None

    def stream(self, limit: int, what: str = "answer", chunk: int = 1 << 20) -> Iterator[bytes]:
        """The body in chunks; refused when it declares or reaches more than ``limit`` bytes."""
        declared = self.declared_length()
        if declared is not None and declared > limit:
            raise self.policy.error(f"{what} from {_show(self.url)} would be {declared:,} bytes, above "
                                    f"the limit of {limit:,}; refused before reading it")
        got = 0
        read = getattr(self._resp, "read1", self._resp.read)
        while True:
            try:
                data = read(chunk)
            except http.client.IncompleteRead:
                self._watch.raise_if_fired(self.policy, self.url)
                raise self.policy.error(self._cut_short(what, got, declared)) from None
            except TimeoutError:
                self._watch.raise_if_fired(self.policy, self.url)
                raise self.policy.error(f"{what} from {_show(self.url)} stopped: nothing arrived for "
                                        f"{self._conn.timeout:g} s; try again") from None
            except (http.client.HTTPException, OSError, ValueError) as exc:
                self._watch.raise_if_fired(self.policy, self.url)
                raise self.policy.error(f"{what} from {_show(self.url)} broke off "
                                        f"({type(exc).__name__}); try again") from None
            self._watch.raise_if_fired(self.policy, self.url)
            if not data:
                break
            got += len(data)
            if got > limit:
                raise self.policy.error(f"{what} from {_show(self.url)} is more than {limit:,} bytes "
                                        "(the limit); refused")
            yield data
        if declared is not None and got < declared:
            raise self.policy.error(self._cut_short(what, got, declared))

    def read(self, limit: int, what: str = "answer") -> bytes:
        return b"".join(self.stream(limit, what))

    def read_prefix(self, n: int) -> bytes:
        """At most the first ``n`` bytes (an error page: only its start is shown), never an error."""
        try:
            data = self._resp.read(n)
        except (http.client.HTTPException, OSError, ValueError) as exc:
            data = getattr(exc, "partial", b"") or b""
        return data[:n]

    def _cut_short(self, what: str, got: int, declared: int | None) -> str:
        of = f" of the {declared:,} it announced" if declared is not None else ""
        return (f"{what} from {_show(self.url)} was cut short ({got:,} bytes{of}); the server closed "
                "the connection early, try again")


class _Watchdog:
    """Shuts the request's socket down when it is cancelled or past its deadline, so a blocked
    read returns at once; ``raise_if_fired`` then turns that into Cancelled or one sentence."""

    def __init__(self, deadline: float, cancelled: Callable[[], bool] | None):
        self.deadline = deadline
        self.cancelled = cancelled
        self.conn: http.client.HTTPConnection | None = None
        self.fired: str | None = None
        self._started = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="net-watchdog", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(limits.NET_TICK_S):
            if self.cancelled is not None and self.cancelled():
                self.fired = "cancelled"
            elif time.monotonic() > self.deadline:
                self.fired = "deadline"
            else:
                continue
            sock = getattr(self.conn, "sock", None)
            if sock is not None:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            return

    def stop(self) -> None:
        self._stop.set()

    def raise_if_fired(self, policy: NetworkPolicy, url: str) -> None:
        if self.fired is None and self.cancelled is not None and self.cancelled():
            self.fired = "cancelled"
        if self.fired is None and time.monotonic() > self.deadline:
            self.fired = "deadline"
        if self.fired == "cancelled":
            raise Cancelled("cancelled")
        if self.fired == "deadline":
            seconds = self.deadline - self._started
            raise policy.error(f"{_show(url)} did not finish its answer within {seconds:.0f} s "
                               "(a stalled or overloaded server?); try again")

"""https/wss and bearer tokens against the REAL ComfyUI server, behind a TLS-terminating proxy.

The proxy (below, standard library only) listens on 127.0.0.1, terminates TLS with a certificate
signed by a throw-away CA made with the ``openssl`` CLI in the test's temporary folder (keys are
never written into the repository), optionally requires ``Authorization: Bearer <token>``, and
forwards bytes both ways to the real server -- HTTP requests and the websocket alike, as nginx or
Caddy in front of a shared GPU box would. Checked: a certificate the machine does not trust is
refused in one sentence (verification is on by default), a given CA file makes the whole render
round trip work over https + wss (upload, queue, progress, /view), a missing or wrong token is one
sentence, and the token never appears in messages, stdout/stderr or logs.
"""

from __future__ import annotations

import logging
import os
import select
import shutil
import socket
import ssl
import subprocess
import sys
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest

from engine.media.video import load_image
from engine.pipeline import frame_path, render_motion
from engine.progress import Progress
from engine.render.comfyui.client import TOKEN_ENV, ComfyClient, ComfyUIError
from engine.sample import sample_performance

ROOT = Path(__file__).resolve().parents[2]
PORTRAIT = ROOT.parent / "shared" / "testdata" / "portraits" / "photo_woman.jpg"
TOKEN = "th-test-token-7f3a9c21e5"  # a made-up secret: must never show up anywhere
N = 5

pytestmark = pytest.mark.skipif(not PORTRAIT.is_file(), reason="../shared/testdata not present")


# -- certificates (openssl CLI; the cryptography package is not in the venv) ----------------------


def _openssl(*args: str, cwd: Path) -> None:
    r = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


@pytest.fixture(scope="module")
def certs(tmp_path_factory) -> dict[str, Path]:
    """A CA (self-signed) and a server certificate for 127.0.0.1/localhost signed by it."""
    if shutil.which("openssl") is None:
        pytest.fail("the openssl command is needed to make the test certificates (apt install openssl)")
    d = tmp_path_factory.mktemp("tls")
    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    _openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
             "-subj", "/CN=Talking Head test CA", "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=d)
    _openssl("req", *ec, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1", cwd=d)
    (d / "ext.cnf").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n"
                               "keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n"
                               "subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n")
    _openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
             "-CAcreateserial", "-out", "server.pem", "-days", "2", "-extfile", "ext.cnf", cwd=d)
    return {"ca": d / "ca.pem", "cert": d / "server.pem", "key": d / "server.key"}


# -- the TLS-terminating proxy ---------------------------------------------------------------------


class TLSProxy:
    """127.0.0.1:port (TLS) -> 127.0.0.1:backend (plain). One request head is read per connection
    (urllib sends ``Connection: close``; a websocket is one upgrade request), checked for the
    bearer token when one is required, then bytes are pumped both ways until either side closes."""

    def __init__(self, backend_port: int, cert: Path, key: Path, token: str | None = None):
        self.backend_port = backend_port
        self.token = token
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(str(cert), str(key))
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.url = f"https://127.0.0.1:{self.port}"
        self.paths: list[str] = []  # request lines' paths that reached the server
        self.upgrades = 0  # websocket upgrades forwarded (wss)
        self.refused = 0  # requests without the right token
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self) -> None:
        self._closed = True
        self.listener.close()

    def _accept(self) -> None:
        while not self._closed:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        try:
            tls = self.ctx.wrap_socket(conn, server_side=True)
        except (ssl.SSLError, OSError):
            conn.close()
            return
        upstream = None
        try:
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = tls.recv(65536)
                if not chunk:
                    return
                head += chunk
            lines = head.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
            headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in lines[1:])}
            if self.token is not None and headers.get("authorization") != f"Bearer {self.token}":
                self.refused += 1
                tls.sendall(b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n"
                            b"WWW-Authenticate: Bearer\r\nConnection: close\r\n\r\n")
                return
            self.paths.append(lines[0].split(" ")[1])
            if headers.get("upgrade", "").lower() == "websocket":
                self.upgrades += 1
            upstream = socket.create_connection(("127.0.0.1", self.backend_port))
            upstream.sendall(head)
            self._pump(tls, upstream)
        except OSError:
            pass
        finally:
            for s in (tls, upstream):
                if s is not None:
                    try:
                        s.close()
                    except OSError:
                        pass

    @staticmethod
    def _pump(tls: ssl.SSLSocket, upstream: socket.socket) -> None:
        # one thread per connection: OpenSSL objects must not be read and written concurrently
        while True:
            ready = [tls] if tls.pending() else select.select([tls, upstream], [], [], 30)[0]
            if not ready:
                return
            for src in ready:
                data = src.recv(65536)
                if not data:
                    return
                (upstream if src is tls else tls).sendall(data)


@pytest.fixture
def portrait() -> np.ndarray:
    return cv2.resize(load_image(PORTRAIT), (160, 160), interpolation=cv2.INTER_AREA)


@pytest.fixture
def proxy(comfyui, certs):
    p = TLSProxy(comfyui.port, certs["cert"], certs["key"])
    yield p
    p.close()


@pytest.fixture
def token_proxy(comfyui, certs):
    p = TLSProxy(comfyui.port, certs["cert"], certs["key"], token=TOKEN)
    yield p
    p.close()


def _one_sentence(msg: str) -> str:
    assert "\n" not in msg and len(msg) < 320, msg
    return msg


# -- tests -------------------------------------------------------------------------------------------


def test_untrusted_certificate_is_refused_and_a_ca_file_makes_the_round_trip_work(
        proxy, certs, portrait, tmp_path) -> None:
    # verification is on by default: the proxy's certificate (our private CA) is refused
    client = ComfyClient(proxy.url)
    with pytest.raises(ComfyUIError) as exc:
        client.system_stats()
    msg = _one_sentence(str(exc.value))
    assert "does not trust" in msg and "--ca-file" in msg, msg
    with pytest.raises(ComfyUIError, match="does not trust"):  # the websocket (wss) as well
        client._socket()
    assert not proxy.paths  # nothing reached the server
    # a file that is not a CA certificate: one sentence, before any connection
    with pytest.raises(ComfyUIError, match="cannot use server.key as the ComfyUI server's CA"):
        ComfyClient(proxy.url, ca_file=certs["key"])

    # with the CA: the full render over https + wss (upload, queue, progress, /view download)
    motion = sample_performance(N / 25.0 + 0.2, 25.0)
    messages: list[str] = []
    out = render_motion("comfyui", portrait, motion, tmp_path / "out", frames=range(N),
                        renderer_options={"workflow": "core_roundtrip", "server": proxy.url,
                                          "ca_file": str(certs["ca"])},
                        progress=Progress(lambda d, t, m: messages.append(m)))
    got = [load_image(frame_path(out, i)) for i in range(N)]
    assert len(got) == N and all(f.shape == portrait.shape for f in got)
    assert float(np.abs(got[0].astype(int) - got[-1]).mean()) > 0.5  # the performance moves
    assert proxy.upgrades == 1  # progress came through wss
    assert any(m.startswith("node ") for m in messages), messages  # ... per node, from the socket
    for path in ("/upload/image", "/prompt", "/view?"):
        assert any(p.startswith(path) for p in proxy.paths), (path, proxy.paths)


def test_bearer_token_missing_wrong_and_right_never_shown(
        token_proxy, certs, portrait, comfyui, tmp_path, capfd, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    motion = sample_performance(N / 25.0 + 0.2, 25.0)
    options = {"workflow": "core_roundtrip", "server": token_proxy.url, "ca_file": str(certs["ca"])}
    os.environ.pop(TOKEN_ENV, None)
    with pytest.raises(ComfyUIError) as exc:
        render_motion("comfyui", portrait, motion, tmp_path / "none", frames=range(2),
                      renderer_options=options)
    assert "needs a token" in _one_sentence(str(exc.value)), exc.value
    wrong = TOKEN[::-1]
    with pytest.raises(ComfyUIError) as exc:
        render_motion("comfyui", portrait, motion, tmp_path / "wrong", frames=range(2),
                      renderer_options={**options, "token": wrong})
    msg = _one_sentence(str(exc.value))
    assert "refused the token" in msg and wrong not in msg, msg
    # the websocket handshake is refused the same way (no token sent -> 401 from the proxy)
    with pytest.raises(ComfyUIError, match="needs a token"):
        ComfyClient(token_proxy.url, ca_file=certs["ca"])._socket()
    assert token_proxy.refused >= 3 and not token_proxy.paths

    # the CLI, token from the environment only: renders over https + wss through the proxy
    small = tmp_path / "p.png"
    cv2.imwrite(str(small), cv2.cvtColor(portrait, cv2.COLOR_RGB2BGR))
    mpath = tmp_path / "m.json"
    motion.save(mpath)
    env = {**os.environ, TOKEN_ENV: TOKEN}
    r = subprocess.run([sys.executable, "-m", "engine", "render", str(small), str(mpath),
                        "-o", str(tmp_path / "cli"), "--frames", f"0-{N - 1}", "--renderer", "comfyui",
                        "--workflow", "core_roundtrip", "--server", token_proxy.url,
                        "--ca-file", str(certs["ca"])], cwd=ROOT, env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert len(list((tmp_path / "cli").glob("frame_*.png"))) == N
    assert token_proxy.upgrades == 1 and any(p.startswith("/view?") for p in token_proxy.paths)
    # and the token is nowhere: CLI output, this process's output and logs, the server's log
    out, err = capfd.readouterr()
    seen = [r.stdout, r.stderr, out, err, caplog.text, comfyui.log.read_text(errors="replace")]
    for text in seen:
        assert TOKEN not in text and wrong not in text

"""Model manager: verified downloads from a local HTTP server on 127.0.0.1 (good, truncated,
corrupted, Range/resume, cancel), offline installs from folders and zips, status caching, the CLI.
No test touches the internet: the registry's URLs are redirected to the local server."""

from __future__ import annotations

import hashlib
import http.server
import threading
import zipfile
from pathlib import Path

import pytest

from engine import cli
from engine.models import registry, store
from engine.models.registry import ModelFile, ModelSet
from engine.progress import Cancelled, Progress

ROOT = Path(__file__).resolve().parents[2]
LP_ONNX = ROOT.parent / "shared" / "reference" / "liveportrait_onnx"

SIZE_A = 2 * store.CHUNK + 12345  # several chunks, so progress/cancel/resume are exercised
SIZE_B = 4321


def _payload(n: int, seed: int) -> bytes:
    out = bytearray()
    i = 0
    while len(out) < n:
        out += hashlib.sha256(f"{seed}-{i}".encode()).digest()
        i += 1
    return bytes(out[:n])


class _Server:
    """Serves files under /good/, /truncated/ (announces the full length, sends half, closes),
    /corrupt/ (one byte flipped), /norange/ (ignores Range). Honors Range on the others."""

    def __init__(self, files: dict[str, bytes]):
        self.files = files
        self.requests: list[tuple[str, str | None]] = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):
                mode, _, name = self.path.strip("/").partition("/")
                rng = self.headers.get("Range")
                outer.requests.append((self.path, rng))
                data = outer.files.get(name)
                if data is None:
                    self.send_error(404)
                    return
                if mode == "corrupt":
                    data = data[:100] + bytes([data[100] ^ 0xFF]) + data[101:]
                start = 0
                if rng and mode != "norange":
                    start = int(rng.split("=")[1].split("-")[0])
                    if start >= len(data):
                        self.send_response(416)
                        self.end_headers()
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                else:
                    self.send_response(200)
                body = data[start:]
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if mode == "truncated":
                    body = body[: len(body) // 2]
                self.wfile.write(body)
                self.wfile.flush()
                if mode == "truncated":
                    self.close_connection = True

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def url(self, mode: str) -> str:
        return f"{self.base}/{mode}"

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def files():
    return {"a.onnx": _payload(SIZE_A, 1), "b.onnx": _payload(SIZE_B, 2)}


@pytest.fixture
def testset(monkeypatch, files):
    ms = ModelSet(
        name="testset", label="Test set", description="", license_name="MIT", license_text="MIT",
        homepage="",
        files=tuple(
            ModelFile(n, n.split(".")[0], f"https://example.invalid/{n}", len(d),
                      hashlib.sha256(d).hexdigest(), "test")
            for n, d in files.items()),
    )
    monkeypatch.setitem(registry.MODEL_SETS, "testset", ms)
    return ms


@pytest.fixture
def server(files):
    s = _Server(files)
    yield s
    s.close()


def _assert_nothing_installed(st: store.ModelStore, names=("a.onnx", "b.onnx")):
    for n in names:
        assert not st.path("testset", n).exists()


def test_no_network_without_permission(tmp_path, testset, server):
    st = store.ModelStore(tmp_path, base_url=server.url("good"))
    with pytest.raises(store.NetworkNotAllowed, match="--allow-network"):
        st.download("testset", allow_network=False)
    assert server.requests == []
    _assert_nothing_installed(st)


def test_good_download_with_progress(tmp_path, testset, server, files):
    st = store.ModelStore(tmp_path, base_url=server.url("good"))
    seen = []
    st.download("testset", allow_network=True, progress=Progress(lambda d, t, m: seen.append((d, t))))
    assert st.status("testset") == {"a.onnx": "ok", "b.onnx": "ok"}
    assert st.is_installed("testset")
    assert st.path("testset", "a.onnx").read_bytes() == files["a.onnx"]
    done_a = [d for d, t in seen if t == SIZE_A]
    assert done_a == sorted(done_a) and done_a[-1] == SIZE_A and len(done_a) >= 3
    assert not any((tmp_path / "testset" / ".partial").iterdir())
    # already verified: a second download fetches nothing
    n = len(server.requests)
    st.download("testset", allow_network=True)
    assert len(server.requests) == n


def test_corrupted_download_is_discarded(tmp_path, testset, server):
    st = store.ModelStore(tmp_path, base_url=server.url("corrupt"))
    with pytest.raises(store.ChecksumMismatch, match="a.onnx.*discarded"):
        st.download("testset", allow_network=True)
    _assert_nothing_installed(st)
    assert not (tmp_path / "testset" / ".partial" / "a.onnx.part").exists()
    assert st.status("testset")["a.onnx"] == "missing"


def test_truncated_download_then_resume_with_range(tmp_path, testset, server, files):
    st = store.ModelStore(tmp_path, base_url=server.url("truncated"))
    with pytest.raises(store.ModelStoreError, match="resume"):
        st.download("testset", allow_network=True)
    _assert_nothing_installed(st)
    part = tmp_path / "testset" / ".partial" / "a.onnx.part"
    have = part.stat().st_size
    assert 0 < have < SIZE_A
    assert part.read_bytes() == files["a.onnx"][:have]
    st.base_url = server.url("good")
    st.download("testset", allow_network=True)
    assert st.is_installed("testset")
    assert ("/good/a.onnx", f"bytes={have}-") in server.requests
    assert st.path("testset", "a.onnx").read_bytes() == files["a.onnx"]


def test_server_ignoring_range_restarts_cleanly(tmp_path, testset, server, files):
    st = store.ModelStore(tmp_path, base_url=server.url("norange"))
    part = tmp_path / "testset" / ".partial" / "a.onnx.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(files["a.onnx"][:5000])
    st.download("testset", allow_network=True)
    assert st.path("testset", "a.onnx").read_bytes() == files["a.onnx"]


def test_cancel_keeps_partial_and_resumes(tmp_path, testset, server, files):
    st = store.ModelStore(tmp_path, base_url=server.url("good"))
    prog = Progress()
    prog.callback = lambda d, t, m: prog.cancel() if d >= store.CHUNK else None
    with pytest.raises(Cancelled):
        st.download("testset", allow_network=True, progress=prog)
    _assert_nothing_installed(st)
    part = tmp_path / "testset" / ".partial" / "a.onnx.part"
    assert store.CHUNK <= part.stat().st_size < SIZE_A
    st.download("testset", allow_network=True)
    assert st.status("testset") == {"a.onnx": "ok", "b.onnx": "ok"}
    assert any(r and r.startswith("bytes=") for _, r in server.requests)


def test_unreachable_server_message(tmp_path, testset):
    st = store.ModelStore(tmp_path, base_url="http://127.0.0.1:9")  # discard port: refused
    with pytest.raises(store.ModelStoreError, match="cannot reach"):
        st.download("testset", allow_network=True, timeout=5)
    _assert_nothing_installed(st)


def test_install_from_folder_and_zip(tmp_path, testset, files):
    src = tmp_path / "src" / "nested"
    src.mkdir(parents=True)
    for n, d in files.items():
        (src / n).write_bytes(d)
    st = store.ModelStore(tmp_path / "models")
    assert sorted(st.install_from(tmp_path / "src")) == ["a.onnx", "b.onnx"]
    assert st.is_installed("testset")

    zpath = tmp_path / "models.zip"
    with zipfile.ZipFile(zpath, "w") as zf:
        for n, d in files.items():
            zf.writestr(f"liveportrait_onnx/{n}", d)
    st2 = store.ModelStore(tmp_path / "models2")
    assert sorted(st2.install_from(zpath, "testset")) == ["a.onnx", "b.onnx"]
    assert st2.verify("testset") == {"a.onnx": "ok", "b.onnx": "ok"}


@pytest.mark.parametrize("damage", ["truncated", "corrupted"])
@pytest.mark.parametrize("kind", ["folder", "zip"])
def test_install_rejects_bad_file_and_installs_nothing(tmp_path, testset, files, damage, kind):
    bad = dict(files)
    a = files["a.onnx"]
    bad["a.onnx"] = a[:-10] if damage == "truncated" else a[:7] + b"X" + a[8:]
    if kind == "folder":
        src = tmp_path / "src"
        src.mkdir()
        for n, d in bad.items():
            (src / n).write_bytes(d)
    else:
        src = tmp_path / "src.zip"
        with zipfile.ZipFile(src, "w") as zf:
            for n, d in bad.items():
                zf.writestr(n, d)
    st = store.ModelStore(tmp_path / "models")
    with pytest.raises(store.ChecksumMismatch, match="nothing was installed"):
        st.install_from(src, "testset")
    _assert_nothing_installed(st)  # b.onnx was fine but is not installed either
    assert [p.name for p in (tmp_path / "models" / "testset").iterdir()] == []


def test_status_notices_later_damage(tmp_path, testset, files):
    src = tmp_path / "src"
    src.mkdir()
    for n, d in files.items():
        (src / n).write_bytes(d)
    st = store.ModelStore(tmp_path / "models")
    st.install_from(src)
    p = st.path("testset", "b.onnx")
    p.write_bytes(b"Z" + files["b.onnx"][1:])  # same size, new mtime: cache must not hide it
    assert st.status("testset")["b.onnx"] == "corrupt"
    assert not st.is_installed("testset")
    p.unlink()
    assert st.status("testset")["b.onnx"] == "missing"
    assert st.missing("testset") == ["b.onnx"]


def test_file_without_published_checksum_needs_explicit_trust(tmp_path, monkeypatch, files, server):
    data = files["b.onnx"]
    ms = ModelSet("nosum", "No checksum", "", "MIT", "MIT", "",
                  files=(ModelFile("b.onnx", "b", "https://example.invalid/b.onnx", None, None, ""),))
    monkeypatch.setitem(registry.MODEL_SETS, "nosum", ms)
    src = tmp_path / "src"
    src.mkdir()
    (src / "b.onnx").write_bytes(data)
    st = store.ModelStore(tmp_path / "models", base_url=server.url("good"))
    with pytest.raises(store.ModelStoreError, match="--trust-unverified"):
        st.download("nosum", allow_network=True)
    assert server.requests == []
    with pytest.raises(store.ModelStoreError, match="--trust-unverified"):
        st.install_from(src, "nosum")
    assert not st.path("nosum", "b.onnx").exists()
    assert st.install_from(src, "nosum", trust_unverified=True) == ["b.onnx"]
    assert st.status("nosum") == {"b.onnx": "trusted"}
    assert st.is_installed("nosum")
    st.path("nosum", "b.onnx").write_bytes(data[::-1])  # changed after the user vouched for it
    assert st.status("nosum") == {"b.onnx": "unverified"}
    assert not st.is_installed("nosum")


def test_default_models_dir_env_override(monkeypatch, tmp_path):
    monkeypatch.setenv(store.ENV_MODELS_DIR, str(tmp_path / "m"))
    assert store.default_models_dir() == tmp_path / "m"
    monkeypatch.delenv(store.ENV_MODELS_DIR)
    assert store.default_models_dir().parts[-2:] == ("talking_head", "models")


def test_registry_checksums_match_the_real_files():
    ms = registry.MODEL_SETS["liveportrait"]
    assert {f.role for f in ms.files} == {"appearance", "motion", "warping", "stitching", "eye", "lip"}
    for f in ms.files:
        assert f.url.startswith("https://") and f.url.endswith("/" + f.name)
        assert f.sha256 is None or len(f.sha256) == 64
        p = LP_ONNX / f.name
        if p.exists():
            assert p.stat().st_size == f.size
            assert hashlib.sha256(p.read_bytes()).hexdigest() == f.sha256


def test_cli_download_refuses_and_install_verifies(tmp_path, capsys):
    models = str(tmp_path / "m")
    assert cli.main(["models", "--models-dir", models, "download", "liveportrait"]) == 2
    assert "--allow-network" in capsys.readouterr().err
    assert cli.main(["models", "--models-dir", models, "install", str(LP_ONNX)]) == 1  # 3 still missing
    out = capsys.readouterr().out
    assert "installed 3 file(s)" in out and "models download liveportrait --allow-network" in out
    st = store.ModelStore(models)
    s = st.status("liveportrait")
    assert s["appearance_feature_extractor.onnx"] == s["stitching.onnx"] == s["stitching_lip.onnx"] == "ok"
    assert s["motion_extractor.onnx"] == "missing"
    assert cli.main(["models", "--models-dir", models, "list"]) == 0
    assert "not installed" in capsys.readouterr().out


# -- the network policy on downloads (engine/net_policy.py) ----------------------------------------


def _hostile():
    import importlib.util
    import sys

    path = Path(__file__).resolve().parents[1] / "helpers" / "hostile_comfyui.py"
    spec = importlib.util.spec_from_file_location("hostile_comfyui", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules["hostile_comfyui"] = mod
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture
def mirror():
    """A loopback server whose routes a test scripts (tests/helpers/hostile_comfyui.py)."""
    servers = []

    def make():
        s = _hostile().FakeComfy()
        servers.append(s)
        return s

    yield make
    for s in servers:
        s.close()


def test_redirects_are_followed_only_within_the_policy(tmp_path, testset, server, mirror, files):
    m = mirror()
    # a mirror that moves its files elsewhere on loopback (another host: another port): followed
    m.routes["GET /moved/*"] = lambda req, sock: _hostile().redirect(
        sock, server.url("good") + "/" + req.path.rsplit("/", 1)[1])
    st = store.ModelStore(tmp_path / "ok", base_url=m.url + "/moved")
    st.download("testset", allow_network=True)
    assert st.is_installed("testset")
    # ... but never to another scheme
    m.routes["GET /ftp/*"] = lambda req, sock: _hostile().redirect(sock, "ftp://127.0.0.1/a.onnx")
    st = store.ModelStore(tmp_path / "ftp", base_url=m.url + "/ftp")
    with pytest.raises(store.ModelStoreError, match="only http:// and https:// redirects"):
        st.download("testset", allow_network=True)
    _assert_nothing_installed(st)


def test_a_size_above_the_registrys_is_refused_before_reading(tmp_path, testset, mirror):
    m = mirror()
    m.routes["GET /big/*"] = lambda req, sock: _hostile().answer(sock, 200, b"x" * 10, length=50 << 30)
    st = store.ModelStore(tmp_path, base_url=m.url + "/big")
    with pytest.raises(store.ModelStoreError, match="above the limit"):
        st.download("testset", allow_network=True)
    _assert_nothing_installed(st)


def test_a_loopback_mirror_is_never_reached_through_an_env_proxy(tmp_path, testset, server, mirror,
                                                                monkeypatch):
    proxy = mirror()
    for var in ("http_proxy", "HTTP_PROXY", "all_proxy"):
        monkeypatch.setenv(var, proxy.url)
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.delenv("NO_PROXY", raising=False)
    import urllib.request

    monkeypatch.setattr(urllib.request, "_opener", None)  # as in a fresh process: env proxies read
    st = store.ModelStore(tmp_path, base_url=server.url("good"))
    st.download("testset", allow_network=True)
    assert st.is_installed("testset") and proxy.requests == []


def test_a_stalled_download_ends_at_the_idle_timeout_and_cancel_is_at_once(tmp_path, testset, mirror):
    import time

    m = mirror()
    m.routes["GET /stall/*"] = _hostile().stall(20)
    st = store.ModelStore(tmp_path, base_url=m.url + "/stall")
    t0 = time.monotonic()
    with pytest.raises(store.ModelStoreError, match="did not answer within 1 s"):
        st.download("testset", allow_network=True, timeout=1.0)
    assert time.monotonic() - t0 < 5
    progress = Progress()
    threading.Timer(0.3, progress.cancel).start()
    t0 = time.monotonic()
    with pytest.raises(Cancelled):
        st.download("testset", allow_network=True, progress=progress, timeout=30.0)
    assert time.monotonic() - t0 < 2

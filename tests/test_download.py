"""download()/extract() against a local HTTP server, and the DOWNLOADS registry."""

from __future__ import annotations

import hashlib
import io
import re
import socket
import tarfile
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from recbench.data.download import download, extract
from recbench.data.downloads import DOWNLOADS
from recbench.errors import RecbenchError

BODY = bytes(range(256)) * 1024 + b"tail"  # 256 KiB + 4 bytes: several reads, not a round size
SHA = hashlib.sha256(BODY).hexdigest()


class _Handler(BaseHTTPRequestHandler):
    """Serves ``server.routes[path] = (body, declared Content-Length)``; 404 otherwise."""

    def do_GET(self):  # noqa: N802 (http.server API)
        self.server.hits.append(self.path)
        if self.path not in self.server.routes:
            self.send_error(404)
            return
        body, length = self.server.routes[self.path]
        self.send_response(200)
        self.send_header("Content-Length", str(length))
        self.end_headers()
        self.wfile.write(body)  # HTTP/1.0: the connection closes after this, short or not

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    """A local HTTP server on a free port; ``server.url(path)``, ``server.hits``."""
    httpd = HTTPServer(("127.0.0.1", 0), _Handler)
    httpd.routes = {"/data.bin": (BODY, len(BODY)), "/short.bin": (BODY[:1000], len(BODY))}
    httpd.hits = []
    httpd.url = lambda path: f"http://127.0.0.1:{httpd.server_address[1]}{path}"
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.01})
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()
    thread.join()


def _leftovers(folder):
    return sorted(p.name for p in folder.iterdir() if ".part-" in p.name)


def test_good_checksum_downloads_once(server, tmp_path):
    dest = tmp_path / "sub" / "data.bin"  # parent does not exist yet
    assert download(server.url("/data.bin"), dest, SHA, progress=True) == dest
    assert dest.read_bytes() == BODY
    assert _leftovers(dest.parent) == []
    assert server.hits == ["/data.bin"]
    # Cached: the second call does not contact the server.
    assert download(server.url("/data.bin"), dest, SHA.upper(), progress=False) == dest
    assert server.hits == ["/data.bin"]


def test_unknown_checksum_is_reported_for_pinning(server, tmp_path, capsys):
    dest = tmp_path / "data.bin"
    assert download(server.url("/data.bin"), dest, None, progress=False) == dest
    assert dest.read_bytes() == BODY
    assert f"has sha256 {SHA}" in capsys.readouterr().err


def test_stale_file_is_replaced(server, tmp_path):
    dest = tmp_path / "data.bin"
    dest.write_bytes(b"old and wrong")
    download(server.url("/data.bin"), dest, SHA, progress=False)
    assert dest.read_bytes() == BODY
    assert server.hits == ["/data.bin"]


def test_bad_checksum(server, tmp_path):
    dest = tmp_path / "data.bin"
    with pytest.raises(RecbenchError, match="checksum mismatch") as err:
        download(server.url("/data.bin"), dest, "0" * 64, progress=False)
    assert SHA in str(err.value) and "\n" not in str(err.value)
    assert not dest.exists()
    assert _leftovers(tmp_path) == []


def test_truncated_transfer(server, tmp_path):
    dest = tmp_path / "short.bin"
    with pytest.raises(RecbenchError, match="truncated") as err:
        download(server.url("/short.bin"), dest, SHA, progress=True)
    assert f"got 1000 of {len(BODY)} bytes" in str(err.value)
    assert "\n" not in str(err.value)
    assert not dest.exists()
    assert _leftovers(tmp_path) == []


def test_server_down(tmp_path):
    with socket.socket() as sock:  # bound but not listening: connections are refused
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}/data.bin"
        with pytest.raises(RecbenchError, match="cannot download") as err:
            download(url, tmp_path / "data.bin", SHA, progress=False, timeout=2.0)
    message = str(err.value)
    assert "\n" not in message
    assert str(tmp_path / "data.bin") in message and SHA in message
    assert list(tmp_path.iterdir()) == []


def test_http_404(server, tmp_path):
    with pytest.raises(RecbenchError, match=r"cannot download .*HTTP 404") as err:
        download(server.url("/missing.bin"), tmp_path / "x.bin", SHA, progress=False)
    assert "\n" not in str(err.value)
    assert list(tmp_path.iterdir()) == []


@pytest.fixture
def archives(tmp_path):
    """The same members in a .zip and a .tar.gz, including a path-traversal member."""
    members = {"pkg/ratings.dat": b"1::2::5::978300760\n", "../evil.txt": b"gotcha"}
    zpath = tmp_path / "a.zip"
    with zipfile.ZipFile(zpath, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    tpath = tmp_path / "a.tar.gz"
    with tarfile.open(tpath, "w:gz") as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return [zpath, tpath]


@pytest.mark.parametrize("kind", [0, 1], ids=["zip", "tar.gz"])
def test_extract_member(archives, tmp_path, kind):
    out = tmp_path / "out"
    path = extract(archives[kind], "pkg/ratings.dat", out)
    assert path == (out / "pkg" / "ratings.dat").resolve()
    assert path.read_bytes() == b"1::2::5::978300760\n"
    assert _leftovers(path.parent) == []


@pytest.mark.parametrize("kind", [0, 1], ids=["zip", "tar.gz"])
def test_extract_missing_member(archives, tmp_path, kind):
    with pytest.raises(RecbenchError, match=r"'nope\.dat' not found in .*pkg/ratings\.dat"):
        extract(archives[kind], "nope.dat", tmp_path / "out")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("kind", [0, 1], ids=["zip", "tar.gz"])
def test_extract_refuses_path_traversal(archives, tmp_path, kind):
    out = tmp_path / "out"
    with pytest.raises(RecbenchError, match="escapes"):
        extract(archives[kind], "../evil.txt", out)
    assert not (tmp_path / "evil.txt").exists()
    with pytest.raises(RecbenchError, match="escapes"):
        extract(archives[kind], str(tmp_path / "abs.txt"), out)


def test_registry_entries():
    required = {"ml-1m", "ml-20m", "amazon-book/train", "amazon-book/test",
                "yelp2018/train", "yelp2018/test", "frappe_x1/train", "frappe_x1/valid",
                "frappe_x1/test", "criteo_x1/test"}
    assert required <= DOWNLOADS.keys()
    for name, entry in DOWNLOADS.items():
        keys = {"url", "sha256", "archive_member", "source", "bytes"}
        assert keys <= set(entry) <= keys | {"member_md5"}, name
        assert entry["url"].startswith("https://"), name
        sha, md5 = entry["sha256"], entry.get("member_md5")
        assert sha is None or re.fullmatch(r"[0-9a-f]{64}", sha), name
        assert md5 is None or re.fullmatch(r"[0-9a-f]{32}", md5), name
        assert entry["source"], name
    assert DOWNLOADS["ml-1m"]["archive_member"] == "ml-1m/ratings.dat"
    assert DOWNLOADS["ml-20m"]["archive_member"] == "ml-20m/ratings.csv"


def test_unpinned_download_is_recorded_and_verified_on_every_use(server, tmp_path):
    dest = tmp_path / "data.bin"
    download(server.url("/data.bin"), dest, None, progress=False)
    record = tmp_path / "data.bin.sha256"
    assert record.read_text() == f"{SHA}  data.bin\n"  # sha256sum -c reads it
    assert download(server.url("/data.bin"), dest, None, progress=False) == dest
    assert server.hits == ["/data.bin"]  # verified against the record, not fetched again

    dest.write_bytes(BODY[:-1] + b"!")  # changed on disk: refused, never silently trusted
    with pytest.raises(RecbenchError) as err:
        download(server.url("/data.bin"), dest, None, progress=False)
    actual = hashlib.sha256(dest.read_bytes()).hexdigest()
    message = str(err.value)
    assert "\n" not in message and str(dest) in message and SHA in message and actual in message
    assert f"delete {dest} to download it again" in message
    assert server.hits == ["/data.bin"]

    dest.unlink()  # the fix the message names
    download(server.url("/data.bin"), dest, None, progress=False)
    assert dest.read_bytes() == BODY and server.hits == ["/data.bin"] * 2


def test_unpinned_redownload_must_match_the_recorded_sha256(server, tmp_path):
    (tmp_path / "data.bin.sha256").write_text(f"{'1' * 64}  data.bin\n")
    with pytest.raises(RecbenchError, match="checksum mismatch") as err:
        download(server.url("/data.bin"), tmp_path / "data.bin", None, progress=False)
    assert "recorded in" in str(err.value) and SHA in str(err.value)
    assert not (tmp_path / "data.bin").exists()


def test_sources_without_a_pinned_checksum_are_shown_unverified():
    from recbench.data.downloads import checksum_note

    # amazon-book / yelp2018: test.txt pinned, train.txt trust-on-first-use
    assert checksum_note("download:amazon-book") == "unverified (trust on first use): train.txt"
    assert checksum_note("download:yelp2018").startswith("unverified")
    assert checksum_note("download:ml-1m") == "sha256 pinned"
    # one zip holds BARS' three parts: named once; reczoo's md5 sums of the parts are pinned
    assert checksum_note("download:frappe_x1") == (
        "unverified (trust on first use): Frappe_x1.zip; md5 pinned: train.csv, valid.csv, "
        "test.csv")
    assert checksum_note("shared:gowalla_m1") == "-"

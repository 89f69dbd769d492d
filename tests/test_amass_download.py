"""AMASS archive download and safe extraction, against a real loopback server that behaves like AMASS.

The server checks the POSTed ``username``/``password`` (wrong ones get the 200 HTML login page,
as AMASS does), honours ``Range`` with 206 + ``Content-Range``, and can cut a transfer short,
answer 503, or ignore ``Range``. The archives it serves are real ``.tar.bz2`` files built here.
"""

from __future__ import annotations

import ast
import hashlib
import http.server
import io
import re
import tarfile
import urllib.parse
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Tuple

import pytest
from loopback_http import LoopbackHTTPServer, QuietHandler

from mimic.cli import main
from motion.amass_download import (
    AmassAuthError,
    AmassCredentials,
    AmassDownloadError,
    amass_archive_url,
    download_archive,
    download_subset,
    extract_archive,
    subset_archive_path,
)
from motion.errors import MotionDataError

USER = "alice@example.org"
PASSWORD = "s3cret-Pa55/word&x=1"  # '/', '&', '=' must survive form encoding
CREDENTIALS = AmassCredentials(USER, PASSWORD)
MODEL = "smplh/gender_specific/mosh_results"
LOGIN_PAGE = b"<!DOCTYPE html>\n<html><head><title>AMASS - Login</title></head><body><form>...</form></body></html>\n"


def pseudo_random_bytes(n: int, seed: int) -> bytes:
    """``n`` incompressible bytes (so bzip2 leaves the archive big enough to be cut in the middle)."""
    blocks = (hashlib.sha256(f"{seed}:{i}".encode()).digest() for i in range(n // 32 + 1))
    return b"".join(blocks)[:n]


GOOD_FILES = {
    "CMU/01/01_01_poses.npz": pseudo_random_bytes(60_000, 1),
    "CMU/01/01_02_poses.npz": pseudo_random_bytes(45_000, 2),
    "CMU/LICENSE.txt": b"CMU Graphics Lab Motion Capture Database\n",
}


def tar_bytes(members: List[Tuple[tarfile.TarInfo, Optional[bytes]]], compression: str = "bz2") -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode=f"w:{compression}") as tar:
        for info, data in members:
            if data is not None:
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return buffer.getvalue()


def regular(name: str, data: bytes) -> Tuple[tarfile.TarInfo, bytes]:
    return tarfile.TarInfo(name), data


def link(name: str, target: str, kind: bytes = tarfile.SYMTYPE) -> Tuple[tarfile.TarInfo, None]:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, target
    return info, None


def good_archive() -> bytes:
    return tar_bytes([regular(name, data) for name, data in GOOD_FILES.items()])


class AmassLikeServer(LoopbackHTTPServer):
    """``POST /download.php?domain=amass&resume=1&sfile=...`` on 127.0.0.1, in a thread."""

    def __init__(self) -> None:
        self.archives: Dict[str, bytes] = {}  # sfile → archive bytes
        self.requests: List[Dict[str, Optional[str]]] = []
        self.cut_first_after: Optional[int] = None  # close the first transfer after this many bytes
        self.failures_503 = 0  # answer this many requests with 503 first
        self.ignore_range = False
        self.login_content_type = "text/html; charset=UTF-8"
        owner = self

        class Handler(QuietHandler):
            def do_POST(self) -> None:
                owner.handle(self)

        super().__init__(Handler)

    def serve(self, subset: str, data: bytes) -> bytes:
        self.archives[f"amass_per_dataset/{MODEL}/{subset}.tar.bz2"] = data
        return data

    def handle(self, handler: http.server.BaseHTTPRequestHandler) -> None:
        url = urllib.parse.urlsplit(handler.path)
        query = urllib.parse.parse_qs(url.query)
        form = urllib.parse.parse_qs(handler.rfile.read(int(handler.headers.get("Content-Length", 0))).decode())
        sfile = query.get("sfile", [""])[0]
        range_header = handler.headers.get("Range")
        self.requests.append({"sfile": sfile, "range": range_header, "username": form.get("username", [None])[0]})
        if url.path != "/download.php" or query.get("domain") != ["amass"] or query.get("resume") != ["1"]:
            handler.send_error(404)
            return
        if form.get("username") != [USER] or form.get("password") != [PASSWORD]:
            self._send(handler, 200, LOGIN_PAGE, {"Content-Type": self.login_content_type})
            return
        if self.failures_503:
            self.failures_503 -= 1
            handler.send_error(503, "Service Unavailable")
            return
        data = self.archives.get(sfile)
        if data is None:
            handler.send_error(404)
            return
        headers = {"Content-Type": "application/x-bzip2", "Accept-Ranges": "bytes"}
        match = re.fullmatch(r"bytes=(\d+)-", range_header or "")
        if match and not self.ignore_range:
            start = int(match.group(1))
            if start >= len(data):
                self._send(handler, 416, b"", {"Content-Range": f"bytes */{len(data)}"})
                return
            headers["Content-Range"] = f"bytes {start}-{len(data) - 1}/{len(data)}"
            self._send(handler, 206, data[start:], headers)
        else:
            self._send(handler, 200, data, headers)

    def _send(self, handler: http.server.BaseHTTPRequestHandler, status: int, body: bytes, headers: Dict) -> None:
        handler.send_response(status)
        for name, value in headers.items():
            handler.send_header(name, value)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        if self.cut_first_after is not None and status in (200, 206):
            body, self.cut_first_after = body[: self.cut_first_after], None
            handler.close_connection = True  # the socket closes with Content-Length unmet
        handler.wfile.write(body)


@pytest.fixture()
def server() -> Iterator[AmassLikeServer]:
    running = AmassLikeServer()
    try:
        yield running
    finally:
        running.close()


def no_retry_wait(seconds: float) -> None:
    pytest.fail(f"unexpected retry wait of {seconds} s")


def url_of(server: AmassLikeServer, subset: str = "CMU") -> str:
    return amass_archive_url(subset, MODEL, server.base_url)


def leftovers(folder: Path) -> List[str]:
    """Staging and part files a failed run must not leave behind."""
    return sorted(p.name for p in folder.rglob("*") if ".extract-" in p.name or p.name.endswith(".part"))


# --- URL and credentials -------------------------------------------------------------------


def test_archive_url_matches_the_amass_server_layout() -> None:
    assert amass_archive_url("CMU") == (
        "https://download.is.tue.mpg.de/download.php?domain=amass&resume=1"
        "&sfile=amass_per_dataset/smplh/gender_specific/mosh_results/CMU.tar.bz2"
    )
    assert amass_archive_url("DFaust_67", "smplx/neutral/mosh_results/", "http://127.0.0.1:8/") == (
        "http://127.0.0.1:8/download.php?domain=amass&resume=1&sfile=amass_per_dataset/smplx/neutral/mosh_results/"
        "DFaust_67.tar.bz2"
    )
    for bad_subset in ("../CMU", "CMU/01", "", ".hidden", "CMU&sfile=x"):
        with pytest.raises(ValueError, match="AMASS subset name"):
            amass_archive_url(bad_subset)
    with pytest.raises(ValueError, match="AMASS model"):
        amass_archive_url("CMU", "smplh/../../etc")


def test_credentials_come_from_the_environment_and_never_show_the_password() -> None:
    credentials = AmassCredentials.from_env({"AMASS_USERNAME": USER, "AMASS_PASSWORD": PASSWORD})
    assert (credentials.username, credentials.password) == (USER, PASSWORD)
    assert PASSWORD not in repr(credentials) and PASSWORD not in str(credentials)
    assert USER in repr(credentials)
    with pytest.raises(AmassAuthError) as missing_both:
        AmassCredentials.from_env({})
    assert "AMASS_USERNAME" in str(missing_both.value) and "AMASS_PASSWORD" in str(missing_both.value)
    with pytest.raises(AmassAuthError, match=r"not set: AMASS_PASSWORD\)"):
        AmassCredentials.from_env({"AMASS_USERNAME": USER})


# --- download ------------------------------------------------------------------------------


def test_good_download_is_verified_recorded_and_extracted(server: AmassLikeServer, tmp_path: Path) -> None:
    served = server.serve("CMU", good_archive())
    out = tmp_path / "amass"
    facts = download_subset("CMU", out, CREDENTIALS, model=MODEL, base_url=server.base_url, sleep=no_retry_wait)
    archive = out / "archives" / "smplh" / "gender_specific" / "mosh_results" / "CMU.tar.bz2"
    assert archive == subset_archive_path(out, "CMU", MODEL) and archive.read_bytes() == served
    assert facts["md5"] == hashlib.md5(served).hexdigest() and facts["size"] == len(served)
    assert (facts["downloaded"], facts["resumed"], facts["attempts"]) == (True, False, 1)
    assert archive.with_name("CMU.tar.bz2.md5").read_text() == f"{hashlib.md5(served).hexdigest()}  CMU.tar.bz2\n"
    for name, data in GOOD_FILES.items():
        assert (out / name).read_bytes() == data
    assert (facts["extracted"], facts["top_level"], facts["files"]) == (True, ["CMU"], 3)
    assert server.requests == [{"sfile": f"amass_per_dataset/{MODEL}/CMU.tar.bz2", "range": None, "username": USER}]
    assert leftovers(tmp_path) == []
    assert PASSWORD not in repr(facts)

    # A rerun finds the archive with its recorded md5 and the extraction marker: no request, no unpacking.
    (out / "CMU" / "LICENSE.txt").write_bytes(b"edited by the user")
    again = download_subset("CMU", out, CREDENTIALS, model=MODEL, base_url=server.base_url)
    assert len(server.requests) == 1
    assert (again["downloaded"], again["extracted"], again["md5"], again["files"]) == (False, False, facts["md5"], 3)
    assert (out / "CMU" / "LICENSE.txt").read_bytes() == b"edited by the user"


def test_cut_off_transfer_resumes_with_a_range_request(server: AmassLikeServer, tmp_path: Path) -> None:
    served = server.serve("CMU", good_archive())
    assert len(served) > 100_000
    server.cut_first_after = 40_000
    sleeps: List[float] = []
    result = download_archive(url_of(server), CREDENTIALS, tmp_path / "CMU.tar.bz2", chunk=8192, sleep=sleeps.append)
    assert [r["range"] for r in server.requests] == [None, "bytes=40000-"]
    assert (result.resumed, result.attempts, sleeps) == (True, 2, [1.0])
    assert result.path.read_bytes() == served and result.size == len(served)
    assert result.md5 == hashlib.md5(served).hexdigest()
    assert not (tmp_path / "CMU.tar.bz2.part").exists()


def test_a_rerun_resumes_the_part_file_of_a_killed_run(server: AmassLikeServer, tmp_path: Path) -> None:
    served = server.serve("CMU", good_archive())
    (tmp_path / "CMU.tar.bz2.part").write_bytes(served[:1000])
    result = download_archive(url_of(server), CREDENTIALS, tmp_path / "CMU.tar.bz2", sleep=no_retry_wait)
    assert [r["range"] for r in server.requests] == ["bytes=1000-"]
    assert (result.resumed, result.attempts, result.md5) == (True, 1, hashlib.md5(served).hexdigest())

    # A part file that already holds everything (killed before the rename): the server says 416.
    (tmp_path / "again.tar.bz2.part").write_bytes(served)
    complete = download_archive(url_of(server), CREDENTIALS, tmp_path / "again.tar.bz2", sleep=no_retry_wait)
    assert server.requests[-1]["range"] == f"bytes={len(served)}-"
    assert (complete.resumed, complete.size, complete.md5) == (True, len(served), result.md5)


def test_a_200_to_a_range_request_starts_the_file_over(server: AmassLikeServer, tmp_path: Path) -> None:
    served = server.serve("CMU", good_archive())
    server.ignore_range = True
    (tmp_path / "CMU.tar.bz2.part").write_bytes(b"stale bytes of another version" * 100)
    result = download_archive(url_of(server), CREDENTIALS, tmp_path / "CMU.tar.bz2", sleep=no_retry_wait)
    assert server.requests[0]["range"] == "bytes=3000-"
    assert (result.resumed, result.attempts) == (False, 1)
    assert result.path.read_bytes() == served


@pytest.mark.parametrize("content_type", ["text/html; charset=UTF-8", "application/octet-stream"])
def test_wrong_credentials_raise_auth_error_without_the_password(
    server: AmassLikeServer, tmp_path: Path, content_type: str
) -> None:
    server.serve("CMU", good_archive())
    server.login_content_type = content_type  # the second case is caught by sniffing '<!DOCTYPE html'
    wrong = AmassCredentials(USER, "not-the-" + PASSWORD)
    with pytest.raises(AmassAuthError) as raised:
        download_archive(url_of(server), wrong, tmp_path / "CMU.tar.bz2", sleep=no_retry_wait)
    message = str(raised.value)
    assert "rejected the credentials" in message and USER in message
    assert PASSWORD not in message and PASSWORD not in repr(raised.value.args)
    assert len(server.requests) == 1  # not retried
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # no archive, no part file


def test_503_is_retried_with_backoff(server: AmassLikeServer, tmp_path: Path) -> None:
    served = server.serve("CMU", good_archive())
    server.failures_503 = 1
    sleeps: List[float] = []
    result = download_archive(url_of(server), CREDENTIALS, tmp_path / "CMU.tar.bz2", backoff_s=0.5, sleep=sleeps.append)
    assert (result.attempts, result.resumed, sleeps) == (2, False, [0.5])
    assert result.path.read_bytes() == served

    # Always failing: 1 + retries requests, waits doubling, then one clear error.
    server.failures_503 = 100
    sleeps.clear()
    with pytest.raises(AmassDownloadError, match=r"after 4 attempt\(s\).*503"):
        download_archive(url_of(server), CREDENTIALS, tmp_path / "B.tar.bz2", retries=3, sleep=sleeps.append)
    assert sleeps == [1.0, 2.0, 4.0] and len(server.requests) == 2 + 4


def test_missing_subset_is_not_retried(server: AmassLikeServer, tmp_path: Path) -> None:
    with pytest.raises(AmassDownloadError, match="HTTP 404"):
        download_archive(url_of(server, "NoSuchSubset"), CREDENTIALS, tmp_path / "x.tar.bz2", sleep=no_retry_wait)
    assert len(server.requests) == 1


def test_a_file_that_is_not_bzip2_is_refused(server: AmassLikeServer, tmp_path: Path) -> None:
    server.serve("CMU", tar_bytes([regular("CMU/a.npz", b"x" * 100)], compression="gz"))
    with pytest.raises(MotionDataError) as raised:
        download_archive(url_of(server), CREDENTIALS, tmp_path / "CMU.tar.bz2", sleep=no_retry_wait)
    # the repr of the first bytes: gzip's magic, then a header whose mtime bytes may hold a quote
    assert raised.value.field == "magic" and ast.literal_eval(raised.value.found).startswith(b"\x1f\x8b")
    assert sorted(p.name for p in tmp_path.iterdir()) == []


# --- extraction ----------------------------------------------------------------------------


def malicious_archives(tmp_path: Path) -> Dict[str, Tuple[bytes, str, str]]:
    """name → (archive, offending member, expected text); each starts with a harmless file."""
    harmless = regular("CMU/01/01_01_poses.npz", b"fine")
    absolute = str(tmp_path / "abs_evil.txt")
    return {
        "dotdot": (tar_bytes([harmless, regular("CMU/../../evil.txt", b"pwned")]), "CMU/../../evil.txt", "'..'"),
        "absolute": (tar_bytes([harmless, regular(absolute, b"pwned")]), absolute, "relative path"),
        "symlink": (
            tar_bytes([harmless, link("CMU/link", "../../outside"), regular("CMU/link/evil.txt", b"pwned")]),
            "CMU/link",
            "a link inside the target folder",
        ),
    }


@pytest.mark.parametrize("kind", ["dotdot", "absolute", "symlink"])
def test_malicious_archives_are_refused_and_nothing_is_written(
    server: AmassLikeServer, tmp_path: Path, kind: str
) -> None:
    (tmp_path / "outside").mkdir()
    data, member, expected = malicious_archives(tmp_path)[kind]
    server.serve("CMU", data)
    out = tmp_path / "amass"
    with pytest.raises(MotionDataError) as raised:
        download_subset("CMU", out, CREDENTIALS, model=MODEL, base_url=server.base_url, sleep=no_retry_wait)
    assert raised.value.field == member and expected in raised.value.expected + raised.value.found
    assert raised.value.path == str(subset_archive_path(out, "CMU", MODEL))
    assert not (tmp_path / "evil.txt").exists() and not (tmp_path / "abs_evil.txt").exists()
    assert list((tmp_path / "outside").iterdir()) == []
    assert sorted(p.name for p in out.iterdir()) == ["archives"]  # not even the harmless file
    assert sorted(p.name for p in tmp_path.iterdir()) == ["amass", "outside"]  # no staging folder left


def extract_error(tmp_path: Path, members: List[Tuple[tarfile.TarInfo, Optional[bytes]]]) -> MotionDataError:
    archive = tmp_path / "bad.tar.bz2"
    archive.write_bytes(tar_bytes(members))
    with pytest.raises(MotionDataError) as raised:
        extract_archive(archive, tmp_path / "target")
    assert not (tmp_path / "target").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.tar.bz2"]
    return raised.value


def test_extraction_refuses_escaping_hard_links_devices_and_writes_through_links(tmp_path: Path) -> None:
    hard = extract_error(tmp_path, [link("CMU/h", "../etc/passwd", tarfile.LNKTYPE)])
    assert (hard.field, hard.found) == ("CMU/h", "hard link to '../etc/passwd'")
    hard_to_unknown = extract_error(tmp_path, [link("CMU/h", "etc/passwd", tarfile.LNKTYPE)])
    assert hard_to_unknown.expected == "a hard link to a file of the archive"
    device = tarfile.TarInfo("CMU/dev")
    device.type = tarfile.CHRTYPE
    assert extract_error(tmp_path, [(device, None)]).found == "a character device"
    absolute_link = extract_error(tmp_path, [link("CMU/l", "/etc")])
    assert absolute_link.found == "symlink to '/etc'"
    # Each link stays inside on its own; the file below the link is the problem.
    through = extract_error(tmp_path, [link("CMU/alias", "01"), regular("CMU/alias/x.npz", b"x")])
    assert (through.field, through.found) == ("CMU/alias/x.npz", "symlink 'CMU/alias'")
    truncated = tmp_path / "bad.tar.bz2"
    truncated.write_bytes(good_archive()[:5000])
    with pytest.raises(MotionDataError) as raised:
        extract_archive(truncated, tmp_path / "target")
    assert raised.value.field == "archive"


@pytest.mark.parametrize("tarfile_filter", ["data filter", "no filter (Python < 3.8.17)"])
def test_chained_links_that_leave_the_folder_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tarfile_filter: str
) -> None:
    if tarfile_filter.startswith("no filter"):
        monkeypatch.delattr(tarfile, "data_filter")  # the code path of Pythons without extraction filters
    # 'a -> .' and 'd/y -> ../a/..' each look inside, but together 'd/y' resolves to the parent folder.
    chained = extract_error(tmp_path, [link("a", "."), regular("d/keep", b"k"), link("d/y", "../a/..")])
    assert chained.field == "d/y"
    if tarfile_filter.startswith("no filter"):
        assert chained.found == "symlink to '../a/..' that resolves outside it through other links"
    else:
        assert "outside the destination" in chained.found  # tarfile's LinkOutsideDestinationError


def test_extraction_keeps_inner_links_and_replaces_a_previous_extraction(tmp_path: Path) -> None:
    archive = tmp_path / "CMU.tar.bz2"
    archive.write_bytes(tar_bytes([regular("CMU/01/a.npz", b"A"), link("CMU/latest", "01/a.npz")]))
    target = tmp_path / "amass"
    (target / "CMU").mkdir(parents=True)
    (target / "CMU" / "stale.npz").write_bytes(b"from an older archive")
    (target / "KIT").mkdir()
    assert extract_archive(archive, target) == [target / "CMU/01/a.npz", target / "CMU/latest"]
    assert (target / "CMU" / "latest").is_symlink() and (target / "CMU" / "latest").read_bytes() == b"A"
    assert not (target / "CMU" / "stale.npz").exists() and (target / "KIT").is_dir()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["CMU.tar.bz2", "amass"]


# --- the CLI -------------------------------------------------------------------------------


def test_cli_downloads_each_subset_and_reports_failures_without_the_password(
    server: AmassLikeServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    served = server.serve("CMU", good_archive())
    out = tmp_path / "amass"
    monkeypatch.setenv("AMASS_USERNAME", USER)
    monkeypatch.setenv("AMASS_PASSWORD", PASSWORD)
    argv = ["amass", "download", "--subsets", "Missing", "CMU", "--out", str(out), "--base-url", server.base_url]
    assert main(argv + ["--retries", "0"]) == 1
    captured = capsys.readouterr()
    md5 = hashlib.md5(served).hexdigest()
    assert f"size {len(served)} bytes  md5 {md5}" in captured.out
    assert "extracted 3 files" in captured.out and (out / "CMU" / "LICENSE.txt").is_file()
    assert "FAILED Missing: AmassDownloadError" in captured.err and "HTTP 404" in captured.err
    assert "1 of 2 subset(s) failed: Missing" in captured.err
    assert PASSWORD not in captured.out + captured.err

    monkeypatch.setenv("AMASS_PASSWORD", "wrong-" + PASSWORD)
    assert main(argv[:3] + ["B,CMU2"] + argv[5:]) == 1
    captured = capsys.readouterr()
    assert captured.err.count("rejected the credentials") == 2
    assert PASSWORD not in captured.out + captured.err

    monkeypatch.delenv("AMASS_PASSWORD")
    assert main(argv) == 1
    captured = capsys.readouterr()
    assert "AMASS_USERNAME and AMASS_PASSWORD" in captured.err and "not set: AMASS_PASSWORD" in captured.err

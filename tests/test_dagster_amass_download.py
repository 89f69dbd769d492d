"""amass_archives in download mode against a loopback server that behaves like AMASS's (POST
username/password; the login page when they are wrong), with credentials from dagster.EnvVar;
and local mode refusing a malicious archive."""

from __future__ import annotations

import hashlib
import io
import tarfile
import urllib.parse
from pathlib import Path

import dagster as dg
import pytest
from loopback_http import LoopbackHTTPServer, QuietHandler

from assets.amass import amass_archives
from motion.amass_staging import stage_local_subset
from motion.errors import MotionDataError
from pipelines.definitions import amass_credentials_from_env, defs
from pipelines.resources import AmassCredentialsResource, PathsResource

USERNAME, PASSWORD = "alice", "pw-7f3a-never-logged"


def _archive(amass_dir: Path) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:bz2") as tar:
        for clip in sorted(amass_dir.glob("*.npz")):
            tar.add(clip, arcname=f"SFU/0005/{clip.name}")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def server(amass_dir):
    archive = _archive(amass_dir)
    requests = []

    class AmassLike(QuietHandler):
        def do_POST(self):  # noqa: N802 (http.server's name)
            form = urllib.parse.parse_qs(self.rfile.read(int(self.headers["Content-Length"])).decode())
            requests.append(self.path)
            ok = form.get("username") == [USERNAME] and form.get("password") == [PASSWORD]
            body = archive if ok else b"<!DOCTYPE html><html><body>Login</body></html>"
            self.send_response(200)
            self.send_header("Content-Type", "application/x-bzip2" if ok else "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    httpd = LoopbackHTTPServer(AmassLike)
    yield {"url": httpd.base_url, "archive": archive, "requests": requests}
    httpd.close()


def _download(server, tmp_path, credentials):
    resources = {**defs.resources, "paths": PathsResource(data_root=str(tmp_path)), "amass_credentials": credentials}
    config = {"mode": "download", "download_base_url": server["url"]}
    instance = dg.DagsterInstance.ephemeral()
    result = dg.materialize(
        [amass_archives], partition_key="SFU", instance=instance, resources=resources, raise_on_error=False,
        run_config={"ops": {"amass_archives": {"config": config}}},
    )  # fmt: skip
    logs = "\n".join(str(entry) for entry in instance.all_logs(result.run_id))
    logs += str(instance.get_run_by_id(result.run_id).run_config)  # what the UI shows of the run's config
    return result, logs


def test_download_mode_with_credentials_from_env_vars(server, tmp_path, monkeypatch, amass_dir):
    monkeypatch.setenv("AMASS_USERNAME", USERNAME)
    monkeypatch.setenv("AMASS_PASSWORD", PASSWORD)
    result, logs = _download(server, tmp_path, amass_credentials_from_env())
    assert result.success
    [event] = result.asset_materializations_for_node("amass_archives")
    meta = {key: value.value for key, value in event.metadata.items()}
    assert meta["mode"] == "download" and meta["num_clips"] == 3
    assert meta["archive_md5"] == hashlib.md5(server["archive"]).hexdigest()
    assert meta["archive_size_bytes"] == len(server["archive"])
    assert "sfile=amass_per_dataset/smplh/gender_specific/mosh_results/SFU.tar.bz2" in server["requests"][-1]
    clips = sorted(p.relative_to(tmp_path / "amass" / "SFU").as_posix() for p in (tmp_path / "amass").rglob("*.npz"))
    assert clips == [f"0005/{p.name}" for p in sorted(amass_dir.glob("*.npz"))]
    # The password is in no metadata and no log line of the run.
    assert PASSWORD not in str(meta) and PASSWORD not in logs


def test_wrong_credentials_fail_clearly_without_showing_the_password(server, tmp_path):
    result, logs = _download(server, tmp_path, AmassCredentialsResource(username=USERNAME, password="wrong-pw-123"))
    assert not result.success
    failure = result.get_step_failure_events()[0].step_failure_data.error.cause
    assert failure.cls_name == "AmassAuthError" and "rejected the credentials of user 'alice'" in failure.message
    assert "wrong-pw-123" not in logs and not (tmp_path / "amass" / "SFU").exists()


def test_missing_credentials_say_what_to_set(server, tmp_path):
    result, _ = _download(server, tmp_path, AmassCredentialsResource())
    failure = result.get_step_failure_events()[0].step_failure_data.error  # dg.Failure: not wrapped
    assert failure.cls_name == "Failure" and "set AMASS_USERNAME and AMASS_PASSWORD" in failure.message


def test_local_mode_refuses_an_archive_escaping_the_amass_root(tmp_path):
    archive = tmp_path / "CMU.tar.bz2"
    payload = tmp_path / "payload_poses.npz"
    payload.write_bytes(b"not really")
    with tarfile.open(archive, "w:bz2") as tar:
        tar.add(payload, arcname="CMU/../../escaped_poses.npz")
    root = tmp_path / "data" / "amass"
    with pytest.raises(MotionDataError, match="escaped_poses"):
        stage_local_subset(archive, "CMU", root, print)
    assert not (tmp_path / "escaped_poses.npz").exists() and not (root / "CMU").exists()

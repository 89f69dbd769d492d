"""The first stage end to end on the real clips, as a user runs it: convert → package → sample."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

from motion.batch_convert import convert_amass_tree
from motion.motion_file import load_motion
from motion.motion_lib import MotionLib
from motion.motion_lib_packaging import package_motion_lib

STATE_KEYS = {
    "rigid_body_pos": "rigid_body_pos",
    "rigid_body_rot": "rigid_body_rot",
    "rigid_body_vel": "rigid_body_vel",
    "rigid_body_ang_vel": "rigid_body_ang_vel",
    "dof_vel": "dof_vel",
    "local_rigid_body_rot": "local_rigid_body_rot",
}


@pytest.fixture(scope="module")
def packaged(amass_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("chain")
    report = convert_amass_tree(amass_dir, out / "motions", workers=1, progress=False)
    assert report.ok
    result = package_motion_lib(out / "motions" / "motions.yaml", out / "amass.pt")
    assert result.num_motions == 3
    return out


def test_sampling_at_frame_times_reproduces_every_frame(packaged):
    library = MotionLib.from_file(packaged / "amass.pt")
    assert library.num_motions == 3
    for index, name in enumerate(library.motion_files):
        motion = load_motion(name)
        frames = motion["rigid_body_pos"].shape[0]
        # Frame times as the library computes them (k·dt in float32).
        times = torch.arange(frames, dtype=torch.float32) * library.motion_dt[index]
        ids = torch.full((frames,), index, dtype=torch.long)
        state = library.get_motion_state(ids, times)
        for state_key, motion_key in STATE_KEYS.items():
            value = getattr(state, state_key)
            assert torch.equal(value, motion[motion_key]), f"{name} {state_key}"
        assert torch.equal(state.rigid_body_contacts, motion["rigid_body_contacts"])
        # dof_pos comes from slerped local rotations → exp-map: equal to the stored exp-map.
        assert (state.dof_pos - motion["dof_pos"]).abs().max().item() < 1e-4


def test_midpoint_of_real_frames_is_between_them(packaged):
    library = MotionLib.from_file(packaged / "amass.pt")
    motion = load_motion(library.motion_files[2])
    dt = 1.0 / motion["fps"]
    times = (torch.arange(10, dtype=torch.float64) + 0.5) * dt
    state = library.get_motion_state(torch.full((10,), 2, dtype=torch.long), times.float())
    expected = 0.5 * (motion["rigid_body_pos"][:10] + motion["rigid_body_pos"][1:11])
    assert (state.rigid_body_pos - expected).abs().max().item() < 1e-5


def test_packaged_file_carries_lineage_of_sources(packaged):
    data = torch.load(packaged / "amass.pt", weights_only=True)
    assert set(data) >= {"gts", "grs", "gvs", "gavs", "dps", "dvs", "contacts", "lrs", "length_starts"}
    assert data["motion_num_frames"].tolist() == [151, 59, 125]
    lengths = data["motion_lengths"].tolist()
    assert lengths == pytest.approx([150 / 30, 58 / 30, 124 / 30])
    # Every source AMASS md5 is recorded so a policy can be traced back to the exact files.
    text = json.dumps(data["mimicflow"], default=str)
    for motion_file in data["motion_files"]:
        assert load_motion(motion_file)["mimicflow"]["source_md5"] in text


def test_cli_chain_and_info(amass_dir, tmp_path, repo_root):
    def mimic(*args):
        run = subprocess.run(
            [sys.executable, "-m", "mimic.cli", *args], capture_output=True, text=True, cwd=repo_root, timeout=300
        )
        assert run.returncode == 0, run.stderr + run.stdout
        return run.stdout

    mimic("amass", "convert", str(amass_dir), str(tmp_path / "m"), "--workers", "2", "--no-progress")
    mimic("motionlib", "package", "--motion-path", str(tmp_path / "m"), "--output-file", str(tmp_path / "lib.pt"))
    info = mimic("motionlib", "info", str(tmp_path / "lib.pt"))
    assert "3" in info and "hbp_sample_walk_female_120fps_poses" in info

"""MotionLib packaging, loading, sharding, sampling and interpolation."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional

import numpy
import pytest
import torch
import yaml

from mimic.cli import main as mimic_main
from motion.errors import MotionDataError
from motion.io_utils import file_digest
from motion.motion_file import save_motion
from motion.motion_lib import MotionLib
from motion.motion_lib_packaging import MotionPackagingError, build_motion_lib, find_motion_sources, package_motion_lib
from motion.motion_lib_shards import resolve_motion_file, shard_index
from motion.rotations import quat_from_rotvec, quat_to_rotvec
from motion.synthetic import random_motion

REPO_ROOT = Path(__file__).resolve().parent.parent
LIB_TENSORS = ("gts", "grs", "gvs", "gavs", "dps", "dvs", "contacts", "lrs", "length_starts", "motion_num_frames",
               "motion_lengths", "motion_dt", "motion_weights")  # fmt: skip
STATE_OF_LIB = {"rigid_body_pos": "gts", "rigid_body_rot": "grs", "rigid_body_vel": "gvs",
                "rigid_body_ang_vel": "gavs", "dof_pos": "dps", "dof_vel": "dvs",
                "rigid_body_contacts": "contacts", "local_rigid_body_rot": "lrs"}  # fmt: skip


def synthetic_motion(frames: int, seed: int, fps: int = 30, source_md5: Optional[str] = None) -> Dict[str, Any]:
    """Random but valid (no FK): unit quaternions, dof_pos = exp-map of the local rotations."""
    metadata = {"source_md5": source_md5 or f"{seed:032x}", "source_path": f"SYN/{seed}.npz",
                "conversion": {"output_fps": fps}}  # fmt: skip
    return random_motion(frames, seed, fps, metadata=metadata)


def write_motions(folder: Path, specs: List[tuple]) -> List[Path]:
    """``specs``: (relative name, frames, fps) each; returns the written paths."""
    paths = []
    for seed, (name, frames, fps) in enumerate(specs):
        path = folder / name
        save_motion(synthetic_motion(frames, seed, fps), path)
        paths.append(path)
    return paths


@pytest.fixture(scope="module")
def three_motions(tmp_path_factory: pytest.TempPathFactory) -> List[Path]:
    folder = tmp_path_factory.mktemp("motions")
    return write_motions(folder, [("a/walk.motion", 23, 30), ("b/run.motion", 7, 60), ("c/jump.motion", 40, 25)])


def two_frame_lib(first: Dict[str, torch.Tensor], second: Dict[str, torch.Tensor], fps: int = 30) -> MotionLib:
    """A one-motion library of two frames, from per-frame dicts of .motion keys (others random)."""
    motion = synthetic_motion(2, seed=99, fps=fps)
    for key, value in first.items():
        motion[key] = torch.stack((value, second[key]))
    if "local_rigid_body_rot" in first:
        motion["dof_pos"] = quat_to_rotvec(motion["local_rigid_body_rot"][:, 1:]).reshape(2, 69)
    data = {
        "gts": motion["rigid_body_pos"], "grs": motion["rigid_body_rot"], "gvs": motion["rigid_body_vel"],
        "gavs": motion["rigid_body_ang_vel"], "dps": motion["dof_pos"], "dvs": motion["dof_vel"],
        "contacts": motion["rigid_body_contacts"], "lrs": motion["local_rigid_body_rot"],
        "length_starts": torch.tensor([0]), "motion_num_frames": torch.tensor([2]),
        "motion_lengths": torch.tensor([1.0 / fps]), "motion_dt": torch.tensor([1.0 / fps]),
        "motion_weights": torch.tensor([1.0]), "motion_files": ("two_frames.motion",),
    }  # fmt: skip
    return MotionLib(data)


def same_rotation(a: torch.Tensor, b: torch.Tensor, atol: float) -> None:
    """Quaternions equal up to sign (q and −q are one rotation)."""
    dot = (a * b).sum(-1).abs()
    torch.testing.assert_close(dot, torch.ones_like(dot), atol=atol, rtol=0)


# --- packaging ---------------------------------------------------------------------------------


def test_packaged_file_layout_and_metadata(tmp_path: Path, three_motions: List[Path]) -> None:
    folder = three_motions[0].parent.parent
    output = tmp_path / "lib.pt"
    result = package_motion_lib(folder, output)
    assert result.ok and result.num_motions == 3 and result.num_frames == 70
    data = torch.load(output, weights_only=True)
    # Directory input: sorted recursive listing.
    assert data["motion_files"] == tuple(str(p) for p in three_motions)
    assert data["gts"].shape == (70, 24, 3) and data["gts"].dtype == torch.float32
    assert data["grs"].shape == (70, 24, 4) and data["lrs"].shape == (70, 24, 4)
    assert data["dps"].shape == (70, 69) and data["contacts"].dtype == torch.bool
    assert data["length_starts"].tolist() == [0, 23, 30]
    assert data["motion_num_frames"].tolist() == [23, 7, 40]
    assert data["length_starts"].dtype == data["motion_num_frames"].dtype == torch.int64
    torch.testing.assert_close(data["motion_lengths"], torch.tensor([22 / 30, 6 / 60, 39 / 25]), rtol=0, atol=0)
    torch.testing.assert_close(data["motion_dt"], torch.tensor([1 / 30, 1 / 60, 1 / 25]), rtol=0, atol=0)
    assert data["motion_weights"].tolist() == [1.0, 1.0, 1.0]
    # Frames land in their slices.
    second = torch.load(three_motions[1], weights_only=True)
    assert torch.equal(data["gvs"][23:30], second["rigid_body_vel"])
    assert torch.equal(data["contacts"][23:30], second["rigid_body_contacts"])
    meta = data["mimicflow"]
    assert meta["format_version"] == 1 and meta["created_by"].startswith("mimicflow")
    assert meta["motion_md5"] == [file_digest(p, "md5") for p in three_motions]
    assert meta["source_md5"] == [f"{seed:032x}" for seed in range(3)]
    assert meta["fps"] == [30, 60, 25]
    assert meta["conversion"] == [{"output_fps": 30}, {"output_fps": 60}, {"output_fps": 25}]
    assert meta["conversion_index"] == [0, 1, 2]


def test_packaging_protomotions_motion_matches_protomotions_package(tmp_path: Path, protomotions_dir: Path) -> None:
    output = tmp_path / "ours.pt"
    package_motion_lib([protomotions_dir / "synthetic_input_poses.motion"], output)
    ours = torch.load(output, weights_only=True)
    theirs = torch.load(protomotions_dir / "synthetic_motionlib.pt", weights_only=True)
    for key in LIB_TENSORS:
        assert ours[key].dtype == theirs[key].dtype, key
        assert torch.equal(ours[key], theirs[key]), key


def test_yaml_input_with_weights_and_motion_root(tmp_path: Path, three_motions: List[Path]) -> None:
    root = three_motions[0].parent.parent
    entries = [
        {"file": "c/jump.motion", "fps": 25, "weight": 3.0, "sub_motions": [{"timings": {"start": 0, "end": 1.0}}]},
        {"file": "a/walk.motion", "weight": 0.5},
        {"file": str(three_motions[1])},  # absolute; weight defaults to 1
    ]
    beside = root / "train.yaml"
    beside.write_text(yaml.safe_dump({"motions": entries}))
    result = package_motion_lib(beside, tmp_path / "beside.pt")
    data = torch.load(result.output_file, weights_only=True)
    assert data["motion_files"] == (str(three_motions[2]), str(three_motions[0]), str(three_motions[1]))
    assert data["motion_weights"].tolist() == [3.0, 0.5, 1.0]
    assert data["motion_num_frames"].tolist() == [40, 23, 7]
    # A YAML elsewhere, resolved against --motion-root.
    elsewhere = tmp_path / "configs" / "train.yaml"
    elsewhere.parent.mkdir()
    elsewhere.write_text(yaml.safe_dump({"motions": entries}))
    with pytest.raises(MotionPackagingError):  # relative to the YAML's own folder: not there
        package_motion_lib(elsewhere, tmp_path / "x.pt")
    sources = find_motion_sources(elsewhere, motion_root=root)
    assert [s.path for s in sources] == [three_motions[2], three_motions[0], three_motions[1]]
    assert [s.weight for s in sources] == [3.0, 0.5, 1.0]
    with pytest.raises(MotionDataError) as caught:
        (tmp_path / "bad.yaml").write_text(yaml.safe_dump({"motions": [{"file": "a.motion", "weight": -1}]}))
        find_motion_sources(tmp_path / "bad.yaml")
    assert caught.value.field == "motions[0].weight"


def test_bad_motions_are_all_reported(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    folder = tmp_path / "motions"
    good = write_motions(folder, [("1.motion", 5, 30), ("3.motion", 6, 30), ("5.motion", 7, 30)])
    corrupt = folder / "2.motion"
    corrupt.write_bytes(b"not a torch file")
    nan_motion = synthetic_motion(4, seed=7)
    nan_motion["rigid_body_pos"][2, 3, 1] = float("nan")
    torch.save(nan_motion, folder / "4.motion")  # header fine; the values fail in pass 2
    output = tmp_path / "lib.pt"

    with pytest.raises(MotionPackagingError) as caught:
        package_motion_lib(folder, output)
    failures = {Path(f.path).name: f.field for f in caught.value.failures}
    assert failures == {"2.motion": "<file>", "4.motion": "rigid_body_pos"}
    assert isinstance(caught.value, MotionDataError)
    assert not output.exists()

    result = package_motion_lib(folder, output, skip_bad=True)
    assert not result.ok and len(result.failures) == 2
    data = torch.load(output, weights_only=True)
    assert data["motion_files"] == tuple(str(p) for p in good)
    assert data["gts"].shape[0] == 18 and data["length_starts"].tolist() == [0, 5, 11]
    assert torch.equal(data["gts"][11:], torch.load(good[2], weights_only=True)["rigid_body_pos"])

    # The CLI: exit 2 and every bad file named without --skip-bad; exit 1 with it.
    cli_output = tmp_path / "cli.pt"
    assert mimic_main(["motionlib", "package", "--motion-path", str(folder), "--output-file", str(cli_output),
                       "--no-progress"]) == 2  # fmt: skip
    err = capsys.readouterr().err
    assert str(corrupt) in err and str(folder / "4.motion") in err and not cli_output.exists()
    assert mimic_main(["motionlib", "package", "--motion-path", str(folder), "--output-file", str(cli_output),
                       "--no-progress", "--skip-bad"]) == 1  # fmt: skip
    assert torch.load(cli_output, weights_only=True)["motion_num_frames"].tolist() == [5, 6, 7]


def test_packaging_peak_memory_stays_under_twice_the_output(tmp_path: Path) -> None:
    script = REPO_ROOT / "benchmarks" / "bench_motionlib_packaging.py"
    completed = subprocess.run(
        [sys.executable, str(script), "--num-motions", "300"], capture_output=True, text=True, timeout=300
    )
    assert completed.returncode == 0, completed.stderr
    report = json.loads(completed.stdout.splitlines()[0])
    assert report["num_motions"] == 300
    assert report["file_size_bytes"] > 30 * 2**20  # big enough for interpreter noise not to matter
    assert 0 < report["peak_rss_increase_bytes"] <= 2 * report["file_size_bytes"], report


# --- loading -----------------------------------------------------------------------------------


def test_load_protomotions_package(protomotions_dir: Path) -> None:
    path = protomotions_dir / "synthetic_motionlib.pt"
    lib = MotionLib.from_file(path)
    raw = torch.load(path, weights_only=True)
    assert lib.num_motions == 1 and lib.num_frames == 60 and lib.metadata == {}
    assert lib.motion_files == raw["motion_files"]
    for key in ("gts", "grs", "gvs", "gavs", "dps", "dvs", "contacts", "lrs"):
        assert torch.equal(getattr(lib, key), raw[key]), key
    times = torch.arange(60, dtype=torch.float32) * lib.motion_dt[0]
    state = lib.get_motion_state(torch.zeros(60, dtype=torch.int64), times)
    torch.testing.assert_close(state.rigid_body_pos, raw["gts"], atol=1e-6, rtol=0)
    torch.testing.assert_close(state.dof_pos, raw["dps"], atol=2e-6, rtol=0)
    assert torch.equal(state.rigid_body_contacts, raw["contacts"])
    # The summary the CLI prints reads the same file.
    summary = MotionLib.from_file(path).to_dict()
    assert torch.equal(summary["grs"], raw["grs"]) and summary["motion_files"] == raw["motion_files"]


def test_from_motion_files_equals_packaged_file(tmp_path: Path, three_motions: List[Path]) -> None:
    package_motion_lib(three_motions, tmp_path / "lib.pt")
    from_file = MotionLib.from_file(tmp_path / "lib.pt").to_dict()
    in_memory = MotionLib.from_motion_files(three_motions, weights=[1.0, 2.0, 3.0])
    assert in_memory.motion_weights.tolist() == [1.0, 2.0, 3.0]
    for key, value in in_memory.to_dict().items():
        if key not in ("motion_weights", "mimicflow"):
            assert torch.equal(value, from_file[key]) if isinstance(value, torch.Tensor) else value == from_file[key]
    in_memory.save(tmp_path / "saved.pt")
    assert torch.equal(torch.load(tmp_path / "saved.pt", weights_only=True)["dps"], from_file["dps"])


def test_inconsistent_library_is_refused(tmp_path: Path, three_motions: List[Path]) -> None:
    data, _ = build_motion_lib(find_motion_sources(three_motions))
    data["length_starts"] = torch.tensor([0, 22, 30])
    with pytest.raises(MotionDataError) as caught:
        MotionLib(data, source="broken.pt")
    assert caught.value.path == "broken.pt" and caught.value.field == "length_starts"


def test_info_command_reports_counts_and_hashes(tmp_path: Path, three_motions: List[Path], capsys) -> None:
    output = tmp_path / "lib.pt"
    package_motion_lib(three_motions, output)
    assert mimic_main(["motionlib", "info", str(output), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["md5"] == file_digest(output, "md5") and info["num_motions"] == 3 and info["num_frames"] == 70
    assert info["total_duration_s"] == pytest.approx(22 / 30 + 6 / 60 + 39 / 25, abs=1e-5)
    assert [m["fps"] for m in info["motions"]] == [30, 60, 25]
    assert [m["source_md5"] for m in info["motions"]] == [f"{seed:032x}" for seed in range(3)]
    assert [m["md5"] for m in info["motions"]] == [file_digest(p, "md5") for p in three_motions]
    assert mimic_main(["motionlib", "info", str(output)]) == 0
    text = capsys.readouterr().out
    assert file_digest(output, "md5") in text and "motions: 3" in text and str(three_motions[2]) in text


# --- shards ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rank", "world", "shards", "cycle", "expected"),
    [
        (0, 2, 3, 0, 0),
        (1, 2, 3, 0, 1),
        (0, 2, 3, 1, 2),
        (1, 2, 3, 1, 0),  # fewer ranks than shards
        (2, 5, 3, 0, 2),
        (3, 5, 3, 0, 0),
        (4, 5, 3, 0, 1),
        (4, 5, 3, 1, 2),
        (2, 3, 3, 7, 2),
    ],  # fmt: skip
)
def test_shard_choice_rule(rank: int, world: int, shards: int, cycle: int, expected: int) -> None:
    assert shard_index(rank, world, shards, cycle) == expected


def test_slurmrank_paths_resolve_to_existing_shards(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    motion = tmp_path / "m.motion"
    save_motion(synthetic_motion(5, seed=0), motion)
    for index in range(3):  # shard k holds k + 1 motions, to tell them apart when loaded
        package_motion_lib([motion] * (index + 1), tmp_path / f"amass_{index}.pt")
    pattern = tmp_path / "amass_slurmrank.pt"
    assert resolve_motion_file(pattern, rank=1, world_size=2) == tmp_path / "amass_1.pt"
    assert resolve_motion_file(pattern, rank=0, world_size=2, cycle=1) == tmp_path / "amass_2.pt"
    assert resolve_motion_file(pattern, rank=4, world_size=5) == tmp_path / "amass_1.pt"
    assert MotionLib.from_file(pattern, rank=2, world_size=4).num_motions == 3
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert MotionLib.from_file(pattern).num_motions == 2
    assert resolve_motion_file(tmp_path / "amass_0.pt", rank=1, world_size=2) == tmp_path / "amass_0.pt"
    with pytest.raises(MotionDataError, match="exactly once"):
        resolve_motion_file(tmp_path / "slurmrank_slurmrank.pt", rank=0, world_size=1)
    with pytest.raises(MotionDataError, match="none"):
        resolve_motion_file(tmp_path / "other_slurmrank.pt", rank=0, world_size=1)
    (tmp_path / "amass_1.pt").unlink()
    with pytest.raises(MotionDataError, match="numbers"):
        resolve_motion_file(pattern, rank=0, world_size=1)


# --- sampling ----------------------------------------------------------------------------------


def test_sampling_follows_weights_and_lengths(three_motions: List[Path]) -> None:
    lib = MotionLib.from_motion_files(three_motions)
    lib.motion_weights = torch.tensor([0.0, 1.0, 3.0])
    gen = torch.Generator().manual_seed(0)
    ids = lib.sample_motions(20000, generator=gen)
    counts = torch.bincount(ids, minlength=3).tolist()
    assert counts[0] == 0
    assert counts[2] / counts[1] == pytest.approx(3.0, rel=0.08)
    times = lib.sample_time(ids, generator=gen)
    lengths = lib.motion_lengths[ids]
    assert bool((times >= 0).all()) and bool((times <= lengths).all())
    assert float((times / lengths).mean()) == pytest.approx(0.5, abs=0.02)
    truncated = lib.sample_time(ids, truncate_time=0.5, generator=gen)
    assert bool((truncated <= (lengths - 0.5).clamp_min(0)).all())
    assert bool((truncated[ids == 1] == 0).all())  # 0.1 s motion, truncated by 0.5 s → 0
    with pytest.raises(MotionDataError):
        lib.motion_weights = torch.tensor([1.0, -1.0, 1.0])
    with pytest.raises(MotionDataError):
        lib.motion_weights = torch.tensor([1.0, 1.0])


# --- interpolation -----------------------------------------------------------------------------


def test_exact_frame_times_reproduce_stored_frames(tmp_path: Path, three_motions: List[Path]) -> None:
    package_motion_lib(three_motions, tmp_path / "lib.pt")
    lib = MotionLib.from_file(tmp_path / "lib.pt")
    stored = torch.load(tmp_path / "lib.pt", weights_only=True)
    ids = torch.cat([torch.full((n,), m, dtype=torch.int64) for m, n in enumerate(lib.motion_num_frames.tolist())])
    frames = torch.cat([torch.arange(n) for n in lib.motion_num_frames.tolist()])
    times = frames.to(torch.float32) * lib.motion_dt[ids]  # t = k·dt, in the library's float32
    state = lib.get_motion_state(ids, times)
    for field, key in STATE_OF_LIB.items():
        value, expected = getattr(state, field), stored[key]
        if key == "dps":  # recomputed: the exp-map of the stored local rotations
            torch.testing.assert_close(value, expected, atol=3e-6, rtol=0)
        else:  # bit for bit, quaternion signs included
            assert torch.equal(value, expected), key
    # Frame times rounded differently (k/fps in double, then float32) still read the frames.
    fps = torch.tensor([30.0, 60.0, 25.0], dtype=torch.float64)[ids]
    other = lib.get_motion_state(ids, (frames.double() / fps).float())
    assert torch.equal(other.rigid_body_rot, stored["grs"]) and torch.equal(
        other.rigid_body_contacts, stored["contacts"]
    )


def test_times_outside_the_motion_clamp(three_motions: List[Path]) -> None:
    lib = MotionLib.from_motion_files(three_motions)
    starts, counts = lib.length_starts.tolist(), lib.motion_num_frames.tolist()
    ids = torch.tensor([0, 1, 2, 0, 1, 2])
    times = torch.tensor([-5.0, -1e-3, -0.0, 100.0, 0.1001, 1e9])
    state = lib.get_motion_state(ids, times)
    expected = [starts[0], starts[1], starts[2], starts[0] + counts[0] - 1, starts[1] + counts[1] - 1,
                starts[2] + counts[2] - 1]  # fmt: skip
    assert torch.equal(state.rigid_body_pos, lib.gts[expected])
    assert torch.equal(state.rigid_body_rot, lib.grs[expected])
    assert torch.equal(state.rigid_body_contacts, lib.contacts[expected])
    # A one-frame motion has length 0: every time gives its only frame.
    single = MotionLib.from_motion_files([three_motions[0]])
    data = single.to_dict()
    for key in ("gts", "grs", "gvs", "gavs", "dps", "dvs", "contacts", "lrs"):
        data[key] = data[key][:1]
    data.update(motion_num_frames=torch.tensor([1]), motion_lengths=torch.tensor([0.0]))
    one = MotionLib(data).get_motion_state(torch.zeros(3, dtype=torch.int64), torch.tensor([-1.0, 0.0, 2.0]))
    assert torch.isfinite(one.rigid_body_pos).all()
    torch.testing.assert_close(one.rigid_body_pos, data["gts"].expand(3, 24, 3), atol=0, rtol=0)


def test_positions_and_velocities_lerp() -> None:
    gen = torch.Generator().manual_seed(5)
    keys = {"rigid_body_pos": (24, 3), "rigid_body_vel": (24, 3), "rigid_body_ang_vel": (24, 3), "dof_vel": (69,)}
    first = {key: torch.randn(shape, generator=gen) for key, shape in keys.items()}
    second = {key: torch.randn(shape, generator=gen) for key, shape in keys.items()}
    lib = two_frame_lib(first, second)
    blends = torch.tensor([0.5, 0.25, 0.9])
    state = lib.get_motion_state(torch.zeros(3, dtype=torch.int64), blends / 30.0)
    for key in keys:
        for row, blend in enumerate(blends.tolist()):
            expected = (1 - blend) * first[key] + blend * second[key]
            torch.testing.assert_close(getattr(state, key)[row], expected, atol=2e-6, rtol=0)


def test_slerp_midpoint_about_one_axis() -> None:
    gen = torch.Generator().manual_seed(11)
    axes = torch.nn.functional.normalize(torch.randn(24, 3, generator=gen), dim=-1)
    angle_a = torch.rand(24, 1, generator=gen) * 2.5 - 1.25
    angle_b = angle_a + torch.rand(24, 1, generator=gen) * 1.5  # |b − a| < π: shorter arc is the direct one
    first = {
        "rigid_body_rot": quat_from_rotvec(axes * angle_a),
        "local_rigid_body_rot": quat_from_rotvec(axes * angle_b),
    }
    second = {
        "rigid_body_rot": quat_from_rotvec(axes * angle_b),
        "local_rigid_body_rot": quat_from_rotvec(axes * angle_a),
    }
    lib = two_frame_lib(first, second)
    state = lib.get_motion_state(torch.zeros(2, dtype=torch.int64), torch.tensor([0.5 / 30, 0.2 / 30]))
    midpoint = quat_from_rotvec(axes * (angle_a + angle_b) / 2)
    same_rotation(state.rigid_body_rot[0], midpoint, atol=1e-6)
    same_rotation(state.local_rigid_body_rot[0], midpoint, atol=1e-6)
    # dof_pos is the exp-map of the slerped local rotations of bodies 1..23.
    torch.testing.assert_close(state.dof_pos[0].reshape(23, 3), (axes * (angle_a + angle_b) / 2)[1:], atol=2e-6, rtol=0)
    # Off the midpoint the angle still moves uniformly (normalised lerp would not).
    same_rotation(state.rigid_body_rot[1], quat_from_rotvec(axes * (0.8 * angle_a + 0.2 * angle_b)), atol=1e-6)
    same_rotation(state.local_rigid_body_rot[1], quat_from_rotvec(axes * (0.2 * angle_a + 0.8 * angle_b)), atol=1e-6)


def test_slerp_matches_scipy_on_random_pairs() -> None:
    from scipy.spatial.transform import Rotation, Slerp

    gen = torch.Generator().manual_seed(2)
    pairs = 16
    motions = [synthetic_motion(2, seed=100 + i) for i in range(pairs)]
    blends = torch.rand(pairs, generator=gen)
    for index, motion in enumerate(motions):
        lib = two_frame_lib(
            {k: motion[k][0] for k in ("rigid_body_rot", "local_rigid_body_rot")},
            {k: motion[k][1] for k in ("rigid_body_rot", "local_rigid_body_rot")},
        )
        blend = float(blends[index])
        state = lib.get_motion_state(torch.zeros(1, dtype=torch.int64), torch.tensor([blend / 30]))
        for field in ("rigid_body_rot", "local_rigid_body_rot"):
            q = motion[field].double().numpy()
            expected = [Slerp([0.0, 1.0], Rotation.from_quat(q[:, body]))([blend]).as_quat()[0] for body in range(24)]
            same_rotation(getattr(state, field)[0].double(), torch.from_numpy(numpy.stack(expected)), atol=2e-6)


def test_contacts_or_between_frames_and_exact_at_frames() -> None:
    first = {"rigid_body_contacts": torch.tensor([True, False, False] + [False] * 21)}
    second = {"rigid_body_contacts": torch.tensor([False, True, False] + [False] * 21)}
    lib = two_frame_lib(first, second)
    times = torch.tensor([0.0, 0.3 / 30, 0.5 / 30, 0.99 / 30, 1.0 / 30])
    contacts = lib.get_motion_state(torch.zeros(5, dtype=torch.int64), times).rigid_body_contacts
    assert contacts.dtype == torch.bool
    assert contacts[:, :3].tolist() == [[True, False, False], [True, True, False], [True, True, False],
                                        [True, True, False], [False, True, False]]  # fmt: skip
    assert not contacts[:, 3:].any()


def test_float_contacts_are_lerped() -> None:
    lib = two_frame_lib({}, {})
    data = lib.to_dict()
    data["contacts"] = torch.stack((torch.zeros(24), torch.ones(24)))
    state = MotionLib(data).get_motion_state(torch.zeros(2, dtype=torch.int64), torch.tensor([0.25 / 30, 1.0]))
    assert state.rigid_body_contacts.dtype == torch.float32
    torch.testing.assert_close(state.rigid_body_contacts[0], torch.full((24,), 0.25), atol=1e-6, rtol=0)
    torch.testing.assert_close(state.rigid_body_contacts[1], torch.ones(24), atol=0, rtol=0)


def test_without_local_rotations_dof_pos_is_lerped() -> None:
    lib = two_frame_lib({}, {})
    data = lib.to_dict()
    del data["lrs"]
    state = MotionLib(data).get_motion_state(torch.zeros(1, dtype=torch.int64), torch.tensor([0.5 / 30]))
    assert state.local_rigid_body_rot is None
    torch.testing.assert_close(state.dof_pos[0], (data["dps"][0] + data["dps"][1]) / 2, atol=1e-6, rtol=0)
    assert math.isclose(float(state.rigid_body_pos.sum()), float(((data["gts"][0] + data["gts"][1]) / 2).sum()),
                        abs_tol=1e-4)  # fmt: skip

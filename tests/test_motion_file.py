"""``.motion`` files: round trip, weights_only loading, validation errors, ProtoMotions files."""

from __future__ import annotations

import fractions
import os
import pickle
from pathlib import Path
from typing import Any, Callable, Dict

import pytest
import torch
from fifo_guard import returns_within

from motion.errors import MotionDataError
from motion.motion_file import (
    MOTION_FIELDS,
    MOTION_KEYS,
    check_motion_shape,
    load_motion,
    read_torch_dict,
    save_motion,
)
from motion.rotations import quat_to_rotvec
from motion.synthetic import random_motion


def synthetic_motion(frames: int = 12, seed: int = 0, fps: int = 30) -> Dict[str, Any]:
    """Random but valid: unit quaternions, dof_pos = exp-map of the local rotations."""
    metadata = {"source_path": "CMU/01/01_01_poses.npz", "source_md5": "ab" * 16, "betas": [0.1, -0.2],
                "conversion": {"output_fps": 30}, "source_slice_seconds": [None, 2.5]}  # fmt: skip
    return random_motion(frames, seed, fps, metadata=metadata)


def test_save_load_round_trip(tmp_path: Path) -> None:
    motion = synthetic_motion(frames=17, seed=3)
    path = tmp_path / "clip.motion"
    save_motion(motion, path)
    loaded = load_motion(path)
    assert loaded["fps"] == 30
    assert set(loaded) == set(MOTION_KEYS) | {"mimicflow"}
    for key in MOTION_FIELDS:
        assert loaded[key].dtype == motion[key].dtype
        assert torch.equal(loaded[key], motion[key]), key
    assert loaded["mimicflow"] == motion["mimicflow"]
    # Written as plain tensors and builtins: torch's own weights_only loader accepts it.
    plain = torch.load(path, weights_only=True)
    assert torch.equal(plain["dof_pos"], motion["dof_pos"])


def test_save_compacts_views_into_larger_storages(tmp_path: Path) -> None:
    motion = synthetic_motion(frames=10)
    wide = torch.zeros(10, 80)
    wide[:, 5:74] = motion["dof_pos"]
    motion["dof_pos"] = wide[:, 5:74]  # strided view of an (10, 80) storage
    save_motion(motion, tmp_path / "a.motion")
    stored = torch.load(tmp_path / "a.motion", weights_only=True)["dof_pos"]
    assert stored.is_contiguous()
    assert stored.untyped_storage().nbytes() == 10 * 69 * 4
    assert torch.equal(stored, wide[:, 5:74])


def test_loading_is_weights_only(tmp_path: Path) -> None:
    # A pickled object of an arbitrary class must be refused, not constructed.
    raw = {key: value for key, value in synthetic_motion().items() if key != "mimicflow"}
    raw["mimicflow"] = {"ratio": fractions.Fraction(1, 3)}
    path = tmp_path / "evil.motion"
    torch.save(raw, path)
    with pytest.raises(MotionDataError) as caught:
        load_motion(path)
    assert caught.value.path == str(path)
    assert caught.value.field == "<file>"
    assert "weights_only" in caught.value.expected


def _mutations() -> Dict[str, Callable[[Dict[str, Any]], str]]:
    def drop(key: str) -> Callable[[Dict[str, Any]], str]:
        def apply(m: Dict[str, Any]) -> str:
            del m[key]
            return key

        return apply

    def setter(key: str, make: Callable[[Dict[str, Any]], Any]) -> Callable[[Dict[str, Any]], str]:
        def apply(m: Dict[str, Any]) -> str:
            m[key] = make(m)
            return key

        return apply

    def nan_in(key: str) -> Callable[[Dict[str, Any]], Any]:
        def make(m: Dict[str, Any]) -> Any:
            value = m[key].clone()
            value[4, 0] = float("nan")
            return value

        return make

    return {
        "missing key": drop("rigid_body_vel"),
        "missing fps": drop("fps"),
        "inconsistent T": setter("dof_vel", lambda m: m["dof_vel"][:-1]),
        "wrong body count": setter("rigid_body_pos", lambda m: torch.zeros(12, 23, 3)),
        "wrong dof count": setter("dof_pos", lambda m: torch.zeros(12, 72)),
        "float64": setter("rigid_body_ang_vel", lambda m: m["rigid_body_ang_vel"].double()),
        "float contacts": setter("rigid_body_contacts", lambda m: m["rigid_body_contacts"].float()),
        "not a tensor": setter("local_rigid_body_rot", lambda m: m["local_rigid_body_rot"].tolist()),
        "NaN": setter("rigid_body_vel", nan_in("rigid_body_vel")),
        "inf": setter("dof_vel", lambda m: m["dof_vel"].index_fill(0, torch.tensor([2]), float("inf"))),
        "non-unit quaternion": setter("rigid_body_rot", lambda m: m["rigid_body_rot"] * 1.1),
        "zero fps": setter("fps", lambda m: 0),
        "fractional fps": setter("fps", lambda m: 29.97),
        "string fps": setter("fps", lambda m: "30"),
        "zero frames": setter("rigid_body_pos", lambda m: torch.zeros(0, 24, 3)),
    }


@pytest.mark.parametrize("name", sorted(_mutations()))
def test_each_validation_failure_names_file_and_field(tmp_path: Path, name: str) -> None:
    motion = synthetic_motion(frames=12)
    field = _mutations()[name](motion)
    path = tmp_path / f"{name.replace(' ', '_')}.motion"
    torch.save(motion, path)  # bypass save_motion's checks to produce a bad file
    with pytest.raises(MotionDataError) as caught:
        load_motion(path)
    assert caught.value.path == str(path)
    assert caught.value.field == field
    assert str(path) in str(caught.value) and field in str(caught.value)
    # save_motion refuses the same data and writes nothing.
    target = tmp_path / "refused.motion"
    with pytest.raises(MotionDataError) as refused:
        save_motion(motion, target)
    assert refused.value.field == field
    assert not target.exists()


def test_failed_save_leaves_existing_file_intact(tmp_path: Path) -> None:
    path = tmp_path / "clip.motion"
    good = synthetic_motion(frames=8, seed=1)
    save_motion(good, path)
    bad = synthetic_motion(frames=8, seed=2)
    bad["mimicflow"] = {"weights": torch.ones(3)}  # metadata must be plain data
    with pytest.raises(MotionDataError) as caught:
        save_motion(bad, path)
    assert caught.value.field == "mimicflow.weights"
    assert torch.equal(load_motion(path)["rigid_body_pos"], good["rigid_body_pos"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.motion"]  # no temp file left


def test_unreadable_and_missing_files_are_motion_data_errors(tmp_path: Path) -> None:
    with pytest.raises(MotionDataError, match="no such file"):
        load_motion(tmp_path / "absent.motion")
    truncated = tmp_path / "truncated.motion"
    save_motion(synthetic_motion(), truncated)
    truncated.write_bytes(truncated.read_bytes()[:500])
    with pytest.raises(MotionDataError) as caught:
        load_motion(truncated)
    assert caught.value.path == str(truncated) and caught.value.field == "<file>"
    not_a_dict = tmp_path / "list.motion"
    torch.save([torch.zeros(3)], not_a_dict)
    with pytest.raises(MotionDataError, match="expected a dict"):
        load_motion(not_a_dict)


def test_protomotions_motion_needs_and_gets_the_restricted_unpickler(protomotions_dir: Path) -> None:
    path = protomotions_dir / "synthetic_input_poses.motion"
    # Plain weights_only loading refuses the pickled enum: the stand-in class is what makes it load
    # (on torch < 2.5 the stand-in is allowed process-wide once any such file was read: not checked).
    if hasattr(torch.serialization, "safe_globals"):
        with pytest.raises(pickle.UnpicklingError, match="StateConversion"):
            torch.load(path, weights_only=True)
    motion = load_motion(path)
    assert motion["state_conversion"] == "common"
    assert motion["fps"] == 30
    assert motion["rigid_body_pos"].shape == (60, 24, 3)
    for key in MOTION_FIELDS:  # the file's dof_pos is a strided view into a larger storage
        tensor = motion[key]
        assert tensor.is_contiguous(), key
        assert tensor.untyped_storage().nbytes() == tensor.numel() * tensor.element_size(), key
    # Same numbers as ProtoMotions' own packaging of this clip.
    packaged = torch.load(protomotions_dir / "synthetic_motionlib.pt", weights_only=True)
    assert torch.equal(motion["dof_pos"], packaged["dps"])
    assert torch.equal(motion["local_rigid_body_rot"], packaged["lrs"])
    # Our exp-map of its local rotations is its dof_pos.
    rotvec = quat_to_rotvec(motion["local_rigid_body_rot"][:, 1:]).reshape(60, 69)
    torch.testing.assert_close(rotvec, motion["dof_pos"], atol=2e-6, rtol=0)


def test_mmap_header_read_does_not_read_tensor_data(tmp_path: Path) -> None:
    io_stats = Path("/proc/self/io")
    if not io_stats.exists():
        pytest.skip("/proc/self/io not available")

    def bytes_read() -> int:
        fields = dict(line.split(": ") for line in io_stats.read_text().splitlines())
        return int(fields["rchar"])

    path = tmp_path / "long.motion"
    save_motion(synthetic_motion(frames=2000), path)
    size = path.stat().st_size
    before = bytes_read()
    header = read_torch_dict(path, mmap=True)
    shapes = {key: tuple(header[key].shape) for key in MOTION_FIELDS}
    header_bytes = bytes_read() - before
    assert shapes["rigid_body_pos"] == (2000, 24, 3)
    assert header_bytes < 0.05 * size, (header_bytes, size)
    before = bytes_read()
    read_torch_dict(path, mmap=False)
    assert bytes_read() - before >= size * 0.9


# --- hostile files: refused with file and field, never opened when not regular -----------------


@pytest.mark.parametrize("fps", [0.5, 5000, 10**12])
def test_frame_rate_is_range_checked(tmp_path: Path, fps: float) -> None:
    motion = synthetic_motion(frames=4)
    motion["fps"] = fps
    path = tmp_path / "fast.motion"
    torch.save(motion, path)
    with pytest.raises(MotionDataError) as caught:
        load_motion(path)
    assert caught.value.field == "fps" and caught.value.path == str(path)
    assert caught.value.expected == "an integer frame rate in [1, 1000] fps"


def test_broadcast_sparse_and_oversized_tensors_are_refused(tmp_path: Path) -> None:
    """A 4-byte storage expanded to 10⁶ frames would make packaging allocate the declared size."""
    motion = synthetic_motion(frames=3)
    hostile = dict(motion, rigid_body_pos=torch.zeros(1, 1, 3).expand(3, 24, 3))
    path = tmp_path / "expanded.motion"
    torch.save(hostile, path)
    with pytest.raises(MotionDataError) as caught:
        load_motion(path)
    assert caught.value.field == "rigid_body_pos" and caught.value.found == "strides (0, 0, 1)"
    sparse = dict(motion, dof_vel=motion["dof_vel"].to_sparse())
    with pytest.raises(MotionDataError, match="field 'dof_vel': expected a dense tensor"):
        check_motion_shape(sparse, "sparse.motion")
    # Shapes alone (meta tensors hold no data): more frames than any clip may have.
    huge = {key: torch.empty((1_000_001,) + tuple(value.shape[1:]), dtype=value.dtype, device="meta")
            for key, value in motion.items() if isinstance(value, torch.Tensor)}  # fmt: skip
    with pytest.raises(MotionDataError, match=r"1 ≤ T ≤ 1000000"):
        check_motion_shape(dict(huge, fps=30), "huge.motion")


def test_a_fifo_is_refused_unopened(tmp_path: Path) -> None:
    fifo = tmp_path / "x.motion"
    os.mkfifo(fifo)
    for mmap in (False, True):
        with pytest.raises(MotionDataError) as caught:
            returns_within(10.0, lambda mmap=mmap: read_torch_dict(fifo, mmap=mmap), fifo)
        assert caught.value.field == "<file>" and caught.value.found == "a FIFO (named pipe), not a regular file"

"""The AMASS reader on the real sample clips, on SMPL-X/SMPL layouts built from them, and on bad input."""

from __future__ import annotations

import io
import math
import os
import zipfile
from pathlib import Path
from typing import Callable, Dict

import numpy as np
import pytest
from fifo_guard import returns_within

from motion.amass import (
    amass_subset_of,
    downsample_step,
    find_amass_files,
    is_amass_motion_file,
    read_amass_clip,
    round_fps,
)
from motion.errors import MotionDataError

EXPECTED_FIXTURES = {
    # name: (frames, gender)
    "amass_sample_male_120fps_poses.npz": (601, "male"),
    "dmpl_sample_female_120fps_poses.npz": (235, "female"),
    "hbp_sample_walk_female_120fps_poses.npz": (500, "female"),
}
WALK = "hbp_sample_walk_female_120fps_poses.npz"


def _source(amass_dir: Path, name: str = WALK) -> Dict[str, np.ndarray]:
    with np.load(amass_dir / name) as data:
        return {key: data[key] for key in ("poses", "trans", "mocap_framerate", "betas", "gender")}


def _save(path: Path, **arrays: np.ndarray) -> Path:
    np.savez(path, **arrays)
    return path


@pytest.mark.parametrize("name", sorted(EXPECTED_FIXTURES))
def test_reads_real_smplh_clips(amass_dir: Path, name: str) -> None:
    frames, gender = EXPECTED_FIXTURES[name]
    clip = read_amass_clip(amass_dir / name)
    source = _source(amass_dir, name)

    assert clip.num_frames == frames
    assert clip.poses.shape == (frames, 72) and clip.poses.dtype == np.float64
    assert clip.trans.shape == (frames, 3)
    assert clip.gender == gender
    assert clip.model_type == "smplh"
    assert clip.fps == pytest.approx(120.0, abs=1e-3)
    assert clip.betas.shape == (16,)
    # Global orientation + 21 body joints verbatim; SMPL hand joints 22, 23 zero (the source has
    # non-zero finger poses there, which must not leak into the SMPL hands).
    np.testing.assert_array_equal(clip.poses[:, :66], source["poses"][:, :66])
    np.testing.assert_array_equal(clip.poses[:, 66:], 0.0)
    np.testing.assert_array_equal(clip.trans, source["trans"])
    assert np.abs(source["poses"][:, 66:72]).max() > 0


def test_gender_stored_as_bytes_is_decoded(amass_dir: Path) -> None:
    with np.load(amass_dir / "dmpl_sample_female_120fps_poses.npz") as data:
        assert data["gender"].dtype.kind == "S"  # the fixture really stores bytes
    assert read_amass_clip(amass_dir / "dmpl_sample_female_120fps_poses.npz").gender == "female"


def test_smplx_split_keys(amass_dir: Path, tmp_path: Path) -> None:
    src = _source(amass_dir)
    frames = src["poses"].shape[0]
    path = _save(
        tmp_path / "clip_stageii.npz",
        root_orient=src["poses"][:, :3],
        pose_body=src["poses"][:, 3:66],
        pose_hand=src["poses"][:, 66:156],
        pose_jaw=np.full((frames, 3), 0.3),
        pose_eye=np.full((frames, 6), 0.2),
        trans=src["trans"],
        mocap_frame_rate=np.array(60.0),
        betas=np.zeros(16),
        gender=np.array("male"),
        surface_model_type=np.array("smplx"),
    )
    clip = read_amass_clip(path)
    assert clip.model_type == "smplx"
    assert clip.fps == 60.0 and clip.gender == "male" and clip.num_frames == frames
    np.testing.assert_array_equal(clip.poses[:, :66], src["poses"][:, :66])
    np.testing.assert_array_equal(clip.poses[:, 66:], 0.0)


def test_smplx_165_poses_with_mocap_frame_rate(amass_dir: Path, tmp_path: Path) -> None:
    src = _source(amass_dir)
    frames = src["poses"].shape[0]
    # SMPL-X layout: root, body(63), jaw, left eye, right eye, hands(90).
    poses = np.concatenate((src["poses"][:, :66], np.full((frames, 9), 0.4), src["poses"][:, 66:]), axis=1)
    assert poses.shape == (frames, 165)
    path = _save(tmp_path / "x.npz", poses=poses, trans=src["trans"], mocap_frame_rate=np.array(30.0))
    clip = read_amass_clip(path)
    assert clip.model_type == "smplx" and clip.fps == 30.0
    np.testing.assert_array_equal(clip.poses[:, :66], src["poses"][:, :66])
    np.testing.assert_array_equal(clip.poses[:, 66:], 0.0)
    assert clip.gender == "neutral"  # no gender key


def test_smpl_72_poses_pass_through(amass_dir: Path, tmp_path: Path) -> None:
    src = _source(amass_dir)
    poses = src["poses"][:, :72].copy()
    path = _save(tmp_path / "s.npz", poses=poses, trans=src["trans"], mocap_framerate=np.array(100.0))
    clip = read_amass_clip(path)
    assert clip.model_type == "smpl" and clip.fps == 100.0
    np.testing.assert_array_equal(clip.poses, poses)


def test_betas_of_real_amass_are_accepted(fixtures_dir: Path, amass_dir: Path, tmp_path: Path) -> None:
    """Every real clip of the fixtures (SMPL-H *_poses, SMPL-X *_stageii with num_betas) carries
    16 betas and reads; a (1, B) vector, 10 betas and SMPL-X's 300 read too."""
    real = sorted(fixtures_dir.glob("amass*/**/*.npz"))
    assert len(real) >= 30 and any(path.name.endswith("stageii.npz") for path in real)
    for path in real:
        clip = read_amass_clip(path)
        with np.load(path, allow_pickle=True) as data:
            np.testing.assert_array_equal(clip.betas, data["betas"])
        assert clip.betas.shape == (16,), path
    src = _source(amass_dir)
    batch_axis = read_amass_clip(_save(tmp_path / "b1.npz", **{**src, "betas": src["betas"][None, :]}))
    np.testing.assert_array_equal(batch_axis.betas, src["betas"])
    assert read_amass_clip(_save(tmp_path / "b10.npz", **{**src, "betas": src["betas"][:10]})).betas.shape == (10,)
    smplx = {"poses": np.zeros((4, 165)), "trans": np.zeros((4, 3)), "mocap_frame_rate": np.array(60.0)}
    wide = read_amass_clip(_save(tmp_path / "x300.npz", **smplx, betas=np.full(300, 0.1), num_betas=np.array(300)))
    assert wide.model_type == "smplx" and wide.betas.shape == (300,)


def test_surface_model_type_contradicting_layout(amass_dir: Path, tmp_path: Path) -> None:
    src = _source(amass_dir)
    path = _save(
        tmp_path / "mislabelled.npz",
        poses=src["poses"],
        trans=src["trans"],
        mocap_framerate=src["mocap_framerate"],
        surface_model_type=np.array("smplx"),
    )
    with pytest.raises(MotionDataError, match="surface_model_type"):
        read_amass_clip(path)


def _bad_cases(src: Dict[str, np.ndarray]):
    """name → (arrays to save, field, fragment of 'expected', fragment of 'found')."""
    good = {k: src[k] for k in ("poses", "trans", "mocap_framerate", "betas", "gender")}
    nan_poses = src["poses"].copy()
    nan_poses[7, 10] = np.nan
    inf_trans = src["trans"].copy()
    inf_trans[3, 2] = np.inf
    return {
        "missing_trans": ({k: v for k, v in good.items() if k != "trans"}, "trans", "'trans'", "no such key"),
        "missing_poses": ({k: v for k, v in good.items() if k != "poses"}, "poses", "'poses'", "keys ["),
        "missing_fps": (
            {k: v for k, v in good.items() if k != "mocap_framerate"},
            "mocap_framerate",
            "mocap_frame_rate",
            "keys [",
        ),
        "wrong_width": (
            {**good, "poses": src["poses"][:, :100]},
            "poses",
            "(T, 156) (SMPL-H), (T, 165) (SMPL-X) or (T, 72) (SMPL)",
            "(500, 100)",
        ),
        "poses_1d": ({**good, "poses": src["poses"][:, 0]}, "poses", "(T, 156)", "(500,)"),
        "nan_poses": ({**good, "poses": nan_poses}, "poses", "finite", "NaN in 1 frame(s), first at frame 7"),
        "inf_trans": ({**good, "trans": inf_trans}, "trans", "finite", "inf in 1 frame(s), first at frame 3"),
        "fps_zero": ({**good, "mocap_framerate": np.array(0.0)}, "mocap_framerate", "[1, 1000] fps", "0.0"),
        "fps_negative": ({**good, "mocap_framerate": np.array(-120.0)}, "mocap_framerate", "[1, 1000]", "-120.0"),
        "fps_nan": ({**good, "mocap_framerate": np.array(np.nan)}, "mocap_framerate", "[1, 1000]", "nan"),
        # 0.3 fps once ended a whole batch with a ValueError from the sub-rate search.
        "fps_0.3": ({**good, "mocap_framerate": np.array(0.3)}, "mocap_framerate", "[1, 1000] fps", "0.3"),
        # 7919 fps (prime) once converted "successfully" into a 0.03 s motion at 7919 fps.
        "fps_7919": ({**good, "mocap_framerate": np.array(7919.0)}, "mocap_framerate", "[1, 1000] fps", "7919.0"),
        "fps_1e12": (
            {**good, "mocap_framerate": np.array(1e12)},
            "mocap_framerate",
            "[1, 1000] fps",
            "1000000000000.0",
        ),
        "fps_inf_smplx_key": (
            {**{k: v for k, v in good.items() if k != "mocap_framerate"}, "mocap_frame_rate": np.array(np.inf)},
            "mocap_frame_rate",
            "[1, 1000] fps",
            "inf",
        ),
        "poses_beyond_limit": (
            {**good, "poses": np.where(np.arange(156) == 4, 2e3, src["poses"])},
            "poses",
            "|values| ≤ 1000",
            "2e+03 at frame 0",
        ),
        "trans_beyond_limit": ({**good, "trans": src["trans"] + 5e4}, "trans", "|values| ≤ 10000", "at frame 0"),
        "betas_nan": ({**good, "betas": np.full(16, np.nan)}, "betas", "finite", "NaN or inf"),
        # Both once converted silently: 3 betas shape no SMPL body, and a per-frame matrix landed
        # flattened (5,000 values) in the .motion metadata.
        "betas_3": ({**good, "betas": src["betas"][:3]}, "betas", "10 to 16 values for smplh", "3 value(s)"),
        "betas_per_frame": (
            {**good, "betas": np.tile(src["betas"][:10], (500, 1))},
            "betas",
            "one shape vector of 10 to 16 values for smplh (shape (B,) or (1, B))",
            "shape (500, 10)",
        ),
        "betas_too_many": ({**good, "betas": np.zeros(17)}, "betas", "10 to 16 values for smplh", "17 value(s)"),
        "num_betas_disagrees": (
            {**good, "num_betas": np.array(10)},
            "num_betas",
            "16 (the length of 'betas')",
            "10",
        ),
        "one_frame": (
            {**good, "poses": src["poses"][:1], "trans": src["trans"][:1]},
            "poses",
            "at least 2 frames",
            "1 frame",
        ),
        "trans_length": (
            {**good, "trans": src["trans"][:-5]},
            "trans",
            "500 frames",
            "495 frames",
        ),
        "trans_width": ({**good, "trans": src["trans"][:, :2]}, "trans", "(500, 3)", "(500, 2)"),
        "gender_unknown": ({**good, "gender": np.array("robot")}, "gender", "'male'", "'robot'"),
        "poses_text": ({**good, "poses": np.full((5, 72), "a")}, "poses", "numeric", "<U1"),
    }


@pytest.mark.parametrize(
    "case",
    [
        "missing_trans",
        "missing_poses",
        "missing_fps",
        "wrong_width",
        "poses_1d",
        "nan_poses",
        "inf_trans",
        "fps_zero",
        "fps_negative",
        "fps_nan",
        "fps_0.3",
        "fps_7919",
        "fps_1e12",
        "fps_inf_smplx_key",
        "poses_beyond_limit",
        "trans_beyond_limit",
        "betas_nan",
        "betas_3",
        "betas_per_frame",
        "betas_too_many",
        "num_betas_disagrees",
        "one_frame",
        "trans_length",
        "trans_width",
        "gender_unknown",
        "poses_text",
    ],
)
def test_bad_input_names_file_field_expected_found(amass_dir: Path, tmp_path: Path, case: str) -> None:
    arrays, field, expected, found = _bad_cases(_source(amass_dir))[case]
    path = _save(tmp_path / f"{case}.npz", **arrays)
    with pytest.raises(MotionDataError) as caught:
        read_amass_clip(path)
    error = caught.value
    assert error.path == str(path)
    assert error.field == field
    assert expected in error.expected, error.expected
    assert found in error.found, error.found
    message = str(error)
    assert str(path) in message and f"'{field}'" in message and expected in message and found in message


def _npz_with_header(path: Path, member: str, shape: tuple, data: bytes) -> Path:
    """An npz whose ``member`` has a hand-written .npy header declaring ``shape`` over ``data``."""
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f8", "fortran_order": False, "shape": shape})
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(member, header.getvalue() + data)
        for key, value in (("trans", np.zeros((4, 3))), ("mocap_framerate", np.array(120.0))):
            buffer = io.BytesIO()
            np.save(buffer, value)
            archive.writestr(f"{key}.npy", buffer.getvalue())
    return path


def test_array_headers_are_checked_before_any_data_is_read(tmp_path: Path) -> None:
    """A header declaring 10⁹ frames over 64 bytes is refused from the header alone: np.load
    would first allocate the declared 1.2 TB (MemoryError, ending the batch)."""
    huge = _npz_with_header(tmp_path / "huge.npz", "poses.npy", (10**9, 156), b"\0" * 64)
    with pytest.raises(MotionDataError) as caught:
        read_amass_clip(huge)
    assert caught.value.field == "poses" and caught.value.found == "shape (1000000000, 156)"
    assert "at most 1000000 frames" in caught.value.expected
    # Within the limits but shorter than declared: refused before allocating (4 × 156 × 8 bytes).
    short = _npz_with_header(tmp_path / "short.npz", "poses.npy", (4, 156), b"\0" * 100)
    with pytest.raises(MotionDataError) as caught:
        read_amass_clip(short)
    assert caught.value.field == "poses"
    assert caught.value.expected == "4992 bytes of data for shape (4, 156) float64"
    assert caught.value.found == "100 bytes in the archive"
    # A member that is no .npy at all (np.load would hand back raw bytes).
    with zipfile.ZipFile(tmp_path / "raw.npz", "w") as archive:
        archive.writestr("poses", b"raw bytes, not an array")
    with pytest.raises(MotionDataError) as caught:
        read_amass_clip(tmp_path / "raw.npz")
    assert caught.value.field == "poses" and "readable numpy array" in caught.value.expected


def test_a_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    """open() on a FIFO waits for a writer forever; the reader must refuse it unopened."""
    fifo = tmp_path / "x_poses.npz"
    os.mkfifo(fifo)
    error = returns_within(10.0, lambda: _error_of(read_amass_clip, fifo), fifo)
    assert isinstance(error, MotionDataError) and error.field == "<file>"
    assert error.found == "a FIFO (named pipe), not a regular file" and str(fifo) in str(error)
    (tmp_path / "dir_poses.npz").mkdir()
    with pytest.raises(MotionDataError, match="a directory, not a regular file"):
        read_amass_clip(tmp_path / "dir_poses.npz")
    with pytest.raises(MotionDataError, match="a character device, not a regular file"):
        read_amass_clip("/dev/zero")  # would otherwise read zeros forever


def _error_of(function: Callable[..., object], *args: object) -> object:
    try:
        return function(*args)
    except Exception as error:
        return error


def test_wrong_width_message_is_specific(amass_dir: Path, tmp_path: Path) -> None:
    src = _source(amass_dir)
    path = _save(tmp_path / "w.npz", poses=src["poses"][:, :100], trans=src["trans"])
    with pytest.raises(MotionDataError) as caught:
        read_amass_clip(path)
    assert str(caught.value) == (
        f"{path}: field 'poses': expected shape (T, 156) (SMPL-H), (T, 165) (SMPL-X) or (T, 72) (SMPL), "
        "found (500, 100)"
    )


def test_unreadable_files(amass_dir: Path, tmp_path: Path) -> None:
    real = (amass_dir / WALK).read_bytes()
    cases = {
        "truncated.npz": real[: len(real) // 2],  # central directory missing
        "garbage.npz": b"this is not a zip archive at all" * 10,
        "empty.npz": b"",
    }
    for name, content in cases.items():
        path = tmp_path / name
        path.write_bytes(content)
        with pytest.raises(MotionDataError) as caught:
            read_amass_clip(path)
        assert caught.value.field == "<file>", name
        assert str(path) in str(caught.value) and "readable .npz" in str(caught.value)
    with pytest.raises(MotionDataError) as caught:
        read_amass_clip(tmp_path / "does_not_exist.npz")
    assert caught.value.field == "<file>" and "FileNotFoundError" in caught.value.found
    np.save(tmp_path / "array.npy", np.zeros((3, 72)))
    with pytest.raises(MotionDataError, match="a single .npy array"):
        read_amass_clip(tmp_path / "array.npy")


def test_corrupt_member_inside_valid_zip(amass_dir: Path, tmp_path: Path) -> None:
    """Zip directory intact but the poses member damaged: reported on field 'poses'."""
    src = _source(amass_dir)
    path = tmp_path / "corrupt.npz"
    np.savez_compressed(path, poses=src["poses"], trans=src["trans"], mocap_framerate=src["mocap_framerate"])
    raw = bytearray(path.read_bytes())
    start = raw.index(b"poses.npy") + 200  # inside the deflated poses data
    raw[start : start + 64] = b"\x00" * 64
    path.write_bytes(bytes(raw))
    with pytest.raises(MotionDataError) as caught:
        read_amass_clip(path)
    assert caught.value.field == "poses"


def test_file_selection_by_name(tmp_path: Path) -> None:
    layout = [
        "CMU/01/01_01_poses.npz",
        "CMU/01/shape.npz",
        "CMU/01/._01_01_poses.npz",
        "CMU/01/notes.txt",
        "KIT/3/walk_stageii.npz",
        "KIT/3/walk_stagei.npz",
        "KIT/3/deeper/a_poses.npz",
        "loose_poses.npz",
    ]
    for relative in layout:
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / relative).write_bytes(b"")
    found = find_amass_files(tmp_path)
    assert [p.relative_to(tmp_path).as_posix() for p in found] == [
        "CMU/01/01_01_poses.npz",
        "KIT/3/deeper/a_poses.npz",
        "KIT/3/walk_stageii.npz",
        "loose_poses.npz",
    ]
    assert not is_amass_motion_file("x/shape.npz") and not is_amass_motion_file("a_stagei.npz")
    assert [amass_subset_of(p, tmp_path) for p in found] == ["CMU", "KIT", "KIT", tmp_path.name]


@pytest.mark.parametrize(
    "source_fps, target_fps, expected",
    [
        (120, 30, (4, 30.0)),
        (60, 30, (2, 30.0)),
        (150, 30, (5, 30.0)),
        (100, 50, (2, 50.0)),
        (250, 50, (5, 50.0)),
        (59, 30, (1, 59.0)),
        (30, 30, (1, 30.0)),
        (24, 30, (1, 24.0)),
        (120.00004577636719, 30, (4, 30.0)),
        (119.6, 30, (4, 30.0)),
        (100, 30, (2, 50.0)),
    ],
)
def test_downsample_step(source_fps: float, target_fps: float, expected) -> None:
    assert downsample_step(source_fps, target_fps) == expected


def test_downsample_step_rejects_bad_rates() -> None:
    for target in (0, -30, math.nan):
        with pytest.raises(ValueError):
            downsample_step(120, target)
    with pytest.raises(ValueError):
        round_fps(0.2)
    assert round_fps(59.94) == 60
    # The sub-rate search is bounded: a huge prime rate would scan 10¹² divisors.
    for rate in (math.inf, math.nan, 1001, 999_999_999_989.0):
        with pytest.raises(ValueError):
            downsample_step(rate, 30)
    assert downsample_step(997, 30) == (1, 997.0)  # the largest prime in range: one pass over 997

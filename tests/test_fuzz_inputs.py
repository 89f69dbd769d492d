"""Fuzzing the readers with hypothesis: no input hangs or crashes them.

Generated AMASS-like ``.npz`` archives (random key sets, dtypes, shapes, NaN/inf, huge and tiny
values, pickled object arrays, corrupted bytes), bit-rotted copies of a real AMASS clip,
``.motion`` dicts, MotionLib dicts and checkpoints go through the real readers, converter,
packager and loaders. Every case must end within its deadline either in success (and then the
output is whole and loads) or in an :class:`~motion.errors.InputError` whose message names the file and the
field. A message without them (an unexpected exception turned into a failed row) fails the test.

CI budget: each of the five tests runs ``MAX_EXAMPLES`` = 60 cases, each within ``DEADLINE`` =
5 s (typical cases take 2–40 ms); the whole module takes under 10 s on 2 busy cores, 60 s at
most. Cases are derandomized (the same ones every run) so CI is reproducible;
``MIMIC_FUZZ_EXAMPLES=2000 MIMIC_FUZZ_RANDOM=1`` runs a longer, random campaign locally, and
``--hypothesis-show-statistics`` lists which checks the cases reached.
"""

from __future__ import annotations

import io
import math
import os
import tempfile
import warnings
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any, Dict, Iterator, List

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from motion.amass import read_amass_clip
from motion.batch_convert import ConversionJob, convert_chunk
from motion.conversion import ConversionParams
from motion.errors import InputError
from motion.motion_file import MOTION_FIELDS, SMPL_SIZES, load_motion, save_motion
from motion.motion_lib import MotionLib, summarize_motion_lib
from motion.motion_lib_packaging import build_motion_lib, find_motion_sources, package_motion_lib
from motion.synthetic import random_motion
from training.checkpoint import load_checkpoint

MAX_EXAMPLES = int(os.environ.get("MIMIC_FUZZ_EXAMPLES", "60"))
DEADLINE = timedelta(seconds=5)
FUZZ = settings(
    max_examples=MAX_EXAMPLES,
    deadline=DEADLINE,
    derandomize=not os.environ.get("MIMIC_FUZZ_RANDOM"),
    database=None,  # nothing written into the checkout (.hypothesis/)
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

#: Values that broke or could break readers: NaN, infinities, float64/float32 extremes, denormals.
NASTY_FLOATS = [math.nan, math.inf, -math.inf, 1e308, -1e308, 3.5e38, 1e30, 5e-324, 1e-45, 0.0, -0.0]
NASTY_RATES = [0, -120, 0.3, 0.99, 1.0, 30, 1000.0, 1000.5, 7919, 1e12, 2.0**63, math.nan, math.inf]
DTYPES = ["<f8", "<f4", "<f2", "<i8", "<i1", "<u8", "|b1", "<c8", "<U4", "|S3"]


def assert_named(error: BaseException, path: Path) -> None:
    """A clean failure: the project's InputError (MotionDataError, CheckpointError) naming file and field."""
    assert isinstance(error, InputError), f"{type(error).__name__}: {error}"
    message = str(error)
    assert str(path) in message and "field '" in message, message
    event(f"refused: field {error.field}")  # --hypothesis-show-statistics: which checks the cases reach


@contextmanager
def temp_dir() -> Iterator[Path]:
    """A fresh folder per case (hypothesis runs many cases in one test, so not pytest's tmp_path)."""
    with tempfile.TemporaryDirectory(prefix="fuzz_") as name:
        yield Path(name)


# --- AMASS archives ------------------------------------------------------------------------------


def weird_arrays() -> st.SearchStrategy[np.ndarray]:
    shapes = hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=6)
    numeric = hnp.arrays(st.sampled_from(DTYPES), shapes)
    objects = st.builds(lambda n: np.array([{"pickled": n}] * 2, dtype=object), st.integers())
    return st.one_of(numeric, objects)


@st.composite
def amass_arrays(draw: Any) -> Dict[str, np.ndarray]:
    """A valid SMPL-H / SMPL-X / SMPL archive's arrays, then up to four hostile mutations."""
    frames = draw(st.integers(0, 12))
    layout = draw(st.sampled_from(["smplh", "smplx", "smpl", "smplx_split"]))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    width = {"smplh": 156, "smplx": 165, "smpl": 72, "smplx_split": 165}[layout]
    poses = rng.normal(0, 0.3, (frames, width))
    arrays: Dict[str, np.ndarray] = {"trans": rng.normal(0, 1, (frames, 3)), "betas": rng.normal(0, 1, 16)}
    if layout == "smplx_split":
        arrays.update(root_orient=poses[:, :3], pose_body=poses[:, 3:66], mocap_frame_rate=np.array(60.0))
        arrays["surface_model_type"] = np.array("smplx")
    else:
        arrays.update(poses=poses, mocap_framerate=np.array(120.0), gender=np.array(b"female"))
    for _ in range(draw(st.integers(0, 4))):
        keys = sorted(arrays)
        kind = draw(st.sampled_from(["drop", "replace", "poke", "scale", "cast", "rate", "junk"]))
        key = draw(st.sampled_from(keys)) if keys else "poses"
        value = arrays.get(key)
        if kind == "drop" and keys:
            del arrays[key]
        elif kind == "replace":
            arrays[key] = draw(weird_arrays())
        elif kind == "poke" and value is not None and value.dtype.kind == "f" and value.size:
            value = value.copy()
            with np.errstate(all="ignore"):  # 1e308 in float16 becomes inf: wanted
                value.flat[draw(st.integers(0, value.size - 1))] = draw(st.sampled_from(NASTY_FLOATS))
            arrays[key] = value
        elif kind == "scale" and value is not None and value.dtype.kind == "f":
            with np.errstate(all="ignore"):  # overflow to inf, underflow to 0: both wanted
                arrays[key] = value * np.float64(10.0) ** draw(st.integers(-320, 320))
        elif kind == "cast" and value is not None and value.dtype.kind in "fiub":
            with np.errstate(all="ignore"):
                arrays[key] = value.astype(draw(st.sampled_from(DTYPES[:8])))
        elif kind == "rate":
            rate_key = draw(st.sampled_from(["mocap_framerate", "mocap_frame_rate"]))
            arrays[rate_key] = np.array(draw(st.sampled_from(NASTY_RATES)))
        elif kind == "junk":
            arrays[draw(st.sampled_from(["markers", "dmpls", "poses", "trans", "x.npy"]))] = draw(weird_arrays())
    return arrays


def _corrupt(data: bytes, draw: Any) -> bytes:
    """Truncate, or flip a few bytes of, an archive's bytes (bit rot, interrupted copies)."""
    if not data:
        return data
    if draw(st.booleans()):
        return data[: draw(st.integers(0, len(data) - 1))]
    raw = bytearray(data)
    for _ in range(draw(st.integers(1, 8))):
        raw[draw(st.integers(0, len(raw) - 1))] ^= 1 << draw(st.integers(0, 7))
    return bytes(raw)


def _convert_and_check(path: Path, folder: Path) -> None:
    """The real batch path for one file: a whole ``.motion`` or one failure naming file and field."""
    try:
        clip = read_amass_clip(path)
    except Exception as error:
        assert_named(error, path)
        clip = None
    output = folder / "out" / "clip.motion"
    job = ConversionJob(source=str(path), output=str(output), relative_source=path.name, subset="FUZZ")
    [(source, message, frames, _notes)] = convert_chunk([job], ConversionParams())
    assert source == str(path)
    if message is not None:
        assert str(path) in message and "field '" in message, message
        event("conversion refused" if clip is not None else "read refused")
        assert not output.exists() and not list(output.parent.glob(".*.tmp"))
        return
    assert clip is not None and frames == clip.num_frames >= 2
    event("converted")
    motion = load_motion(output, SMPL_SIZES)
    assert 1 <= motion["fps"] <= 1000 and motion["rigid_body_pos"].shape[0] >= 2


@FUZZ
@given(arrays=amass_arrays(), compressed=st.booleans(), corrupt=st.booleans(), data=st.data())
def test_generated_amass_archives(arrays: Dict[str, np.ndarray], compressed: bool, corrupt: bool, data: Any) -> None:
    with temp_dir() as folder:
        path = folder / "clip_poses.npz"
        buffer = io.BytesIO()
        (np.savez_compressed if compressed else np.savez)(buffer, **arrays)
        content = buffer.getvalue()
        path.write_bytes(_corrupt(content, data.draw) if corrupt else content)
        _convert_and_check(path, folder)


@FUZZ
@given(data=st.data())
def test_bit_rotted_real_clip(amass_dir: Path, data: Any) -> None:
    content = (amass_dir / "dmpl_sample_female_120fps_poses.npz").read_bytes()
    with temp_dir() as folder:
        path = folder / "dmpl_poses.npz"
        path.write_bytes(_corrupt(content, data.draw))
        _convert_and_check(path, folder)


# --- .motion files, packaging and MotionLibs -----------------------------------------------------


def junk_values() -> st.SearchStrategy[Any]:
    tensors = st.builds(
        lambda shape, dtype: torch.ones(shape, dtype=dtype),
        st.lists(st.integers(0, 5), max_size=3),
        st.sampled_from([torch.float32, torch.float64, torch.int64, torch.bool, torch.uint8, torch.complex64]),
    )
    plain = st.one_of(st.none(), st.integers(), st.floats(), st.text(max_size=4), st.lists(st.integers(), max_size=3))
    return st.one_of(tensors, plain, st.dictionaries(st.text(max_size=3), st.integers(), max_size=2))


def _mutate_tensors(value: Dict[str, Any], keys: List[str], draw: Any) -> None:
    """Up to four hostile edits of ``value`` in place: drop, junk, NaN/inf/huge pokes, broadcasts."""
    for _ in range(draw(st.integers(0, 4)) if keys else 0):
        key = draw(st.sampled_from(keys))
        kind = draw(st.sampled_from(["drop", "junk", "poke", "poke", "expand", "truncate", "cast"]))
        current = value.get(key)
        if kind == "drop":
            value.pop(key, None)
        elif kind == "junk":
            value[key] = draw(junk_values())
        elif not isinstance(current, torch.Tensor) or current.numel() == 0:
            continue
        elif kind == "poke" and current.is_floating_point():
            current = current.clone()
            nasty = torch.tensor(draw(st.sampled_from(NASTY_FLOATS)), dtype=torch.float64).to(current.dtype)
            current.view(-1)[draw(st.integers(0, current.numel() - 1))] = nasty  # 1e308 → inf in float32
            value[key] = current
        elif kind == "expand":
            value[key] = current.reshape(-1)[:1].reshape((1,) * current.dim()).expand(current.shape)
        elif kind == "truncate":
            value[key] = current[: draw(st.integers(0, current.shape[0]))] if current.dim() else current
        elif kind == "cast":
            with warnings.catch_warnings():  # complex → real drops the imaginary part: wanted
                warnings.simplefilter("ignore", UserWarning)
                value[key] = current.to(draw(st.sampled_from([torch.float64, torch.float16, torch.int32, torch.bool])))


@st.composite
def motion_dicts(draw: Any) -> Dict[str, Any]:
    motion = random_motion(draw(st.integers(1, 6)), draw(st.integers(0, 1000)), 30, metadata={"source_md5": "ab"})
    _mutate_tensors(motion, sorted(MOTION_FIELDS), draw)
    if draw(st.booleans()):
        motion["fps"] = draw(st.one_of(st.sampled_from(NASTY_RATES), junk_values()))
    if draw(st.integers(0, 3)) == 0:
        motion["mimicflow"] = draw(junk_values())
    return motion


@FUZZ
@given(motion=motion_dicts(), corrupt=st.booleans(), data=st.data())
def test_generated_motion_files_load_and_package(motion: Dict[str, Any], corrupt: bool, data: Any) -> None:
    with temp_dir() as folder:
        good, path = folder / "good.motion", folder / "fuzzed.motion"
        save_motion(random_motion(4, 1, 30), good)
        buffer = io.BytesIO()
        torch.save(motion, buffer)
        path.write_bytes(_corrupt(buffer.getvalue(), data.draw) if corrupt else buffer.getvalue())
        try:
            load_motion(path)
            event("loaded")
        except Exception as error:
            assert_named(error, path)
        result = package_motion_lib([good, path], folder / "lib.pt", skip_bad=True)
        for failure in result.failures:
            assert_named(failure, path)
        lib = MotionLib.from_file(result.output_file)
        assert lib.num_motions == 2 - len(result.failures)
        ids = torch.arange(lib.num_motions)
        assert lib.get_motion_state(ids, lib.motion_lengths * 0.37).rigid_body_pos.shape[0] == lib.num_motions


@pytest.fixture(scope="module")
def library_dict(tmp_path_factory: pytest.TempPathFactory) -> Dict[str, Any]:
    folder = tmp_path_factory.mktemp("fuzz_lib")
    paths = []
    for seed, (frames, fps) in enumerate(((5, 30), (3, 60), (7, 25))):
        paths.append(folder / f"m{seed}.motion")
        save_motion(random_motion(frames, seed, fps), paths[-1])
    return build_motion_lib(find_motion_sources(paths))[0]


@FUZZ
@given(data=st.data())
def test_generated_motion_libraries(library_dict: Dict[str, Any], data: Any) -> None:
    library = {key: value.clone() if isinstance(value, torch.Tensor) else value for key, value in library_dict.items()}
    _mutate_tensors(library, sorted(k for k, v in library.items() if isinstance(v, torch.Tensor)), data.draw)
    if data.draw(st.integers(0, 3)) == 0:
        library[data.draw(st.sampled_from(["motion_files", "mimicflow"]))] = data.draw(junk_values())
    with temp_dir() as folder:
        path = folder / "lib.pt"
        torch.save(library, path)
        try:
            lib = MotionLib.from_file(path)
        except Exception as error:
            assert_named(error, path)
            return
        event("loaded")
        assert summarize_motion_lib(path)["num_motions"] == lib.num_motions
        ids = torch.arange(lib.num_motions).repeat(3)
        times = torch.tensor([-1.0, 0.05, 1e9]).repeat_interleave(lib.num_motions)
        state = lib.get_motion_state(ids, times)
        assert state.rigid_body_pos.shape == (ids.shape[0], lib.gts.shape[1], 3)


# --- checkpoints ---------------------------------------------------------------------------------


@FUZZ
@given(data=st.data())
def test_generated_checkpoints(data: Any) -> None:
    actor = torch.nn.Linear(3, 2).state_dict()
    payload: Dict[str, Any] = {
        "format_version": 2,
        "epoch": 3,
        "env_steps": 96,
        "counters": {"best_evaluated_score": -math.inf},
        "model": {"agent": {"actor": actor, "critic": torch.nn.Linear(3, 1).state_dict(), "epoch": 3}},
        "config": {"num_envs": 4},
        "config_hash": "ab",
        "rank_states": [{"rng": {"torch": torch.get_rng_state()}}],
        "motion_weights": torch.ones(3),
        "lineage": {},
        "extra": {},
    }
    for _ in range(data.draw(st.integers(1, 4))):
        key = data.draw(st.sampled_from(sorted(payload)))
        if data.draw(st.booleans()):
            payload[key] = data.draw(junk_values())
        else:
            _mutate_tensors(actor, sorted(actor), data.draw)
    with temp_dir() as folder:
        path = folder / "last.ckpt"
        torch.save(payload, path)
        try:
            loaded = load_checkpoint(path)
        except Exception as error:
            assert_named(error, path)
            return
        event("loaded")
        assert loaded["format_version"] == 2

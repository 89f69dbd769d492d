"""Batch conversion of AMASS trees: resumable, parallel, never stopped (nor hung) by a bad file,
stopped cleanly by a full disk."""

from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List

import pytest
import torch
import yaml
from fifo_guard import returns_within
from write_faults import LimitedDisk, denied, small_filesystem

from motion.batch_convert import TREE_STAMP, convert_amass_tree, output_name
from motion.conversion import CONVERTER_VERSION, ConversionParams
from motion.errors import OutputWriteError
from motion.io_utils import raw_opener
from motion.motion_config import split_of_subset

MOTION_KEYS = (
    "rigid_body_pos",
    "rigid_body_rot",
    "rigid_body_vel",
    "rigid_body_ang_vel",
    "dof_pos",
    "dof_vel",
    "rigid_body_contacts",
    "local_rigid_body_rot",
)


def _make_tree(amass_dir: Path, root: Path, copies: int = 1) -> None:
    """An AMASS-like tree: subsets → sequences → clips (hard links to the real clips)."""
    layout = {"CMU": "01", "SFU": "0005", "Transitions_mocap": "mazen_c3d"}
    sources = sorted(amass_dir.glob("*.npz"))
    for copy in range(copies):
        for subset, sequence in layout.items():
            for source in sources:
                target = root / subset / sequence / f"{copy:03d}-{source.stem} (take).npz"
                target.parent.mkdir(parents=True, exist_ok=True)
                try:
                    os.link(source, target)
                except OSError:
                    shutil.copy(source, target)


def _load_all(out_dir: Path):
    return {
        str(path.relative_to(out_dir)): torch.load(path, weights_only=True)
        for path in sorted(out_dir.rglob("*.motion"))
    }


def test_tree_conversion_layout_splits_and_metadata(amass_dir, tmp_path):
    root, out = tmp_path / "amass", tmp_path / "motions"
    _make_tree(amass_dir, root)
    (root / "CMU" / "shape.npz").write_bytes(b"not a motion")  # skipped by name
    report = convert_amass_tree(root, out, workers=2, chunk_size=2, progress=False)
    assert report.ok and len(report.converted) == 9 and report.source_frames == 3 * (601 + 500 + 235)
    motions = _load_all(out)
    assert len(motions) == 9
    # ProtoMotions' naming rule: '-', '(', ')' and spaces become '_'.
    assert "CMU/01/000_hbp_sample_walk_female_120fps_poses__take_.motion" in motions
    meta = motions["SFU/0005/000_dmpl_sample_female_120fps_poses__take_.motion"]["mimicflow"]
    assert meta["subset"] == "SFU" and meta["split"] == "validation"
    assert meta["source_frames"] == 235 and meta["frame_step"] == 4 and meta["gender"] == "female"
    assert len(meta["source_md5"]) == 32 and meta["model_type"] == "smplh"
    splits = {s: yaml.safe_load((out / f"{s}.yaml").read_text())["motions"] for s in ("train", "validation", "test")}
    assert [len(splits[s]) for s in ("train", "validation", "test")] == [3, 3, 3]
    assert all(entry["file"].startswith("Transitions_mocap/") for entry in splits["test"])
    assert len(yaml.safe_load((out / "motions.yaml").read_text())["motions"]) == 9


def test_bad_files_are_reported_and_the_rest_converted(amass_dir, tmp_path):
    root, out = tmp_path / "amass", tmp_path / "motions"
    _make_tree(amass_dir, root)
    (root / "CMU" / "01" / "broken_poses.npz").write_bytes(b"PK\x03\x04 truncated")
    one_frame = root / "CMU" / "01" / "short_poses.npz"
    import numpy as np

    np.savez(one_frame, poses=np.zeros((1, 156)), trans=np.zeros((1, 3)), mocap_framerate=120.0, betas=np.zeros(16))
    report = convert_amass_tree(root, out, workers=1, progress=False)
    assert len(report.converted) == 9
    failed = dict(report.failures)
    assert set(failed) == {str(root / "CMU" / "01" / "broken_poses.npz"), str(one_frame)}
    assert "broken_poses.npz" in failed[str(root / "CMU" / "01" / "broken_poses.npz")]
    assert "poses" in failed[str(one_frame)] or "frames" in failed[str(one_frame)]
    assert "FAILED" in report.summary()
    # Failed files are not listed in the indexes.
    listed = yaml.safe_load((out / "motions.yaml").read_text())["motions"]
    assert len(listed) == 9 and not any("broken" in entry["file"] for entry in listed)


def test_cli_exit_code_is_nonzero_when_anything_failed(amass_dir, tmp_path, repo_root):
    root, out = tmp_path / "amass", tmp_path / "motions"
    _make_tree(amass_dir, root)
    (root / "SFU" / "bad_poses.npz").write_bytes(b"garbage")
    run = subprocess.run(
        [sys.executable, "-m", "mimic.cli", "amass", "convert", str(root), str(out), "--workers", "1", "--no-progress"],
        capture_output=True,
        text=True,
        cwd=repo_root,
    )
    assert run.returncode == 1, run.stderr
    assert "FAILED" in run.stdout and "bad_poses.npz" in run.stdout
    assert len(list(out.rglob("*.motion"))) == 9


def test_killed_batch_resumes_to_the_same_result(amass_dir, tmp_path, repo_root):
    root = tmp_path / "amass"
    _make_tree(amass_dir, root, copies=8)  # 72 clips
    reference_out, resumed_out = tmp_path / "reference", tmp_path / "resumed"
    convert_amass_tree(root, reference_out, workers=1, progress=False)

    command = [sys.executable, "-m", "mimic.cli", "amass", "convert", str(root), str(resumed_out)]
    command += ["--workers", "1", "--chunk-size", "1", "--no-progress"]
    process = subprocess.Popen(command, cwd=repo_root, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    while time.time() < deadline and len(list(resumed_out.rglob("*.motion"))) < 10:
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    done_before = len(list(resumed_out.rglob("*.motion")))
    assert 10 <= done_before < 72, "the kill must land half way for this test to mean anything"

    report = convert_amass_tree(root, resumed_out, workers=2, progress=False)
    assert len(report.skipped) == done_before and len(report.converted) == 72 - done_before
    reference, resumed = _load_all(reference_out), _load_all(resumed_out)
    assert reference.keys() == resumed.keys()
    for name, motion in reference.items():
        for key in MOTION_KEYS:
            # Same to float32 rounding: the resumed run batches files differently, and
            # vectorised/scalar atan2 differ by an ulp (see test_conversion).
            torch.testing.assert_close(motion[key], resumed[name][key], rtol=1e-5, atol=1e-5, msg=f"{name} {key}")
        assert [m["mimicflow"] for m in reference.values()] == [m["mimicflow"] for m in resumed.values()]

    # --force-remake converts everything again.
    again = convert_amass_tree(root, resumed_out, force_remake=True, workers=2, progress=False)
    assert len(again.converted) == 72 and not again.skipped


def test_resuming_remakes_outputs_of_another_converter_or_other_parameters(amass_dir, tmp_path):
    out = tmp_path / "motions"
    first = convert_amass_tree(amass_dir, out, progress=False)
    assert first.ok and len(first.converted) == 3
    stamp = json.loads((out / TREE_STAMP).read_text())
    assert stamp["converter_version"] == CONVERTER_VERSION and stamp["output_fps"] == 30
    assert len(convert_amass_tree(amass_dir, out, progress=False).skipped) == 3  # up to date: resumed
    # A folder an older converter wrote (its stamp says so): converting again, not resuming.
    (out / TREE_STAMP).write_text(json.dumps(dict(stamp, converter_version="1"), sort_keys=True))
    again = convert_amass_tree(amass_dir, out, progress=False)
    assert len(again.converted) == 3 and not again.skipped
    # A folder from before stamps existed is judged by its outputs' recorded parameters.
    (out / TREE_STAMP).unlink()
    assert len(convert_amass_tree(amass_dir, out, progress=False).skipped) == 3
    (out / TREE_STAMP).unlink()
    other = convert_amass_tree(amass_dir, out, params=ConversionParams(output_fps=60), progress=False)
    assert len(other.converted) == 3
    assert json.loads((out / TREE_STAMP).read_text())["output_fps"] == 60


def test_motion_config_slices_and_weights(amass_dir, tmp_path):
    root, out = tmp_path / "amass", tmp_path / "motions"
    _make_tree(amass_dir, root)
    config = tmp_path / "motions.yaml"
    walk = "CMU/01/000-hbp_sample_walk_female_120fps_poses (take).npz"
    jump = "SFU/0005/000-dmpl_sample_female_120fps_poses (take).npz"
    config.write_text(
        yaml.safe_dump(
            {
                "motions": [
                    {"file": walk, "weight": 2.5, "sub_motions": [{"timings": {"start": 1.0, "end": 3.0}}]},
                    {"file": jump, "fps": 60},  # declared 60 fps: output at 30 with step 2
                ]
            }
        )
    )
    report = convert_amass_tree(root, out, motion_config=config, progress=False)
    assert report.ok and len(report.converted) == 2
    walk_motion = torch.load(out / output_name(walk), weights_only=True)
    # 1.0 s .. 3.0 s at 120 fps = source frames 120..360 → every 4th → 61 frames.
    assert walk_motion["rigid_body_pos"].shape[0] == 61
    assert walk_motion["mimicflow"]["source_slice_seconds"] == [1.0, 3.0]
    jump_motion = torch.load(out / output_name(jump), weights_only=True)
    assert jump_motion["mimicflow"]["frame_step"] == 2 and jump_motion["rigid_body_pos"].shape[0] == 118
    weights = {e["file"]: e["weight"] for e in yaml.safe_load((out / "motions.yaml").read_text())["motions"]}
    assert weights[output_name(walk)] == 2.5


def test_split_rule():
    assert [split_of_subset(s) for s in ("CMU", "KIT", "SFU", "HumanEva", "SSM_synced", "Transitions_mocap")] == [
        "train",
        "train",
        "validation",
        "validation",
        "test",
        "test",
    ]


@pytest.mark.parametrize("bad", ["not: [a, list", "motions: 3", "motions:\n  - {weight: 1}"])
def test_bad_motion_config_is_one_clear_error(tmp_path, bad):
    from motion.errors import MotionDataError
    from motion.motion_config import read_motion_config

    config = tmp_path / "bad.yaml"
    config.write_text(bad)
    with pytest.raises(MotionDataError) as error:
        read_motion_config(config)
    assert str(config) in str(error.value)


def test_a_fifo_undecodable_deep_or_broken_motion_config_is_one_line(tmp_path):
    """Found by benchmarks/bench_hostile_inputs.py: a FIFO as the config blocked open() forever,
    bytes that are not UTF-8 and deep nesting ended the CLI in a traceback, and a YAML syntax error
    printed four lines."""
    from motion.errors import MotionDataError
    from motion.motion_config import read_motion_config

    fifo = tmp_path / "fifo.yaml"
    os.mkfifo(fifo)
    with pytest.raises(MotionDataError) as caught:
        returns_within(10, lambda: read_motion_config(fifo), fifo)
    assert caught.value.field == "<file>" and caught.value.found == "a FIFO (named pipe), not a regular file"
    for name, content, found in (
        ("binary.yaml", b"motions: [\xff\xfe]\n", "UnicodeDecodeError: 'utf-8' codec can't decode byte 0xff"),
        ("deep.yaml", b"motions: " + b"[" * 5000 + b"]" * 5000, "RecursionError: nested too deeply to parse"),
        ("syntax.yaml", b"motions: [a, {list", "expected ',' or '}', but got '<stream end>' at line 1, column 19"),
    ):
        config = tmp_path / name
        config.write_bytes(content)
        with pytest.raises(MotionDataError) as caught:
            read_motion_config(config)
        assert caught.value.field == "<file>" and caught.value.found.startswith(found), caught.value
        assert "\n" not in str(caught.value)


def test_each_motion_file_holds_only_its_own_clip(amass_dir, tmp_path):
    """Clips are converted as one batch; each file must store its own frames, not the batch's."""
    out = tmp_path / "motions"
    convert_amass_tree(amass_dir, out, workers=1, progress=False)
    sizes = {path.name: path.stat().st_size for path in out.glob("*.motion")}
    frames = {"amass_sample_male_120fps_poses.motion": 151, "dmpl_sample_female_120fps_poses.motion": 59}
    per_frame = (3 * 4 * 24 * 3 + 2 * 4 * 24 * 4 + 2 * 4 * 69 + 24) / 1  # bytes of tensors per frame
    for name, count in frames.items():
        assert count * per_frame < sizes[name] < count * per_frame + 64 * 1024, name


def test_a_subset_folder_converts_as_that_subset(amass_dir, tmp_path, capsys):
    """``mimic amass convert ~/AMASS/SFU``: the clips are SFU's (validation), not a subject's
    (``0005``, which would put validation motions in the train split)."""
    from mimic.cli import main

    root, out = tmp_path / "amass", tmp_path / "motions"
    _make_tree(amass_dir, root)
    assert main(["amass", "convert", str(root / "SFU"), str(out), "--workers", "1", "--no-progress"]) == 0
    assert "is the AMASS subset folder SFU" in capsys.readouterr().out
    motions = _load_all(out)
    assert sorted(motions) == sorted(f"SFU/0005/{output_name(p.name)}" for p in (root / "SFU" / "0005").iterdir())
    assert {m["mimicflow"]["subset"] for m in motions.values()} == {"SFU"}
    assert {m["mimicflow"]["split"] for m in motions.values()} == {"validation"}
    splits = {s: yaml.safe_load((out / f"{s}.yaml").read_text())["motions"] for s in ("train", "validation", "test")}
    assert [len(splits[s]) for s in ("train", "validation", "test")] == [0, 3, 0]


def test_subsets_restrict_a_tree_and_a_missing_one_is_named(amass_dir, tmp_path):
    from motion.errors import MotionDataError

    root, out = tmp_path / "amass", tmp_path / "motions"
    _make_tree(amass_dir, root)
    report = convert_amass_tree(root, out, subsets=["CMU", "Transitions_mocap"], progress=False)
    assert report.ok and len(report.converted) == 6
    assert sorted({name.split("/")[0] for name in _load_all(out)}) == ["CMU", "Transitions_mocap"]
    with pytest.raises(MotionDataError) as raised:
        convert_amass_tree(root, out, subsets=["KIT"], progress=False)
    assert raised.value.field == "subsets" and "'KIT'" in raised.value.expected
    assert raised.value.found == "folders ['CMU', 'SFU', 'Transitions_mocap']"


def test_an_amass_root_or_an_unknown_folder_is_not_taken_for_a_subset(tmp_path):
    from motion.amass import subset_folder_parent

    (tmp_path / "SFU" / "0005").mkdir(parents=True)
    (tmp_path / "KIT" / "CMU").mkdir(parents=True)  # a user's folder that holds a subset folder
    assert subset_folder_parent(tmp_path / "SFU") == (tmp_path.resolve(), "SFU")
    assert subset_folder_parent(tmp_path / "KIT") is None
    assert subset_folder_parent(tmp_path) is None  # not a subset name


# --- hostile inputs never hang or crash a batch; write errors stop it cleanly -----------------


def _hostile_tree(amass_dir: Path, root: Path) -> Dict[str, str]:
    """The three real clips plus a FIFO and clips of implausible rates; → name: expected fragment."""
    import numpy as np

    folder = root / "CMU" / "01"
    folder.mkdir(parents=True)
    for source in sorted(amass_dir.glob("*.npz")):
        shutil.copy(source, folder / source.name)
    with np.load(amass_dir / "dmpl_sample_female_120fps_poses.npz") as data:
        clip = {key: data[key] for key in ("poses", "trans", "betas", "gender")}
    expected = {}
    for name, rate in (("slow_poses.npz", 0.3), ("prime_poses.npz", 7919.0), ("huge_poses.npz", 1e12)):
        np.savez(folder / name, mocap_framerate=np.array(rate), **clip)
        expected[name] = f"field 'mocap_framerate': expected a finite frame rate in [1, 1000] fps, found {rate!r}"
    os.mkfifo(folder / "x_poses.npz")  # open() would wait for a writer forever
    expected["x_poses.npz"] = "field '<file>': expected a readable .npz archive, found a FIFO (named pipe)"
    return expected


def test_a_fifo_and_implausible_rates_are_failed_files_and_the_batch_finishes(amass_dir, tmp_path, repo_root):
    root, out = tmp_path / "amass", tmp_path / "motions"
    expected = _hostile_tree(amass_dir, root)
    command = [sys.executable, "-m", "mimic.cli", "amass", "convert", str(root), str(out), "--workers", "1"]
    try:  # in a subprocess with a time limit: a regression must fail this test, not hang CI
        run = subprocess.run(command + ["--no-progress"], capture_output=True, text=True, cwd=repo_root, timeout=300)
    except subprocess.TimeoutExpired:
        pytest.fail("mimic amass convert hung (on the FIFO?)")
    assert run.returncode == 1, run.stderr
    assert "Traceback" not in run.stderr
    assert "converted 3, skipped 0 (already done), failed 4" in run.stdout
    failed = {line.split(": ", 1)[0][len("  FAILED ") :]: line for line in run.stdout.splitlines() if "FAILED" in line}
    assert sorted(Path(path).name for path in failed) == sorted(expected)
    for path, line in failed.items():
        assert expected[Path(path).name] in line and line.count(path) == 2, line  # the file, then the error
    assert sorted(p.name for p in (out / "CMU" / "01").iterdir()) == sorted(
        output_name(p.name) for p in amass_dir.glob("*.npz")
    )


def _outputs(out: Path) -> List[str]:
    return sorted(p.name for p in out.rglob("*") if p.is_file())


def test_a_full_disk_stops_the_batch_with_one_line_and_a_rerun_resumes(amass_dir, tmp_path, capsys):
    """A real tmpfs that holds the first two outputs but not the third."""
    from mimic.cli import EXIT_WRITE_ERROR, main

    reference = tmp_path / "reference"
    convert_amass_tree(amass_dir, reference, workers=1, progress=False)
    names = sorted(p.name for p in reference.glob("*.motion"))
    pages = [-(-(reference / name).stat().st_size // 4096) for name in names]
    size_kb = 4 * (pages[0] + pages[1] + pages[2] // 2)
    command = ["amass", "convert", str(amass_dir), None, "--workers", "1", "--no-progress"]
    with small_filesystem(tmp_path / "disk", f"{size_kb}k") as disk:
        out = disk.path / "motions"
        command[3] = str(out)
        capsys.readouterr()
        assert main(command) == EXIT_WRITE_ERROR
        err = capsys.readouterr().err.strip().splitlines()
        assert err == [
            f"mimic: error: cannot write {out / names[2]}: No space left on device (errno 28 ENOSPC): "
            "free space and rerun; finished files are kept"
        ]
        assert _outputs(out) == names[:2]  # finished files kept, no partial or temp file
        disk.remount(f"size={size_kb * 4}k")  # space freed
        assert main(command) == 0
        assert "converted 1, skipped 2 (already done), failed 0" in capsys.readouterr().out
        assert _outputs(out) == sorted(
            names + ["conversion.json", "motions.yaml", "test.yaml", "train.yaml", "validation.yaml"]
        )
        for name in names:
            written, expected = (
                torch.load(out / name, weights_only=True),
                torch.load(reference / name, weights_only=True),
            )
            torch.testing.assert_close(written["rigid_body_pos"], expected["rigid_body_pos"], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("workers", [1, 2])
def test_an_injected_write_error_stops_the_batch_and_a_rerun_resumes(amass_dir, tmp_path, workers):
    """Through the write helper's seam (no root needed): a quota reached after the first output."""
    reference = tmp_path / "reference"
    convert_amass_tree(amass_dir, reference, workers=1, progress=False)
    first = sorted(reference.glob("*.motion"))[0]
    out = tmp_path / "motions"
    disk = LimitedDisk(first.stat().st_size + 1000, errno.EDQUOT)
    with raw_opener(disk), pytest.raises(OutputWriteError) as caught:
        convert_amass_tree(amass_dir, out, workers=1, chunk_size=1, progress=False)
    assert caught.value.errno == errno.EDQUOT and Path(caught.value.path).parent == out
    assert "(errno 122 EDQUOT): free space or raise the disk quota and rerun" in str(caught.value)
    assert _outputs(out) == [first.name]
    with raw_opener(denied), pytest.raises(OutputWriteError, match="EACCES"):  # a folder turned read-only
        convert_amass_tree(amass_dir, out, workers=1, progress=False)
    assert _outputs(out) == [first.name]
    report = convert_amass_tree(amass_dir, out, workers=workers, progress=False)  # quota raised
    assert report.ok and len(report.skipped) == 1 and len(report.converted) == 2


def test_rates_and_slices_of_a_motion_config_are_range_checked(amass_dir, tmp_path):
    from motion.errors import MotionDataError
    from motion.motion_config import read_motion_config

    config = tmp_path / "motions.yaml"
    for entry, field in (
        ({"file": "a.npz", "fps": 7919}, "motions[0].fps"),
        ({"file": "a.npz", "fps": 0.3}, "motions[0].fps"),
        ({"file": "a.npz", "weight": float("inf")}, "motions[0].weight"),
        (
            {"file": "a.npz", "sub_motions": [{"timings": {"start": float("inf")}}]},
            "motions[0].sub_motions[0].timings.start",
        ),
    ):
        config.write_text(yaml.safe_dump({"motions": [entry]}))
        with pytest.raises(MotionDataError) as caught:
            read_motion_config(config)
        assert caught.value.field == field and caught.value.path == str(config)
    with pytest.raises(MotionDataError, match="output_fps.*1, 1000"):
        convert_amass_tree(amass_dir, tmp_path / "out", params=ConversionParams(output_fps=0), progress=False)

"""The AMASS chain materialised in-process (ephemeral instance) on the real sample clips:
amass_archives (local mode: a folder, and an archive) → amass_motions → the three MotionLibs,
with the integrity checks passing on the real MotionLibs and failing on tampered ones."""

from __future__ import annotations

import hashlib
import json
import math
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import dagster as dg
import numpy as np
import pytest
import torch

from assets.amass import amass_archives, amass_motions
from assets.checks import MOTIONLIB_INTEGRITY_CHECKS
from assets.motionlibs import MOTIONLIB_ASSETS
from motion.conversion import CONVERTER_VERSION
from motion.motion_config import read_motion_config
from motion.motion_lib_integrity import MotionLibIntegrityConfig, motion_lib_integrity
from pipelines.definitions import defs
from pipelines.resources import PathsResource


def _dvc_dir_md5(root: Path) -> str:
    """DVC 3's directory hash, written out independently of training.dvc_records."""
    files = sorted(p for p in root.rglob("*") if p.is_file())
    manifest = [
        {"md5": hashlib.md5(p.read_bytes()).hexdigest(), "relpath": p.relative_to(root).as_posix()} for p in files
    ]
    return hashlib.md5(json.dumps(manifest, sort_keys=True).encode()).hexdigest() + ".dir"


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def _resources(data_root: Path) -> dict:
    return {**defs.resources, "paths": PathsResource(data_root=str(data_root), results_root=str(data_root / "results"))}


def _metadata(result: dg.ExecuteInProcessResult, node: str) -> dict:
    [event] = result.asset_materializations_for_node(node)
    return {key: value.value for key, value in event.metadata.items()} | {"tags": event.tags}


def _subset_run(instance, data_root, subset, local_path, **convert):
    run_config = {"ops": {"amass_archives": {"config": {"mode": "local", "local_path": str(local_path)}}}}
    if convert:
        run_config["ops"]["amass_motions"] = {"config": convert}
    return dg.materialize(
        [amass_archives, amass_motions], partition_key=subset, instance=instance,
        resources=_resources(data_root), run_config=run_config,
    )  # fmt: skip


@pytest.fixture(scope="module")
def chain(amass_dir, tmp_path_factory):
    """The samples partition from a folder copy, SFU (a validation subset) from a .tar.bz2, then
    the three MotionLibs with their integrity checks."""
    root = tmp_path_factory.mktemp("dagster_chain")
    source = root / "my_samples"
    shutil.copytree(amass_dir, source)
    archive = root / "downloads" / "SFU.tar.bz2"
    archive.parent.mkdir()
    with tarfile.open(archive, "w:bz2") as tar:  # as AMASS ships it: one top folder, subject folders
        for clip in sorted(amass_dir.glob("*.npz")):
            tar.add(clip, arcname=f"SFU/0005/{clip.name}")
    instance = dg.DagsterInstance.ephemeral()
    data = root / "data"
    samples = _subset_run(instance, data, "samples", source)
    sfu = _subset_run(instance, data, "SFU", archive.parent)  # a folder holding <subset>.tar.bz2
    libs = dg.materialize(
        [amass_motions, *MOTIONLIB_ASSETS, *MOTIONLIB_INTEGRITY_CHECKS],
        selection=dg.AssetSelection.assets(*MOTIONLIB_ASSETS), instance=instance, resources=_resources(data),
    )  # fmt: skip
    return {"root": root, "data": data, "source": source, "instance": instance, "samples": samples, "sfu": sfu,
            "libs": libs}  # fmt: skip


def _expected_frames(amass_dir: Path) -> list[int]:
    """Frames after converting each 120 fps clip to 30 fps: every 4th frame, ceil(n / 4)."""
    frames = []
    for clip in sorted(amass_dir.glob("*.npz")):
        with np.load(clip) as npz:
            assert round(float(npz["mocap_framerate"])) == 120
            frames.append(math.ceil(npz["poses"].shape[0] / 4))
    return frames


def test_archives_are_staged_with_their_md5(chain, amass_dir):
    samples = _metadata(chain["samples"], "amass_archives")
    folder = chain["data"] / "amass" / "samples"
    assert folder.is_symlink() and folder.resolve() == chain["source"].resolve()  # linked, not copied
    assert samples["mode"] == "local" and samples["num_clips"] == 3 and samples["split"] == "train"
    assert samples["size_bytes"] == sum(p.stat().st_size for p in amass_dir.glob("*.npz"))
    assert samples["md5"] == _dvc_dir_md5(folder) == samples["tags"]["dagster/data_version"]

    sfu = _metadata(chain["sfu"], "amass_archives")
    extracted = chain["data"] / "amass" / "SFU"
    assert not extracted.is_symlink()
    assert sorted(p.relative_to(extracted).as_posix() for p in extracted.rglob("*.npz")) == [
        f"0005/{p.name}" for p in sorted(amass_dir.glob("*.npz"))
    ]
    assert sfu["split"] == "validation" and sfu["source"].startswith("extracted")
    # Same clip bytes, so the same manifest hash as the samples folder apart from the relpaths.
    assert sfu["md5"] == _dvc_dir_md5(extracted) != samples["md5"]


def test_motions_are_converted_per_subset(chain, amass_dir):
    out = chain["data"] / "dagster" / "motions"
    names = sorted(p.name.replace(".npz", ".motion") for p in amass_dir.glob("*.npz"))
    assert sorted(p.name for p in (out / "samples" / "samples").glob("*.motion")) == names
    assert sorted(p.name for p in (out / "SFU" / "SFU" / "0005").glob("*.motion")) == names
    # Converted from the AMASS root restricted to the subset: outputs keep the subset folder.
    motions = sorted(f"samples/{p.name.replace('.npz', '.motion')}" for p in amass_dir.glob("*.npz"))
    assert sorted(entry.file for entry in read_motion_config(out / "samples" / "motions.yaml")) == motions
    assert sorted(p.name for p in (out / "samples").iterdir()) == [
        "conversion.json", "motions.yaml", "samples", "test.yaml", "train.yaml", "validation.yaml"
    ]  # fmt: skip
    assert len(read_motion_config(out / "samples" / "train.yaml")) == 3
    assert read_motion_config(out / "samples" / "validation.yaml") == []
    assert len(read_motion_config(out / "SFU" / "validation.yaml")) == 3
    for run, subset in ((chain["samples"], "samples"), (chain["sfu"], "SFU")):
        meta = _metadata(run, "amass_motions")
        assert meta["converted"] == 3 and meta["num_motions"] == 3
        assert meta["md5"] == _dvc_dir_md5(out / subset) == meta["tags"]["dagster/data_version"]
        assert meta["tags"]["dagster/code_version"] == f"convert-v{CONVERTER_VERSION}-2"  # a new converter reruns it


def test_motionlibs_package_each_split(chain, amass_dir):
    frames = _expected_frames(amass_dir)
    lib_dir = chain["data"] / "dagster" / "motionlib"
    expected = {"motionlib_train": ("train", "samples"), "motionlib_val": ("validation", "SFU"),
                "motionlib_test": ("train", "samples")}  # fmt: skip
    for node, (packaged_split, subset) in expected.items():
        meta = _metadata(chain["libs"], node)
        path = Path(meta["path"])
        assert path.parent == lib_dir and path.is_file()
        assert meta["md5"] == _md5(path) == meta["tags"]["dagster/data_version"]
        assert meta["packaged_split"] == packaged_split and meta["subsets"] == [subset]
        lib = torch.load(path, weights_only=True)
        assert lib["motion_num_frames"].tolist() == frames and meta["num_frames"] == sum(frames)
        assert all(f"/{subset}/" in name for name in lib["motion_files"])
        listed = [entry.file for entry in read_motion_config(path.with_suffix(".yaml"))]
        # Relative to the MotionLib's folder (motion.motion_lib_splits), so DVC's package stage writes the same bytes.
        assert [f"../motions/{file}" for file in listed] == list(lib["motion_files"])
    # No test subset converted: the test MotionLib is the train split, and says so.
    assert _metadata(chain["libs"], "motionlib_test")["split"] == "test"


def test_integrity_checks_pass_on_the_real_motionlibs(chain):
    evaluations = chain["libs"].get_asset_check_evaluations()
    assert sorted(e.asset_key.to_user_string() for e in evaluations) == sorted(
        ["motionlib_train", "motionlib_val", "motionlib_test"]
    )
    for check in evaluations:
        meta = {key: value.value for key, value in check.metadata.items()}
        assert check.passed, meta["problems"]
        assert meta["nonfinite_values"] == 0 and meta["max_quaternion_norm_error"] < 1e-5
        assert abs(meta["lowest_body_height_min_m"] - 0.015) < 1e-6  # the converter's height fix
        assert 1.0 < meta["max_body_speed_m_s"] < 30.0


def _run_integrity_check(chain, data_root: Path, split_asset: str):
    checks = [c for c in MOTIONLIB_INTEGRITY_CHECKS if next(iter(c.check_keys)).asset_key.path == [split_asset]]
    result = dg.materialize(
        [*MOTIONLIB_ASSETS, *checks], selection=dg.AssetSelection.checks(*checks),
        instance=chain["instance"], resources=_resources(data_root),
    )  # fmt: skip
    [evaluation] = result.get_asset_check_evaluations()
    return evaluation


@pytest.mark.parametrize("tamper", ["nan_position", "long_quaternion"])
def test_integrity_check_fails_on_a_tampered_motionlib(chain, tmp_path, tamper):
    real = chain["data"] / "dagster" / "motionlib" / "amass_train.pt"
    lib = torch.load(real, weights_only=True)
    if tamper == "nan_position":
        lib["gts"][10, 3, 1] = float("nan")
        expected = "1 non-finite values"
    else:
        lib["grs"][5, 2] *= 1.01  # |q| = 1.01
        expected = "quaternion norm off by 0.01"
    tampered_root = tmp_path / "data"
    (tampered_root / "dagster" / "motionlib").mkdir(parents=True)
    torch.save(lib, tampered_root / "dagster" / "motionlib" / "amass_train.pt")
    evaluation = _run_integrity_check(chain, tampered_root, "motionlib_train")
    assert not evaluation.passed
    assert expected in evaluation.metadata["problems"].value
    # The same function on the untouched file finds nothing.
    assert motion_lib_integrity(torch.load(real, weights_only=True), MotionLibIntegrityConfig()).problems == []


def test_rematerialising_converts_nothing_unless_parameters_change(chain):
    data, source, instance = chain["data"], chain["source"], chain["instance"]
    before = _metadata(chain["samples"], "amass_motions")["md5"]
    again = _metadata(_subset_run(instance, data, "samples", source), "amass_motions")
    assert again["converted"] == 0 and again["skipped_already_done"] == 3 and again["md5"] == before
    changed = _metadata(_subset_run(instance, data, "samples", source, output_fps=60), "amass_motions")
    assert changed["converted"] == 3 and changed["md5"] != before  # the stamp forced a reconversion
    stamp = json.loads((data / "dagster" / "motions" / "samples.conversion.json").read_text())
    assert stamp["output_fps"] == 60


def test_a_subset_folder_is_what_the_cli_convert_command_writes(chain, tmp_path, repo_root):
    """The DVC convert stage runs `mimic amass convert <amass> <motions>/<subset> --subsets <subset>`;
    the same command gives a byte-identical folder, so both record the same md5 (the md5 is DVC's
    `.dir` scheme: tests/test_dvc_pipeline.py checks it against real dvc)."""
    amass = chain["data"] / "amass"
    out = tmp_path / "motions" / "SFU"
    out.mkdir(parents=True)
    command = [sys.executable, "-m", "mimic.cli", "amass", "convert", str(amass), str(out), "--subsets", "SFU",
               "--force-remake", "--no-progress", "--workers", "1"]  # fmt: skip
    subprocess.run(command, cwd=repo_root, check=True, capture_output=True, timeout=120)
    assert _dvc_dir_md5(out) == _metadata(chain["sfu"], "amass_motions")["md5"]

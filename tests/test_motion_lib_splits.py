"""Packaging one AMASS split across converted subsets (motion/motion_lib_splits.py): the joining
rules, and the DVC path (the package stage's cmd from dvc.yaml, run as DVC runs it) and the Dagster
path (motionlib_train materialised in-process) giving byte-identical MotionLibs."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest
import torch
import yaml

from assets.amass import amass_archives, amass_motions
from assets.motionlibs import motionlib_train
from motion.batch_convert import convert_amass_tree
from motion.errors import MotionDataError
from motion.motion_config import MotionEntry, read_motion_config, write_motion_config
from motion.motion_lib_splits import join_split_entries, package_split
from pipelines.definitions import defs
from pipelines.resources import PathsResource


@pytest.fixture(scope="module")
def dagster_data(amass_dir, tmp_path_factory) -> Path:
    """amass_archives (local: the fixture clips) → amass_motions → motionlib_train, in-process."""
    data = tmp_path_factory.mktemp("splits") / "data"
    resources = {**defs.resources, "paths": PathsResource(data_root=str(data), results_root=str(data / "results"))}
    instance = dg.DagsterInstance.ephemeral()
    run_config = {"ops": {"amass_archives": {"config": {"mode": "local", "local_path": str(amass_dir)}}}}
    assert dg.materialize([amass_archives, amass_motions], partition_key="samples", instance=instance,
                          resources=resources, run_config=run_config).success  # fmt: skip
    assert dg.materialize([amass_motions, motionlib_train], selection=dg.AssetSelection.assets(motionlib_train),
                          instance=instance, resources=resources).success  # fmt: skip
    return data


def _dvc_package_cmd(repo_root: Path, split: str) -> str:
    """The package stage's cmd from dvc.yaml with the params DVC substitutes (this interpreter)."""
    stage = yaml.safe_load((repo_root / "dvc.yaml").read_text())["stages"]["package"]["do"]
    values = {"python": sys.executable, "item": split}
    command = re.sub(r"\$\{(\w+)\}", lambda match: values[match[1]], stage["cmd"])
    assert "${" not in command and "python -c" not in command
    return command


def test_dvc_stage_and_dagster_asset_write_the_same_bytes(dagster_data, repo_root, tmp_path):
    """The same converted motions, at DVC's layout (data/dvc/motions, relative paths) and Dagster's
    (<data_root>/dagster/motions, absolute): the MotionLib and its motion config are identical."""
    dagster_lib = dagster_data / "dagster" / "motionlib" / "amass_train.pt"
    dvc_repo = tmp_path / "dvc_repo"
    shutil.copytree(dagster_data / "dagster" / "motions" / "samples", dvc_repo / "data" / "dvc" / "motions" / "samples")
    shutil.copyfile(repo_root / "params.yaml", dvc_repo / "params.yaml")  # amass.subsets: [samples]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(repo_root), os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run(_dvc_package_cmd(repo_root, "train"), shell=True, cwd=dvc_repo, env=env,
                            capture_output=True, text=True, timeout=300)  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    dvc_lib = dvc_repo / "data" / "dvc" / "motionlib" / "amass_train.pt"
    assert dvc_lib.read_bytes() == dagster_lib.read_bytes()
    assert dvc_lib.with_suffix(".yaml").read_bytes() == dagster_lib.with_suffix(".yaml").read_bytes()
    files = torch.load(dvc_lib, weights_only=True)["motion_files"]
    assert len(files) == 3 and all(name.startswith("../motions/samples/samples/") for name in files)
    assert all((dvc_lib.parent / name).is_file() for name in files)


@pytest.fixture(scope="module")
def two_subsets(amass_dir, tmp_path_factory) -> Path:
    """Converted folders of a train subset (samples) and a validation subset (SFU)."""
    root = tmp_path_factory.mktemp("two_subsets")
    amass = root / "amass"
    clip = next(iter(sorted(amass_dir.glob("*.npz"))))
    for subset in ("samples", "SFU"):
        (amass / subset).mkdir(parents=True)
        shutil.copyfile(clip, amass / subset / clip.name)
        report = convert_amass_tree(amass, root / "motions" / subset, subsets=[subset], progress=False)
        assert report.ok
    return root / "motions"


def test_entries_are_relative_to_the_motions_folder_in_subset_order(two_subsets):
    entries, used = join_split_entries(two_subsets, "train")
    assert used == ["samples"] and [entry.file.split("/")[:2] for entry in entries] == [["samples", "samples"]]
    assert join_split_entries(two_subsets, "validation")[1] == ["SFU"]
    assert join_split_entries(two_subsets, "test") == ([], [])
    # Given subsets: exactly those, in that order; sorted by name otherwise.
    assert join_split_entries(two_subsets, "train", ["SFU"]) == ([], [])
    write_motion_config([MotionEntry(file="x.motion", weight=2.0, fps=60.0)], two_subsets / "SFU" / "train.yaml")
    try:
        assert join_split_entries(two_subsets, "train")[1] == ["SFU", "samples"]
        assert join_split_entries(two_subsets, "train", ["samples", "SFU"])[1] == ["samples", "SFU"]
        [entry] = join_split_entries(two_subsets, "train", ["SFU"])[0]
        assert entry == MotionEntry(file="SFU/x.motion", weight=2.0, fps=60.0)  # every field kept
    finally:
        write_motion_config([], two_subsets / "SFU" / "train.yaml")


def test_a_listed_subset_without_its_split_file_is_named(two_subsets):
    with pytest.raises(MotionDataError, match="KIT/train.yaml"):
        join_split_entries(two_subsets, "train", ["samples", "KIT"])


def test_an_empty_split_fails_or_falls_back_to_train_loudly(two_subsets, tmp_path):
    with pytest.raises(MotionDataError, match="motions of the test split"):
        package_split(two_subsets, "test", tmp_path / "amass_test.pt")
    said = []
    result = package_split(
        two_subsets, "test", tmp_path / "amass_test.pt", empty_split_uses_train=True, log_info=said.append
    )
    assert result.split == "test" and result.packaged_split == "train" and result.subsets == ["samples"]
    assert result.label == "(train clips: no held-out data in the samples)"
    assert len(said) == 1 and said[0].startswith("test MotionLib: the train clips (train clips: no held-out")
    metadata = torch.load(tmp_path / "amass_test.pt", weights_only=True)["mimicflow"]
    assert (metadata["split"], metadata["packaged_split"], metadata["split_label"]) == ("test", "train", result.label)
    assert [e.file for e in read_motion_config(result.motion_config)] == [
        e.file for e in join_split_entries(two_subsets, "train")[0]
    ]
    assert result.packaging.num_motions == 1


def test_cli_split_mode_and_its_flags(two_subsets, repo_root, tmp_path):
    def package(*args: str) -> subprocess.CompletedProcess:
        command = [sys.executable, "-m", "mimic.cli", "motionlib", "package", *args]
        return subprocess.run(command, cwd=repo_root, capture_output=True, text=True, timeout=120)

    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump({"amass": {"subsets": ["SFU", "samples"]}}))
    out = tmp_path / "lib" / "amass_val.pt"
    result = package("--split", "val", "--motion-root", str(two_subsets), "--output-file", str(out),
                     "--subsets-from", f"{params}:amass.subsets", "--no-progress")  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "validation: validation split of subsets SFU" in result.stdout and "packaged 1 motions" in result.stdout
    assert out.is_file() and out.with_suffix(".yaml").is_file()
    bad_key = package("--split", "train", "--motion-root", str(two_subsets), "--output-file", str(out),
                      "--subsets-from", f"{params}:amass.nothing")  # fmt: skip
    assert bad_key.returncode == 2
    assert f"mimic: error: {params}: field 'amass.nothing': expected a non-empty list" in bad_key.stderr
    no_root = package("--split", "train", "--output-file", str(out))
    assert no_root.returncode == 2 and "field '--motion-root'" in no_root.stderr
    not_without_split = package("--motion-path", str(two_subsets), "--output-file", str(out), "--subsets", "SFU")
    assert not_without_split.returncode == 2 and "--subsets needs --split" in not_without_split.stderr

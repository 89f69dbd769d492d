"""Folders of your own clips as Dagster partitions: ``MIMIC_LOCAL_SUBSETS`` adds them, ``local``
mode stages them, ``amass_motions``'s ``split`` config sends a held-out folder to the test split,
and the MotionLib assets package each split — on the real 37-clip ACCAD corpus."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

SCRIPT = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path
    import dagster as dg
    from assets.amass import AMASS_PARTITIONS, amass_archives, amass_motions
    from assets.motionlibs import MOTIONLIB_ASSETS
    from pipelines.definitions import defs
    from pipelines.resources import PathsResource
    from motion.motion_lib import MotionLib

    corpus, data = Path(sys.argv[1]), Path(sys.argv[2])
    resources = {**defs.resources, "paths": PathsResource(data_root=str(data), results_root=str(data / "results"))}
    instance = dg.DagsterInstance.ephemeral()
    for subset, folder, split in (("accad_train", "train", ""), ("accad_heldout", "heldout", "test")):
        config = {"ops": {"amass_archives": {"config": {"mode": "local", "local_path": str(corpus / folder)}},
                          "amass_motions": {"config": {"split": split}}}}
        assert dg.materialize([amass_archives, amass_motions], partition_key=subset, instance=instance,
                              resources=resources, run_config=config).success
    libs = dg.materialize([amass_motions, *MOTIONLIB_ASSETS], selection=[a.key for a in MOTIONLIB_ASSETS],
                          instance=instance, resources=resources)
    assert libs.success
    out = {"partitions": AMASS_PARTITIONS.get_partition_keys()[-2:]}
    for name in ("train", "validation", "test"):
        path = data / "dagster" / "motionlib" / f"amass_{name}.pt"
        lib = MotionLib.from_file(path) if path.is_file() else None
        out[name] = sorted({Path(f).parts[-2] for f in lib.motion_files}) if lib else None
        out[name + "_label"] = lib.metadata.get("split_label") if lib else None
        out[name + "_count"] = lib.num_motions if lib else 0
    print(json.dumps(out))
    """
)


def test_corpus_folders_as_partitions_with_a_held_out_split(accad_dir, repo_root, tmp_path) -> None:
    env = dict(os.environ, MIMIC_LOCAL_SUBSETS="accad_train, accad_heldout", DAGSTER_HOME=str(tmp_path / "home"))
    (tmp_path / "home").mkdir()
    result = subprocess.run([sys.executable, "-c", SCRIPT, str(accad_dir), str(tmp_path / "data")], cwd=repo_root,
                            env=env, capture_output=True, text=True, timeout=600)  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["partitions"] == ["accad_train", "accad_heldout"]
    assert out["train_count"] == 27 and out["test_count"] == 10
    # Every train clip comes from the train folder, every test clip from the held-out one.
    assert out["train"] == ["accad_train"] and out["test"] == ["accad_heldout"]
    assert out["validation_count"] == 27  # no validation subset: the train split, flagged as such
    assert "train clips" in out["validation_label"] and not out["test_label"]


def test_a_local_subset_name_that_is_no_folder_name_is_refused() -> None:
    from assets.amass import local_subsets

    assert local_subsets("accad_train,accad_heldout samples CMU") == ["accad_train", "accad_heldout"]
    with pytest.raises(ValueError, match=r"MIMIC_LOCAL_SUBSETS.*'\.\./etc'"):
        local_subsets("../etc")

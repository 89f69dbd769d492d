"""The numbers and module names the docs state are the code's."""

from __future__ import annotations

import re

from motion import skeleton
from motion.batch_convert import convert_amass_tree  # noqa: F401  (named in the docs)
from motion.conversion import ConversionParams
from motion.motion_config import TEST_SUBSETS, VALIDATION_SUBSETS
from robots.smpl_humanoid import load_smpl_humanoid_model


def test_readme_humanoid_numbers_match_the_model(repo_root):
    readme = (repo_root / "README.md").read_text()
    model = load_smpl_humanoid_model()
    claims = re.search(r"(\d+) bodies, free root, three hinges per joint \((\d+) DoF\),\s+([\d.]+) kg", readme)
    assert claims, "README no longer states the humanoid's size"
    bodies, dofs, mass = int(claims[1]), int(claims[2]), float(claims[3])
    assert bodies == skeleton.NUM_BODIES == model.nbody - 1
    assert dofs == skeleton.NUM_DOFS == model.nu
    assert abs(mass - model.body_mass.sum()) < 0.01
    assert f"±{skeleton.EFFORT_LIMIT:.0f} N·m" in readme
    assert "at 120 Hz" in readme and abs(model.opt.timestep - 1 / 120) < 1e-12


def test_readme_conversion_and_split_statements_match_the_code(repo_root):
    readme = " ".join((repo_root / "README.md").read_text().split())
    assert f"--output-fps {ConversionParams().output_fps}" in readme
    for subset in ("Transitions_mocap", "SSM_synced"):
        assert subset in TEST_SUBSETS and subset in readme
    for subset in ("MPI_HDM05", "MPI_mosh", "SFU", "HumanEva"):
        assert subset in VALIDATION_SUBSETS and subset in readme


def test_architecture_names_existing_modules(repo_root):
    text = (repo_root / "docs" / "ARCHITECTURE.md").read_text()
    packages = "motion|mimic|robots|training|evaluation|retarget|assets|pipelines|tests"
    modules = set(re.findall(rf"`((?:{packages})/[\w/]+\.py)`", text))
    assert len(modules) >= 12
    missing = sorted(m for m in modules if not (repo_root / m).is_file())
    assert not missing, f"ARCHITECTURE.md names missing modules: {missing}"
    # The folder map names every top-level package, and its layer line is the import test's order.
    folder_map = text.split("## Folder map and layers", 1)[1].split("\n## ", 1)[0]
    for folder in ("motion", "robots", "training", "retarget", "evaluation", "mimic", "assets", "pipelines", "data"):
        assert f"`{folder}/`" in folder_map, folder
    assert "motion/ ◀── robots/ ◀── training/, retarget/ ◀── evaluation/ ◀── mimic/, assets/ ⇄ pipelines/" in text
    # The stated body order is the skeleton's.
    assert f"`{', '.join(skeleton.BODY_NAMES[:6])}, …, {skeleton.BODY_NAMES[-1]}`" in text


def test_readme_states_the_shipped_policys_full_eval(repo_root):
    """The README's table of the shipped policy is its committed full-eval summary."""
    import json

    folder = repo_root / "data" / "pretrained" / "smpl_walk_jump"
    summary = json.loads((folder / "full_eval_summary.json").read_text())
    readme = " ".join((repo_root / "README.md").read_text().split())
    assert (folder / "last.ckpt").is_file() and (folder / "experiment_config.py").is_file()
    success = f"{summary['num_success']} of {summary['num_motions']} clips tracked to their end"
    assert success in readme, success
    for key in ("e_g_mpjpe", "e_mpjpe", "e_pa_mpjpe", "e_acc"):
        stated = f"{key} {summary['all'][key]:.1f}"
        assert stated in readme, stated
    phc = summary["phc"]["all"]
    assert f"PHC mpjpe_g {phc['mpjpe_g']:.1f} mm" in readme

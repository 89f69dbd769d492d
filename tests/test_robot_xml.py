"""``--robot-xml``: the G1 model from the command line, recorded in the resolved config, and old runs resuming."""

from __future__ import annotations

import pytest
import torch
import yaml

from mimic.cli import main as mimic_main

SMALL = ["agent.actor_units=[32,32]", "agent.critic_units=[32,32]", "agent.num_steps=4"]


@pytest.fixture()
def no_g1_env(monkeypatch):
    monkeypatch.delenv("MIMIC_G1_XML", raising=False)


def _train(results, clip, epochs, *extra):
    argv = ["train", "--robot-name", "g1", "--experiment-path", "training/experiments/mimic/mlp.py"]
    argv += ["--experiment-name", "g1", "--motion-file", str(clip), "--num-envs", "2", "--batch-size", "8"]
    argv += ["--num-threads", "1", "--results-dir", str(results), "--max-epochs", str(epochs), "--quiet", *extra]
    return mimic_main([*argv, "--overrides", *SMALL])


def _menagerie_installed() -> bool:
    """With mujoco-menagerie installed the G1 model is found without --robot-xml or the variable."""
    import importlib.util

    return importlib.util.find_spec("mujoco_menagerie") is not None


def _resolved(results):
    return yaml.safe_load((results / "g1" / "resolved_config.yaml").read_text())


def test_train_takes_the_model_from_the_flag_and_records_it(repo_root, g1_clip, g1_xml, tmp_path, no_g1_env,
                                                            monkeypatch):  # fmt: skip
    monkeypatch.chdir(repo_root)
    assert _train(tmp_path, g1_clip, 1, "--robot-xml", str(g1_xml)) == 0
    assert _resolved(tmp_path)["robot_xml"] == str(g1_xml)
    assert torch.load(tmp_path / "g1" / "last.ckpt", weights_only=True)["config"]["robot_xml"] == str(g1_xml)


def test_without_a_model_the_error_names_the_three_ways(repo_root, g1_clip, tmp_path, no_g1_env, monkeypatch, capsys):
    if _menagerie_installed():
        pytest.skip("mujoco-menagerie is installed: the G1 model is found without --robot-xml")
    monkeypatch.chdir(repo_root)
    assert _train(tmp_path, g1_clip, 1) == 2
    err = capsys.readouterr().err
    assert "mimic train: error: G1 model not found" in err
    assert "--robot-xml" in err and "MIMIC_G1_XML" in err and "mujoco-menagerie" in err
    assert not (tmp_path / "g1" / "last.ckpt").exists()


def test_a_run_saved_before_robot_xml_existed_resumes(repo_root, g1_clip, g1_xml, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(repo_root)
    monkeypatch.setenv("MIMIC_G1_XML", str(g1_xml))  # how such a run found its model
    assert _train(tmp_path, g1_clip, 1) == 0
    run = tmp_path / "g1"
    # Make it an old run: no robot_xml in resolved_config.yaml nor in the checkpoint's config.
    config = _resolved(tmp_path)
    assert config.pop("robot_xml") == ""
    (run / "resolved_config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    payload = torch.load(run / "last.ckpt", weights_only=True)
    del payload["config"]["robot_xml"]
    torch.save(payload, run / "last.ckpt")
    monkeypatch.delenv("MIMIC_G1_XML")
    # The old checkpoint's config loads for inference, the model named by the flag.
    argv = ["inference", "--checkpoint", str(run / "last.ckpt"), "--full-eval", "--num-envs", "1", "--num-threads"]
    argv += ["1", "--headless", "--output-dir", str(tmp_path / "eval"), "--max-frames", "10", "--quiet"]
    assert mimic_main([*argv, "--robot-xml", str(g1_xml)]) == 0
    # Resumed on a machine without the variable: the flag names the model and is taken (a path of
    # this machine) although the saved config has none.
    capsys.readouterr()
    assert _train(tmp_path, g1_clip, 2, "--robot-xml", str(g1_xml)) == 0
    assert "resuming from" in capsys.readouterr().out
    assert torch.load(run / "last.ckpt", weights_only=True)["epoch"] == 2
    assert _resolved(tmp_path)["robot_xml"] == str(g1_xml)


def test_visualize_takes_the_model_from_the_flag(g1_clip, g1_xml, tmp_path, no_g1_env, capsys):
    import os

    out = tmp_path / "g1.mp4"
    argv = ["visualize", "--motion-files", str(g1_clip), "--robot", "g1", "--headless", "--output", str(out)]
    argv += ["--max-frames", "2", "--width", "64", "--height", "48"]
    if not _menagerie_installed():
        assert mimic_main(argv) == 2  # no model anywhere: the error names the flag
        assert "--robot-xml" in capsys.readouterr().err
    assert mimic_main([*argv, "--robot-xml", str(g1_xml)]) == 0
    assert f"wrote {out}: 2 frames" in capsys.readouterr().out
    assert "MIMIC_G1_XML" not in os.environ  # set for the command only

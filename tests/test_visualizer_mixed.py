"""`mimic visualize` with different robots side by side: an SMPL MotionLib beside a G1 MotionLib
(`--robot smpl g1` or `--robot auto`), posing, rendering and robot-count errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from evaluation.visualizer import CONTACT_RGBA, MotionLibsVisualizer, detect_robot, robot_names_per_library
from mimic.cli import main
from motion.errors import MotionDataError
from motion.motion_lib import MotionLib
from robots.registry import FILE_ROBOTS, MOTION_SHAPES, robot_by_name, robot_names

SMPL_STANDING = 1  # motion index of the synthetic library's standing clip (a walk is 0)
G1_FEET = (6, 12)  # G1 body indices of left/right_ankle_roll_link, its contact bodies


@pytest.fixture()
def g1_env_var(g1_xml: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MIMIC_G1_XML", str(g1_xml))


def test_registry_motion_shapes_are_those_of_the_built_robots(g1_xml: Path):
    """``--robot auto`` matches against shapes known without a model file; they must be the models'."""
    assert set(MOTION_SHAPES) == set(robot_names())
    for name in robot_names():
        robot = robot_by_name(name, robot_xml=str(g1_xml) if name in FILE_ROBOTS else None)
        assert MOTION_SHAPES[name] == (len(robot.body_names), len(robot.dof_names))


def test_auto_detects_each_files_robot(synthetic_motion_lib: Path, g1_clip: Path, tmp_path: Path):
    smpl, g1 = MotionLib.from_file(synthetic_motion_lib), MotionLib.from_file(g1_clip)
    assert (smpl.gts.shape[1], smpl.dps.shape[1]) == (24, 69) and (g1.gts.shape[1], g1.dps.shape[1]) == (30, 29)
    assert detect_robot(smpl) == "smpl" and detect_robot(g1) == "g1"
    assert robot_names_per_library([g1, smpl, g1], "auto") == ["g1", "smpl", "g1"]
    assert robot_names_per_library([smpl, g1], ["auto", "g1"]) == ["smpl", "g1"]
    assert robot_names_per_library([smpl, smpl], ["smpl"]) == ["smpl", "smpl"]  # one name: every file
    # 24 bodies (fits the SMPL humanoid) but 29 DoFs: the DoFs are what is wrong.
    data = smpl.to_dict()
    data["dps"], data["dvs"] = data["dps"][:, :29].clone(), data["dvs"][:, :29].clone()
    odd_path = tmp_path / "odd.pt"
    MotionLib(data).save(odd_path)
    with pytest.raises(MotionDataError) as raised:
        detect_robot(MotionLib.from_file(odd_path))
    error = raised.value
    assert Path(error.path).resolve() == odd_path.resolve()
    assert error.field == "dps" and error.found == "24 bodies with 29 DoFs"
    assert "24 bodies per frame with 69 DoFs (robot 'smpl')" in error.expected
    assert "30 bodies per frame with 29 DoFs (robot 'g1')" in error.expected


def test_posed_copies_match_each_librarys_bodies(synthetic_motion_lib: Path, g1_clip: Path, g1_env_var: None):
    smpl, g1 = MotionLib.from_file(synthetic_motion_lib), MotionLib.from_file(g1_clip)
    visualizer = MotionLibsVisualizer([smpl, g1], ["smpl.pt", "g1.pt"], "auto")
    scene = visualizer.scene
    assert [copy.robot.name for copy in scene.copies] == ["smpl", "g1"]
    assert [len(copy.body_ids) for copy in scene.copies] == [24, 30]
    assert [len(copy.hinge_qpos) for copy in scene.copies] == [69, 29]
    np.testing.assert_allclose(scene.copies[1].offset, [1.0, 0.0, 0.0])
    dt = float(smpl.motion_dt[0])
    worst = [0.0, 0.0]
    for frame in (0, 7, 20, 41):  # SMPL motion 0 (a walk) on frame times; the G1 clip stands still
        visualizer.playback.time = frame * dt
        markers, lines = visualizer.update()
        assert len(markers) >= 24 + 30  # one marker per body of each robot, plus contacts
        assert lines[-2].startswith("[0] smpl.pt on smpl:") and lines[-1].startswith("[1] g1.pt on g1:")
        smpl_ref = smpl.gts[int(smpl.length_starts[0]) + frame].double().numpy()
        g1_ref = g1.gts[min(int(round(frame * dt * 30)), int(g1.motion_num_frames[0]) - 1)].double().numpy()
        worst[0] = max(worst[0], float(np.abs(scene.body_positions(0) - smpl_ref).max()))
        worst[1] = max(worst[1], float(np.abs(scene.body_positions(1) - g1_ref).max()))
        # Contacts per track: the G1's two ankle-roll links stand in contact, shown 1 m to the right.
        purple = np.array([pos for pos, rgba, _radius in markers if tuple(rgba) == CONTACT_RGBA])
        g1_feet = g1_ref[list(G1_FEET)] + [1.0, 0.0, 0.0]
        assert all(np.abs(purple - foot).max(axis=1).min() < 1e-6 for foot in g1_feet)
        smpl_contacts = int(smpl.contacts[int(smpl.length_starts[0]) + frame].sum())
        assert len(purple) == smpl_contacts + 2
        # Copy 1 is the G1 itself 1 m to the right: its pelvis in world coordinates.
        pelvis = scene.data.xpos[scene.copies[1].body_ids[0]]
        np.testing.assert_allclose(pelvis, g1_ref[0] + [1.0, 0.0, 0.0], atol=1e-3)
    print(f"worst body position error: smpl {worst[0] * 1e3:.4f} mm, g1 {worst[1] * 1e3:.4f} mm")
    assert worst[0] < 1e-3 and worst[1] < 1e-3  # m


def test_headless_side_by_side_video(synthetic_motion_lib: Path, g1_clip: Path, g1_env_var: None, tmp_path, capsys):
    from evaluation.video import read_video_frames

    out = tmp_path / "mixed.mp4"
    argv = ["visualize", "--motion-files", str(synthetic_motion_lib), str(g1_clip), "--robot", "smpl", "g1"]
    argv += ["--motion-index", str(SMPL_STANDING), "--headless", "--output", str(out), "--max-frames", "8"]
    argv += ["--width", "160", "--height", "120", "--json"]
    assert main(argv) == 0
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert report["frames"] == 8 and report["motion_indices"] == [SMPL_STANDING]
    frames = read_video_frames(out).astype(np.int64)
    assert frames.shape == (8, 120, 160, 3)
    assert all(frame.std() > 20 for frame in frames)  # a lit scene, not a blank frame
    below_text = frames[:, 50:]  # the overlay text box sits at the top
    # The SMPL humanoid is orange (R well above B); the G1 keeps its MJCF's grey (R ≈ B, bright);
    # the floor is blue-grey and dark, the sky black.
    orange = (below_text[..., 0] - below_text[..., 2]) > 30
    grey = (np.abs(below_text[..., 0] - below_text[..., 2]) < 15) & (below_text.mean(axis=-1) > 100)
    # Measured at 160×120: orange 168 px left / 0 right, grey 17 px left (edges, contact markers) / 122 right.
    assert (orange[:, :, :80].sum(axis=(1, 2)) > 40).all()  # the SMPL humanoid, left half
    assert (grey[:, :, 80:].sum(axis=(1, 2)) > 40).all()  # the G1, right half
    assert (orange[:, :, 80:].sum(axis=(1, 2)) < 20).all()  # no SMPL humanoid on the right
    assert (grey[:, :, :80].sum(axis=(1, 2)) < 40).all()  # no G1 on the left


def test_robot_count_must_match_the_files(synthetic_motion_lib: Path, g1_clip: Path, tmp_path: Path, capsys):
    files = [str(synthetic_motion_lib), str(g1_clip), str(synthetic_motion_lib)]
    argv = ["visualize", "--motion-files", *files, "--robot", "smpl", "g1", "--output", str(tmp_path / "v.mp4")]
    assert main(argv) == 2
    error = capsys.readouterr().err
    assert "--robot lists 2 robots (smpl g1) for 3 motion files" in error and "one per motion file" in error
    assert not (tmp_path / "v.mp4").exists()


def test_auto_rejects_a_library_of_no_known_robot(synthetic_motion_lib: Path, tmp_path: Path, capsys):
    data = MotionLib.from_file(synthetic_motion_lib).to_dict()
    for key in ("gts", "grs", "gvs", "gavs", "lrs", "contacts"):
        data[key] = data[key][:, :20].clone()
    short = tmp_path / "short.pt"
    MotionLib(data).save(short)
    argv = ["visualize", "--motion-files", str(short), "--robot", "auto", "--output", str(tmp_path / "v.mp4")]
    assert main(argv) == 2
    error = capsys.readouterr().err
    assert str(short) in error and "'gts'" in error and "found 20 bodies with 69 DoFs" in error
    assert "30 bodies per frame with 29 DoFs (robot 'g1')" in error


def test_one_robot_scene_is_unchanged(g1_xml: Path):
    """``VisualizerScene(robot, K)`` still builds K copies of one robot; a robot list sets one each."""
    from evaluation.visualizer_scene import VisualizerScene

    smpl, g1 = robot_by_name("smpl"), robot_by_name("g1", robot_xml=str(g1_xml))
    same = VisualizerScene(smpl, 3)
    assert [copy.robot.name for copy in same.copies] == ["smpl"] * 3 and same.robot is smpl
    mixed = VisualizerScene([g1, smpl, g1])
    assert [copy.robot.name for copy in mixed.copies] == ["g1", "smpl", "g1"]
    # Bodies: the world, 30 per G1, 24 per SMPL humanoid; qpos: 7 + 29 per G1, 7 + 69 per SMPL.
    assert mixed.model.nbody == 1 + 30 + 24 + 30 and mixed.model.nq == 36 + 76 + 36
    np.testing.assert_allclose([copy.offset[0] for copy in mixed.copies], [0.0, 1.0, 2.0])
    with pytest.raises(ValueError, match="num_copies 2 does not match the 3 robots"):
        VisualizerScene([g1, smpl, g1], 2)
    with pytest.raises(ValueError, match="num_copies must be ≥ 1"):
        VisualizerScene(smpl, 0)


def test_auto_g1_without_a_model_is_a_clear_error(g1_clip: Path, tmp_path: Path, monkeypatch, capsys):
    monkeypatch.delenv("MIMIC_G1_XML", raising=False)
    assert main(["visualize", "--motion-files", str(g1_clip), "--output", str(tmp_path / "v.mp4")]) == 2
    error = capsys.readouterr().err
    assert error.startswith("mimic visualize: error: G1 model not found") and "MIMIC_G1_XML" in error

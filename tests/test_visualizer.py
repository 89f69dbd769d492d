"""`mimic visualize`: side-by-side headless video, playback keys, pose setting, jerk highlighting, video files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from evaluation.smoothness import DEFAULT_JERK_THRESHOLD
from evaluation.video import VideoWriter, read_video_frames
from evaluation.visualizer import (
    CONTACT_RGBA,
    JERKY_RADIUS,
    JERKY_RGBA,
    MARKER_RADIUS,
    SMOOTH_RGBA,
    MotionLibsVisualizer,
    PlaybackState,
)
from evaluation.visualizer_scene import VisualizerScene
from mimic.cli import main
from motion.motion_lib import MotionLib
from robots.registry import robot_by_name

R_WRIST = 21  # BODY_NAMES index of the body made jittery below


@pytest.fixture(scope="module")
def libs(synthetic_motion_lib: Path, tmp_path_factory: pytest.TempPathFactory):
    """Library A: the 4 synthetic clips (a walk first); library B: two other walks, so both
    humanoids walk at 1 m/s and stay 1 m apart, and B's motion index wraps at 2."""
    motions = synthetic_motion_lib.parent / "motions" / "SYNTHETIC"
    second = tmp_path_factory.mktemp("visualizer") / "b.pt"
    MotionLib.from_motion_files(
        [motions / "SYNTHETIC_smplh_walk_120fps_poses.motion", motions / "SYNTHETIC_smplx_walk_60fps_stageii.motion"]
    ).save(second)
    return synthetic_motion_lib, second


def test_headless_video_shows_both_humanoids_moving(libs, tmp_path, capsys):
    out = tmp_path / "video.mp4"
    argv = ["visualize", "--motion_files", str(libs[0]), str(libs[1]), "--robot", "smpl", "--simulator", "mujoco"]
    argv += ["--headless", "--output", str(out), "--max-frames", "30", "--width", "160", "--height", "120"]
    assert main(argv) == 0
    # One sentence for a person, not a JSON record (that is --json's)
    (line,) = capsys.readouterr().out.strip().splitlines()
    assert line.startswith(f"wrote {out}: 30 frames, 160x120 at 30 fps (1.0 s; motion 0), rendered in "), line
    assert main([*argv, "--json"]) == 0
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert report["frames"] == 30 and report["motion_indices"] == [0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["video.mp4"]  # no temporary file left

    frames = read_video_frames(out).astype(np.int64)
    assert frames.shape == (30, 120, 160, 3)
    assert all(frame.std() > 20 for frame in frames)  # a lit scene, not a blank frame
    below_text = frames[:, 50:]  # the overlay text box sits at the top
    changes = np.abs(np.diff(below_text, axis=0)).mean(axis=(1, 2, 3))
    assert (changes > 0.2).all()  # the walkers move between every pair of frames
    # Humanoids and markers are orange/red (R well above B); the floor is blue-grey, the sky black.
    figure = (below_text[..., 0] - below_text[..., 2]) > 30
    # 1 m is ~48 px at the camera's 4 m: two figures ~16 px wide with a gap between them.
    assert (figure[:, :, :72].sum(axis=(1, 2)) > 40).all()  # library A's humanoid, left
    assert (figure[:, :, 88:].sum(axis=(1, 2)) > 40).all()  # library B's humanoid, right
    assert (figure[:, :, 72:88].sum(axis=(1, 2)) < 10).all()  # not one figure across the middle


def test_headless_errors_are_reported(libs, tmp_path, capsys):
    base = ["visualize", "--motion-files", str(libs[0]), "--headless"]
    assert main(base) == 2
    assert "--headless needs --output" in capsys.readouterr().err
    assert main(base + ["--output", str(tmp_path / "v.mp4"), "--width", "161"]) == 2
    assert "even" in capsys.readouterr().err
    missing = tmp_path / "missing.pt"
    assert main(["visualize", "--motion-files", str(missing), "--output", str(tmp_path / "v.mp4")]) == 2
    assert str(missing) in capsys.readouterr().err
    data = MotionLib.from_file(libs[0]).to_dict()
    for key in ("gts", "grs", "gvs", "gavs", "lrs", "contacts"):
        data[key] = data[key][:, :23].clone()  # one body short of the SMPL humanoid
    short = tmp_path / "short.pt"
    MotionLib(data).save(short)
    assert main(["visualize", "--motion-files", str(short), "--output", str(tmp_path / "v.mp4")]) == 2
    error = capsys.readouterr().err
    assert str(short) in error and "'gts'" in error and "24 bodies per frame" in error and "found 23" in error
    assert sorted(p.name for p in tmp_path.iterdir()) == ["short.pt"]


def test_playback_keys():
    state = PlaybackState(durations=[2.0, 3.0, 1.0])
    assert state.handle_key("1") and state.speed == 1.5
    assert state.handle_key(50) and state.speed == 1.0  # GLFW code of "2"
    for _ in range(20):
        state.handle_key("1")
    assert state.speed == 10.0  # 1.5²⁰ ≫ 10: clamped
    for _ in range(30):
        state.handle_key(50)
    assert state.speed == 0.01

    assert state.threshold == DEFAULT_JERK_THRESHOLD == 6500
    state.handle_key("3")
    assert state.threshold == pytest.approx(9750.0)
    state.handle_key(52)  # GLFW "4"
    assert state.threshold == pytest.approx(6500.0)
    for _ in range(60):  # 6500 / 1.5⁶⁰ ≈ 2e-7
        state.handle_key("4")
    assert state.threshold == 0.001

    state.time = 0.7
    assert state.handle_key("r") and (state.motion_index, state.time) == (1, 0.0)
    assert state.handle_key(82) and state.motion_index == 2  # GLFW "R"
    assert state.handle_key("R") and state.motion_index == 0  # wraps
    assert not state.handle_key("x") and not state.handle_key(65)
    assert state.keys_pressed[-3:] == ["r", "r", "r"]


def test_playback_advance_loops_or_moves_on():
    state = PlaybackState(durations=[2.0, 3.0], speed=1.5)
    state.advance(1.0 / 30.0)
    assert state.time == pytest.approx(0.05)
    state.speed = 1.0
    state.advance(1.45)
    assert state.time == pytest.approx(1.5)
    state.advance(1.0)  # 2.5 s of a 2 s motion: loops
    assert (state.motion_index, state.time) == (0, pytest.approx(0.5))
    state.advance(1.6, auto_next=True)
    assert (state.motion_index, state.time) == (1, 0.0)


def test_motion_index_wraps_per_library(libs):
    a, b = MotionLib.from_file(libs[0]), MotionLib.from_file(libs[1])
    visualizer = MotionLibsVisualizer([a, b], ["a.pt", "b.pt"], "smpl", motion_index=3)
    assert visualizer.playback.num_motions == 4
    expected = [max(float(a.motion_lengths[k]), float(b.motion_lengths[k % 2])) for k in range(4)]
    assert visualizer.playback.durations == pytest.approx(expected)
    _markers, lines = visualizer.update()
    assert "motion 4/4" in lines[0] and "(#3)" in lines[-2] and "(#1)" in lines[-1]
    # Copy 1 now shows B's motion 1, frame 0, one metre to the right.
    start = int(b.length_starts[1])
    scene = visualizer.scene
    np.testing.assert_allclose(scene.body_positions(1), b.gts[start].double().numpy(), atol=1e-4)
    root = scene.data.xpos[scene.copies[1].body_ids[0]]
    np.testing.assert_allclose(root, b.gts[start, 0].double().numpy() + [1.0, 0.0, 0.0], atol=1e-4)


@pytest.mark.parametrize("drop_local_rotations", [False, True])
def test_pose_from_motion_lib_reproduces_body_positions(libs, drop_local_rotations):
    data = MotionLib.from_file(libs[0]).to_dict()
    if drop_local_rotations:  # hinge angles from the exp-map dof_pos instead
        del data["lrs"]
    lib = MotionLib(data)
    scene = VisualizerScene(robot_by_name("smpl"), 2)
    worst = 0.0
    for motion in range(lib.num_motions):
        dt, count = float(lib.motion_dt[motion]), int(lib.motion_num_frames[motion])
        for frame in range(0, count, 9):
            state = lib.get_motion_state(torch.tensor([motion]), torch.tensor([frame * dt]))
            scene.set_motion_state(1, state)
            scene.forward()
            reference = lib.gts[int(lib.length_starts[motion]) + frame].double().numpy()
            worst = max(worst, float(np.abs(scene.body_positions(1) - reference).max()))
    assert worst < 1e-4  # m: 0.1 mm (float32 library data against float64 kinematics)


def _jittery_lib(path: Path) -> MotionLib:
    """Library A without contacts and with ±3 mm frame-to-frame jitter on the right wrist of motion 0."""
    data = MotionLib.from_file(path).to_dict()
    del data["contacts"]
    frames = int(data["motion_num_frames"][0])
    signs = torch.tensor([(-1.0) ** i for i in range(frames)])
    data["gts"][:frames, R_WRIST, 0] += 0.003 * signs
    return MotionLib(data)


def test_jittery_body_is_highlighted_yellow(libs):
    visualizer = MotionLibsVisualizer([_jittery_lib(libs[0])], ["jitter.pt"], "smpl")
    visualizer.playback.time = 1.0
    markers, lines = visualizer.update()
    assert len(markers) == 24  # one per body, no contacts in this library
    colours = [tuple(rgba) for _pos, rgba, _radius in markers]
    assert colours[R_WRIST] == JERKY_RGBA and markers[R_WRIST][2] == JERKY_RADIUS
    assert colours.count(SMOOTH_RGBA) == 23 and markers[0][2] == MARKER_RADIUS
    assert lines[-1].endswith("1 jerky")
    track = visualizer.tracks[0]
    # ±3 mm alternating at dt = 0.02 s: jerk 8·3 mm/dt³ = 3000 m/s³ over the 18 jerk samples of a
    # 21-frame window, NJ = 0.4⁵·(18·3000²·0.02)/L² ≈ 3.3e4/L², L < 0.8 m of wrist path: > 5e4.
    assert float(track.jerk(0)[:, R_WRIST].min()) > 5e4
    assert float(track.jerk(0)[:, 0].max()) < DEFAULT_JERK_THRESHOLD  # the smooth pelvis
    # Raising the threshold (key 3) above the wrist's jerk turns it red again.
    while visualizer.playback.threshold < float(track.jerk(0)[:, R_WRIST].max()):
        visualizer.playback.handle_key("3")
    markers, _ = visualizer.update()
    assert all(tuple(rgba) == SMOOTH_RGBA for _pos, rgba, _radius in markers)


def test_reference_contacts_are_purple(libs):
    lib = MotionLib.from_file(libs[0])
    visualizer = MotionLibsVisualizer([lib], ["a.pt"], "smpl", motion_index=1)  # the standing clip
    markers, _ = visualizer.update()
    contacts = lib.contacts[int(lib.length_starts[1])].numpy()
    assert contacts.sum() >= 2  # the feet stand on the ground
    purple = [pos for pos, rgba, _radius in markers if tuple(rgba) == CONTACT_RGBA]
    expected = lib.gts[int(lib.length_starts[1])].double().numpy()[contacts]
    np.testing.assert_allclose(np.array(purple), expected, atol=1e-6)


def test_video_writer_round_trip_and_atomic_failure(tmp_path):
    colours = [(200, 30, 30), (30, 200, 30), (30, 30, 200), (128, 128, 128)]
    out = tmp_path / "colours.mp4"
    with VideoWriter(out, 30, 64, 48) as writer:
        for colour in colours:
            writer.write(np.full((48, 64, 3), colour, dtype=np.uint8))
    frames = read_video_frames(out)
    assert frames.shape == (4, 48, 64, 3)
    np.testing.assert_allclose(frames.reshape(4, -1, 3).mean(axis=1), colours, atol=6)

    with pytest.raises(KeyError), VideoWriter(tmp_path / "broken.mp4", 30, 64, 48) as writer:
        writer.write(np.zeros((48, 64, 3), dtype=np.uint8))
        raise KeyError("interrupted")
    with pytest.raises(ValueError, match="uint8 of shape"), VideoWriter(tmp_path / "bad.mp4", 30, 64, 48) as writer:
        writer.write(np.zeros((48, 63, 3), dtype=np.uint8))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["colours.mp4"]
    with pytest.raises(ValueError, match="even"):
        VideoWriter(tmp_path / "odd.mp4", 30, 65, 48)


def _configure_in_fresh_python(env_overrides, code_before=""):
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "MUJOCO_GL")}
    env.update(env_overrides)
    code = (
        f"{code_before}\nimport os\nfrom evaluation.rendering import configure_gl_backend\n"
        "print(configure_gl_backend(), os.environ.get('MUJOCO_GL'))"
    )
    repo = Path(__file__).resolve().parent.parent
    return subprocess.run([sys.executable, "-c", code], env=env, cwd=repo, capture_output=True, text=True, timeout=120)


def test_gl_backend_choice_without_display():
    chosen = _configure_in_fresh_python({})
    assert chosen.returncode == 0, chosen.stderr
    backend, env_value = chosen.stdout.split()
    assert backend in ("egl", "osmesa") and env_value == backend
    kept = _configure_in_fresh_python({"MUJOCO_GL": "osmesa"})
    assert kept.stdout.split() == ["osmesa", "osmesa"]
    # mujoco imported first with GLFW and no display: a clear error, not a crash in the renderer.
    too_late = _configure_in_fresh_python({}, code_before="import mujoco")
    assert too_late.returncode != 0
    assert "RenderingBackendError" in too_late.stderr and "MUJOCO_GL=egl" in too_late.stderr


def test_the_viewer_summary_is_a_sentence() -> None:
    """What `mimic visualize` prints when its window closes (the viewer runs in
    test_visualizer_interactive.py, under Xvfb): the same record run_interactive returns."""
    from mimic.commands.visualize import describe_result

    record = {"frames": 150, "motion_index": 1, "speed": 2.25, "threshold": 9750.0, "keys": ["1", "1", "3", "r"]}
    assert describe_result(record) == (
        "visualize: 150 frames shown; motion index 1, speed 2.25, jerk threshold 9750; keys 1 1 3 r"
    )


def test_more_frames_than_the_motions_hold_end_on_the_last_motion_not_on_frame_0(libs, tmp_path, capsys):
    """The demo asked for 183 frames of a 125-frame walk and a 59-frame jumps clip; frame times
    summed one by one dropped clip ends, and its last frame was the walk's frame 0 again. A video
    now ends on the last motion's last frame, and --all-motions asks for exactly that."""
    lib = MotionLib.from_file(libs[0])  # 1.98 s, 2.97 s, 1.97 s, 1.97 s at 30 frames/s: 60 + 90 + 60 + 60
    lengths = [float(length) for length in lib.motion_lengths]
    per_motion = [int(np.floor(length * 30 + 1e-4)) + 1 for length in lengths]
    assert per_motion == [60, 90, 60, 60]
    out = tmp_path / "all.mp4"
    argv = ["visualize", "--motion-files", str(libs[0]), "--robot", "smpl", "--output", str(out)]
    argv += ["--max-frames", "300", "--width", "32", "--height", "24", "--json"]
    assert main(argv) == 0
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert report["frames"] == 270 and report["requested_frames"] == 300
    assert report["motion_indices"] == [0, 1, 2, 3]
    assert len(read_video_frames(out)) == 270
    from mimic.commands.visualize import describe_result

    assert f"wrote {out}: 270 frames (of 300 asked for: every motion shown once, no wrap to the first)" in (
        describe_result(report)
    )
    argv = [*argv[: argv.index("--max-frames")], "--all-motions", "--width", "32", "--height", "24", "--json"]
    assert main(argv) == 0
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert (report["frames"], report["requested_frames"], report["motion_indices"]) == (270, 270, [0, 1, 2, 3])


def test_a_clips_last_frame_is_shown_whatever_float32_made_of_its_length():
    """A 124-frame clip at 30 fps is stored as 4.1 s in float32 (4.0999999 s): its last frame, at
    123/30 s, is still shown; so is the 35th of a 35-frame clip, which frame times summed one
    by one (34 × 1/30 > 34/30) used to drop."""
    from evaluation.visualizer import frames_of

    for frames in (124, 35, 58, 2, 1001):
        stored = float(torch.tensor((frames - 1) / 30.0, dtype=torch.float32))
        assert frames_of(stored, 1 / 30) == frames, frames
    assert frames_of(0.0, 1 / 30) == 1

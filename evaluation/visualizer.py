"""Play MotionLibs side by side on kinematic humanoids, interactively or into a video file.

Library ``j`` plays on robot ``j`` (1 m apart along +x): all show motion index ``k`` of their
own library (``k mod M_j`` when libraries hold different numbers of motions) at the same time,
so a source, a retargeted and a predicted MotionLib compare frame by frame. The robots may differ
(an SMPL MotionLib beside its G1 retarget): one robot name for all libraries, one per library, or
``"auto"`` to infer each library's robot from its body and DoF counts. Markers sit at the
library's body positions: red, or yellow where the body's normalised jerk (0.4 s window centred
on the frame, :func:`evaluation.smoothness.frame_normalized_jerk`) exceeds the threshold; a
translucent purple sphere marks reference contacts. Keys (as ProtoMotions' visualizer): R next
motion, 1/2 playback speed ×1.5/÷1.5 in [0.01, 10], 3/4 jerk threshold ×1.5/÷1.5 (≥ 0.001).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from evaluation.smoothness import DEFAULT_JERK_THRESHOLD, DEFAULT_WINDOW_S
from motion.errors import MotionDataError
from motion.io_utils import PathLike
from robots.registry import MOTION_SHAPES, robot_by_name

if TYPE_CHECKING:  # pragma: no cover
    from torch import Tensor

    from evaluation.rendering import Marker
    from evaluation.visualizer_scene import VisualizerScene
    from motion.motion_lib import MotionLib


DISPLAY_FPS = 30.0  # frames per second shown (and written to videos)
SPEED_STEP = 1.5
MIN_SPEED, MAX_SPEED = 0.01, 10.0
THRESHOLD_STEP = 1.5
MIN_THRESHOLD = 0.001
#: GLFW key codes (what mujoco.viewer's key_callback receives) → key names.
GLFW_KEYS = {82: "r", 49: "1", 50: "2", 51: "3", 52: "4"}

SMOOTH_RGBA = (0.9, 0.1, 0.1, 1.0)  # red
JERKY_RGBA = (1.0, 0.9, 0.0, 1.0)  # yellow
CONTACT_RGBA = (0.6, 0.1, 0.9, 0.6)  # purple, translucent so the body marker stays visible
MARKER_RADIUS = 0.03  # m
JERKY_RADIUS = 0.045  # m: highlighted bodies also grow
CONTACT_RADIUS = 0.065  # m
#: Humanoid geoms are drawn half transparent so markers inside the torso and limbs show.
HUMANOID_ALPHA = 0.5

#: ``--robot`` value that infers each library's robot from the registry's MotionLib shapes.
AUTO_ROBOT = "auto"


@dataclass
class PlaybackState:
    """What is shown: motion index, time (s), playback speed and jerk threshold.

    ``durations[k]`` is how long motion index ``k`` plays (s): the longest of the libraries'
    motions shown at ``k``; shorter ones hold their last frame until it ends.
    """

    durations: Sequence[float]
    motion_index: int = 0
    time: float = 0.0
    speed: float = 1.0
    threshold: float = DEFAULT_JERK_THRESHOLD
    keys_pressed: List[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.durations:
            raise ValueError("PlaybackState needs at least one motion")
        self.motion_index %= len(self.durations)
        self.speed = min(max(self.speed, MIN_SPEED), MAX_SPEED)
        self.threshold = max(self.threshold, MIN_THRESHOLD)

    @property
    def num_motions(self) -> int:
        return len(self.durations)

    @property
    def duration(self) -> float:
        return float(self.durations[self.motion_index])

    def handle_key(self, key: Union[str, int]) -> bool:
        """Apply one key (a name such as ``"r"``/``"1"``, or a GLFW key code); False if unbound."""
        name = GLFW_KEYS.get(key) if isinstance(key, int) else str(key).lower()
        if name == "r":
            self.next_motion()
        elif name == "1":
            self.speed = min(self.speed * SPEED_STEP, MAX_SPEED)
        elif name == "2":
            self.speed = max(self.speed / SPEED_STEP, MIN_SPEED)
        elif name == "3":
            self.threshold *= THRESHOLD_STEP
        elif name == "4":
            self.threshold = max(self.threshold / THRESHOLD_STEP, MIN_THRESHOLD)
        else:
            return False
        self.keys_pressed.append(name)
        return True

    def next_motion(self) -> None:
        self.motion_index = (self.motion_index + 1) % self.num_motions
        self.time = 0.0

    def advance(self, wall_dt: float, auto_next: bool = False) -> None:
        """Move ``wall_dt`` seconds of wall time × speed forward; past the end the motion loops,
        or (``auto_next``) the next motion starts from 0."""
        self.time += wall_dt * self.speed
        if self.time <= self.duration:
            return
        if auto_next:
            self.next_motion()
        else:
            self.time = math.fmod(self.time, self.duration) if self.duration > 0 else 0.0


class MotionTrack:
    """One MotionLib shown on one humanoid; per-frame jerk of each motion computed once, on first use."""

    def __init__(self, motion_lib: MotionLib, name: str, window_s: float = DEFAULT_WINDOW_S) -> None:
        self.motion_lib = motion_lib
        self.name = name
        self.window_s = window_s
        self._jerk: Dict[int, Tensor] = {}

    def motion_id(self, index: int) -> int:
        return index % self.motion_lib.num_motions

    def motion_name(self, motion_id: int) -> str:
        file = self.motion_lib.motion_files[motion_id] if motion_id < len(self.motion_lib.motion_files) else ""
        return Path(file).stem if file else f"motion {motion_id}"

    def jerk(self, motion_id: int) -> Tensor:
        """(T, B) normalised jerk of every frame of one motion (its library body positions)."""
        if motion_id not in self._jerk:
            from evaluation.smoothness import frame_normalized_jerk

            lib = self.motion_lib
            start, count = int(lib.length_starts[motion_id]), int(lib.motion_num_frames[motion_id])
            positions = lib.gts[start : start + count].double().cpu()
            self._jerk[motion_id] = frame_normalized_jerk(positions, float(lib.motion_dt[motion_id]), self.window_s)
        return self._jerk[motion_id]

    def state_at(self, motion_id: int, seconds: float) -> Tuple[Any, np.ndarray]:
        """The interpolated :class:`MotionState` (one row) and (B,) jerk of the frame at or before it."""
        import torch

        lib = self.motion_lib
        ids = torch.tensor([motion_id], dtype=torch.int64, device=lib.device)
        times = torch.tensor([seconds], dtype=torch.float32, device=lib.device)
        frame0, _, _ = lib.frame_blend(ids, times)
        local_frame = int(frame0[0]) - int(lib.length_starts[motion_id])
        return lib.get_motion_state(ids, times), self.jerk(motion_id)[local_frame].numpy()


def body_markers(
    positions: np.ndarray,
    jerk: np.ndarray,
    threshold: float,
    contacts: Optional[np.ndarray] = None,
    offset: Sequence[float] = (0.0, 0.0, 0.0),
) -> List[Marker]:
    """Markers for one humanoid: body positions (B, 3) m, jerk (B,), contacts (B,) bool or None.

    Bodies with jerk > ``threshold`` get a larger yellow sphere, the others a red one; bodies in
    contact get an extra translucent purple sphere. ``offset`` (3,) m moves all of them.
    """
    shift = np.asarray(offset, dtype=np.float64)
    markers: List[Marker] = []
    for body, pos in enumerate(np.asarray(positions, dtype=np.float64)):
        jerky = bool(jerk[body] > threshold)
        rgba, radius = (JERKY_RGBA, JERKY_RADIUS) if jerky else (SMOOTH_RGBA, MARKER_RADIUS)
        markers.append((pos + shift, rgba, radius))
        if contacts is not None and bool(contacts[body]):
            markers.append((pos + shift, CONTACT_RGBA, CONTACT_RADIUS))
    return markers


def detect_robot(motion_lib: MotionLib) -> str:
    """The robot whose (bodies, DoFs) per frame (:data:`robots.registry.MOTION_SHAPES`) match the library's.

    Raises :class:`MotionDataError` naming the library's file and its counts when none matches.
    """
    found = (int(motion_lib.gts.shape[1]), int(motion_lib.dps.shape[1]))
    for name, shape in MOTION_SHAPES.items():
        if shape == found:
            return name
    # Name the field that matches no robot: the bodies, or (bodies fit a robot) the DoFs.
    field_name = "dps" if any(bodies == found[0] for bodies, _ in MOTION_SHAPES.values()) else "gts"
    expected = " or ".join(
        f"{bodies} bodies per frame with {dofs} DoFs (robot {name!r})" for name, (bodies, dofs) in MOTION_SHAPES.items()
    )
    raise MotionDataError(
        motion_lib.source, field_name, f"{expected} for --robot auto", f"{found[0]} bodies with {found[1]} DoFs"
    )


def robot_names_per_library(motion_libs: Sequence[MotionLib], robot_name: Union[str, Sequence[str]]) -> List[str]:
    """One robot name per library from one name (every library), or one name per library.

    ``"auto"`` (anywhere) is replaced by :func:`detect_robot` of that library.
    """
    names = [robot_name] if isinstance(robot_name, str) else list(robot_name)
    if len(names) == 1:
        names = names * len(motion_libs)
    if len(names) != len(motion_libs):
        raise ValueError(
            f"--robot lists {len(names)} robots ({' '.join(names)}) for {len(motion_libs)} motion files: "
            "give one robot for all files, or one per motion file"
        )
    return [detect_robot(lib) if name == AUTO_ROBOT else name for lib, name in zip(motion_libs, names)]


class MotionLibsVisualizer:
    """The libraries, their robots and the playback state; :meth:`update` poses one frame.

    ``robot_name``: one robot for every library, or one per library; ``"auto"`` infers it from
    each library's body/DoF counts (:func:`detect_robot`).
    """

    def __init__(
        self,
        motion_libs: Sequence[MotionLib],
        names: Sequence[str],
        robot_name: Union[str, Sequence[str]] = "smpl",
        threshold: float = DEFAULT_JERK_THRESHOLD,
        window_s: float = DEFAULT_WINDOW_S,
        speed: float = 1.0,
        motion_index: int = 0,
    ) -> None:
        from evaluation.visualizer_scene import VisualizerScene

        if not motion_libs or len(motion_libs) != len(names):
            raise ValueError(f"need one name per MotionLib and at least one, got {len(motion_libs)} and {len(names)}")
        robot_names = robot_names_per_library(motion_libs, robot_name)
        built = {name: robot_by_name(name) for name in dict.fromkeys(robot_names)}  # each robot built once
        robots = [built[name] for name in robot_names]
        for lib, robot in zip(motion_libs, robots):
            if int(lib.gts.shape[1]) != len(robot.body_names):
                raise MotionDataError(
                    lib.source,
                    "gts",
                    f"{len(robot.body_names)} bodies per frame (robot {robot.name!r})",
                    str(lib.gts.shape[1]),
                )
            if int(lib.dps.shape[1]) != len(robot.dof_names):
                raise MotionDataError(
                    lib.source,
                    "dps",
                    f"{len(robot.dof_names)} DoFs per frame (robot {robot.name!r})",
                    str(lib.dps.shape[1]),
                )
        self.tracks = [MotionTrack(lib, name, window_s) for lib, name in zip(motion_libs, names)]
        self.scene: VisualizerScene = VisualizerScene(robots)
        # Overlay lines name each track's robot when they differ (one robot: as before).
        self._robot_labels = [f" on {r.name}" if len(built) > 1 else "" for r in robots]
        robot_geoms = self.scene.model.geom_bodyid > 0
        self.scene.model.geom_rgba[robot_geoms, 3] = HUMANOID_ALPHA
        most = max(lib.num_motions for lib in motion_libs)
        durations = [max(float(t.motion_lib.motion_lengths[t.motion_id(k)]) for t in self.tracks) for k in range(most)]
        self.playback = PlaybackState(durations, motion_index, speed=speed, threshold=threshold)

    def update(self, show_keys: bool = False) -> Tuple[List[Marker], List[str]]:
        """Pose every humanoid at the playback time; return its markers and the overlay text."""
        state = self.playback
        markers: List[Marker] = []
        track_lines: List[str] = []
        for copy, track in enumerate(self.tracks):
            motion_id = track.motion_id(state.motion_index)
            motion_state, jerk = track.state_at(motion_id, state.time)
            self.scene.set_motion_state(copy, motion_state)
            contacts = motion_state.rigid_body_contacts
            contacts_np = None if contacts is None else (contacts[0].float() > 0.5).cpu().numpy()
            positions = motion_state.rigid_body_pos[0].detach().double().cpu().numpy()
            markers.extend(body_markers(positions, jerk, state.threshold, contacts_np, self.scene.copies[copy].offset))
            jerky = int((jerk > state.threshold).sum())
            label = f"[{copy}] {track.name}{self._robot_labels[copy]}"
            track_lines.append(f"{label}: {track.motion_name(motion_id)} (#{motion_id}), {jerky} jerky")
        self.scene.forward()
        lines = [
            f"motion {state.motion_index + 1}/{state.num_motions}  t {state.time:5.2f}/{state.duration:.2f} s  "
            f"speed x{state.speed:.2f}",
            f"jerk threshold {state.threshold:.4g} ({self.tracks[0].window_s:g} s window)",
        ]
        if show_keys:
            lines.append("keys: R next motion, 1/2 speed, 3/4 jerk threshold")
        return markers, lines + track_lines


def load_motion_libs(motion_files: Sequence[PathLike]) -> Tuple[List[MotionLib], List[str]]:
    """Load each MotionLib ``.pt`` (bad files raise :class:`MotionDataError`); names are file names."""
    from motion.motion_lib import MotionLib

    if not motion_files:
        raise MotionDataError("<command line>", "motion_files", "at least one MotionLib .pt", "none")
    libs = [MotionLib.from_file(path) for path in motion_files]
    return libs, [Path(path).name for path in motion_files]


def _build(
    motion_files: Sequence[PathLike], robot: Union[str, Sequence[str]], options: Dict[str, Any]
) -> MotionLibsVisualizer:
    libs, names = load_motion_libs(motion_files)
    return MotionLibsVisualizer(libs, names, robot, **options)


def _camera_distance(num_humanoids: int) -> float:
    return 3.0 + 0.5 * num_humanoids  # m: every humanoid in view, 1 m apart


def render_headless(
    motion_files: Sequence[PathLike],
    robot: Union[str, Sequence[str]],
    output: PathLike,
    max_frames: Optional[int] = None,
    width: int = 640,
    height: int = 480,
    all_motions: bool = False,
    **options: Any,
) -> Dict[str, Any]:
    """Render the side-by-side playback offscreen into the H.264 mp4 ``output`` at DISPLAY_FPS.

    Without ``max_frames`` the selected motion plays once (``all_motions``: every motion once,
    in turn from the selected one); with more frames than that, the
    following motions play in turn, each once: the video ends on the last frame of the last
    motion rather than wrapping back to the first (fewer frames than asked for, then).
    Every motion's first and last frames are shown: frame k is at k·speed/DISPLAY_FPS s exactly
    (times summed frame by frame drifted past a clip's end and dropped its last frame).
    ``options``: threshold, window_s, speed, motion_index. Returns frames written (and asked
    for), the render rate achieved (frames/s, encoding included) and the motions shown.
    """
    from evaluation.rendering import OffscreenRenderer
    from evaluation.video import VideoWriter

    visualizer = _build(motion_files, robot, options)
    playback = visualizer.playback
    step = playback.speed / DISPLAY_FPS  # motion seconds per video frame
    if max_frames is None:
        indices = range(playback.num_motions) if all_motions else [playback.motion_index]
        max_frames = sum(frames_of(float(playback.durations[index]), step) for index in indices)
    if max_frames < 1:
        raise ValueError(f"max_frames must be ≥ 1, got {max_frames}")
    shown: List[int] = [playback.motion_index]
    frame_in_motion = 0
    scene = visualizer.scene
    start = time.perf_counter()
    renderer = OffscreenRenderer(scene.model, width, height, distance=_camera_distance(len(visualizer.tracks)))
    with renderer, VideoWriter(output, DISPLAY_FPS, width, height) as writer:
        while writer.frames_written < max_frames:
            markers, lines = visualizer.update()
            writer.write(renderer.render(scene.data, markers, lines, lookat=scene.centre()))
            frame_in_motion += 1
            if frame_in_motion < frames_of(playback.duration, step):
                playback.time = frame_in_motion * step
                continue
            next_index = (playback.motion_index + 1) % playback.num_motions
            if next_index in shown:  # every motion shown once: stop, never wrap to frame 0
                break
            playback.next_motion()
            shown.append(next_index)
            frame_in_motion = 0
    elapsed = time.perf_counter() - start
    return {
        "output": str(output),
        "frames": writer.frames_written,
        "requested_frames": max_frames,
        "width": width,
        "height": height,
        "video_fps": DISPLAY_FPS,
        "render_fps": writer.frames_written / elapsed if elapsed > 0 else float("inf"),
        "seconds": elapsed,
        "motion_indices": shown,
    }


def frames_of(duration: float, step: float) -> int:
    """Video frames of a motion of ``duration`` s shown every ``step`` s, both ends included.

    MotionLib lengths are float32 ((N − 1)/fps rounded), so a clip's last frame may fall a few
    1e-7 s past its stored length: times within 1e-6 of it (relative) still show that frame.
    """
    return int(math.floor((duration * (1.0 + 1e-6) + 1e-9) / step)) + 1


def run_interactive(
    motion_files: Sequence[PathLike], robot: Union[str, Sequence[str]], max_frames: Optional[int] = None, **options: Any
) -> Dict[str, Any]:
    """Play in MuJoCo's passive viewer until it is closed (or ``max_frames`` frames).

    Keys arrive on the viewer's thread and are queued; the loop applies them between frames.
    Returns frames shown and the final playback state: motion index, speed, jerk threshold and
    the keys applied (names, in order).
    """
    from evaluation.rendering import add_marker_geoms
    from evaluation.viewer_window import passive_viewer

    visualizer = _build(motion_files, robot, options)
    scene, playback = visualizer.scene, visualizer.playback
    pending: List[int] = []  # list.append is atomic: safe from the viewer's thread
    frames = 0
    with passive_viewer(scene.model, scene.data, key_callback=pending.append) as viewer:
        viewer.cam.distance = _camera_distance(len(visualizer.tracks))
        viewer.cam.azimuth, viewer.cam.elevation = 90.0, -15.0
        last = time.perf_counter()
        while viewer.is_running() and (max_frames is None or frames < max_frames):
            while pending:
                playback.handle_key(pending.pop(0))
            with viewer.lock():
                markers, lines = visualizer.update(show_keys=True)
                viewer.user_scn.ngeom = 0
                add_marker_geoms(viewer.user_scn, markers)
                viewer.cam.lookat[:] = scene.centre()
            if hasattr(viewer, "set_texts"):  # mujoco ≥ 3.3
                viewer.set_texts((None, None, "\n".join(lines), None))
            viewer.sync()
            frames += 1
            time.sleep(max(0.0, 1.0 / DISPLAY_FPS - (time.perf_counter() - last)))
            now = time.perf_counter()
            playback.advance(now - last)
            last = now
    return {
        "frames": frames,
        "motion_index": playback.motion_index,
        "speed": playback.speed,
        "threshold": playback.threshold,
        "keys": list(playback.keys_pressed),
    }

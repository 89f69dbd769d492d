"""Headless rendering throughput of ``mimic visualize``: frames/s at 640×480 with 2 humanoids.

Builds the synthetic MotionLib (SYNTHETIC walking/standing clips, converted and packaged in a
temporary directory), shows it on 2 humanoids side by side and times ``FRAMES`` frames of the
visualizer's own loop (pose from the MotionLib, markers, text overlay, offscreen render):

- ``render``: frames/s without encoding (what the renderer alone sustains);
- ``render_encode``: frames/s with H.264 encoding into an mp4 (what ``--headless --output`` gets);
- ``encode``: frames/s of the encoder alone, fed the rendered frames again.

Rounds interleave the three; medians are reported. The GL backend is chosen as the command
does (EGL without a display: Mesa's software renderer on a CPU-only machine). Prints one JSON
line, then a one-line summary.

    python benchmarks/bench_rendering.py [--frames 300] [--rounds 3] [--width 640 --height 480]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from evaluation.rendering import configure_gl_backend  # noqa: E402

HUMANOIDS = 2


def synthetic_library(root: Path) -> Path:
    """Package the SYNTHETIC AMASS-format clips into ``root/lib.pt``."""
    from motion.batch_convert import convert_amass_tree
    from motion.motion_lib_packaging import package_motion_lib
    from motion.synthetic import synthesize_amass_clips

    synthesize_amass_clips(root / "amass")
    if not convert_amass_tree(root / "amass", root / "motions", progress=False).ok:
        raise SystemExit("conversion of the synthetic clips failed")
    package_motion_lib(root / "motions", root / "lib.pt")
    return root / "lib.pt"


def time_frames(visualizer, renderer, frames: int, writer=None, keep: Optional[List[np.ndarray]] = None) -> float:
    """Frames/s of the visualizer loop from motion 0, time 0 (encoding into ``writer`` if given)."""
    from evaluation.visualizer import DISPLAY_FPS

    playback, scene = visualizer.playback, visualizer.scene
    playback.motion_index, playback.time = 0, 0.0
    start = time.perf_counter()
    for _ in range(frames):
        markers, lines = visualizer.update()
        frame = renderer.render(scene.data, markers, lines, lookat=scene.centre())
        if writer is not None:
            writer.write(frame)
        if keep is not None:
            keep.append(frame)
        playback.advance(1.0 / DISPLAY_FPS, auto_next=True)
    return frames / (time.perf_counter() - start)


def time_encode(frames: List[np.ndarray], path: Path, width: int, height: int) -> float:
    from evaluation.video import VideoWriter

    start = time.perf_counter()
    with VideoWriter(path, 30, width, height) as writer:
        for frame in frames:
            writer.write(frame)
    return len(frames) / (time.perf_counter() - start)


def gl_renderer_name() -> str:
    """GL_RENDERER of the current context (e.g. "llvmpipe ..." for Mesa on the CPU), if readable."""
    try:
        from OpenGL import GL

        return GL.glGetString(GL.GL_RENDERER).decode()
    except Exception:  # PyOpenGL missing or no current context: informational only
        return "unknown"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=480)
    args = parser.parse_args()

    backend = configure_gl_backend()  # before mujoco is imported
    import mujoco

    from evaluation.rendering import OffscreenRenderer
    from evaluation.video import VideoWriter
    from evaluation.visualizer import MotionLibsVisualizer
    from motion.motion_lib import MotionLib

    with tempfile.TemporaryDirectory() as tmp:
        lib = MotionLib.from_file(synthetic_library(Path(tmp)))
        visualizer = MotionLibsVisualizer([lib] * HUMANOIDS, ["synthetic.pt"] * HUMANOIDS, "smpl")
        samples: Dict[str, List[float]] = {"render": [], "render_encode": [], "encode": []}
        video_bytes = 0
        with OffscreenRenderer(visualizer.scene.model, args.width, args.height, distance=4.0) as renderer:
            renderer_name = gl_renderer_name()
            time_frames(visualizer, renderer, 10)  # warm-up: context, shaders, jerk caches
            for round_index in range(args.rounds):
                frames: List[np.ndarray] = []
                samples["render"].append(time_frames(visualizer, renderer, args.frames, keep=frames))
                video = Path(tmp) / f"round{round_index}.mp4"
                with VideoWriter(video, 30, args.width, args.height) as writer:
                    samples["render_encode"].append(time_frames(visualizer, renderer, args.frames, writer))
                video_bytes = video.stat().st_size
                samples["encode"].append(time_encode(frames, Path(tmp) / "encode.mp4", args.width, args.height))

    medians = {key: round(statistics.median(values), 1) for key, values in samples.items()}
    record = {
        "benchmark": "rendering_headless",
        "unit": "frames/s (median)",
        "width": args.width,
        "height": args.height,
        "humanoids": HUMANOIDS,
        "frames_per_run": args.frames,
        "rounds": args.rounds,
        "results": medians,
        "video_kib_per_second": round(video_bytes / 1024 / (args.frames / 30.0), 1),
        "gl_backend": backend,
        "gl_renderer": renderer_name,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "mujoco": mujoco.__version__},
    }
    print(json.dumps(record))
    print(
        f"Headless rendering {args.width}x{args.height}, {HUMANOIDS} humanoids, {args.frames} frames "
        f"({backend}, {renderer_name}): {medians['render']:.1f} frames/s without encoding, "
        f"{medians['render_encode']:.1f} with H.264 encoding (encoder alone {medians['encode']:.1f} frames/s); "
        f"real time is 30"
    )


if __name__ == "__main__":
    main()

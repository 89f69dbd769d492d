"""Offscreen MuJoCo rendering that works on servers: GL backend choice, tracking camera, overlays.

MuJoCo picks its OpenGL backend from ``MUJOCO_GL`` once, when ``mujoco`` is first imported, so
:func:`configure_gl_backend` must run before that import. Without a display, GLFW (MuJoCo's
default) cannot open a context; EGL (Mesa's software EGL works on CPU-only machines) or OSMesa
can. :class:`OffscreenRenderer` renders any ``MjModel``/``MjData`` with a camera that follows a
point, extra marker spheres added to the scene, and text drawn onto the frame with PIL.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from typing import TYPE_CHECKING, Any, Dict, Optional, Sequence, Tuple

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    import mujoco

#: One marker sphere: centre (3,) m, colour rgba (4,) in [0, 1], radius m.
Marker = Tuple[Sequence[float], Sequence[float], float]

_OFF_VALUES = ("disable", "disabled", "off", "false", "0")
_HEADLESS_BACKENDS = ("egl", "osmesa")  # tried in this order when there is no display
_PROBE_TIMEOUT_S = 60.0
_probe_results: Dict[str, bool] = {}


class RenderingBackendError(RuntimeError):
    """No usable OpenGL backend for offscreen rendering (message says what to set)."""


def has_display() -> bool:
    """True when windows can open: always on macOS/Windows; on Linux when an X11 or Wayland
    display is set."""
    if platform.system() != "Linux":
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def configure_gl_backend(probe: bool = True) -> str:
    """Choose ``MUJOCO_GL`` before ``mujoco`` is imported; returns the backend in effect.

    A value the user set is kept. Otherwise, on Linux without a display, ``egl`` is chosen, or
    ``osmesa`` when EGL cannot create a context (checked in a subprocess when ``probe``; the
    answer is cached per process). With a display, or on macOS/Windows, nothing is set and
    MuJoCo uses GLFW/CGL/WGL. If ``mujoco`` was already imported, its choice cannot change any
    more: a backend that cannot render here raises :class:`RenderingBackendError`.
    """
    if "mujoco" in sys.modules:
        return _check_imported_backend()
    chosen = os.environ.get("MUJOCO_GL", "").strip().lower()
    if chosen:
        return chosen
    if platform.system() != "Linux" or has_display():
        return "glfw"
    for candidate in _HEADLESS_BACKENDS:
        if not probe or _backend_works(candidate):
            os.environ["MUJOCO_GL"] = candidate
            return candidate
    raise RenderingBackendError(
        "no display and neither EGL nor OSMesa can create an OpenGL context: install Mesa's EGL "
        "(libegl1, libgl1-mesa-dri) or OSMesa (libosmesa6), or run under a display (e.g. xvfb-run)"
    )


def _check_imported_backend() -> str:
    module = sys.modules.get("mujoco.rendering.classic.gl_context") or sys.modules.get("mujoco.gl_context")
    backend = str(getattr(module, "_MUJOCO_GL", os.environ.get("MUJOCO_GL", ""))).strip().lower()
    if backend in _OFF_VALUES:
        raise RenderingBackendError(
            f"mujoco was imported with MUJOCO_GL={backend!r} (rendering disabled); set MUJOCO_GL=egl "
            "(or osmesa) before anything imports mujoco"
        )
    uses_glfw = backend in ("", "glfw", "glx", "enable", "enabled", "on", "true", "1")
    if uses_glfw and platform.system() == "Linux" and not has_display():
        raise RenderingBackendError(
            f"mujoco was imported before configure_gl_backend() with MUJOCO_GL={backend!r} (GLFW), which "
            "needs a display and none is set (DISPLAY); set MUJOCO_GL=egl (or osmesa) before anything "
            "imports mujoco"
        )
    return backend or "glfw"


def _backend_works(backend: str) -> bool:
    """Whether a fresh Python with ``MUJOCO_GL=backend`` can make a 1×1 context current."""
    if backend not in _probe_results:
        code = "import mujoco; c = mujoco.GLContext(1, 1); c.make_current(); c.free()"
        env = dict(os.environ, MUJOCO_GL=backend)
        env.pop("PYOPENGL_PLATFORM", None)  # mujoco.egl / mujoco.osmesa set their own
        try:
            done = subprocess.run(
                [sys.executable, "-c", code], env=env, capture_output=True, timeout=_PROBE_TIMEOUT_S, check=False
            )
            _probe_results[backend] = done.returncode == 0
        except (OSError, subprocess.TimeoutExpired):
            _probe_results[backend] = False
    return _probe_results[backend]


def add_marker_geoms(scene: Any, markers: Sequence[Marker]) -> int:
    """Append one sphere per marker to an ``MjvScene`` (after ``update_scene``); returns how
    many fitted (the scene holds at most ``maxgeom`` geoms; the rest are dropped)."""
    import mujoco

    identity = np.eye(3).reshape(-1)
    added = 0
    for pos, rgba, radius in markers:
        if scene.ngeom >= scene.maxgeom:
            break
        mujoco.mjv_initGeom(
            scene.geoms[scene.ngeom],
            mujoco.mjtGeom.mjGEOM_SPHERE,
            np.array([radius, radius, radius], dtype=np.float64),
            np.asarray(pos, dtype=np.float64),
            identity,
            np.asarray(rgba, dtype=np.float32),
        )
        scene.ngeom += 1
        added += 1
    return added


class OffscreenRenderer:
    """Renders frames (H, W, 3) uint8 of any model from a camera that tracks a point.

    The camera looks at ``lookat`` (3,) m passed to :meth:`render`, default the mean position of
    all bodies but the world, from ``distance`` m at ``azimuth``/``elevation`` degrees (MuJoCo's
    free-camera convention: azimuth 90 looks along +y, so +x runs left to right on screen).
    The model's offscreen buffer is enlarged in place if smaller than ``width × height``, and
    its multisampling set to ``multisamples``: with software GL (Mesa on a CPU server) 4× MSAA
    and shadows each cost 2-3× the frame time for little visible gain, so both are off by default.
    """

    def __init__(
        self,
        model: mujoco.MjModel,
        width: int = 640,
        height: int = 480,
        *,
        distance: float = 4.0,
        azimuth: float = 90.0,
        elevation: float = -15.0,
        max_geom: int = 10000,
        shadows: bool = False,
        multisamples: int = 0,
    ) -> None:
        import mujoco

        if width < 1 or height < 1:
            raise ValueError(f"frame size must be positive, got {width}×{height}")
        configure_gl_backend()
        self.model = model
        self.width, self.height = int(width), int(height)
        model.vis.global_.offwidth = max(int(model.vis.global_.offwidth), self.width)
        model.vis.global_.offheight = max(int(model.vis.global_.offheight), self.height)
        model.vis.quality.offsamples = int(multisamples)
        self._renderer = mujoco.Renderer(model, height=self.height, width=self.width, max_geom=max_geom)
        self._renderer.scene.flags[mujoco.mjtRndFlag.mjRND_SHADOW] = bool(shadows)
        self.camera = mujoco.MjvCamera()
        self.camera.type = mujoco.mjtCamera.mjCAMERA_FREE
        self.camera.distance = distance
        self.camera.azimuth = azimuth
        self.camera.elevation = elevation
        self._font: Any = None

    def render(
        self,
        data: mujoco.MjData,
        markers: Sequence[Marker] = (),
        text_lines: Sequence[str] = (),
        lookat: Optional[Sequence[float]] = None,
    ) -> np.ndarray:
        """One frame of ``data`` (body poses must be current: ``mj_kinematics``/``mj_forward``).

        ``markers`` are extra spheres; ``text_lines`` are drawn top-left on a dark box.
        Returns (height, width, 3) uint8 RGB.
        """
        if lookat is None:
            lookat = data.xpos[1:].mean(axis=0) if self.model.nbody > 1 else np.zeros(3)
        self.camera.lookat[:] = np.asarray(lookat, dtype=np.float64)
        self._renderer.update_scene(data, camera=self.camera)
        add_marker_geoms(self._renderer.scene, markers)
        frame = self._renderer.render()
        if text_lines:
            frame = self._draw_text(frame, text_lines)
        return frame

    def _draw_text(self, frame: np.ndarray, lines: Sequence[str]) -> np.ndarray:
        from PIL import Image, ImageDraw

        image = Image.fromarray(frame)
        draw = ImageDraw.Draw(image, "RGBA")
        font = self._text_font()
        text = "\n".join(lines)
        left, top, right, bottom = draw.multiline_textbbox((6, 4), text, font=font)
        draw.rectangle((left - 4, top - 3, right + 4, bottom + 3), fill=(0, 0, 0, 150))
        draw.multiline_text((6, 4), text, font=font, fill=(255, 255, 255, 255))
        return np.asarray(image)

    def _text_font(self) -> Any:
        if self._font is None:
            from PIL import ImageFont

            size = max(8, self.height // 32)  # px: 15 at 480 p; 8 (the smallest readable) below 256 p
            try:
                self._font = ImageFont.load_default(size=size)  # scalable font, Pillow ≥ 10.1
            except TypeError:
                self._font = ImageFont.load_default()
        return self._font

    def close(self) -> None:
        self._renderer.close()

    def __enter__(self) -> OffscreenRenderer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

"""H.264 ``.mp4`` files from RGB frames (PyAV), written atomically, and read back for tests.

The encoder gets frames as (H, W, 3) uint8 RGB and stores yuv420p, which halves the chroma
resolution in both directions: width and height must be even.
"""

from __future__ import annotations

from contextlib import ExitStack, suppress
from fractions import Fraction
from pathlib import Path
from typing import Any, Optional

import numpy as np

from motion.io_utils import PathLike, atomic_output

CODEC = "libx264"
PIXEL_FORMAT = "yuv420p"
#: x264 quality/speed: CRF 23 is x264's default quality; "veryfast" encodes ~3× faster than the
#: default "medium" at a slightly larger file, which matters when a whole evaluation is recorded.
ENCODER_OPTIONS = {"crf": "23", "preset": "veryfast"}


class VideoWriter:
    """Context manager writing frames to an H.264 mp4 at ``path``.

    Frames go to a temporary file beside ``path`` that is renamed over it on a clean exit;
    an exception inside the ``with`` block removes it and leaves any existing ``path`` as it was.

    ``fps`` frames per second (int or float; stored as an exact fraction); ``width``/``height``
    pixels, both even.
    """

    def __init__(self, path: PathLike, fps: float, width: int, height: int) -> None:
        if width <= 0 or height <= 0 or width % 2 or height % 2:
            raise ValueError(f"{path}: video size must be positive and even (yuv420p), got {width}×{height}")
        if not fps > 0:
            raise ValueError(f"{path}: fps must be positive, got {fps}")
        self.path = Path(path)
        self.fps = Fraction(fps).limit_denominator(1001)
        self.width, self.height = int(width), int(height)
        self.frames_written = 0
        self._stack: Optional[ExitStack] = None
        self._container: Any = None
        self._stream: Any = None

    def __enter__(self) -> VideoWriter:
        import av

        stack = ExitStack()
        try:
            handle = stack.enter_context(atomic_output(self.path))
            self._container = av.open(handle, mode="w", format="mp4")
            stream = self._container.add_stream(CODEC, rate=self.fps)
            stream.width, stream.height, stream.pix_fmt = self.width, self.height, PIXEL_FORMAT
            stream.options = dict(ENCODER_OPTIONS)
            self._stream = stream
        except BaseException:
            self._abort(stack)
            raise
        self._stack = stack
        return self

    def write(self, frame: np.ndarray) -> None:
        """Append one (height, width, 3) uint8 RGB frame."""
        import av

        if self._stream is None:
            raise RuntimeError(f"{self.path}: VideoWriter.write called outside its with block")
        if frame.shape != (self.height, self.width, 3) or frame.dtype != np.uint8:
            raise ValueError(
                f"{self.path}: frame must be uint8 of shape ({self.height}, {self.width}, 3), "
                f"got {frame.dtype} {frame.shape}"
            )
        video_frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
        for packet in self._stream.encode(video_frame):
            self._container.mux(packet)
        self.frames_written += 1

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        stack, self._stack = self._stack, None
        if stack is None:
            return
        if exc_type is not None:
            self._abort(stack, (exc_type, exc, tb))
            return
        try:
            for packet in self._stream.encode():  # flush the encoder's delayed frames
                self._container.mux(packet)
            self._container.close()
        except BaseException as error:
            self._abort(stack, (type(error), error, error.__traceback__))
            raise
        self._stream = self._container = None
        stack.close()  # atomic_output: fsync and rename over ``path``

    def _abort(self, stack: ExitStack, exc_info: Any = None) -> None:
        """Close the container quietly and let atomic_output delete the temporary file."""
        if self._container is not None:
            with suppress(Exception):  # already failing: the original error is the one to report
                self._container.close()
        self._stream = self._container = None
        info = exc_info or (RuntimeError, RuntimeError("video writing aborted"), None)
        # atomic_output removes its temp file when the with block it guards raises.
        try:
            stack.__exit__(*info)
        except BaseException as error:
            if error is not info[1]:
                raise


def read_video_frames(path: PathLike) -> np.ndarray:
    """All frames of the first video stream of ``path`` as (N, H, W, 3) uint8 RGB."""
    import av

    with av.open(str(path)) as container:
        frames = [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]
    if not frames:
        return np.zeros((0, 0, 0, 3), dtype=np.uint8)
    return np.stack(frames)

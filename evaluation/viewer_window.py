"""MuJoCo's passive viewer window, closed cleanly: what `mimic visualize` and `mimic inference`
open when a display exists."""

from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import Any, Callable, Iterator, Optional

VIEWER_CLOSE_TIMEOUT_S = 10.0  # longest wait for MuJoCo's viewer thread to close its window


@contextmanager
def passive_viewer(model: Any, data: Any, key_callback: Optional[Callable[[int], None]] = None) -> Iterator[Any]:
    """``mujoco.viewer.launch_passive(model, data)``; on exit, waits for the viewer's thread.

    Closing only asks that thread to stop; it then destroys its window and GL context. If the
    interpreter exits first, atexit's ``glfw.terminate()`` runs concurrently with that destroy and
    the process dies with SIGSEGV (seen with mujoco 4.0 under Xvfb), so the thread is joined.
    """
    import mujoco.viewer

    threads_before = set(threading.enumerate())
    with mujoco.viewer.launch_passive(model, data, key_callback=key_callback) as viewer:
        # launch_passive runs the window on a daemon thread it does not hand back: find it.
        viewer_threads = [thread for thread in threading.enumerate() if thread not in threads_before]
        yield viewer
    for thread in viewer_threads:
        thread.join(timeout=VIEWER_CLOSE_TIMEOUT_S)

"""Run a call that might block on a FIFO, with a time limit that cannot hang the test run.

A reader that opens a FIFO waits in ``open()`` for a writer, where no signal or timeout of ours
reaches it. The call runs in a daemon thread instead; if it has not returned in time, the FIFO
is opened for writing once (non-blocking), which releases the reader, and the test fails.
"""

from __future__ import annotations

import os
import threading
from contextlib import suppress
from pathlib import Path
from typing import Any, Callable, Dict

import pytest


def returns_within(seconds: float, call: Callable[[], Any], fifo: Path) -> Any:
    """``call()``'s result (or exception, re-raised) if it returns within ``seconds``; else fail."""
    outcome: Dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["value"] = call()
        except BaseException as error:  # handed to the test thread
            outcome["error"] = error

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        with suppress(OSError):  # a blocked open() on the FIFO returns once a writer appears (then reads EOF)
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        thread.join(seconds)
        pytest.fail(f"blocked for more than {seconds:g} s on the FIFO {fifo}")
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("value")

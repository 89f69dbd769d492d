"""Ctrl-C and SIGTERM while training: noted at once, acted on at the next safe point.

Raising KeyboardInterrupt wherever the signal lands is not safe in the epoch loop: inside an env
step the simulator's worker threads keep stepping while the checkpoint reads their physics,
inside an update the weights are half-way through an epoch, inside an evaluation the env holds
the evaluation's episodes, and inside ``torch.save`` the file is cut short (a second Ctrl-C 0.3 s
after the first used to print ~60 lines of ``unexpected pos ... inline_container.cc``). So while
:class:`StopRequests` is active a signal only counts; the trainer checks :attr:`requested`
after every env step and between the parts of an epoch, and then saves ``last.ckpt`` whole.
Further signals during that save change nothing. The handler does no I/O: a write from a signal
handler can land inside the main thread's write to the same stream ("reentrant call").
"""

from __future__ import annotations

import signal
import threading
from types import FrameType
from typing import Any, Dict, Optional, Tuple

#: The signals that stop training: Ctrl-C, and SIGTERM (a scheduler's pre-emption, `timeout`).
STOP_SIGNALS: Tuple[signal.Signals, ...] = (signal.SIGINT, signal.SIGTERM)


class StopRequests:
    """Context manager: while active, SIGINT/SIGTERM are counted instead of interrupting.

    Outside the main thread (where Python cannot install signal handlers) it does nothing and
    the signals keep their previous behaviour. With ``restore=False`` they are ignored after the
    block, for the rest of the process: a rank of a multi-rank run must still reach the barrier
    that ends the run and exit (a handler of ours would be reset by interpreter shutdown, and a
    late Ctrl-C then killed a rank that had saved, failing the run; an ignored signal stays so).
    """

    def __init__(self, restore: bool = True) -> None:
        self.count = 0
        self.first_signal: Optional[int] = None
        self._restore = restore
        self._previous: Dict[int, Any] = {}

    @property
    def requested(self) -> bool:
        return self.count > 0

    def signal_name(self) -> str:
        """``Ctrl-C`` or ``SIGTERM``: what asked to stop first."""
        if self.first_signal == signal.SIGTERM:
            return "SIGTERM"
        return "Ctrl-C"

    def _note(self, signum: int, frame: Optional[FrameType]) -> None:
        if self.first_signal is None:
            self.first_signal = signum
        self.count += 1

    def __enter__(self) -> StopRequests:
        if threading.current_thread() is threading.main_thread():
            for signum in STOP_SIGNALS:
                self._previous[signum] = signal.signal(signum, self._note)
        return self

    def __exit__(self, *exc_info: Any) -> None:
        for signum, previous in self._previous.items():
            signal.signal(signum, previous if self._restore else signal.SIG_IGN)
        self._previous = {}

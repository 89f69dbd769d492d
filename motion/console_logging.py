"""How library messages reach the user: module loggers in the library, one console setup.

Library modules (motion, robots, training, evaluation, retarget) never print: they log to
``logging.getLogger(__name__)``: INFO for what a command reports (progress lines, summaries,
files written), WARNING for what the user should know. :func:`configure_console_logging`,
called by the ``mimic`` CLI and by every spawned training rank (a fresh interpreter), sends the
project's INFO records to stdout and WARNING and above to stderr, as the bare message; other
libraries' loggers are left alone. Without it (the library used from Python, a Dagster asset
calling it in-process) the caller's own logging setup decides.
"""

from __future__ import annotations

import logging
import sys

#: The project's top-level packages, whose loggers the console setup configures.
PROJECT_LOGGERS = ("motion", "robots", "training", "evaluation", "retarget", "mimic", "assets", "pipelines")


class _ConsoleHandler(logging.StreamHandler):
    """Writes to the *current* ``sys.stdout`` (INFO and below) or ``sys.stderr`` (WARNING and
    above), looked up at every record, so redirections made after setup are followed."""

    def __init__(self, errors: bool) -> None:
        super().__init__()
        self.errors = errors
        self.setFormatter(logging.Formatter("%(message)s"))
        if errors:
            self.setLevel(logging.WARNING)
        else:
            self.addFilter(lambda record: record.levelno < logging.WARNING)

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr if self.errors else sys.stdout
        super().emit(record)

    def __repr__(self) -> str:  # pragma: no cover - debugging aid
        return f"<console {'stderr' if self.errors else 'stdout'}>"


def configure_console_logging(level: int = logging.INFO) -> None:
    """Route the project's loggers to the console (idempotent: a second call changes nothing)."""
    for name in PROJECT_LOGGERS:
        logger = logging.getLogger(name)
        if any(isinstance(handler, _ConsoleHandler) for handler in logger.handlers):
            continue
        logger.addHandler(_ConsoleHandler(errors=False))
        logger.addHandler(_ConsoleHandler(errors=True))
        logger.setLevel(level)
        # Records still propagate: the CLI's root logger has no handlers, so nothing prints twice,
        # and a root handler someone installed (pytest's caplog, an application's) still sees them.

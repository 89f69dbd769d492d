"""Library messages go through logging; the CLI's console setup prints them on the right stream."""

from __future__ import annotations

import ast
import logging
from pathlib import Path

import pytest

from motion.console_logging import PROJECT_LOGGERS, configure_console_logging

REPO = Path(__file__).resolve().parents[1]
LIBRARY = ("motion", "robots", "training", "evaluation", "retarget")


@pytest.fixture
def console():
    saved = {name: (logging.getLogger(name).handlers[:], logging.getLogger(name).level) for name in PROJECT_LOGGERS}
    configure_console_logging()
    yield
    for name, (handlers, level) in saved.items():
        logger = logging.getLogger(name)
        logger.handlers[:] = handlers
        logger.setLevel(level)


def test_info_goes_to_stdout_and_warnings_to_stderr_once(console, capsys):
    configure_console_logging()  # a second call adds nothing
    logging.getLogger("training.trainer").info("epoch      1 | reward 1.0")
    logging.getLogger("motion.metrics_csv").warning("dropping a partial last line")
    logging.getLogger("training.trainer").debug("not shown")
    captured = capsys.readouterr()
    assert captured.out == "epoch      1 | reward 1.0\n"
    assert captured.err == "dropping a partial last line\n"


def test_other_libraries_loggers_are_left_alone(console, capsys):
    logging.getLogger("dagster.some.module").info("third-party chatter")
    assert capsys.readouterr().out == ""


def _prints(path: Path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "print":
            yield node.lineno


def test_library_code_logs_instead_of_printing():
    found = [f"{p.relative_to(REPO)}:{line}" for pkg in LIBRARY for p in sorted((REPO / pkg).rglob("*.py"))
             for line in _prints(p)]  # fmt: skip
    assert found == []

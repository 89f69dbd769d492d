"""Progress of long work (conversion, packaging, full-eval, retargeting, training): rate and ETA.

On a terminal it is a tqdm bar. Anywhere else (CI logs, Dagster's captured output, a file) a bar
would be one long line of carriage returns, so it prints a plain line instead, at most every
``every_s`` seconds and once at the end::

    convert: 1,200/18,000 files (6.7%) | 35.1 files/s | elapsed 0:34 | ETA 7:58
    convert: 18,000/18,000 files in 8:32 (35.1 files/s)

``MIMIC_PROGRESS`` overrides the choice: ``bar``, ``lines`` or ``off``.
"""

from __future__ import annotations

import os
import sys
import time
from typing import IO, Any, Callable, Iterable, Iterator, Optional, TypeVar

T = TypeVar("T")
MODES = ("bar", "lines", "off")


def progress_mode(stream: IO[str], enabled: bool = True) -> str:
    """``bar`` on a terminal, ``lines`` elsewhere, ``off`` when disabled; ``MIMIC_PROGRESS`` wins."""
    if not enabled:
        return "off"
    chosen = os.environ.get("MIMIC_PROGRESS", "").strip().lower()
    if chosen in MODES:
        return chosen
    isatty = getattr(stream, "isatty", None)
    return "bar" if isatty is not None and isatty() else "lines"


def format_duration(seconds: float) -> str:
    """``0:34``, ``7:58``, ``1:02:03`` (h:mm:ss past an hour); ``?`` when unknown."""
    if seconds != seconds or seconds in (float("inf"), float("-inf")) or seconds < 0:
        return "?"
    whole = int(round(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class Progress:
    """Counts done units of ``total`` (None: unknown) and reports them as a bar or as lines."""

    def __init__(
        self,
        total: Optional[int],
        desc: str,
        unit: str,
        enabled: bool = True,
        stream: Optional[IO[str]] = None,
        every_s: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.total, self.desc, self.unit = total, desc, unit
        self.stream = stream if stream is not None else sys.stderr
        self.mode = progress_mode(self.stream, enabled)
        self.every_s, self.clock = every_s, clock
        self.done = 0
        self.started = self.last_line = clock()
        self._bar: Any = None
        if self.mode == "bar":
            from tqdm import tqdm

            self._bar = tqdm(total=total, desc=desc, unit=unit, file=self.stream, dynamic_ncols=True)

    def update(self, count: int = 1) -> None:
        self.done += count
        if self._bar is not None:
            self._bar.update(count)
        elif self.mode == "lines" and self.clock() - self.last_line >= self.every_s:
            self.last_line = self.clock()
            self._write(self.status_line())

    def rate(self) -> float:
        """Units per second so far."""
        elapsed = self.clock() - self.started
        return self.done / elapsed if elapsed > 0 else 0.0

    def status_line(self) -> str:
        elapsed = self.clock() - self.started
        rate = self.rate()
        if self.total:
            share = f"{self.done:,}/{self.total:,} {self.unit}s ({100.0 * self.done / self.total:.1f}%)"
            eta = format_duration((self.total - self.done) / rate) if rate > 0 else "?"
            return f"{self.desc}: {share} | {rate:,.1f} {self.unit}s/s | elapsed {format_duration(elapsed)} | ETA {eta}"
        return (
            f"{self.desc}: {self.done:,} {self.unit}s | {rate:,.1f} {self.unit}s/s | elapsed {format_duration(elapsed)}"
        )

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        elif self.mode == "lines" and self.done:
            elapsed = self.clock() - self.started
            count = f"{self.done:,}/{self.total:,}" if self.total else f"{self.done:,}"
            self._write(
                f"{self.desc}: {count} {self.unit}s in {format_duration(elapsed)} ({self.rate():,.1f} {self.unit}s/s)"
            )
            self.mode = "off"  # closed: nothing more is written

    def _write(self, line: str) -> None:
        self.stream.write(line + "\n")
        self.stream.flush()

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def progress_iter(
    items: Iterable[T], desc: str, unit: str, total: Optional[int] = None, enabled: bool = True, **kwargs: Any
) -> Iterator[T]:
    """Yield ``items``, counting each one (``total`` defaults to ``len(items)`` where it has one)."""
    if total is None and hasattr(items, "__len__"):
        total = len(items)  # type: ignore[arg-type]
    with Progress(total, desc, unit, enabled=enabled, **kwargs) as progress:
        for item in items:
            yield item
            progress.update()

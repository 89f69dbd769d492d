"""Progress reporting: a bar on a terminal, plain lines with rate and ETA elsewhere."""

from __future__ import annotations

import io

from motion.progress import Progress, format_duration, progress_iter, progress_mode


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_mode_follows_the_stream_and_the_environment(monkeypatch):
    monkeypatch.delenv("MIMIC_PROGRESS", raising=False)
    assert progress_mode(Terminal()) == "bar"
    assert progress_mode(io.StringIO()) == "lines"
    assert progress_mode(Terminal(), enabled=False) == "off"
    monkeypatch.setenv("MIMIC_PROGRESS", "lines")
    assert progress_mode(Terminal()) == "lines"
    monkeypatch.setenv("MIMIC_PROGRESS", "off")
    assert progress_mode(io.StringIO()) == "off"


def test_durations():
    assert [format_duration(s) for s in (0, 34.4, 478, 3723)] == ["0:00", "0:34", "7:58", "1:02:03"]
    assert format_duration(float("inf")) == "?" and format_duration(float("nan")) == "?"


def test_lines_carry_count_rate_and_eta_at_most_every_interval(monkeypatch):
    monkeypatch.delenv("MIMIC_PROGRESS", raising=False)
    clock, out = FakeClock(), io.StringIO()
    progress = Progress(18000, "convert", "file", stream=out, every_s=10.0, clock=clock)
    for _ in range(4):  # 400 files in 4 s: no line yet
        clock.now += 1.0
        progress.update(100)
    assert out.getvalue() == ""
    clock.now += 8.0  # 12 s in: 1,200 files at 100 files/s, 16,800 left → 2:48
    progress.update(800)
    assert out.getvalue() == "convert: 1,200/18,000 files (6.7%) | 100.0 files/s | elapsed 0:12 | ETA 2:48\n"
    progress.update(5)  # within the interval: nothing
    assert out.getvalue().count("\n") == 1
    progress.close()
    assert out.getvalue().splitlines()[-1] == "convert: 1,205/18,000 files in 0:12 (100.4 files/s)"
    progress.close()  # closing twice writes nothing more
    assert out.getvalue().count("\n") == 2


def test_unknown_total_and_off(monkeypatch):
    monkeypatch.delenv("MIMIC_PROGRESS", raising=False)
    clock, out = FakeClock(), io.StringIO()
    progress = Progress(None, "eval", "motion", stream=out, every_s=0.0, clock=clock)
    clock.now += 2.0
    progress.update(3)
    assert out.getvalue() == "eval: 3 motions | 1.5 motions/s | elapsed 0:02\n"
    silent = io.StringIO()
    assert list(progress_iter(range(5), "x", "item", enabled=False, stream=silent)) == [0, 1, 2, 3, 4]
    assert silent.getvalue() == ""


def test_a_terminal_gets_a_bar_with_rate_and_eta(monkeypatch):
    monkeypatch.delenv("MIMIC_PROGRESS", raising=False)
    out = Terminal()
    assert list(progress_iter(range(3), "pack", "motion", stream=out)) == [0, 1, 2]
    text = out.getvalue()
    assert "pack: 100%" in text and "3/3" in text and "motion/s" in text and "\r" in text


def test_nothing_done_writes_nothing(monkeypatch):
    monkeypatch.delenv("MIMIC_PROGRESS", raising=False)
    out = io.StringIO()
    Progress(10, "convert", "file", stream=out).close()
    assert out.getvalue() == ""

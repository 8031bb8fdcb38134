"""Embedding progress on the terminal. An ingest can take minutes, and search, ask and ui ingest
first: the person waiting sees how far it is, on stderr so that piped output stays clean."""
from __future__ import annotations

import sys
from typing import TextIO

from .ingest import Progress

STEPS = 10  # without a terminal: a line at the start, at every tenth and at the end


def terminal_progress(stream: TextIO | None = None, desc: str = "embedding") -> Progress:
    """A tqdm bar when `stream` (stderr by default) is a terminal, else plain lines for logs."""
    stream = stream or sys.stderr
    if stream.isatty():
        return _bar(stream, desc)
    shown = -1

    def line(done: int, total: int) -> None:
        nonlocal shown
        step = done * STEPS // max(total, 1)
        if step > shown:
            shown = step
            print(f"{desc}: {done}/{total} chunks", file=stream, flush=True)

    return line


def _bar(stream: TextIO, desc: str) -> Progress:
    from tqdm import tqdm

    bar = None

    def update(done: int, total: int) -> None:
        nonlocal bar
        if bar is None:
            bar = tqdm(total=total, desc=desc, unit="chunk", file=stream)
        bar.n = done
        bar.refresh()
        if done >= total:
            bar.close()

    return update

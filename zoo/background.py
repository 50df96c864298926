"""Build the missing zoo entries in the background while the app already serves.

A fresh machine (or a Space whose Hub repos are not published) has no weights, and training them
takes minutes; nobody should stare at a blank browser meanwhile. :class:`BackgroundBuild` runs
``python -m zoo build --missing`` as a child process (training never competes with the web server for
the GIL), echoes its lines to the terminal, and keeps a :class:`BuildProgress` snapshot that the app
polls to show progress. Each entry is installed into the local zoo as soon as it is trained, so the
app's model picker can offer it at once. ``python -m zoo build`` resumes, so a restarted app continues
where the last one stopped.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import functools
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .build import missing_entries

_ECHO = functools.partial(print, flush=True)  # the terminal shows progress even when stdout is a pipe
DISABLE_ENV = "MICROEXP_BACKGROUND_BUILD"  # "0": never start a background build
QUICK_ENV = "MICROEXP_DEMO_QUICK"  # "1": the quick preset (weaker models, minutes)
NICENESS = 10
_STEP = re.compile(r"^\[(\d+)/(\d+)\] (.*)$")
_INSTALLED = re.compile(r"^\s*installed (.+)$")


def _lower_priority() -> None:
    """In the build child (and its own children): yield the CPU to the web server, so pages and analyses
    stay responsive while models train on the same cores."""
    if hasattr(os, "nice"):
        os.nice(NICENESS)


@dataclass(frozen=True)
class BuildProgress:
    """What the page shows about a background build.

    Attributes:
        entries: the entries being built, in build order.
        finished: those installed so far.
        step, steps: the build's current step (data generation is step 1, then one per entry).
        stage: the current step in words.
        running: the build process is alive.
        error: the last lines of a failed build, else ``None``.
        elapsed_s: seconds since the build started (until it ended).
    """

    entries: tuple[str, ...]
    finished: tuple[str, ...] = ()
    step: int = 0
    steps: int = 0
    stage: str = "starting"
    running: bool = True
    error: str | None = None
    elapsed_s: float = 0.0

    def markdown(self) -> str:
        """One paragraph for the page."""
        done = f"{len(self.finished)}/{len(self.entries)} models ready"
        minutes = f"{self.elapsed_s / 60:.1f} min"
        if self.error:
            return f"**Building the zoo failed** after {minutes} ({done}):\n```\n{self.error}\n```"
        if not self.running:
            return f"**Zoo build finished** in {minutes}: {done}."
        return (f"**Building the synthetic-trained zoo in the background** ({done}, {minutes}; step "
                f"{self.step}/{self.steps or '?'}: {self.stage}). Models join the picker as each one finishes.")


@dataclass
class BackgroundBuild:
    """One ``python -m zoo build`` child process and the progress read from its output."""

    entries: tuple[str, ...]
    quick: bool = False
    echo: Callable[[str], None] = _ECHO
    _progress: BuildProgress = field(init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)
    _tail: list[str] = field(default_factory=list, init=False)
    _started: float = field(default_factory=time.monotonic, init=False)
    _proc: subprocess.Popen | None = field(default=None, init=False)
    _reader: threading.Thread | None = field(default=None, init=False)
    _listeners: list[Callable[[str], None]] = field(default_factory=list, init=False)

    def __post_init__(self) -> None:
        self._progress = BuildProgress(entries=self.entries)

    def on_install(self, listener: Callable[[str], None]) -> None:
        """Call ``listener(name)`` (from the reader thread) each time an entry is installed."""
        self._listeners.append(listener)

    def start(self) -> BackgroundBuild:
        cmd = [sys.executable, "-m", "zoo", "build", "--entries", *self.entries, *(["--quick"] if self.quick else [])]
        self.echo("[zoo build] " + " ".join(cmd[1:]))
        self._proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                      env={**os.environ, "PYTHONUNBUFFERED": "1"},
                                      cwd=Path(__file__).resolve().parent.parent, preexec_fn=_lower_priority)
        self._reader = threading.Thread(target=self._follow, name="zoo-build", daemon=True)
        self._reader.start()
        return self

    def _follow(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        for raw in self._proc.stdout:
            line = raw.rstrip()
            self.echo("[zoo build] " + line)
            installed = self._update(line)
            for listener in self._listeners if installed else ():
                listener(installed)
        code = self._proc.wait()
        with self._lock:
            error = None if code == 0 else "\n".join(self._tail[-8:]) or f"exit code {code}"
            self._progress = self._snapshot(running=False, error=error)

    def _update(self, line: str) -> str | None:
        """Fold one output line into the progress; the entry's name when the line says it was installed."""
        with self._lock:
            self._tail = (self._tail + [line])[-20:]
            step, installed = _STEP.match(line), _INSTALLED.match(line)
            if step:
                stage = step[3].split(" -> ")[0].split(": recipe ")[0]  # the words, not the build's paths
                self._progress = self._snapshot(step=int(step[1]), steps=int(step[2]), stage=stage[:160])
            elif installed:
                name = Path(installed[1].strip()).name
                self._progress = self._snapshot(finished=(*self._progress.finished, name))
                return name
        return None

    def _snapshot(self, **changes) -> BuildProgress:
        p = self._progress
        fields = {"entries": p.entries, "finished": p.finished, "step": p.step, "steps": p.steps, "stage": p.stage,
                  "running": p.running, "error": p.error, "elapsed_s": time.monotonic() - self._started, **changes}
        return BuildProgress(**fields)

    def progress(self) -> BuildProgress:
        """The latest snapshot (elapsed time brought up to date while running)."""
        with self._lock:
            return self._snapshot() if self._progress.running else self._progress

    def wait(self, timeout: float | None = None) -> int | None:
        """Wait for the build process and the reading of its output; its exit code (None while it runs
        past ``timeout``)."""
        if self._proc is None or self._reader is None:
            return None
        self._reader.join(timeout)
        return None if self._reader.is_alive() else self._proc.wait()

    def stop(self) -> None:
        """End the build process (it resumes next time)."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            self.wait(30)


def start_if_missing(names: Sequence[str] | None = None, echo: Callable[[str], None] = _ECHO) -> BackgroundBuild | None:
    """Start building the entries that resolve nowhere, unless ``$MICROEXP_BACKGROUND_BUILD`` is ``0``.

    Returns:
        The running build, or ``None`` when nothing is missing or background builds are off.
    """
    if os.environ.get(DISABLE_ENV, "1").lower() in ("0", "false", "no", "off"):
        return None
    todo = missing_entries()
    missing = tuple(n for n in (names or todo) if n in todo)
    if not missing:
        return None
    quick = os.environ.get(QUICK_ENV, "0") == "1"
    return BackgroundBuild(missing, quick=quick, echo=echo).start()

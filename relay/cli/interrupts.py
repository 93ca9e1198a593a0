"""Ctrl-C during a command that runs Dagster jobs: one line and exit code 130, not tracebacks.

Dagster catches SIGINT inside a run and turns it into a failed run (or, inside the promotion
gate's step, into a refusal), logging the interrupted step with its stack trace on the way, so
neither the exception a command gets nor its output tells an interruption from a failure. The
signal wakeup fd sees every signal whoever handles it: a thread watching it recognises the
interruption from the signal itself and points ``sys.stdout`` and ``sys.stderr`` (where Dagster's
console logger writes, looked up per message) at /dev/null for what the run logs on its way
down (best effort: the thread races the run's first log lines). Not the file descriptors: Dagster
redirects those itself while it captures a step's logs. The run's events stay in the Dagster
instance that ``relay ui`` shows.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

import typer

from relay.cli.console import console

INTERRUPTED = 130  # the shell's exit code for a command ended by SIGINT
_DONE = b"\0"  # written by the command itself: the block is over (no signal has number 0)


class _SigintWatch:
    """A thread that reads the signal wakeup fd; at SIGINT it records it and mutes the output."""

    def __init__(self) -> None:
        self.interrupted = False
        self._saved: tuple[TextIO, TextIO] | None = None  # sys.stdout and sys.stderr while muted
        self._reader, self._writer = os.pipe()
        os.set_blocking(self._writer, False)  # the C signal handler must never block on it
        self._previous = signal.set_wakeup_fd(self._writer, warn_on_full_buffer=False)
        self._thread = threading.Thread(target=self._watch, name="sigint-watch", daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        while True:
            data = os.read(self._reader, 64)
            if signal.SIGINT.value in data and not self.interrupted:
                self.interrupted = True
                self._mute()
            if _DONE in data:
                return

    def _mute(self) -> None:
        self._saved = (sys.stdout, sys.stderr)
        # Left open: a thread of the interrupted run may still write to it after ``close``.
        sys.stdout = sys.stderr = open(os.devnull, "w")  # noqa: SIM115

    def close(self) -> None:
        """Stop watching (a signal that arrived before is still seen) and give the terminal back."""
        signal.set_wakeup_fd(self._previous)
        os.write(self._writer, _DONE)
        self._thread.join()
        os.close(self._reader)
        os.close(self._writer)
        if self._saved is not None:
            sys.stdout, sys.stderr = self._saved


@contextmanager
def stop_on_ctrl_c(what: str) -> Iterator[None]:
    """Run the block; if Ctrl-C arrives during it, print that ``what`` was interrupted and exit 130,
    whether the interrupt surfaced as a KeyboardInterrupt, as a failed run or not at all."""
    watch = _SigintWatch()
    error: BaseException | None = None
    try:
        yield
    except BaseException as caught:  # decided below, once the watcher has read every signal
        error = caught
    finally:
        watch.close()
    interrupted = watch.interrupted or isinstance(error, KeyboardInterrupt)
    if error is not None and (isinstance(error, typer.Exit) or not interrupted):
        raise error
    if interrupted:
        console.print(f"[yellow]interrupted[/yellow]: {what} stopped by Ctrl-C")
        raise typer.Exit(INTERRUPTED)

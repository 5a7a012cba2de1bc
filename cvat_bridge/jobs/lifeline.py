"""Worker processes die with the process that started them (no orphan holding a GB after a `kill -9`)."""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading

_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def die_with_parent(parent: int, poll_seconds: float = 1.0) -> None:
    """Call in a child process of `parent` (its pid, as the parent saw it): the kernel kills the child when
    its parent dies (Linux), and a thread checks the parent pid as a fallback (other systems, or a parent
    gone before the call)."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    watch = threading.Thread(target=_watch_parent, args=(parent, poll_seconds), name="lifeline", daemon=True)
    watch.start()


def _watch_parent(parent: int, poll_seconds: float) -> None:
    stop = threading.Event()
    while not stop.wait(poll_seconds):
        if os.getppid() != parent:  # re-parented: the parent is gone
            os.kill(os.getpid(), signal.SIGKILL)

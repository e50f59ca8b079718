"""Start one of the bot's helper processes: a fresh interpreter running a module, with a socket.

The analysis process and the receive workers are started the same way, and for the same
reasons: never `fork` (TensorFlow and PyAV state must not be copied) and never
`multiprocessing`'s spawn (it re-imports the parent's `__main__`, which can bring aiortc/PyAV
into a process that then imports TensorFlow — a segfault on these machines). The child gets one
end of a socket pair as a file descriptor number on its command line, and the folder holding
the `bot` package on its `PYTHONPATH`, so it imports the same code as the bot whatever the
working directory. `subprocess.Popen` (fork + exec) returns at once; asyncio's subprocess
support would add a watcher thread per child.
"""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path

BOT_ROOT = str(Path(__file__).resolve().parents[1])  # the folder holding the `bot` package


def spawn_module(python: str, module: str, *args: str) -> tuple[subprocess.Popen[bytes], socket.socket]:
    """`python -m module FD *args` with FD one end of a new socket pair; returns (process, our end)."""
    ours, theirs = socket.socketpair()
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (BOT_ROOT, env.get("PYTHONPATH", "")) if p)
    try:
        proc = subprocess.Popen([python, "-m", module, str(theirs.fileno()), *args],
                                pass_fds=[theirs.fileno()], env=env, stdin=subprocess.DEVNULL)
    except BaseException:
        ours.close()
        raise
    finally:
        theirs.close()
    return proc, ours

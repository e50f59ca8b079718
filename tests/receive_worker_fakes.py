"""Receive workers that misbehave, for tests/test_receive_workers.py.

Run by `ReceivePool(module="tests.receive_worker_fakes")` exactly as the real worker is
(``python -m tests.receive_worker_fakes FD NOTICE_S``); the environment variable
``CP_FAKE_RECEIVE_WORKER`` picks the misbehaviour:

- ``fail``: reports a start-up failure with a traceback, as the real worker does when its
  imports fail (`bot.web.receive_worker.main`);
- ``garbage``: says ready, then sends a message that is not in the protocol;
- ``silent``: never says anything (a worker stuck while starting);
- ``mute``: says ready, then never answers a request (a worker stuck later).
"""

from __future__ import annotations

import os
import socket
import sys
import time

from bot.web import receive_protocol as wire

FAILURE = "Traceback (most recent call last):\n  File \"rtc.py\", line 1\nRuntimeError: no VP8 decoder in this PyAV"


def main() -> int:
    mode = os.environ.get("CP_FAKE_RECEIVE_WORKER", "")
    sock = socket.socket(fileno=int(sys.argv[1]))
    if mode == "fail":
        sock.sendall(wire.encode(("failed", FAILURE)))
        return 1
    if mode == "garbage":
        sock.sendall(wire.encode(("ready", os.getpid())))
        sock.sendall(wire.encode(("explode", "now")))
        sock.recv(1)  # until the bot closes its end
        return 0
    if mode == "silent":
        time.sleep(60)
        return 0
    if mode == "mute":
        sock.sendall(wire.encode(("ready", os.getpid())))
        while sock.recv(65536):  # reads every request, answers none, until the bot closes its end
            pass
        return 0
    print(f"unknown CP_FAKE_RECEIVE_WORKER {mode!r}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())

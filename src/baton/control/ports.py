"""Instance ports: the next free one from the base (7800), skipping what is taken."""

from __future__ import annotations

import socket
from collections.abc import Collection


def bindable(host: str, port: int) -> bool:
    """Whether a server could listen on ``host:port`` right now."""
    with socket.socket() as sock:
        # SO_REUSEADDR like uvicorn: a port in TIME_WAIT is usable by the instance, so it counts as free.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def next_free_port(host: str, start: int, *, taken: Collection[int] = ()) -> int:
    """The lowest port from ``start`` that is neither in ``taken`` nor bound by anyone."""
    port = start
    while port in taken or not bindable(host, port):
        port += 1
    return port

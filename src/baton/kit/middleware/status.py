"""The response status as seen by a middleware: a ``send`` wrapper shared by the kit's layers."""

from __future__ import annotations

from time import perf_counter

from starlette.types import Message, Send

__all__ = ["StatusRecorder"]


class StatusRecorder:
    """Wraps ``send``; remembers whether a response started and with which status.

    ``code`` stays 500 when nothing was sent (the app raised): that is what the client ends up with.
    ``ended`` is the ``perf_counter()`` reading taken just before the last body chunk is handed to the server (0.0
    until then): a server span that ends there ends before its caller can have read the response, so a child's bar
    never overruns its parent's in a waterfall, however late this process gets the CPU back after the write.
    """

    __slots__ = ("code", "ended", "send", "started")

    def __init__(self, send: Send) -> None:
        self.send = send
        self.code = 500
        self.started = False
        self.ended = 0.0

    async def __call__(self, message: Message) -> None:
        """Forward ``message``, noting the status of ``http.response.start`` and when the last body chunk left."""
        kind = message["type"]
        if kind == "http.response.start":
            self.code = message["status"]
            self.started = True
        elif kind == "http.response.body" and not message.get("more_body", False):
            self.ended = perf_counter()
        await self.send(message)

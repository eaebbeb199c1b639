"""The response status as seen by a middleware: a ``send`` wrapper shared by the kit's layers."""

from __future__ import annotations

from starlette.types import Message, Send

__all__ = ["StatusRecorder"]


class StatusRecorder:
    """Wraps ``send``; remembers whether a response started and with which status.

    ``code`` stays 500 when nothing was sent (the app raised): that is what the client ends up with.
    """

    __slots__ = ("code", "send", "started")

    def __init__(self, send: Send) -> None:
        self.send = send
        self.code = 500
        self.started = False

    async def __call__(self, message: Message) -> None:
        """Forward ``message``, noting the status of ``http.response.start``."""
        if message["type"] == "http.response.start":
            self.code = message["status"]
            self.started = True
        await self.send(message)

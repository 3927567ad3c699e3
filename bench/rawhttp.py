"""A minimal HTTP/1.1 keep-alive client on asyncio streams, for load generation.

Benchmarks need the client to cost far less than the server it measures; a general client
(httpx) spends more CPU per request than ci-bot's intake does. This one sends prepared
request bytes and reads a response with Content-Length, nothing more.
"""

from __future__ import annotations

import asyncio


def request_bytes(
    method: str, path: str, host: str, headers: dict[str, str], body: bytes = b""
) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}", f"Content-Length: {len(body)}"]
    lines += [
        f"{name}: {value}" for name, value in headers.items() if name.lower() != "content-length"
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


class Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader, self._writer = reader, writer

    @classmethod
    async def open(cls, host: str, port: int) -> Connection:
        reader, writer = await asyncio.open_connection(host, port)
        return cls(reader, writer)

    async def send(self, data: bytes) -> int:
        """Send one request; the response's status code."""
        self._writer.write(data)
        head = await self._reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        for line in head.split(b"\r\n")[1:]:
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        if length:
            await self._reader.readexactly(length)
        return status

    def close(self) -> None:
        self._writer.close()

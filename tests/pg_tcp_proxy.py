"""A TCP → unix-socket forwarder for one PostgreSQL socket (the partition test's way in from a netns).

`python tests/pg_tcp_proxy.py HOST PORT SOCKET_PATH`: every TCP connection to HOST:PORT is
piped to the unix socket, byte for byte. The test cluster listens on a unix socket only; a
worker inside a network namespace reaches it through this forwarder over a veth pair, so
taking the veth down cuts exactly that worker off.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys


async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError, OSError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    with contextlib.suppress(Exception):
        writer.close()


async def main(host: str, port: int, path: str) -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_unix_connection(path)
        except OSError:
            writer.close()
            return
        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    server = await asyncio.start_server(handle, host, port)
    print("ready", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2]), sys.argv[3]))

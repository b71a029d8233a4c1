"""python -m tests.couchbase_node --port N --bucket B --user U --password P [--debug]"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import sys

from tests.couchbase_node.server import Node

READY_PREFIX = "couchbase-node ready"


async def main(args: argparse.Namespace) -> None:
    node = Node(args.host, args.port, args.bucket, {args.user: args.password})
    server = await node.serve()
    print(f"{READY_PREFIX} host={node.host} port={node.port} bucket={node.bucket}", flush=True)
    async with server:
        await server.serve_forever()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tests.couchbase_node", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port (printed)")
    parser.add_argument("--bucket", default="couchqueue")
    parser.add_argument("--user", default="Administrator")
    parser.add_argument("--password", default="password")
    parser.add_argument("--debug", action="store_true", help="log every opcode to stderr")
    return parser.parse_args(argv)


if __name__ == "__main__":
    arguments = parse_args()
    logging.basicConfig(
        stream=sys.stderr,
        level=logging.DEBUG if arguments.debug else logging.WARNING,
        format="%(asctime)s %(name)s %(message)s",
    )
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main(arguments))

#!/usr/bin/python3
"""sink.py - a discarding SMTP server for the benchmark (test/bench).

Accepts every message on 127.0.0.1 and throws it away, so the time of a
remote delivery run is spent in the client as far as possible.  Prints
"READY <port>" once listening, then one line "MSG <bytes>" per accepted
message (flushed, so the caller counts deliveries with grep).  Runs until
killed.  Usage: /usr/bin/python3 sink.py [--port N]   (0 = any free port)
"""

import argparse
import asyncio
import sys

from aiosmtpd.smtp import SMTP


class Discard:
    async def handle_DATA(self, server, session, envelope):
        sys.stdout.write("MSG %d\n" % len(envelope.content or b""))
        sys.stdout.flush()
        return "250 2.0.0 discarded"


async def main(port):
    loop = asyncio.get_running_loop()
    handler = Discard()
    srv = await loop.create_server(
        lambda: SMTP(handler, hostname="sink.test", data_size_limit=0,
                     enable_SMTPUTF8=True),
        host="127.0.0.1", port=port, backlog=1024)
    print("READY %d" % srv.sockets[0].getsockname()[1], flush=True)
    async with srv:
        await srv.serve_forever()


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    asyncio.run(main(ap.parse_args().port))

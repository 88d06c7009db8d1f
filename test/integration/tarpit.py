#!/usr/bin/python3
"""tarpit.py - slow and silent SMTP servers for dma's integration tests.

Listens on every --listen ADDR:PORT (repeatable) in one process and
prints "READY" once all are listening.  Every accepted connection is
appended to DIR/connections as "ADDR:PORT" (the address connected to),
and every line received to DIR/lines as "ADDR:PORT LINE".

--mode silent   accept and never send a byte (a host that "never greets")
--mode trickle  a minimal SMTP server that sends each reply, the greeting
                included, only --delay seconds after it is due: just
                before the client's timeout for that step.  It accepts
                everything (EHLO, MAIL, RCPT, DATA, the message, QUIT).
Connections stay open until the client closes them.
"""

import argparse
import asyncio
import os
import sys


def record(args, name, text):
    with open(os.path.join(args.dir, name), "a") as f:
        f.write(text + "\n")


async def trickle(args, where, reader, writer):
    async def reply(text):
        await asyncio.sleep(args.delay)
        writer.write(text.encode() + b"\r\n")
        await writer.drain()

    await reply("220 tarpit ESMTP")
    indata = False
    while True:
        line = await reader.readline()
        if not line:
            return
        text = line.decode("latin-1").rstrip("\r\n")
        if indata:
            if text == ".":
                indata = False
                record(args, "lines", "%s ." % where)
                await reply("250 2.0.0 accepted")
            continue
        record(args, "lines", "%s %s" % (where, text))
        verb = text[:4].upper()
        if verb == "DATA":
            indata = True
            await reply("354 go on")
        elif verb == "QUIT":
            await reply("221 bye")
            return
        else:
            await reply("250 ok")


def handler(args):
    async def handle(reader, writer):
        host, port = writer.get_extra_info("sockname")[:2]
        where = "%s:%d" % (host, port)
        record(args, "connections", where)
        try:
            if args.mode == "trickle":
                await trickle(args, where, reader, writer)
            else:
                while await reader.read(4096):
                    pass
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()

    return handle


async def main():
    p = argparse.ArgumentParser()
    p.add_argument("--dir", required=True)
    p.add_argument("--listen", action="append", required=True)
    p.add_argument("--mode", choices=("silent", "trickle"), default="silent")
    p.add_argument("--delay", type=float, default=1.0)
    args = p.parse_args()
    for name in ("connections", "lines"):
        open(os.path.join(args.dir, name), "w").close()
    servers = []
    for spec in args.listen:
        host, _, port = spec.rpartition(":")
        servers.append(await asyncio.start_server(handler(args), host, int(port)))
    print("READY", flush=True)
    await asyncio.gather(*(s.serve_forever() for s in servers))


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(0)

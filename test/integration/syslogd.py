#!/usr/bin/python3
"""Minimal syslog receiver for the integration tests.

Usage: syslogd.py SOCKET LOGFILE

Binds a unix datagram socket at SOCKET (normally /dev/log inside the test
namespace, mode 0666 so every test user can log) and appends one line per
received record to LOGFILE:

    {facility}.{severity} {tag+message}

e.g. "mail.info dma[86]: 1a2b.0: <bob> delivery successful".  The timestamp
that syslog(3) puts after the priority is removed; embedded newlines are
written as a literal backslash-n so every record stays on one line.  The
file is flushed after every record, so tests can grep it at any time.

LOGFILE.raw gets each datagram as it came, priority and timestamp
included ("<22>Dec  6 11:08:37 dma[86]: ..."), with only trailing NULs and
newlines removed and embedded newlines written as backslash-n.
Runs until killed (the test namespace kills it when the test ends).
"""

import os
import re
import socket
import sys

FACILITIES = ["kern", "user", "mail", "daemon", "auth", "syslog", "lpr",
              "news", "uucp", "cron", "authpriv", "ftp", "ntp", "security",
              "console", "solaris-cron", "local0", "local1", "local2",
              "local3", "local4", "local5", "local6", "local7"]
SEVERITIES = ["emerg", "alert", "crit", "err", "warning", "notice", "info",
              "debug"]
RECORD = re.compile(
    rb"^<(\d{1,3})>(?:[A-Z][a-z]{2} [ 0-9]\d \d\d:\d\d:\d\d )?(.*)$", re.S)


def format_record(data):
    data = data.rstrip(b"\0").rstrip(b"\n")
    m = RECORD.match(data)
    if m:
        pri = int(m.group(1))
        fac = pri >> 3
        sev = pri & 7
        facname = FACILITIES[fac] if fac < len(FACILITIES) else str(fac)
        prefix = "%s.%s " % (facname, SEVERITIES[sev])
        body = m.group(2)
    else:
        prefix = "unparsed "
        body = data
    text = body.decode("utf-8", "backslashreplace")
    text = text.replace("\n", "\\n")
    return prefix + text + "\n"


def format_raw(data):
    data = data.rstrip(b"\0").rstrip(b"\n")
    text = data.decode("utf-8", "backslashreplace")
    return text.replace("\n", "\\n") + "\n"


def main():
    if len(sys.argv) != 3:
        sys.stderr.write("usage: syslogd.py SOCKET LOGFILE\n")
        return 64
    path, logfile = sys.argv[1], sys.argv[2]
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    # Bind under a temporary name and rename, so that the socket appears
    # at its final path only once it is usable.
    tmp = path + ".new"
    try:
        os.unlink(tmp)
    except FileNotFoundError:
        pass
    sock.bind(tmp)
    os.chmod(tmp, 0o666)
    os.rename(tmp, path)
    with open(logfile, "a", encoding="utf-8") as out, \
            open(logfile + ".raw", "a", encoding="utf-8") as raw:
        while True:
            data = sock.recv(65536)
            raw.write(format_raw(data))
            raw.flush()
            out.write(format_record(data))
            out.flush()


if __name__ == "__main__":
    sys.exit(main())

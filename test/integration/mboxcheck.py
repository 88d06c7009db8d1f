"""mboxcheck.py - check that an mbox holds only whole test messages.

Usage: /usr/bin/python3 mboxcheck.py MBOX

The messages are those made by local-integrity.sh's gen_msg: a
"Subject: tag TAG" header and a body from "begin TAG" to "end TAG" with
numbered lines in between.  Prints the tags in mailbox order, one per
line, and exits 0 if the mailbox is well formed: it starts with a From_
line, every From_ line after the first follows an empty line, it ends
with an empty line, and every message is complete (its body runs from
"begin TAG" through every numbered line to "end TAG").  Otherwise prints
what is wrong to stderr and exits 1.
"""
import re
import sys


def main():
    data = open(sys.argv[1], 'rb').read()
    if not data:
        return 0
    bad = []
    if not data.startswith(b'From '):
        bad.append('does not start with a From_ line')
    if not data.endswith(b'\n\n'):
        bad.append('does not end with an empty line')
    lines = data.split(b'\n')
    starts = [i for i, l in enumerate(lines) if l.startswith(b'From ')]
    for i in starts[1:]:
        if lines[i - 1] != b'':
            bad.append('From_ line %d does not follow an empty line' % (i + 1))
    # Text glued onto a line (a cut message followed by the next From_).
    for i, l in enumerate(lines):
        if b'From ' in l[1:] and not l.startswith(b'>'):
            bad.append('line %d has a From_ line glued on: %r' % (i + 1, l[:80]))
    starts.append(len(lines))
    for a, b in zip(starts, starts[1:]):
        msg = lines[a:b]
        tag = None
        for l in msg:
            m = re.match(rb'^Subject: tag (\S+)$', l)
            if m:
                tag = m.group(1).decode()
                break
        if tag is None:
            bad.append('message at line %d has no tag' % (a + 1))
            continue
        body = [l.decode('latin-1') for l in msg]
        try:
            i = body.index('begin ' + tag)
        except ValueError:
            bad.append('message %s: no begin line' % tag)
            continue
        j = i + 1
        n = 1
        while j < len(body) and body[j] == 'line %d of %s' % (n, tag):
            j += 1
            n += 1
        if j >= len(body) or body[j] != 'end ' + tag:
            bad.append('message %s is cut after %d lines' % (tag, n - 1))
            continue
        print(tag)
    for b in bad:
        print('mboxcheck: ' + b, file=sys.stderr)
    return 1 if bad else 0


sys.exit(main())

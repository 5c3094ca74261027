#!/usr/bin/env python3
"""A handler that does nothing, to measure `ebbflow work` itself.

Without arguments: one process per message (reads the body, exits 0).
With --long-lived: the newline-delimited JSON protocol, answering ok.
"""
import sys

if "--long-lived" in sys.argv:
    for line in sys.stdin:
        # The id is the first field ebbflow writes; answering needs nothing else.
        start = line.index('"id":"') + 6
        end = line.index('"', start)
        sys.stdout.write('{"id":"%s","status":"ok"}\n' % line[start:end])
        sys.stdout.flush()
else:
    sys.stdin.read()

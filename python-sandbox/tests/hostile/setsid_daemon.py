# Leaves a daemon behind: its own session, double-forked, sleeping for minutes; the test
# looks for it by its sleep argument after the response.
import json
import posix
import time
params = json.loads(input())
if posix.fork() == 0:
    posix.setsid()
    if posix.fork() == 0:
        posix.execv('/bin/sleep', ['sleep', '313.' + params['nonce']])
    posix._exit(0)
time.sleep(0.5)

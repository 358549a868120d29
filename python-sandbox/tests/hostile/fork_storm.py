# Starts up to 300 processes that would sleep for minutes (posix.fork, past the guard);
# the test looks for them by their sleep argument after the response.
import json
import posix
import time
params = json.loads(input())
for _ in range(300):
    try:
        pid = posix.fork()
    except OSError:
        break
    if pid == 0:
        try:
            posix.execv('/bin/sleep', ['sleep', '314.' + params['nonce']])
        finally:
            posix._exit(0)
time.sleep(30)

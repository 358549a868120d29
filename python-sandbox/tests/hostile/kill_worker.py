# Kills its parent (the worker) with posix.kill, past the guard.
import posix
import time
posix.kill(posix.getppid(), 9)
time.sleep(1)

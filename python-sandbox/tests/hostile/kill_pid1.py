# Kills pid 1 (the worker under bwrap, firejail's init, the machine's init otherwise).
import posix
import time
posix.kill(1, 9)
time.sleep(1)

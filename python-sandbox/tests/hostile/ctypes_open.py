# Writes a file outside the working folder through libc's open/write with ctypes.
import ctypes
import json
import os
params = json.loads(input())
libc = ctypes.CDLL(None, use_errno=True)
fd = libc.open((params['outside'] + '/ctypes_open').encode(), os.O_WRONLY | os.O_CREAT, 0o644)
if fd < 0:
    raise OSError(ctypes.get_errno(), 'open failed')
libc.write(fd, b'escaped', 7)
libc.close(fd)

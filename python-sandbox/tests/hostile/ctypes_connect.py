# Connects to the test's TCP listener through libc's socket/connect/send with ctypes.
import ctypes
import json
import socket
import struct
params = json.loads(input())
libc = ctypes.CDLL(None, use_errno=True)
fd = libc.socket(2, 1, 0)  # AF_INET, SOCK_STREAM
address = struct.pack('!HH4s8x', 2, params['port'], socket.inet_aton('127.0.0.1'))
address = struct.pack('=H', 2) + address[2:]  # sa_family is in host byte order
if libc.connect(fd, address, len(address)) != 0:
    raise OSError(ctypes.get_errno(), 'connect failed')
libc.send(fd, b'ctypes_connect', 14, 0)
libc.close(fd)

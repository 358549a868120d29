# Connects to the test's TCP listener with _socket (the C module behind socket).
import _socket
import json
params = json.loads(input())
connection = _socket.socket(_socket.AF_INET, _socket.SOCK_STREAM)
connection.settimeout(2)
connection.connect(('127.0.0.1', params['port']))
connection.send(b'raw_socket_connect')
connection.close()

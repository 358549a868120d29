# Connects to the test's TCP listener on the loopback with the socket module.
import json
import socket
params = json.loads(input())
connection = socket.create_connection(('127.0.0.1', params['port']), timeout=2)
connection.sendall(b'socket_connect')
connection.close()

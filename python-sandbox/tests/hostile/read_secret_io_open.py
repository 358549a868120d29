# Reads a secret in the home folder with _io.open and prints it (stdout and stderr).
import _io
import json
import sys
params = json.loads(input())
secret = _io.open(params['secret']).read()
print(secret)
print(secret, file=sys.stderr)

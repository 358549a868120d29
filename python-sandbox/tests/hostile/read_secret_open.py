# Reads a secret in the home folder with open() and prints it (stdout and stderr).
import json
import sys
params = json.loads(input())
secret = open(params['secret']).read()
print(secret)
print(secret, file=sys.stderr)

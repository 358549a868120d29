# Runs a program with subprocess.
import json
import subprocess
params = json.loads(input())
subprocess.run(['touch', params['outside'] + '/subprocess_run'])

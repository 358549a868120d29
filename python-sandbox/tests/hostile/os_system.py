# Runs a shell command with os.system.
import json
import os
params = json.loads(input())
os.system("touch '%s/os_system'" % params['outside'])

# Runs a shell command through the posix module (what os.system calls).
import json
import posix
params = json.loads(input())
posix.system("touch '%s/posix_system'" % params['outside'])

# Writes a file outside the working folder with open().
import json
params = json.loads(input())
with open(params['outside'] + '/write_open', 'w') as handle:
    handle.write('escaped')

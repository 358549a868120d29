# Writes a file outside the working folder with _io.open (the C function behind open()).
import _io
import json
params = json.loads(input())
with _io.open(params['outside'] + '/write_io_open', 'w') as handle:
    handle.write('escaped')

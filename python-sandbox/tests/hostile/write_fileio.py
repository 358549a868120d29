# Writes a file outside the working folder with io.FileIO.
import io
import json
params = json.loads(input())
handle = io.FileIO(params['outside'] + '/write_fileio', 'w')
handle.write(b'escaped')
handle.close()

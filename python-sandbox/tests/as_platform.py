"""Runs judge.py as if on another platform, recording every call that platform does not
have: ctypes.CDLL (prctl), os.memfd_create, reads under /proc, and on Windows os.kill
(which terminates a process there) and the POSIX-only modules.

    python as_platform.py darwin|win32 RECORD_FILE [--import-only] [JUDGE ARGS...]

RECORD_FILE receives the JSON list of recorded calls when the judge exits.
"""
import atexit
import builtins
import ctypes
import json
import os
import sys

SANDBOX = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))
platform, record, args = sys.argv[1], sys.argv[2], sys.argv[3:]
calls = []
real_open, real_listdir = builtins.open, os.listdir


def recorded(name):
    def call(*arguments, **keywords):
        calls.append('%s%r' % (name, arguments[:1]))
        raise OSError('%s does not exist on %s' % (name, platform))
    return call


def listdir(path='.'):
    if str(path).startswith('/proc'):
        calls.append('os.listdir(%r)' % path)
    return real_listdir(path)


def open_file(file, *arguments, **keywords):
    if isinstance(file, str) and file.startswith('/proc'):
        calls.append('open(%r)' % file)
    return real_open(file, *arguments, **keywords)


sys.platform = platform
ctypes.CDLL = recorded('ctypes.CDLL')
os.memfd_create = recorded('os.memfd_create')
os.listdir, builtins.open = listdir, open_file
if platform == 'win32':
    for module in ('resource', 'fcntl', 'termios'):
        sys.modules[module] = None  # importing them raises ImportError, as on Windows
    os.kill = recorded('os.kill')
atexit.register(lambda: real_open(record, 'w').write(json.dumps(calls)))
sys.path.insert(0, SANDBOX)
if args[:1] == ['--import-only']:
    import candidate, hostos, isolation, judge, worker  # noqa: E401,F401
else:
    import judge
    judge.main(args)

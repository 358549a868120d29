"""Pre-warmed sandbox worker (runs inside bwrap, or bare in rlimits mode).

judge.py starts one worker per pool slot and talks to it in JSON lines over stdin/stdout:
  {"op": "config", ...}                        -> {"ready": true, ...}
  {"op": "begin", "kind": "stdin"|"call", "code", "fn_name", "timeout_s", "memory_mb",
   "n_tests", "apps_exit": bool}                -> (no reply)
  {"op": "test", "input": <stdin text> | <encoded call arguments>}
      -> {"status": "ok"|"runtime_error"|"timeout"|"memory_limit"|"output_limit"|
          "compile_error", "stdout": str, "value": <encoded>, "stderr": str, "message": str}
  {"op": "end"}                                 -> {"ended": true}
The worker never sees expected outputs. For every test it forks a child from this warm
interpreter (standard input) or keeps one forked runner per request (call-based, so module
state carries from test to test as in APPS). Each child gets its own process group, fresh
working directory, scrubbed environment, rlimits, and (when root) its own uid; when a
test ends every process the candidate left behind is killed.
"""
import ast
import builtins
import ctypes
import errno
import io
import json
import os
import resource
import selectors
import shutil
import signal
import sys
import tempfile
import time
import traceback

import valuecodec
from isolation import descendants

# The names the official APPS harness prepends to every program (it imports them in a
# header), so solutions that rely on them without importing behave the same here.
import itertools  # noqa: E401
import collections
import functools
import math
import fractions
import heapq
import random
import typing

try:  # numpy is optional; APPS provides `np` when it is installed.
    os.environ.setdefault('OPENBLAS_NUM_THREADS', '1')
    import numpy
except Exception:  # pragma: no cover - depends on the interpreter
    numpy = None

# Warmed so that candidates importing them pay nothing after the fork.
import array, bisect, copy, datetime, decimal, operator, re, statistics, string  # noqa: E401,F401
import threading, atexit, queue, dataclasses, enum  # noqa: E401,F401


def _apps_prelude():
    names = {
        'sys': sys, 'time': time, 'itertools': itertools, 'collections': collections,
        'math': math, 'fractions': fractions, 'random': random, 'heapq': heapq,
        'lru_cache': functools.lru_cache, 'List': typing.List, 'Tuple': typing.Tuple,
    }
    for name in ('accumulate', 'product', 'permutations', 'combinations'):
        names[name] = getattr(itertools, name)
    for name in ('Counter', 'OrderedDict', 'deque', 'defaultdict', 'ChainMap'):
        names[name] = getattr(collections, name)
    for name in ('sqrt', 'sin', 'cos', 'tan', 'ceil', 'fabs', 'floor', 'gcd', 'exp', 'log', 'log2'):
        names[name] = getattr(math, name)
    for name in heapq.__all__:  # from heapq import *
        names[name] = getattr(heapq, name)
    if numpy is not None:
        names['np'] = numpy
    return names


APPS_PRELUDE = _apps_prelude()

STDOUT_CAP = 16 * 1024 * 1024
STDERR_CAP = 1024 * 1024
STDERR_KEPT = 8 * 1024
RESULT_CAP = 16 * 1024 * 1024
FILE_SIZE_LIMIT = 16 * 1024 * 1024
OPEN_FILES_LIMIT = 256
# Fixed descriptor numbers inside a candidate process.
FD_STATUS, FD_COMMAND, FD_RESULT = 3, 4, 5

_libc = ctypes.CDLL(None, use_errno=True)
PR_SET_PDEATHSIG, PR_SET_DUMPABLE, PR_SET_CHILD_SUBREAPER = 1, 4, 36


def prctl(option, arg):
    return _libc.prctl(option, ctypes.c_ulong(arg), 0, 0, 0)


# ---------------------------------------------------------------- process clean-up

def reap():
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def kill_all_descendants():
    """SIGKILL every process below this worker until none is left, and reap them."""
    me = os.getpid()
    for _ in range(50):
        pids = descendants(me)
        if not pids:
            break
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        reap()
        time.sleep(0.002)
    reap()


# ---------------------------------------------------------------- candidate side

def _top_level_bindings(body):
    """Names a module body binds outside nested functions/classes (for `global`)."""
    names = set()
    stack = list(body)
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
            stack.extend(node.decorator_list)
            continue
        if isinstance(node, ast.Lambda):
            continue
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            names.add(node.id)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                if alias.name != '*':
                    names.add(alias.asname or alias.name.split('.')[0])
        elif isinstance(node, ast.ExceptHandler) and node.name:
            names.add(node.name)
        elif isinstance(node, ast.Global):
            names.update(node.names)
        elif type(node).__name__ in ('MatchAs', 'MatchStar') and getattr(node, 'name', None):
            names.add(node.name)
        elif type(node).__name__ == 'MatchMapping' and getattr(node, 'rest', None):
            names.add(node.rest)
        stack.extend(ast.iter_child_nodes(node))
    return names


class _TopLevelRewriter(ast.NodeTransformer):
    """Inside the wrapper function: annotated names cannot be declared global, and module
    level `global` statements become redundant."""

    def visit_FunctionDef(self, node):
        return node

    visit_AsyncFunctionDef = visit_ClassDef = visit_Lambda = visit_FunctionDef

    def visit_AnnAssign(self, node):
        if node.value is None:
            return ast.copy_location(ast.Pass(), node)
        return ast.copy_location(ast.Assign(targets=[node.target], value=node.value), node)

    def visit_Global(self, node):
        return ast.copy_location(ast.Pass(), node)


def wrap_top_level_return(source):
    """The APPS harness runs a standard-input program as the body of a function, so a
    top-level `return` ends the program. Same here, but every top-level name is declared
    global so the program keeps ordinary module semantics otherwise."""
    tree = ast.parse(source, 'main.py')
    hoisted, body = [], []
    for node in tree.body:
        is_future = isinstance(node, ast.ImportFrom) and node.module == '__future__'
        is_star = isinstance(node, ast.ImportFrom) and any(a.name == '*' for a in node.names)
        (hoisted if is_future or is_star else body).append(node)
    names = sorted(_top_level_bindings(body))
    body = [_TopLevelRewriter().visit(node) for node in body]
    if names:
        body.insert(0, ast.Global(names=names))
    main = ast.FunctionDef(name='__passlens_main__', args=ast.arguments(
        posonlyargs=[], args=[], vararg=None, kwonlyargs=[], kw_defaults=[], kwarg=None, defaults=[]),
        body=body or [ast.Pass()], decorator_list=[], returns=None, type_comment=None)
    if sys.version_info >= (3, 12):
        main.type_params = []
    call = ast.Expr(ast.Call(func=ast.Name('__passlens_main__', ast.Load()), args=[], keywords=[]))
    tree.body = hoisted + [main, call]
    ast.fix_missing_locations(tree)
    return compile(tree, 'main.py', 'exec')


def compile_candidate(source, kind):
    try:
        return compile(source, 'main.py', 'exec')
    except SyntaxError as error:
        if kind == 'stdin' and "'return' outside function" in str(error):
            return wrap_top_level_return(source)
        raise


def _write_all(fd, data):
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _write_status(message):
    try:
        _write_all(FD_STATUS, (json.dumps(message) + '\n').encode())
    except OSError:
        pass


def _failure_message(error):
    return {'error': 'memory' if isinstance(error, MemoryError) else 'exception',
            'type': type(error).__name__}


def _finish_and_exit(code):
    """What interpreter shutdown does, without unwinding the worker's frames: wait for
    non-daemon threads, run atexit handlers, flush, exit."""
    try:
        shutdown = getattr(threading, '_shutdown', None)
        if shutdown is not None:
            shutdown()
        atexit._run_exitfuncs()
    except BaseException:  # a failing shutdown hook must not turn into a pass
        code = code or 1
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BaseException:
            pass
    os._exit(code)


def _candidate_globals(name):
    namespace = dict(APPS_PRELUDE)
    namespace.update(__name__=name, __builtins__=builtins, __file__='main.py', __doc__=None)
    return namespace


def run_stdin_program(config):
    code = _compile_or_report(config)
    namespace = _candidate_globals('__main__')
    _apply_apps_exit_quirk(config)
    try:
        exec(code, namespace)
    except SystemExit:  # APPS counts sys.exit() as a normal end
        pass
    except BaseException as error:
        _write_status(_failure_message(error))
        traceback.print_exc()
        _finish_and_exit(1)
    _finish_and_exit(0)


def run_call_runner(config):
    code = _compile_or_report(config)
    namespace = _candidate_globals('solution')
    _apply_apps_exit_quirk(config)
    try:
        exec(code, namespace)
        if 'class Solution' in config['code']:
            method = getattr(namespace['Solution'](), config['fn_name'])
        else:
            method = namespace[config['fn_name']]
    except BaseException as error:  # APPS: load or lookup failure is a compile error (-2)
        _write_status({'compile_error': '%s: %s' % (type(error).__name__, error)})
        traceback.print_exc()
        _finish_and_exit(0)
    _write_status({'ready': True})
    commands = os.fdopen(FD_COMMAND, 'rb', buffering=0)
    pending = b''
    while True:
        while b'\n' not in pending:
            chunk = commands.read(65536)
            if not chunk:
                _finish_and_exit(0)
            pending += chunk
        line, pending = pending.split(b'\n', 1)
        try:
            args = valuecodec.loads(line.decode())
            result = method(*args)
            reply = {'value': valuecodec.to_data(result)}
        except BaseException as error:
            reply = _failure_message(error)
            traceback.print_exc()
        try:
            data = json.dumps(reply, separators=(',', ':'))
        except (ValueError, TypeError) as error:
            data = json.dumps({'unencodable': str(error)})
        _write_all(FD_RESULT, data.encode() + b'\n')


def _compile_or_report(config):
    try:
        return compile_candidate(config['code'], config['kind'])
    except BaseException as error:  # SyntaxError, ValueError (NUL bytes), RecursionError...
        message = '%s: %s' % (type(error).__name__, error)
        _write_status({'compile_error': message})
        try:
            sys.stderr.write(message + '\n')
        except BaseException:
            pass
        _finish_and_exit(0)


def _apply_apps_exit_quirk(config):
    # The APPS reliability guard sets exit/quit to None, so calling them is a runtime error.
    if config.get('apps_exit'):
        builtins.exit = None
        builtins.quit = None


def install_guard(allowed_dir, deny_read):
    """Fallback guard (rlimits mode only): turns destructive os/shutil/subprocess calls,
    sockets, and file access outside the working directory or into home directories into
    PermissionError. A guard, not a sandbox: ctypes can get around it."""
    import shutil as shutil_module
    import socket
    import subprocess

    def refuse(name):
        def refused(*args, **kwargs):
            raise PermissionError('%s is disabled in the sandbox' % name)
        return refused

    for name in ('system', 'popen', 'kill', 'killpg', 'fork', 'forkpty', 'remove', 'unlink',
                 'rmdir', 'removedirs', 'rename', 'renames', 'replace', 'truncate', 'chmod',
                 'chown', 'lchown', 'fchmod', 'fchown', 'link', 'symlink', 'putenv', 'unsetenv',
                 'setuid', 'setgid', 'setsid', 'setpgid', 'chroot', 'execv', 'execve',
                 'execl', 'execle', 'execlp', 'execlpe', 'execvp', 'execvpe', 'spawnl',
                 'spawnle', 'spawnlp', 'spawnlpe', 'spawnv', 'spawnve', 'spawnvp', 'spawnvpe',
                 'posix_spawn', 'posix_spawnp', 'register_at_fork'):
        if hasattr(os, name):
            setattr(os, name, refuse('os.' + name))
    for name in ('rmtree', 'move', 'chown', 'copy', 'copyfile', 'copy2', 'copytree'):
        setattr(shutil_module, name, refuse('shutil.' + name))
    subprocess.Popen = refuse('subprocess.Popen')
    for name in ('run', 'call', 'check_call', 'check_output', 'getoutput', 'getstatusoutput'):
        setattr(subprocess, name, refuse('subprocess.' + name))
    socket.socket = refuse('socket.socket')
    socket.create_connection = refuse('socket.create_connection')
    for name in ('socketpair', 'fromfd'):
        setattr(socket, name, refuse('socket.' + name))

    allowed = os.path.realpath(allowed_dir) + os.sep
    denied = [os.path.realpath(path) + os.sep for path in deny_read]
    real_open, real_os_open = builtins.open, os.open

    def checked(path, writing):
        if isinstance(path, int):
            return
        full = os.path.realpath(os.fspath(path)) + os.sep
        if full.startswith(allowed):
            return
        if writing or any(full.startswith(prefix) for prefix in denied):
            raise PermissionError('access to %s is disabled in the sandbox' % os.fspath(path))

    def guarded_open(file, mode='r', *args, **kwargs):
        checked(file, any(flag in mode for flag in 'wax+'))
        return real_open(file, mode, *args, **kwargs)

    def guarded_os_open(path, flags, *args, **kwargs):
        checked(path, bool(flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC)))
        return real_os_open(path, flags, *args, **kwargs)

    builtins.open = io.open = guarded_open
    os.open = guarded_os_open


def enter_candidate(config, fds, workdir):
    """In the forked child: isolate the process, then never return."""
    try:
        os.setpgid(0, 0)
        prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        # Move the wanted descriptors to their fixed numbers and close every other one, so
        # the candidate cannot reach the worker's control pipes.
        high = [os.dup(fd) for _, fd in fds]
        for (target, _), fd in zip(fds, high):
            os.dup2(fd, target, inheritable=True)
        os.closerange(max(target for target, _ in fds) + 1, resource.getrlimit(resource.RLIMIT_NOFILE)[0])
        memory = config['memory_mb'] * 1024 * 1024
        cpu = int(math.ceil(config['timeout_s'] * config.get('cpu_tests', 1))) + 1
        for limit, value in ((resource.RLIMIT_AS, memory), (resource.RLIMIT_CPU, cpu),
                             (resource.RLIMIT_FSIZE, FILE_SIZE_LIMIT),
                             (resource.RLIMIT_NOFILE, OPEN_FILES_LIMIT), (resource.RLIMIT_CORE, 0),
                             (resource.RLIMIT_NPROC, WORKER['nproc'])):
            resource.setrlimit(limit, (value, value))
        os.chdir(workdir)
        os.environ.clear()
        os.environ.update({'PATH': '/usr/local/bin:/usr/bin:/bin', 'HOME': workdir, 'TMPDIR': workdir,
                           'LANG': 'C.UTF-8', 'OPENBLAS_NUM_THREADS': '1', 'OMP_NUM_THREADS': '1'})
        tempfile.tempdir = workdir
        uid = WORKER['uid']
        if uid is not None:
            os.setgroups([])
            os.setgid(uid)
            os.setuid(uid)
        # Like the interpreter's own streams (open() also sets .mode, which programs read).
        sys.stdin = open(0, 'r', encoding='utf-8', errors='replace', closefd=False)
        sys.stdout = open(1, 'w', encoding='utf-8', errors='backslashreplace', closefd=False)
        sys.stderr = open(2, 'w', encoding='utf-8', errors='backslashreplace', closefd=False,
                          buffering=1)
        sys.__stdin__, sys.__stdout__, sys.__stderr__ = sys.stdin, sys.stdout, sys.stderr
        sys.argv = ['main.py']
        if hasattr(sys, 'set_int_max_str_digits'):
            sys.set_int_max_str_digits(0)
        if WORKER['guard']:
            install_guard(workdir, WORKER['deny_read'])
        if config['kind'] == 'stdin':
            run_stdin_program(config)
        else:
            run_call_runner(config)
    except BaseException:
        try:
            traceback.print_exc()
        finally:
            os._exit(1)
    os._exit(1)


# ---------------------------------------------------------------- worker side

WORKER = {'uid': None, 'nproc': 256, 'guard': False, 'deny_read': [], 'tmp': '/tmp', 'wipe': []}


class Candidate:
    """One forked candidate process and the pipes the worker reads from it."""

    def __init__(self, config, workdir, stdin_data):
        if stdin_data is None:
            memfd = os.open(os.devnull, os.O_RDONLY)
        else:  # an in-memory file: seekable like `< file`, nothing on disk
            memfd = os.memfd_create('stdin', 0)
            data = memoryview(stdin_data.encode('utf-8', 'surrogateescape'))
            while data:
                data = data[os.write(memfd, data):]
            os.lseek(memfd, 0, os.SEEK_SET)
        out_r, out_w = os.pipe() if config['kind'] == 'stdin' else (None, os.open(os.devnull, os.O_WRONLY))
        err_r, err_w = os.pipe()
        status_r, status_w = os.pipe()
        fds = [(0, memfd), (1, out_w), (2, err_w), (FD_STATUS, status_w)]
        cmd_w = result_r = None
        if config['kind'] == 'call':
            cmd_r, cmd_w = os.pipe()
            result_r, result_w = os.pipe()
            fds += [(FD_COMMAND, cmd_r), (FD_RESULT, result_w)]
        pid = os.fork()
        if pid == 0:
            enter_candidate(config, fds, workdir)
        self.pid = pid
        for _, fd in fds:
            os.close(fd)
        self.pidfd = os.pidfd_open(pid) if hasattr(os, 'pidfd_open') else None
        self.cmd_w = cmd_w
        self.exit_status = None
        self.streams = {}
        for name, fd in (('stdout', out_r), ('stderr', err_r), ('status', status_r), ('result', result_r)):
            if fd is not None:
                os.set_blocking(fd, False)
                self.streams[name] = fd
        self.data = {name: bytearray() for name in self.streams}
        self.dropped = {name: 0 for name in self.streams}

    def _read(self, name):
        """Reads one chunk: 'data', 'again' (nothing available) or 'eof' (stream closed)."""
        fd = self.streams[name]
        try:
            chunk = os.read(fd, 1 << 16)
        except BlockingIOError:
            return 'again'
        if not chunk:
            os.close(fd)
            del self.streams[name]
            return 'eof'
        cap = {'stdout': STDOUT_CAP, 'stderr': STDERR_KEPT, 'status': 65536, 'result': RESULT_CAP}[name]
        room = max(cap - len(self.data[name]), 0)
        self.data[name] += chunk[:room]
        self.dropped[name] += max(len(chunk) - room, 0)
        return 'data'

    def over_limit(self):
        return self.dropped.get('stdout', 0) > 0 or self.dropped.get('result', 0) > 0 or \
            len(self.data.get('stderr', b'')) + self.dropped.get('stderr', 0) > STDERR_CAP

    def poll_exit(self):
        if self.exit_status is None:
            try:
                pid, status = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:  # reaped by a clean-up sweep: it was killed
                pid, status = self.pid, signal.SIGKILL
            if pid:
                self.exit_status = status
        return self.exit_status is not None

    def wait(self, deadline, until_line=None):
        """Read output until the process exits or, when until_line names a stream, a full
        line arrives on it. Returns 'done', 'timeout' or 'output_limit'."""
        selector = selectors.DefaultSelector()
        try:
            for name, fd in self.streams.items():
                selector.register(fd, selectors.EVENT_READ, name)
            if self.pidfd is not None:
                selector.register(self.pidfd, selectors.EVENT_READ, None)
            while True:
                if until_line and b'\n' in self.data.get(until_line, b''):
                    return 'done'
                if self.poll_exit():
                    self.drain()
                    return 'done'
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return 'timeout'
                wait = remaining if self.pidfd is not None else min(remaining, 0.005)
                for key, _ in selector.select(wait):
                    if key.data is not None and key.data in self.streams:
                        if self._read(key.data) == 'eof':
                            selector.unregister(key.fd)
                if self.over_limit():
                    return 'output_limit'
        finally:
            selector.close()

    def drain(self):
        """Reads what is left in the pipes without blocking (called once writers are gone)."""
        for name in list(self.streams):
            while name in self.streams and self._read(name) == 'data' and not self.over_limit():
                pass

    def kill(self):
        for kill in (os.killpg, os.kill):  # the group, and the leader even if it left it
            try:
                kill(self.pid, signal.SIGKILL)
            except OSError:
                pass
        if self.exit_status is None:
            try:
                self.exit_status = os.waitpid(self.pid, 0)[1]
            except ChildProcessError:
                self.exit_status = signal.SIGKILL
        kill_all_descendants()

    def close(self):
        for fd in list(self.streams.values()) + [self.pidfd, self.cmd_w]:
            if fd is not None:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self.streams = {}
        self.pidfd = self.cmd_w = None

    def status_message(self):
        first = bytes(self.data.get('status', b'')).split(b'\n', 1)[0]
        try:
            message = json.loads(first.decode())
            return message if isinstance(message, dict) else {}
        except ValueError:
            return {}

    def stderr_text(self):
        return bytes(self.data.get('stderr', b'')).decode('utf-8', 'replace')


def classify_exit(status, message):
    """Verdict of a finished candidate from its wait status and its status message."""
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        if sig == signal.SIGXCPU:
            return 'timeout', 'CPU time limit exceeded'
        if sig == signal.SIGXFSZ:
            return 'output_limit', 'file size limit exceeded'
        if sig == signal.SIGKILL:  # RLIMIT_CPU's hard limit, or the kernel's OOM killer
            return 'timeout', 'killed (CPU limit)'
        return 'runtime_error', 'killed by signal %d' % sig
    code = os.WEXITSTATUS(status)
    if code == 0:
        return 'ok', ''
    if message.get('error') == 'memory':
        return 'memory_limit', 'MemoryError'
    return 'runtime_error', 'exit status %d' % code


class Session:
    """One request's candidate: its working directory and (call-based) its runner."""

    def __init__(self, config):
        self.config = config
        self.workdir = tempfile.mkdtemp(prefix='run-', dir=WORKER['tmp'])
        if WORKER['uid'] is not None:
            os.chown(self.workdir, WORKER['uid'], WORKER['uid'])
        os.chmod(self.workdir, 0o700)
        self.runner = None

    def test(self, test_input):
        if self.config['kind'] == 'stdin':
            return self._stdin_test(test_input)
        return self._call_test(test_input)

    def _stdin_test(self, test_input):
        start = time.monotonic()
        if isinstance(test_input, list) and all(isinstance(item, str) for item in test_input):
            test_input = '\n'.join(test_input)
        if not isinstance(test_input, str):
            return {'status': 'runtime_error', 'message': 'the test input is not a string',
                    'stdout': '', 'stderr': ''}
        candidate = Candidate(self.config, self.workdir, test_input)
        try:
            state = candidate.wait(start + self.config['timeout_s'])
            if state != 'done':
                candidate.kill()
            candidate.drain()
            message = candidate.status_message()
            reply = {'stdout': bytes(candidate.data['stdout']).decode('utf-8', 'replace'),
                     'stderr': candidate.stderr_text()}
            if 'compile_error' in message:
                reply.update(status='compile_error', message=str(message['compile_error']))
            elif state != 'done':
                reply.update(status=state, message='time limit exceeded' if state == 'timeout'
                             else 'output larger than the limit')
            else:
                status, text = classify_exit(candidate.exit_status, message)
                reply.update(status=status, message=text)
            return reply
        finally:
            candidate.kill()
            candidate.close()

    def _start_runner(self):
        config = dict(self.config, cpu_tests=self.config['n_tests'] + 1)
        runner = Candidate(config, self.workdir, None)
        deadline = time.monotonic() + self.config['timeout_s']
        state = runner.wait(deadline, until_line='status')
        message = runner.status_message()
        if message.get('ready'):
            self.runner = runner
            return None
        runner.kill()
        runner.drain()
        runner.close()
        stderr = runner.stderr_text()
        if 'compile_error' in message:
            return {'status': 'compile_error', 'message': str(message['compile_error']), 'stderr': stderr}
        if state == 'timeout':
            return {'status': 'timeout', 'message': 'time limit exceeded while loading', 'stderr': stderr}
        if runner.exit_status is not None:
            status, text = classify_exit(runner.exit_status, message)
            if status != 'ok':
                return {'status': status, 'message': text + ' while loading', 'stderr': stderr}
        return {'status': 'runtime_error', 'message': 'the program ended while loading', 'stderr': stderr}

    def _call_test(self, encoded_args):
        if self.runner is None:
            failure = self._start_runner()
            if failure is not None:
                return failure
        runner = self.runner
        start = time.monotonic()
        runner.data['result'].clear()
        runner.data['stderr'].clear()
        try:
            os.write(runner.cmd_w, json.dumps(encoded_args, separators=(',', ':')).encode() + b'\n')
            state = runner.wait(start + self.config['timeout_s'], until_line='result')
        except OSError:
            state = 'done'
        line = bytes(runner.data['result']).split(b'\n', 1)[0]
        reply = {'stderr': runner.stderr_text()}
        if state == 'done' and b'\n' in runner.data['result']:
            try:
                result = json.loads(line.decode())
            except ValueError:
                result = {}
            if not isinstance(result, dict):
                result = {}
            if 'value' in result:
                reply.update(status='ok', value=result['value'])
                return reply
            status = 'memory_limit' if result.get('error') == 'memory' else 'runtime_error'
            reply.update(status=status, message=str(result.get('type') or result.get('unencodable') or 'bad reply'))
            return reply
        # No result: the runner timed out, flooded, or died; the next test gets a new one.
        self.stop_runner()
        if state == 'done':
            status, text = classify_exit(runner.exit_status, runner.status_message()) \
                if runner.exit_status is not None else ('runtime_error', 'no result')
            reply.update(status='runtime_error' if status == 'ok' else status,
                         message=text if status != 'ok' else 'the program ended during the call')
        else:
            reply.update(status=state, message='time limit exceeded' if state == 'timeout'
                         else 'output larger than the limit')
        return reply

    def stop_runner(self):
        if self.runner is not None:
            self.runner.kill()
            self.runner.close()
            self.runner = None

    def end(self):
        self.stop_runner()
        kill_all_descendants()
        shutil.rmtree(self.workdir, ignore_errors=True)
        for root in WORKER['wipe']:  # bwrap mode: the sandbox's private tmpfs, stray files
            for entry in os.listdir(root):
                path = os.path.join(root, entry)
                if os.path.isdir(path) and not os.path.islink(path):
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    try:
                        os.unlink(path)
                    except OSError:
                        pass


def serve():
    control_in = os.fdopen(os.dup(0), 'rb')
    control_out = os.dup(1)
    # Anything printed by accident must not corrupt the control channel.
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(devnull, 1)
    os.close(devnull)
    os.set_inheritable(control_out, False)
    prctl(PR_SET_DUMPABLE, 0)  # candidates (same uid when not root) cannot ptrace us
    prctl(PR_SET_CHILD_SUBREAPER, 1)  # orphaned grandchildren come back to us for killing
    prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    if hasattr(sys, 'set_int_max_str_digits'):
        sys.set_int_max_str_digits(0)

    def reply(message):
        _write_all(control_out, (json.dumps(message, separators=(',', ':')) + '\n').encode())

    session = None
    for raw in control_in:
        message = json.loads(raw)
        op = message.get('op')
        if op == 'config':
            WORKER.update(message['worker'])
            reply({'ready': True, 'pid': os.getpid(), 'uid': os.getuid(),
                   'numpy': numpy is not None})
        elif op == 'begin':
            if session is not None:
                session.end()
            session = Session(message)
        elif op == 'test':
            try:
                reply(session.test(message['input']))
            except Exception as error:  # keep serving; the judge reports the test as errored
                reply({'status': 'runtime_error', 'message': 'sandbox error: %r' % error, 'stderr': ''})
        elif op == 'end':
            if session is not None:
                session.end()
                session = None
            reply({'ended': True})
    if session is not None:
        session.end()


if __name__ == '__main__':
    try:
        serve()
    except (KeyboardInterrupt, BrokenPipeError):
        pass
    except OSError as error:
        if error.errno != errno.EPIPE:
            raise

"""What runs in a candidate process, after the worker has forked it: the isolation it
enters (enter_candidate), the compile step (top-level `return` of standard-input programs),
the standard-input program, the call runner, the checker (check programs; it runs no
candidate code), and the weak-mode guard.

Nothing here reads worker state: enter_candidate gets the per-candidate settings it needs
(uid, process cap, guard) as an argument. The modules imported here are imported by the
worker before it forks, so candidates pay nothing for them.
"""
import ast
import builtins
import io
import json
import os
import sys
import tempfile
import time
import traceback
import types

import hostos
import valuecodec

try:
    import resource
except ImportError:  # Windows: the judge refuses to run there (isolation.py)
    resource = None

# The names the official APPS harness prepends to every program (it imports them in a
# header), so solutions that rely on them without importing behave the same here.
import collections
import fractions
import functools
import heapq
import itertools
import math
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

FILE_SIZE_LIMIT = 16 * 1024 * 1024
OPEN_FILES_LIMIT = 256
# Fixed descriptor numbers inside a candidate process.
FD_STATUS, FD_COMMAND, FD_RESULT = 3, 4, 5


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


def write_all(fd, data):
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _write_status(message):
    try:
        write_all(FD_STATUS, (json.dumps(message) + '\n').encode())
    except OSError:
        pass


def _failure_message(error):
    try:
        text = str(error)[:500]
    except BaseException:  # a candidate's exception whose __str__ raises
        text = ''
    return {'error': 'memory' if isinstance(error, MemoryError) else 'exception',
            'type': type(error).__name__, 'message': text}


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
    """Loads the candidate module, reports {"ready", "functions"} on the status pipe, then
    answers calls {"fn", "args", "kwargs"?} (valuecodec data) from the worker with
    {"value"} or a failure, one JSON line each. `call` kind: the APPS function or
    Solution method; `check` kind: the entry point and the module's other functions."""
    code = _compile_or_report(config)
    checked = config['kind'] == 'check'
    if checked:  # HumanEval style: a plain module, none of the APPS harness's names
        namespace = {'__name__': 'solution', '__builtins__': builtins, '__file__': 'main.py', '__doc__': None}
    else:
        namespace = _candidate_globals('solution')
        _apply_apps_exit_quirk(config)
    try:
        exec(code, namespace)
        targets = _check_targets(namespace, config['entry_point']) if checked else _apps_target(namespace, config)
    except BaseException as error:
        message = '%s: %s' % (type(error).__name__, error)
        # APPS: a load or lookup failure is a compile error (-2); a check request reports
        # it as a runtime error.
        _write_status({'load_error' if checked else 'compile_error': message})
        traceback.print_exc()
        _finish_and_exit(0)
    _write_status({'ready': True, 'functions': sorted(targets)})
    calls = LineReader(FD_COMMAND)
    while True:
        line = calls.next_line()
        if line is None:
            _finish_and_exit(0)
        try:
            call = json.loads(line)
            args = valuecodec.loads(json.dumps(call['args']))
            kwargs = valuecodec.loads(json.dumps(call['kwargs'])) if 'kwargs' in call else {}
            reply = {'value': valuecodec.to_data(targets[call['fn']](*args, **kwargs))}
        except BaseException as error:
            reply = _failure_message(error)
            traceback.print_exc()
        try:
            data = json.dumps(reply, separators=(',', ':'))
        except (ValueError, TypeError) as error:
            data = json.dumps({'unencodable': str(error)})
        write_all(FD_RESULT, data.encode() + b'\n')


def _apps_target(namespace, config):
    if 'class Solution' in config['code']:
        return {config['fn_name']: getattr(namespace['Solution'](), config['fn_name'])}
    return {config['fn_name']: namespace[config['fn_name']]}


def _check_targets(namespace, entry_point):
    """The entry point, and the module's functions a check program may call (HumanEval
    checks call helpers of the prompt, e.g. encode_cyclic). Not under a builtin's name: a
    candidate defining abs() must not change what abs() means in the check."""
    if not callable(namespace.get(entry_point)):
        raise NameError('entry point %r is not defined' % entry_point)
    targets = {name: value for name, value in namespace.items()
               if isinstance(value, types.FunctionType) and name not in builtins.__dict__}
    targets[entry_point] = namespace[entry_point]
    return targets


class LineReader:
    """Reads newline-terminated lines from a pipe, unbuffered beyond the line."""

    def __init__(self, fd):
        self.fd = fd
        self.pending = b''

    def next_line(self):
        """The next line without its newline, or None at end of file."""
        while b'\n' not in self.pending:
            chunk = os.read(self.fd, 65536)
            if not chunk:
                return None
            self.pending += chunk
        line, self.pending = self.pending.split(b'\n', 1)
        return line.decode()


class CandidateFailed(BaseException):
    """The candidate ran out of memory during a call from the check program. A
    BaseException, so that a check's `except Exception` cannot swallow it."""


def run_checker(config):
    """Runs a check program (HumanEval style) in its own process: `check(candidate)` with
    the candidate's entry point and functions as proxies that call into the candidate's
    process through the worker, passing arguments and return values as data (valuecodec).
    Candidate code never runs here, so it cannot see the check, change its builtins, or
    return objects that fake an equality. Reports on the status pipe: {"passed": true},
    {"assertion": text}, {"candidate_failed": "memory"} or an exception."""
    calls = LineReader(FD_COMMAND)

    def proxy(name):
        def call(*args, **kwargs):
            request = {'fn': name, 'args': valuecodec.to_data(list(args))}
            if kwargs:
                request['kwargs'] = valuecodec.to_data(kwargs)
            write_all(FD_RESULT, json.dumps(request, separators=(',', ':')).encode() + b'\n')
            reply = json.loads(calls.next_line())
            if 'value' in reply:
                return valuecodec.loads(json.dumps(reply['value']))
            if reply.get('error') == 'memory':
                raise CandidateFailed('memory')
            # The candidate raised: the same built-in exception here, so that a check
            # expecting (say) ValueError sees one.
            kind = getattr(builtins, str(reply.get('type')), None)
            if not (isinstance(kind, type) and issubclass(kind, Exception)):
                kind = RuntimeError
            raise kind('%s raised %s: %s' % (name, reply.get('type'), reply.get('message', '')))
        call.__name__ = call.__qualname__ = name
        return call

    source = b''.join(iter(lambda: os.read(0, 1 << 16), b''))  # from the judge, via the worker
    namespace = {'__name__': '__check__', '__builtins__': builtins, '__file__': 'check.py'}
    namespace.update((name, proxy(name)) for name in config['functions'])
    try:
        exec(compile(source.decode('utf-8', 'surrogatepass'), 'check.py', 'exec'), namespace)
        namespace['check'](proxy(config['entry_point']))
    except CandidateFailed:
        _write_status({'candidate_failed': 'memory'})
        _finish_and_exit(1)
    except AssertionError as error:
        _write_status({'assertion': str(error)})
        traceback.print_exc()
        _finish_and_exit(1)
    except BaseException as error:
        _write_status(_failure_message(error))
        traceback.print_exc()
        _finish_and_exit(1)
    _write_status({'passed': True})
    _finish_and_exit(0)


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


def _set_limit(limit, value):
    """Soft and hard limit `value`, or the hard limit where that is lower (macOS caps
    RLIMIT_NPROC at kern.maxprocperuid, and a limit can only be raised by root)."""
    hard = resource.getrlimit(limit)[1]
    if hard != resource.RLIM_INFINITY:
        value = min(value, hard)
    resource.setrlimit(limit, (value, value))


def enter_candidate(config, fds, workdir, settings):
    """In the forked child: isolate the process, then run the candidate and never return.
    `settings` (from the worker's config): `uid` (None: keep the worker's), `nproc` (the
    process cap), `guard` and `deny_read` (weak mode's in-process guard)."""
    try:
        os.setpgid(0, 0)
        hostos.die_with_parent()
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
                             (resource.RLIMIT_NPROC, settings['nproc'])):
            _set_limit(limit, value)
        os.chdir(workdir)
        os.environ.clear()
        os.environ.update({'PATH': '/usr/local/bin:/usr/bin:/bin', 'HOME': workdir, 'TMPDIR': workdir,
                           'LANG': 'C.UTF-8', 'OPENBLAS_NUM_THREADS': '1', 'OMP_NUM_THREADS': '1'})
        tempfile.tempdir = workdir
        uid = settings['uid']
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
        if settings['guard']:
            install_guard(workdir, settings['deny_read'])
        if config['kind'] == 'stdin':
            run_stdin_program(config)
        elif config['kind'] == 'checker':
            run_checker(config)
        else:
            run_call_runner(config)
    except BaseException:
        try:
            traceback.print_exc()
        finally:
            os._exit(1)
    os._exit(1)


"""Pre-warmed sandbox worker (runs inside bwrap, firejail or sandbox-exec, or bare in weak
mode); what runs in the candidate processes it forks is in candidate.py.

judge.py starts one worker per pool slot and talks to it in JSON lines over stdin/stdout:
  {"op": "config", "worker": {...}}             -> {"ready": true, ...} or {"ready": false, "error"}
  {"op": "begin", "kind": "stdin"|"call"|"check", "code", "fn_name"|"entry_point",
   "timeout_s", "memory_mb", "n_tests", "apps_exit": bool}   -> (no reply)
  {"op": "test", "input": <stdin text> | <encoded call arguments>}        (stdin, call)
      -> {"status": "ok"|"runtime_error"|"timeout"|"memory_limit"|"output_limit"|
          "compile_error", "stdout": str, "value": <encoded>, "stderr": str, "message": str}
  {"op": "load"}                                 (check) -> {"status": "loaded"} or a failure
  {"op": "check", "bytes": N}                    (check) -> {"send": N}; then the judge
      writes the check program (N bytes, not JSON) -> the final {"status", ...}
  {"op": "end"}                                 -> {"ended": true}
The worker never sees expected outputs. For every test it forks a child from this warm
interpreter (standard input) or keeps one forked runner per request (call-based, so module
state carries from test to test as in APPS; check requests, whose check program runs in a
separate checker process). Each child gets its own process group, fresh working
directory, scrubbed environment, rlimits, and (when root) its own uid; when a test ends
every process the candidate left behind is killed.
"""
import errno
import json
import math
import os
import select
import shutil
import signal
import socket
import sys
import tempfile
import time

import candidate as candidate_side
import hostos
from candidate import FD_COMMAND, FD_RESULT, FD_STATUS, numpy

STDOUT_CAP = 16 * 1024 * 1024
STDERR_CAP = 1024 * 1024
STDERR_KEPT = 8 * 1024
RESULT_CAP = 16 * 1024 * 1024

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
        pids = hostos.descendants(me)
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


def judge_gone():
    """The judge died (its end of the control pipe closed): nothing may outlive it."""
    kill_all_descendants()
    os._exit(0)


def pump(candidates, deadline, judge_fd, finished):
    """Reads every stream of `candidates` until finished() is true, the deadline passes or
    an output limit is exceeded ('done', 'timeout', 'output_limit'). Exits the worker if
    the judge goes away meanwhile (POLLHUP on `judge_fd`): firejail does not end a sandbox
    whose judge died, and macOS has no parent-death signal."""
    poller = select.poll()
    owners = {}
    for candidate in candidates:
        for name, fd in candidate.streams.items():
            poller.register(fd, select.POLLIN)
            owners[fd] = (candidate, name)
        if candidate.pidfd is not None:
            poller.register(candidate.pidfd, select.POLLIN)
    poller.register(judge_fd, 0)  # no events asked for: only POLLHUP is reported
    exact = all(candidate.pidfd is not None for candidate in candidates)
    while True:
        if finished():
            return 'done'
        for candidate in candidates:  # an exited process's pidfd stays readable
            if candidate.pidfd is not None and candidate.poll_exit():
                try:
                    poller.unregister(candidate.pidfd)
                except KeyError:
                    pass
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return 'timeout'
        wait = remaining if exact else min(remaining, 0.005)
        for fd, _ in poller.poll(math.ceil(wait * 1000)):
            if fd == judge_fd:
                judge_gone()
            candidate, name = owners.get(fd, (None, None))
            if candidate is not None and name in candidate.streams and candidate.read(name) == 'eof':
                poller.unregister(fd)
        if any(candidate.over_limit() for candidate in candidates):
            return 'output_limit'


# ---------------------------------------------------------------- candidates and sessions

class Candidate:
    """One forked candidate process and the pipes the worker reads from it."""

    def __init__(self, config, workdir, stdin_data, settings, stdin_fd=None):
        """stdin_data: the program's standard input (str), or stdin_fd: a descriptor to
        hand over as its standard input; else /dev/null."""
        self.judge_fd = settings['judge_fd']
        if stdin_data is not None:
            stdin_fd = hostos.stdin_file(stdin_data.encode('utf-8', 'surrogateescape'), settings['tmp'])
        elif stdin_fd is None:
            stdin_fd = os.open(os.devnull, os.O_RDONLY)
        out_r, out_w = os.pipe() if config['kind'] == 'stdin' else (None, os.open(os.devnull, os.O_WRONLY))
        err_r, err_w = os.pipe()
        status_r, status_w = os.pipe()
        fds = [(0, stdin_fd), (1, out_w), (2, err_w), (FD_STATUS, status_w)]
        cmd_w = result_r = None
        if config['kind'] != 'stdin':  # a runner takes calls, a checker makes them
            cmd_r, cmd_w = os.pipe()
            result_r, result_w = os.pipe()
            fds += [(FD_COMMAND, cmd_r), (FD_RESULT, result_w)]
        pid = os.fork()
        if pid == 0:
            candidate_side.enter_candidate(config, fds, workdir, settings)
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

    def read(self, name):
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

    def take_line(self, name):
        """Removes the first line (with its newline) read from stream `name` and returns it."""
        data = self.data[name]
        end = data.index(b'\n') + 1
        line = bytes(data[:end])
        del data[:end]
        return line

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
        def finished():
            if until_line and b'\n' in self.data.get(until_line, b''):
                return True
            if self.poll_exit():
                self.drain()
                return True
            return False
        return pump([self], deadline, self.judge_fd, finished)

    def drain(self):
        """Reads what is left in the pipes without blocking (called once writers are gone)."""
        for name in list(self.streams):
            while name in self.streams and self.read(name) == 'data' and not self.over_limit():
                pass

    def kill(self):
        if not hostos.is_linux():
            # No subreaper: what the candidate started must be found before killing the
            # candidate orphans it to launchd.
            kill_all_descendants()
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


def relay(source_fd, target_fd, size):
    """Copies `size` bytes from source_fd to target_fd (then closed) through one buffer,
    zeroed at the end. All `size` bytes are read even when the target is gone, so the
    control stream stays in step."""
    buffer = bytearray(min(max(size, 1), 1 << 16))
    view = memoryview(buffer)
    try:
        while size > 0:
            count = os.readv(source_fd, [view[:min(size, len(buffer))]])
            if count == 0:
                raise EOFError('the judge closed the control pipe')
            size -= count
            if target_fd is not None:
                try:
                    candidate_side.write_all(target_fd, view[:count])
                except OSError:  # the checker died: keep reading, stop writing
                    os.close(target_fd)
                    target_fd = None
    finally:
        buffer[:] = bytes(len(buffer))
        if target_fd is not None:
            os.close(target_fd)


def check_verdict(status, message):
    """{"status", "message"} of a finished checker."""
    if message.get('passed') and os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0:
        return {'status': 'ok', 'message': ''}
    if 'assertion' in message:
        return {'status': 'wrong_answer', 'message': 'AssertionError: %s' % message['assertion']}
    if message.get('candidate_failed') == 'memory':
        return {'status': 'memory_limit', 'message': 'MemoryError in the candidate'}
    verdict, text = classify_exit(status, message)
    if verdict == 'ok':  # exited 0 without saying it passed
        return {'status': 'runtime_error', 'message': 'the check ended without finishing'}
    if message.get('type'):
        text = '%s: %s' % (message['type'], message.get('message', ''))
    return {'status': verdict, 'message': text}


class Session:
    """One request's candidate: its working directory and (call-based) its runner."""

    def __init__(self, config, settings):
        self.config = config
        self.settings = settings
        self.workdir = tempfile.mkdtemp(prefix='run-', dir=settings['tmp'])
        if settings['uid'] is not None:
            os.chown(self.workdir, settings['uid'], settings['uid'])
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
        candidate = Candidate(self.config, self.workdir, test_input, self.settings)
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
        runner = Candidate(config, self.workdir, None, self.settings)
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
        if 'load_error' in message:
            return {'status': 'runtime_error', 'message': 'while loading: %s' % message['load_error'], 'stderr': stderr}
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
            call = {'fn': self.config['fn_name'], 'args': encoded_args}
            candidate_side.write_all(runner.cmd_w, json.dumps(call, separators=(',', ':')).encode() + b'\n')
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

    def load(self):
        """Check requests: loads the candidate module in its runner. The worker has not yet
        received the check program, so the runner (a fork of the worker) holds no copy of
        it. Returns {"status": "loaded"} or the failure."""
        return self._start_runner() or {'status': 'loaded'}

    def check(self, size, control_fd, reply):
        """Runs the check program in a checker process of its own, relaying its calls to
        the candidate's runner (candidate.run_checker). Pass: the checker reports
        {"passed": true} and exits 0, all within timeout_s.

        The program (`size` bytes) is read from the judge only after the checker has been
        forked, and goes straight from the control pipe to the checker's standard input
        through one buffer that is zeroed afterwards: no process forked from this worker,
        now or for a later request, can find a copy of it in its memory."""
        config = dict(self.config, kind='checker', cpu_tests=1, functions=self.runner.status_message()['functions'])
        source_r, source_w = os.pipe()
        checker = Candidate(config, self.workdir, None, self.settings, stdin_fd=source_r)
        runner = self.runner
        deadline = time.monotonic() + self.config['timeout_s']
        try:
            reply({'send': size})
            relay(control_fd, source_w, size)
            while True:
                state = pump([checker, runner], deadline, self.settings['judge_fd'],
                             lambda: b'\n' in checker.data['result'] or checker.poll_exit())
                if state != 'done' or checker.poll_exit():
                    break
                candidate_side.write_all(runner.cmd_w, checker.take_line('result'))
                state = pump([checker, runner], deadline, self.settings['judge_fd'],
                             lambda: b'\n' in runner.data['result'] or runner.poll_exit() or checker.poll_exit())
                if state != 'done' or checker.poll_exit():
                    break
                if runner.poll_exit():  # it died during the call; the checker waits in vain
                    status, text = classify_exit(runner.exit_status, runner.status_message())
                    return {'status': 'runtime_error' if status == 'ok' else status,
                            'message': 'during the check: %s' % (text or 'the program ended'),
                            'stderr': runner.stderr_text()}
                candidate_side.write_all(checker.cmd_w, runner.take_line('result'))
            stderr = checker.stderr_text() + runner.stderr_text()
            if state != 'done':
                return {'status': state, 'message': 'time limit exceeded' if state == 'timeout'
                        else 'output larger than the limit', 'stderr': stderr}
            checker.drain()
            return dict(check_verdict(checker.exit_status, checker.status_message()), stderr=stderr)
        finally:
            checker.kill()
            checker.close()
            self.stop_runner()

    def stop_runner(self):
        if self.runner is not None:
            self.runner.kill()
            self.runner.close()
            self.runner = None

    def end(self):
        self.stop_runner()
        kill_all_descendants()
        shutil.rmtree(self.workdir, ignore_errors=True)
        for root in self.settings['wipe']:  # bwrap mode: the sandbox's private tmpfs, stray files
            for entry in os.listdir(root):
                path = os.path.join(root, entry)
                if os.path.isdir(path) and not os.path.islink(path):
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    try:
                        os.unlink(path)
                    except OSError:
                        pass


def isolation_failure(check):
    """Why this worker is not isolated, or None: it must fail to create a file outside its
    folder and to reach a listener of the judge. Catches a sandbox tool that ran the worker
    without a sandbox (firejail does so for a user it does not allow) or a fake one."""
    try:
        fd = os.open(check['write'], os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError:
        pass
    else:
        os.close(fd)
        os.unlink(check['write'])
        return 'the worker could create %s, outside its folder' % check['write']
    probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    probe.settimeout(2)
    try:
        probe.connect(('127.0.0.1', check['connect']))
    except OSError:
        return None
    finally:
        probe.close()
    return "the worker could connect to the judge's listener on 127.0.0.1:%d" % check['connect']


def open_for_uid(folders):
    """Lets candidates with their own uid through the sandbox's masking tmpfs folders
    (isolation.root_traversal). Only a tmpfs mounted here is touched, never a host folder."""
    for folder in folders:
        if hostos.mount_fstype(folder) != 'tmpfs':
            return '%s is not a tmpfs of the sandbox; left as it is' % folder
        os.chmod(folder, os.stat(folder).st_mode | 0o111)
    return None


def serve():
    control_in = os.fdopen(os.dup(0), 'rb')
    control_out = os.dup(1)
    # Anything printed by accident must not corrupt the control channel.
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(devnull, 1)
    os.close(devnull)
    os.set_inheritable(control_out, False)
    hostos.set_not_dumpable()  # candidates (same uid when not root) cannot ptrace us
    hostos.set_child_subreaper()  # orphaned grandchildren come back to us for killing
    hostos.die_with_parent()
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    if hasattr(sys, 'set_int_max_str_digits'):
        sys.set_int_max_str_digits(0)

    def reply(message):
        candidate_side.write_all(control_out, (json.dumps(message, separators=(',', ':')) + '\n').encode())

    session = settings = None
    for raw in control_in:
        message = json.loads(raw)
        op = message.get('op')
        if op == 'config':
            settings = dict(message['worker'], judge_fd=control_in.fileno())
            check = settings['isolation_check']
            failure = (check and isolation_failure(check)) or open_for_uid(settings['open_for_uid'])
            if failure:
                reply({'ready': False, 'error': failure})
                return
            reply({'ready': True, 'pid': os.getpid(), 'uid': os.getuid(), 'numpy': numpy is not None})
        elif op == 'begin':
            if session is not None:
                session.end()
            session = Session(message, settings)
        elif op == 'test':
            try:
                reply(session.test(message['input']))
            except Exception as error:  # keep serving; the judge reports the test as errored
                reply({'status': 'runtime_error', 'message': 'sandbox error: %r' % error, 'stderr': ''})
        elif op in ('load', 'check'):
            try:
                reply(session.load() if op == 'load' else session.check(message['bytes'], control_in.fileno(), reply))
            except EOFError:
                break
            except Exception as error:
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

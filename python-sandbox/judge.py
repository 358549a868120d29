#!/usr/bin/env python3
"""PassLens sandbox judge: runs model-written Python against APPS-style tests.

    python3 python-sandbox/judge.py [--workers N] [--stop-on-first-failure] [--compare apps|strict]
        [--isolation auto|bwrap|firejail|sandbox-exec|weak]
    python3 python-sandbox/judge.py --probe

Reads one JSON request per line on stdin, writes one JSON response per line on stdout in
request order (protocol and isolation: python-sandbox/README.md). Standard library only,
Python >= 3.9.
"""
import argparse
import ast
import json
import math
import os
import queue
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.realpath(__file__)))

import compare  # noqa: E402
import hostos  # noqa: E402
import isolation  # noqa: E402
import valuecodec  # noqa: E402

DEFAULT_TIMEOUT_S = 4.0
DEFAULT_MEMORY_MB = 1024
MAX_TIMEOUT_S = 600.0
MIN_MEMORY_MB = 32
STDERR_IN_RESPONSE = 2000
WORKER_START_S = 30.0
# Extra time a worker gets beyond the test's own limit before it is declared hung.
WORKER_SLACK_S = 10.0
# Exit status when no sandbox is available (and weak mode was not asked for).
EXIT_NO_SANDBOX = 3
RESULT_CODE = {'pass': True, 'wrong_answer': False, 'compile_error': -2}
# Worker statuses a check request reports as they are ('ok' is a pass).
CHECK_VERDICTS = ('ok', 'wrong_answer', 'compile_error', 'runtime_error', 'timeout', 'memory_limit', 'output_limit')


def log(message):
    sys.stderr.write('passlens-judge: %s\n' % message)
    sys.stderr.flush()


TMP_PREFIX = 'passlens-judge-'


def remove_stale_roots():
    """Removes temporary roots of judges that were killed before they could clean up
    (the name carries the judge's pid)."""
    base = tempfile.gettempdir()
    try:
        names = os.listdir(base)
    except OSError:
        return
    for name in names:
        parts = name[len(TMP_PREFIX):].split('-', 1)
        if not name.startswith(TMP_PREFIX) or not parts[0].isdigit():
            continue
        try:
            os.kill(int(parts[0]), 0)
        except ProcessLookupError:
            shutil.rmtree(os.path.join(base, name), ignore_errors=True)
        except OSError:
            pass


class RequestError(ValueError):
    """A malformed request; the message is sent back to the caller."""


def parse_request(line, default_compare):
    try:
        request = json.loads(line)
    except ValueError as error:
        raise RequestError('invalid JSON: %s' % error) from None
    if not isinstance(request, dict):
        raise RequestError('a request must be a JSON object')
    rid = request.get('id')
    if not isinstance(rid, str):
        raise RequestError('"id" must be a string')
    code = request.get('code')
    if not isinstance(code, str):
        raise RequestError('"code" must be a string')
    tests = request.get('tests')
    if not isinstance(tests, dict):
        raise RequestError('"tests" must be an object with "inputs" and "outputs", or "check" and "entry_point"')
    if 'check' in tests or 'entry_point' in tests:
        check, entry_point = parse_check(tests)
        inputs, outputs, fn_name = [], [], None
    else:
        check = entry_point = None
        inputs, outputs, fn_name = tests.get('inputs'), tests.get('outputs'), tests.get('fn_name')
        if not isinstance(inputs, list) or not isinstance(outputs, list):
            raise RequestError('"tests.inputs" and "tests.outputs" must be lists')
        if len(inputs) != len(outputs):
            raise RequestError('"tests.inputs" has %d items but "tests.outputs" has %d' % (len(inputs), len(outputs)))
        if fn_name is not None and (not isinstance(fn_name, str) or not fn_name.isidentifier()):
            raise RequestError('"tests.fn_name" must be a Python identifier')
    timeout_s = request.get('timeout_s', DEFAULT_TIMEOUT_S)
    if isinstance(timeout_s, bool) or not isinstance(timeout_s, (int, float)) or \
            not (0 < timeout_s <= MAX_TIMEOUT_S) or not math.isfinite(timeout_s):
        raise RequestError('"timeout_s" must be a number in (0, %g]' % MAX_TIMEOUT_S)
    memory_mb = request.get('memory_mb', DEFAULT_MEMORY_MB)
    if isinstance(memory_mb, bool) or not isinstance(memory_mb, int) or memory_mb < MIN_MEMORY_MB:
        raise RequestError('"memory_mb" must be an integer >= %d' % MIN_MEMORY_MB)
    mode = request.get('compare', default_compare)
    if mode not in ('apps', 'strict'):
        raise RequestError('"compare" must be "apps" or "strict"')
    kind = 'check' if check is not None else 'call' if fn_name is not None else 'stdin'
    return {'id': rid, 'code': code, 'kind': kind, 'inputs': inputs, 'outputs': outputs, 'fn_name': fn_name,
            'check': check, 'entry_point': entry_point, 'timeout_s': float(timeout_s),
            'memory_mb': memory_mb, 'compare': mode}


def parse_check(tests):
    """(check, entry_point) of a check request, validated: both, nothing of the other
    kind, and a check program that compiles and defines check()."""
    if any(key in tests for key in ('inputs', 'outputs', 'fn_name')):
        raise RequestError('"tests" has either "inputs" and "outputs" (and "fn_name") or "check" and '
                           '"entry_point", not both')
    check, entry_point = tests.get('check'), tests.get('entry_point')
    if not isinstance(check, str) or not isinstance(entry_point, str) or not entry_point.isidentifier():
        raise RequestError('"tests.check" (a string) and "tests.entry_point" (a Python identifier) go together')
    try:
        tree = ast.parse(check, 'check.py')
        compile(tree, 'check.py', 'exec')
    except (SyntaxError, ValueError) as error:
        raise RequestError('"tests.check" does not compile: %s' % error) from None
    if not any(isinstance(node, ast.FunctionDef) and node.name == 'check' for node in tree.body):
        raise RequestError('"tests.check" must define check(candidate)')
    return check, entry_point


class WorkerDied(Exception):
    pass


class NotIsolated(WorkerDied):
    """The worker started but its isolation check failed (worker.isolation_failure)."""


class NoSandbox(Exception):
    """No isolation mode that was asked for works here; the message says what is missing
    and how to get it (one line), `reasons` why each mode tried failed."""

    def __init__(self, reasons):
        super().__init__(no_sandbox_message(reasons))
        self.reasons = reasons


class Worker:
    """A pre-warmed worker process (worker.py) and its control pipes."""

    def __init__(self, judge, index):
        self.judge = judge
        self.index = index
        self.proc = None
        self.buffer = b''
        self.stderr_relay = None

    def start(self):
        mode = self.judge.mode
        worker_dir = None if mode == 'bwrap' else self._worker_dir()
        argv = isolation.worker_command(mode, self.judge.tool, worker_dir)
        env = dict(isolation.CLEAN_ENV, HOME=self.judge.tmp_root)
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, env=env, cwd=self.judge.tmp_root,
                                     start_new_session=True)
        self.buffer = b''
        self.stderr_relay = threading.Thread(target=self._relay_stderr, args=(self.proc,), daemon=True)
        self.stderr_relay.start()
        settings = isolation.worker_settings(mode, self.index, worker_dir, self.judge.isolation_check)
        self.send({'op': 'config', 'worker': settings})
        reply = self.receive(WORKER_START_S)
        if not reply.get('ready'):
            raise NotIsolated('not isolated: %s' % reply.get('error'))
        return reply

    def _worker_dir(self):
        path = os.path.join(self.judge.tmp_root, 'worker-%d' % self.index)
        os.makedirs(path, exist_ok=True)
        os.chmod(path, 0o711)
        return path

    def _relay_stderr(self, proc):
        lines = []
        for line in proc.stderr:
            lines.append(line)
            if len(lines) <= 20:
                self.judge.worker_log.append(line.decode('utf-8', 'replace').rstrip())

    def send(self, message):
        try:
            self.proc.stdin.write(json.dumps(message, separators=(',', ':')).encode() + b'\n')
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError, ValueError) as error:
            raise WorkerDied('worker stopped (%s)' % error) from None

    def send_raw(self, data):
        try:
            self.proc.stdin.write(data)
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError, ValueError) as error:
            raise WorkerDied('worker stopped (%s)' % error) from None

    def receive(self, timeout_s):
        deadline = time.monotonic() + timeout_s
        fd = self.proc.stdout.fileno()
        with selectors.DefaultSelector() as selector:
            selector.register(fd, selectors.EVENT_READ)
            while b'\n' not in self.buffer:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not selector.select(remaining):
                    raise WorkerDied('worker did not answer within %.0f s' % timeout_s)
                chunk = os.read(fd, 1 << 20)
                if not chunk:
                    raise WorkerDied('worker exited')
                self.buffer += chunk
        line, self.buffer = self.buffer.split(b'\n', 1)
        return json.loads(line)

    def stop(self):
        if self.proc is None:
            return
        proc, self.proc = self.proc, None
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except OSError:
            pass
        proc.wait()
        # Whatever the worker said before it died (bwrap's reason, say) reaches the log
        # before the caller reads it.
        if self.stderr_relay is not None:
            self.stderr_relay.join(timeout=2)
        for stream in (proc.stdin, proc.stdout):
            try:
                stream.close()
            except OSError:
                pass

    def restart(self):
        self.stop()
        self.judge.kill_orphans()
        self.start()


class Judge:
    def __init__(self, args):
        self.args = args
        remove_stale_roots()
        self.tmp_root = tempfile.mkdtemp(prefix='%s%d-' % (TMP_PREFIX, os.getpid()))
        os.chmod(self.tmp_root, 0o711)
        self.worker_log = []
        self.mode = self.tool = None
        self.workers = []
        # What a worker of a strong mode must fail to reach before it serves.
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.bind(('127.0.0.1', 0))
        self.listener.listen(8)
        self.isolation_check = {'write': os.path.join(self.tmp_root, 'isolation-check'),
                                'connect': self.listener.getsockname()[1]}
        try:
            self._start_workers()
        except BaseException:
            self.close()
            raise

    def _start_workers(self):
        wanted = self.args.isolation
        if wanted == 'weak':
            if not isolation.supports_weak():
                raise NoSandbox([])
            self.mode = 'weak'
        else:
            reasons = []
            for mode in isolation.strong_modes() if wanted == 'auto' else (wanted,):
                reason = self._try_mode(mode)
                if reason is None:
                    break
                reasons.append(reason)
            else:
                raise NoSandbox(reasons)
        while len(self.workers) < self.args.workers:
            worker = Worker(self, len(self.workers))
            worker.start()
            self.workers.append(worker)

    def _try_mode(self, mode):
        """Starts the first worker in `mode`; returns None when it works, else why not."""
        if mode not in isolation.strong_modes():
            return '%s: not available on %s' % (mode, sys.platform)
        self.tool = isolation.find_tool(mode)
        if not self.tool:
            return '%s: not installed (%s)' % (mode, isolation.INSTALL_HINTS[mode])
        self.mode = mode
        first = Worker(self, 0)
        try:
            first.start()
        except (WorkerDied, ValueError, OSError) as error:
            first.stop()
            self.mode = None
            # The sandbox tool says why on stderr; the worker's own check in its reply.
            detail = str(error) if isinstance(error, NotIsolated) else ' | '.join(self.worker_log[-3:]) or str(error)
            self.worker_log.clear()
            return '%s: does not work here (%s; %s)' % (mode, detail, isolation.BROKEN_HINTS[mode])
        self.workers.append(first)
        return None

    def kill_orphans(self):
        """Kills what a dead worker's candidates left running. The judge is a child
        subreaper, so those processes are re-parented to it; live workers are its only
        other children."""
        live = {w.proc.pid for w in self.workers if w.proc is not None}
        for _ in range(20):
            tree = hostos.process_tree()
            strays = [pid for pid in tree.get(os.getpid(), []) if pid not in live]
            strays = [p for pid in strays for p in [pid] + hostos.descendants(pid, tree)]
            if not strays:
                return
            for pid in strays:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
            for pid in strays:
                try:
                    os.waitpid(pid, os.WNOHANG)
                except ChildProcessError:
                    pass
            time.sleep(0.005)

    def close(self):
        for worker in self.workers:
            worker.stop()
        self.kill_orphans()
        self.listener.close()
        shutil.rmtree(self.tmp_root, ignore_errors=True)

    # ------------------------------------------------------------ one request

    def run(self, worker, request):
        if request['kind'] == 'check':
            return self.run_check(worker, request)
        start = time.monotonic()
        call = request['fn_name'] is not None
        begin = {'op': 'begin', 'kind': 'call' if call else 'stdin', 'code': request['code'],
                 'fn_name': request['fn_name'], 'timeout_s': request['timeout_s'],
                 'memory_mb': request['memory_mb'], 'n_tests': len(request['inputs']),
                 'apps_exit': request['compare'] == 'apps'}
        results, verdicts, apps_results, stderr = [], [], [], ''
        begun = False
        for test_input, expected in zip(request['inputs'], request['outputs']):
            payload = valuecodec.to_data(compare.apps_call_args(test_input)) if call else test_input
            try:
                if not begun:
                    worker.send(begin)
                    begun = True
                worker.send({'op': 'test', 'input': payload})
                # A call-based test may first load the module, which has its own time limit.
                reply = worker.receive(2 * request['timeout_s'] + WORKER_SLACK_S)
            except (WorkerDied, ValueError) as error:
                # Killed by the candidate, or hung: a fresh worker takes the next test.
                reply = {'status': 'runtime_error', 'stderr': '',
                         'message': 'sandbox worker restarted: %s' % error}
                begun = False
                worker.restart()
            status = reply.get('status')
            if status == 'compile_error':
                results, verdicts, apps_results = [-2], ['compile_error'], [-2]
                stderr = reply.get('message') or reply.get('stderr', '')
                break
            if status == 'ok':
                strict_ok, apps_ok = self._compare(call, reply, expected)
                ok = apps_ok if request['compare'] == 'apps' else strict_ok
                verdict = 'pass' if ok else 'wrong_answer'
                apps_results.append(apps_ok)
            else:
                verdict = status if status in ('timeout', 'memory_limit', 'output_limit') else 'runtime_error'
                apps_results.append(-1)
            results.append(RESULT_CODE.get(verdict, -1))
            verdicts.append(verdict)
            if verdict != 'pass' and not stderr:
                stderr = (reply.get('stderr') or '') or reply.get('message', '')
            if verdict != 'pass' and self.args.stop_on_first_failure:
                break
        if begun:
            try:
                worker.send({'op': 'end'})
                worker.receive(WORKER_SLACK_S + 20)
            except (WorkerDied, ValueError):
                worker.restart()
        response = {'id': request['id'], 'passed': bool(results) and all(r is True for r in results),
                    'results': results, 'verdicts': verdicts,
                    'seconds': round(time.monotonic() - start, 4), 'isolation': self.mode,
                    'weak_isolation': self.mode == 'weak',
                    'stderr': stderr[-STDERR_IN_RESPONSE:]}
        if request['compare'] == 'strict':
            # Where the official harness would have said pass: the dataset's false positives.
            response['apps_results'] = apps_results
            response['apps_passed'] = bool(apps_results) and all(r is True for r in apps_results)
        return response

    def run_check(self, worker, request):
        """A check request: the worker loads the candidate first, then forks the checker,
        and only then is sent the check program, which it relays to the checker
        (worker.Session.check): no candidate process ever holds a copy of it."""
        start = time.monotonic()
        begin = {'op': 'begin', 'kind': 'check', 'code': request['code'], 'entry_point': request['entry_point'],
                 'timeout_s': request['timeout_s'], 'memory_mb': request['memory_mb'], 'n_tests': 1}
        limit = request['timeout_s'] + WORKER_SLACK_S
        try:
            worker.send(begin)
            worker.send({'op': 'load'})
            reply = worker.receive(limit)
            if reply.get('status') == 'loaded':
                source = request['check'].encode('utf-8', 'surrogatepass')
                worker.send({'op': 'check', 'bytes': len(source)})
                if worker.receive(limit).get('send') != len(source):
                    raise WorkerDied('the worker did not ask for the check program')
                worker.send_raw(source)
                reply = worker.receive(limit)
            worker.send({'op': 'end'})
            worker.receive(WORKER_SLACK_S + 20)
        except (WorkerDied, ValueError) as error:
            reply = {'status': 'runtime_error', 'stderr': '', 'message': 'sandbox worker restarted: %s' % error}
            worker.restart()
        status = reply.get('status')
        verdict = {'ok': 'pass'}.get(status, status) if status in CHECK_VERDICTS else 'runtime_error'
        stderr = '' if verdict == 'pass' else (reply.get('message') or '') + '\n' + (reply.get('stderr') or '')
        return {'id': request['id'], 'passed': verdict == 'pass', 'results': [RESULT_CODE.get(verdict, -1)],
                'verdicts': [verdict], 'seconds': round(time.monotonic() - start, 4), 'isolation': self.mode,
                'weak_isolation': self.mode == 'weak', 'stderr': stderr.strip()[-STDERR_IN_RESPONSE:]}

    @staticmethod
    def _compare(call, reply, expected):
        if call:
            try:
                value = valuecodec.loads(json.dumps(reply.get('value')))
            except (ValueError, TypeError):
                return False, False
            ok = compare.apps_call_equal(value, expected)
            return ok, ok
        stdout = reply.get('stdout', '')
        return compare.strict_stdin_equal(stdout, expected), compare.apps_stdin_equal(stdout, expected)


def serve(judge, args, stdin, stdout):
    jobs = queue.Queue(maxsize=4 * len(judge.workers))
    ordered = queue.Queue(maxsize=8 * len(judge.workers))

    def work(worker):
        while True:
            item = jobs.get()
            if item is None:
                return
            request, slot = item
            try:
                slot['response'] = judge.run(worker, request)
            except Exception as error:  # never lose a response
                slot['response'] = {'id': request['id'], 'error': 'judge error: %r' % error}
            slot['done'].set()

    def write():
        while True:
            slot = ordered.get()
            if slot is None:
                return
            slot['done'].wait()
            stdout.write(json.dumps(slot['response'], ensure_ascii=False) + '\n')
            stdout.flush()

    threads = [threading.Thread(target=work, args=(w,), daemon=True) for w in judge.workers]
    writer = threading.Thread(target=write, daemon=True)
    for thread in threads + [writer]:
        thread.start()
    for number, raw in enumerate(stdin, 1):
        line = raw.strip()
        if not line:
            continue
        slot = {'done': threading.Event(), 'response': None}
        try:
            request = parse_request(line, args.compare)
        except RequestError as error:
            slot['response'] = {'id': _best_effort_id(line), 'error': 'line %d: %s' % (number, error)}
            slot['done'].set()
            ordered.put(slot)
            continue
        ordered.put(slot)
        jobs.put((request, slot))
    for _ in threads:
        jobs.put(None)
    for thread in threads:
        thread.join()
    ordered.put(None)
    writer.join()


def no_sandbox_message(reasons):
    if not reasons:  # a platform without any sandbox
        return isolation.WINDOWS_HINT
    text = 'no sandbox available: %s. Install one, or pass --isolation weak to accept an ' \
        'escapable in-process guard' % '; '.join(reasons)
    return ' '.join(text.split())  # one line


def probe(args):
    """What `auto` would pick here and why each mode is or is not available (--probe)."""
    available = {}
    for mode in isolation.SANDBOXES:
        if mode not in isolation.strong_modes():
            available[mode] = {'available': False, 'reason': 'not available on %s' % sys.platform}
            continue
        try:
            judge = Judge(argparse.Namespace(**dict(vars(args), isolation=mode, workers=1)))
        except NoSandbox as error:
            available[mode] = {'available': False, 'reason': error.reasons[0].split(': ', 1)[1]}
            continue
        available[mode] = {'available': True, 'reason': 'works (%s)' % judge.tool}
        judge.close()
    available['weak'] = {'available': isolation.supports_weak(), 'reason': (
        'rlimits and an escapable in-process guard; only with --isolation weak'
        if isolation.supports_weak() else isolation.WINDOWS_HINT)}
    chosen = next((mode for mode in isolation.strong_modes() if available[mode]['available']), None)
    return {'isolation': chosen, 'available': available, 'platform': sys.platform}


def _best_effort_id(line):
    try:
        value = json.loads(line)
    except ValueError:
        return None
    rid = value.get('id') if isinstance(value, dict) else None
    return rid if isinstance(rid, str) else None


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else (os.cpu_count() or 1)
    parser.add_argument('--workers', type=int, default=cpus, help='parallel workers (default: CPUs)')
    parser.add_argument('--stop-on-first-failure', action='store_true',
                        help='stop a request at its first failing test')
    parser.add_argument('--compare', choices=('apps', 'strict'), default='strict',
                        help='output comparison when a request names none (default: strict)')
    parser.add_argument('--isolation', choices=('auto',) + isolation.MODES, default='auto',
                        help='auto (default): bwrap, then firejail (Linux) or sandbox-exec (macOS); '
                             'exits with status %d when none works. weak: rlimits and an escapable '
                             'in-process guard, only when asked for' % EXIT_NO_SANDBOX)
    parser.add_argument('--probe', action='store_true',
                        help='print one JSON line: the mode auto would pick and why each is (not) available')
    args = parser.parse_args(argv)
    if args.workers < 1:
        parser.error('--workers must be at least 1')
    if hasattr(sys, 'set_int_max_str_digits'):
        sys.set_int_max_str_digits(0)
    # Without namespaces a candidate shares our uid: being non-dumpable closes
    # /proc/<judge>/fd (our stdout is the response stream) and /proc/<judge>/mem to it.
    hostos.set_not_dumpable()
    # Orphans of a worker that died come back to us, to be killed (Judge.kill_orphans).
    hostos.set_child_subreaper()
    if args.probe:
        print(json.dumps(probe(args)))
        return
    if not isolation.supports_weak():  # Windows: nothing to start workers with
        log(no_sandbox_message([]))
        sys.exit(EXIT_NO_SANDBOX)
    stdin = open(sys.stdin.fileno(), 'r', encoding='utf-8', errors='replace', closefd=False)
    stdout = open(sys.stdout.fileno(), 'w', encoding='utf-8', errors='surrogateescape', closefd=False)
    try:
        judge = Judge(args)
    except NoSandbox as error:
        log(str(error))
        sys.exit(EXIT_NO_SANDBOX)
    if judge.mode == 'weak':
        log(isolation.WEAK_WARNING)

    def terminate(signum, frame):
        judge.close()
        os._exit(128 + signum)

    signal.signal(signal.SIGTERM, terminate)
    signal.signal(signal.SIGINT, terminate)
    try:
        serve(judge, args, stdin, stdout)
    except BrokenPipeError:
        pass
    finally:
        judge.close()


if __name__ == '__main__':
    main()

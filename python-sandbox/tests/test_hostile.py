"""Hostile code through the real judge, under every isolation mode it can select here
(bwrap, firejail, and weak with its flag), as the current user and as an unprivileged one.

Two corpora:
- escapes (tests/hostile/*.py): each program tries one way out; whether it got out is
  judged from the outside only (a file that appeared, a connection the listener received,
  the secret in the judge's output, a process alive after the response, a forged line in
  the judge's output, a restarted worker). Real sandboxes contain every one; for weak mode
  the test states which ones still get out (WEAK_ESCAPES), so any change is noticed.
- resource abuse (RESOURCE_ABUSE): loops, floods, fork bombs, fake passes; each must end
  with the expected verdict and leave nothing behind, in every mode.
"""
import json
import os
import pathlib
import pwd
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

import pytest

import isolation

from judgeutil import JUDGE, by_id, leftover_processes, probe, run_judge, std

HOSTILE_DIR = os.path.join(os.path.dirname(os.path.realpath(__file__)), 'hostile')
ATTACKS = sorted(name[:-3] for name in os.listdir(HOSTILE_DIR) if name.endswith('.py'))
# How each attack is seen from the outside when it got out.
WRITES_A_FILE = {'write_open', 'write_io_open', 'write_fileio', 'posix_system', 'os_system',
                 'subprocess_run', 'ctypes_open'}
READS_THE_SECRET = {'read_secret_open', 'read_secret_io_open'}
CONNECTS = {'socket_connect', 'raw_socket_connect', 'ctypes_connect'}
LEAVES_PROCESSES = {'fork_storm': '314.', 'setsid_daemon': '313.'}
KILLS_A_PROCESS = {'kill_worker', 'kill_pid1'}
FORGES_A_RESPONSE = {'proc_judge_fd'}

# What gets out of weak mode (measured; the guard only wraps Python-level functions).
# "privileged": the judge runs as root and the interpreter is not readable by other users,
# so candidates keep the judge's uid (root) - this machine's case when Python lives in
# /root. "unprivileged": the judge runs as a normal user (the editor's case).
WEAK_ESCAPES = {
    'privileged': {'write_io_open', 'write_fileio', 'read_secret_io_open', 'posix_system',
                   'raw_socket_connect', 'ctypes_connect', 'ctypes_open', 'kill_worker',
                   'proc_judge_fd'},
    'unprivileged': {'write_io_open', 'write_fileio', 'read_secret_io_open', 'posix_system',
                     'raw_socket_connect', 'ctypes_connect', 'ctypes_open', 'kill_worker'},
}
# Under firejail as a normal user the candidates share the worker's uid and the worker is
# not the pid namespace's init (under bwrap it is): a candidate can kill its own worker.
# That stays inside the sandbox's pid namespace; the judge replaces the worker and reports
# the test as a runtime error.
KILLS_ITS_OWN_WORKER = {('firejail', 'unprivileged'): {'kill_worker'}}
# Attacks that may be run bare (outside any judge) to show the detectors see them.
SAFE_BARE = WRITES_A_FILE | READS_THE_SECRET | CONNECTS

UNPRIVILEGED_PYTHON = '/usr/bin/python3'


# ------------------------------------------------------------------ who runs the judge

def _runs_python(command):
    probe_run = subprocess.run(command + ['-c', 'import sys; sys.exit(sys.version_info < (3, 9))'],
                               capture_output=True, cwd='/')
    return probe_run.returncode == 0


def unprivileged_command(mode):
    """(argv prefix that runs Python as an unprivileged user, None) or (None, why not).
    nobody for bwrap and weak; firejail never lets nobody in, so a regular account
    (uid >= 1000) of this machine that firejail accepts."""
    if os.geteuid() != 0 or not shutil.which('setpriv') or not os.path.exists(UNPRIVILEGED_PYTHON):
        return None, 'needs root, setpriv and %s' % UNPRIVILEGED_PYTHON
    if mode == 'firejail':
        users = [u for u in pwd.getpwall() if 1000 <= u.pw_uid < 65534]
        for user in users:
            setpriv = ['setpriv', '--reuid', str(user.pw_uid), '--regid', str(user.pw_gid), '--clear-groups']
            done = subprocess.run(setpriv + ['firejail', '--noprofile', '--quiet', 'true'],
                                  capture_output=True, cwd='/')
            if done.returncode == 0 and _runs_python(setpriv + [UNPRIVILEGED_PYTHON]):
                return setpriv + [UNPRIVILEGED_PYTHON], None
        return None, 'no regular account (uid >= 1000) that firejail accepts'
    setpriv = ['setpriv', '--reuid', '65534', '--regid', '65534', '--clear-groups']
    if not _runs_python(setpriv + [UNPRIVILEGED_PYTHON]):
        return None, 'nobody cannot run %s' % UNPRIVILEGED_PYTHON
    return setpriv + [UNPRIVILEGED_PYTHON], None


def judge_command(mode, privilege):
    """argv prefix of the judge for this test case; skips the case with the machine's
    reason when the mode cannot run here."""
    command = [sys.executable]
    if privilege == 'unprivileged':
        command, why_not = unprivileged_command(mode)
        if command is None:
            pytest.skip(why_not)
    if mode != 'weak':
        available = probe(command)['available'][mode]
        if not available['available']:
            pytest.skip('%s: %s' % (mode, available['reason']))
    return command


CASES = [pytest.param(mode, privilege, id='%s-%s' % (mode, privilege))
         for mode in ('bwrap', 'firejail', 'weak') for privilege in ('privileged', 'unprivileged')]


# ------------------------------------------------------------------ the outside world

class Outside:
    """What an escape would touch: a folder the test owns, a secret in the judge's home,
    a loopback TCP listener that records what it receives, a nonce to find processes by."""

    def __init__(self, root, home, shared):
        self.folder = root / 'outside'
        self.folder.mkdir()
        self.home = home
        self.secret_path = os.path.join(home, '.passlens-hostile-secret-%d' % os.getpid())
        self.secret = 'SECRET-%016x' % random.getrandbits(64)
        self.nonce = '%06d' % random.randrange(10 ** 6)
        if shared:  # an unprivileged judge: only the sandbox may stop it, not permissions
            self.folder.chmod(0o777)
        self.server = socket.socket()
        self.server.bind(('127.0.0.1', 0))
        self.server.listen(16)
        self.server.settimeout(0.1)
        self.received = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)

    def __enter__(self):
        with open(self.secret_path, 'w') as handle:
            handle.write(self.secret)
        os.chmod(self.secret_path, 0o644)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        os.unlink(self.secret_path)
        self._stop.set()
        self._thread.join()
        self.server.close()

    def _accept(self):
        while not self._stop.is_set():
            try:
                connection, _ = self.server.accept()
            except OSError:
                continue
            connection.settimeout(2)
            try:
                self.received.append(connection.recv(100).decode(errors='replace'))
            except OSError:
                self.received.append('(connected)')
            connection.close()

    def params(self, judge_pid):
        return json.dumps({'outside': str(self.folder), 'port': self.server.getsockname()[1],
                           'secret': self.secret_path, 'judge': judge_pid, 'nonce': self.nonce})

    def processes_with(self, marker):
        return processes_with((marker + self.nonce).encode())


def escapes_request(name, params):
    with open(os.path.join(HOSTILE_DIR, name + '.py')) as handle:
        code = handle.read()
    return {'id': name, 'code': code, 'tests': {'inputs': [params], 'outputs': ['never']}, 'timeout_s': 2.0}


def run_escapes(command, mode, outside, tmp_root, names=ATTACKS):
    """Runs the escape corpus through one judge; returns {attack: what got out (str) or
    None}, and the responses by id."""
    os.makedirs(tmp_root)
    os.chmod(tmp_root, 0o777)
    env = dict(os.environ, TMPDIR=str(tmp_root), HOME=str(outside.home))
    judge = subprocess.Popen(command + [JUDGE, '--workers', '2', '--isolation', mode], cwd='/', env=env,
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    params = outside.params(judge.pid)
    requests = [escapes_request(name, params) for name in names]
    for request in requests:  # read-secret passes if, and only if, the secret was read
        if request['id'] in READS_THE_SECRET:
            request['tests']['outputs'] = [outside.secret]
    requests.append(std('still-works', 'print(input())', ['ok'], ['ok']))
    stderr_reader = threading.Thread(target=lambda: setattr(judge, 'err', judge.stderr.read()), daemon=True)
    stderr_reader.start()
    judge.stdin.write(''.join(json.dumps(r) + '\n' for r in requests).encode())
    judge.stdin.close()
    lines, survivors = [], {}
    for raw in judge.stdout:
        lines.append(raw.decode(errors='replace'))
        try:
            rid = json.loads(raw).get('id')
        except ValueError:
            continue
        if rid in LEAVES_PROCESSES:  # its test is over: nothing it started may be alive
            survivors[rid] = outside.processes_with(LEAVES_PROCESSES[rid])
    assert judge.wait(timeout=120) == 0, judge.err
    stderr_reader.join()
    output = ''.join(lines) + judge.err.decode(errors='replace')
    responses = {}
    forged = False
    for line in lines:
        try:
            response = json.loads(line)
        except ValueError:
            forged = True  # a line that is no response of the judge
            continue
        if response.get('id') in responses or response.get('id') == 'forged':
            forged = True
        responses[response.get('id')] = response
    assert responses['still-works']['passed'], responses['still-works']
    assert [i for i in responses if i != 'forged'] == [r['id'] for r in requests]

    got_out = {}
    for name in names:
        response = responses[name]
        assert response['isolation'] == mode and response['weak_isolation'] == (mode == 'weak')
        if name in WRITES_A_FILE and (outside.folder / name).exists():
            got_out[name] = 'wrote %s' % (outside.folder / name)
        elif name in READS_THE_SECRET and (outside.secret in output or response['passed']):
            got_out[name] = 'read the secret'  # it passes only by printing the secret
        elif name in CONNECTS and name in outside.received:
            got_out[name] = 'connected to the listener'
        elif name in LEAVES_PROCESSES and survivors[name]:
            got_out[name] = 'processes alive after the response: %s' % survivors[name]
        elif name in KILLS_A_PROCESS and 'worker restarted' in response['stderr']:
            got_out[name] = 'killed the worker'
        elif name in FORGES_A_RESPONSE and forged:
            got_out[name] = 'forged a response'
        else:
            got_out[name] = None
            # Contained, and never a pass (read-secret passes only if it read the secret).
            assert response['passed'] is False, response
    for pid in sum((outside.processes_with(m) for m in LEAVES_PROCESSES.values()), []):
        os.kill(pid, 9)  # whatever did get out must not outlive the test
    return got_out, responses


@pytest.fixture
def outside_root(tmp_path):
    """Where the outside world lives: pytest's folder, or for an unprivileged judge a
    folder any user can reach (pytest's is 0700), so that only the sandbox stops it."""
    if os.geteuid() != 0:
        yield tmp_path
        return
    root = tempfile.mkdtemp(prefix='passlens-hostile-', dir='/tmp')
    os.chmod(root, 0o755)
    yield pathlib.Path(root)
    shutil.rmtree(root, ignore_errors=True)


def home_for(privilege, root):
    """The judge's $HOME, where the secret goes: the real one when we run it ourselves
    (restored afterwards), a folder of the test for the unprivileged user."""
    if privilege == 'privileged':
        return os.path.expanduser('~')
    home = root / 'home'
    home.mkdir()
    home.chmod(0o755)
    return str(home)


@pytest.mark.parametrize('mode,privilege', CASES)
def test_escapes(mode, privilege, outside_root):
    command = judge_command(mode, privilege)
    with Outside(outside_root, home_for(privilege, outside_root), privilege == 'unprivileged') as outside:
        got_out, responses = run_escapes(command, mode, outside, outside_root / 'tmp')
    escaped = {name for name, how in got_out.items() if how}
    report = {name: how for name, how in got_out.items() if how}
    if mode != 'weak':
        assert escaped == KILLS_ITS_OWN_WORKER.get((mode, privilege), set()), report
    else:
        if privilege == 'privileged' and weak_candidates_get_own_uid():
            pytest.skip('candidates get their own uid here; WEAK_ESCAPES measures them with root')
        assert escaped == WEAK_ESCAPES[privilege], report
    assert leftover_processes() == []
    assert os.listdir(outside_root / 'tmp') == []


def weak_candidates_get_own_uid():
    with tempfile.TemporaryDirectory() as folder:
        os.chmod(folder, 0o711)
        return isolation.worker_settings('weak', 0, folder, None)['uid'] is not None


def test_the_corpus_escapes_without_a_sandbox(tmp_path):
    """The attacks and their detectors work: run bare, each one gets out."""
    home = tmp_path / 'home'
    home.mkdir()
    with Outside(tmp_path, str(home), False) as outside:
        for name in sorted(SAFE_BARE):
            done = subprocess.run([sys.executable, os.path.join(HOSTILE_DIR, name + '.py')],
                                  input=outside.params(0), capture_output=True, text=True, timeout=30)
            assert done.returncode == 0, (name, done.stderr)
            if name in WRITES_A_FILE:
                assert (outside.folder / name).exists(), name
            elif name in READS_THE_SECRET:
                assert outside.secret in done.stdout, name
        time.sleep(0.3)
        assert sorted(outside.received) == sorted(CONNECTS)


# ------------------------------------------------------------------ resource abuse

RESOURCE_ABUSE = {
    'infinite-loop': ('while True: pass', 'timeout'),
    'sleep': ('import time\ntime.sleep(60)', 'timeout'),
    'fork-bomb': ('import os\nwhile True:\n    try:\n        os.fork()\n    except Exception:\n        pass', None),
    'memory-hog': ('x = []\nwhile True:\n    x.append(bytearray(10**7))', 'memory_limit'),
    'output-flood': ('while True:\n    print("x" * 1000)', 'output_limit'),
    'stderr-flood': ('import sys\nwhile True:\n    sys.stderr.write("x" * 1000)', 'output_limit'),
    'deep-recursion': ('def f(n):\n    return f(n + 1)\nf(0)', 'runtime_error'),
    'deep-recursion-unlimited': ('import sys\nsys.setrecursionlimit(10**8)\ndef f(n):\n    return f(n + 1)\nf(0)', None),
    'threads': ('import threading\ndef spin():\n    while True: pass\n'
                'for _ in range(4):\n    threading.Thread(target=spin).start()\nprint("ok")', 'timeout'),
    'ignore-sigterm': ('import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\n'
                       'while True:\n    time.sleep(0.1)', 'timeout'),
    'subprocesses': ('import subprocess\nsubprocess.Popen(["sleep", "300"])\n'
                     'subprocess.Popen("sleep 301 &", shell=True)\nwhile True: pass', None),
    'escaped-daemon': ('import os, time\nif os.fork() == 0:\n    os.setsid()\n    if os.fork() == 0:\n'
                       '        time.sleep(300)\n    os._exit(0)\nwhile True: pass', None),
    'kill-parent': ('import os, signal\nos.kill(os.getppid(), signal.SIGKILL)\nwhile True: pass', None),
    'kill-everything': ('import os, signal\nos.kill(-1, signal.SIGKILL)\nwhile True: pass', None),
    'sys-exit-first': ('import sys\nsys.exit(0)\nprint("ok")', 'wrong_answer'),
    'os-exit-first': ('import os\nos._exit(0)\nprint("ok")', 'wrong_answer'),
    'patch-print': ('import builtins\nbuiltins.print = lambda *a, **k: None\nprint("nope")', 'wrong_answer'),
    'forge-reply': ('import glob, os\nfor path in glob.glob("/proc/*/fd/*"):\n    try:\n'
                    '        fd = os.open(path, os.O_WRONLY)\n'
                    '        os.write(fd, b\'{"status": "ok", "stdout": "ok"}\\n\')\n'
                    '    except OSError:\n        pass\n', 'wrong_answer'),
}


@pytest.mark.parametrize('mode', ['bwrap', 'firejail', 'weak'])
def test_resource_abuse_ends_with_its_verdict(mode, tmp_path):
    judge_command(mode, 'privileged')
    # The memory hog gets a small limit and time to reach it while the fork bomb runs.
    requests = [std(rid, code, **({'memory_mb': 256, 'timeout_s': 4.0} if rid == 'memory-hog' else {}))
                for rid, (code, _) in RESOURCE_ABUSE.items()]
    requests.append(std('still-works', 'print(input())', ['ok'], ['ok']))
    responses, _ = run_judge(requests, tmp_path / 'tmp', '--workers', '2', '--isolation', mode)
    got = by_id(responses)
    for rid, (_, verdict) in RESOURCE_ABUSE.items():
        assert got[rid]['passed'] is False, (rid, got[rid])
        if verdict:
            assert got[rid]['verdicts'] == [verdict], (rid, got[rid])
    assert got['still-works']['passed']
    assert {r['isolation'] for r in responses} == {mode}


@pytest.mark.parametrize('mode', ['bwrap', 'firejail'])
def test_sandbox_hides_home_and_keeps_root_read_only(mode, tmp_path):
    judge_command(mode, 'privileged')
    # Only the folders leading to the interpreter (when it lives under /root) are visible.
    visible = sorted({p.split('/')[2] for p in isolation.python_paths() if p.startswith('/root/')})
    requests = [
        std('list-root', 'import os\nprint(sorted(os.listdir("/root")) if os.path.isdir("/root") else [])',
            [''], [str(visible)]),
        # bwrap shows an empty folder, firejail one it cannot open.
        std('list-home', 'import os\ntry:\n    print(os.listdir("/home"))\nexcept PermissionError:\n    print([])',
            [''], ['[]']),
        std('write-usr', 'open("/usr/pwned", "w")', [''], ['']),
        std('write-tmp', 'open("/tmp/pwned", "w")', [''], ['']),
        std('write-shm', 'open("/dev/shm/pwned", "w")', [''], ['']),
        std('no-network', 'import socket\ntry:\n    socket.create_connection(("1.1.1.1", 53), timeout=1)\n'
            '    print("online")\nexcept OSError:\n    print("offline")', [''], ['offline']),
    ]
    got = by_id(run_judge(requests, tmp_path / 'tmp', '--isolation', mode)[0])
    if mode == 'bwrap' or not visible:
        assert got['list-root']['passed'], got['list-root']
    else:
        # firejail copies its skeleton files (/etc/skel/.bashrc...) into the masked home;
        # the candidate's uid cannot list it.
        assert 'PermissionError' in got['list-root']['stderr'], got['list-root']
    assert got['list-home']['passed'], got['list-home']
    assert got['write-usr']['verdicts'] == ['runtime_error']
    assert not os.path.exists('/usr/pwned')
    # Candidates write in their own folder ($TMPDIR) only.
    for rid in ('write-tmp', 'write-shm'):
        assert got[rid]['verdicts'] == ['runtime_error'], got[rid]
    assert not os.path.exists('/tmp/pwned') and not os.path.exists('/dev/shm/pwned')
    assert got['no-network']['passed']


@pytest.mark.parametrize('mode', ['bwrap', 'firejail'])
def test_unprivileged_judge_cannot_be_forged_or_stopped(mode, outside_root):
    """As a normal user (the editor's case) candidates share the worker's uid: they must
    still neither forge the worker's replies nor take the judge down (kill -1 included)."""
    command = judge_command(mode, 'unprivileged')
    requests = [std(rid, RESOURCE_ABUSE[rid][0]) for rid in ('forge-reply', 'kill-parent', 'kill-everything')]
    requests += [std('after-%d' % i, 'print(input())', [str(i)], [str(i)]) for i in range(4)]
    (outside_root / 'tmp').mkdir()
    (outside_root / 'tmp').chmod(0o777)
    responses, _ = run_judge(requests, outside_root / 'tmp', '--workers', '2', '--isolation', mode,
                             command=command, home='/nonexistent')
    got = by_id(responses)
    assert [r['id'] for r in responses] == [r['id'] for r in requests]
    for rid in ('forge-reply', 'kill-parent', 'kill-everything'):
        assert got[rid]['passed'] is False, got[rid]
    for i in range(4):
        assert got['after-%d' % i]['passed'], got['after-%d' % i]


def test_a_killed_worker_is_replaced(tmp_path):
    """ctypes gets around the weak guard; killing the worker must cost only that test."""
    # It also leaves a daemon behind (own session, no parent-death signal) for the judge
    # to find once the worker is gone.
    kill_worker = ('import ctypes, os, time\nlibc = ctypes.CDLL(None)\nif libc.fork() == 0:\n'
                   '    libc.setsid()\n    libc.prctl(1, 0, 0, 0, 0)\n    time.sleep(300)\n    os._exit(0)\n'
                   'time.sleep(0.2)\nlibc.kill(os.getppid(), 9)\ntime.sleep(0.5)\nprint("ok")')
    requests = [std('kill-worker', kill_worker, ['', ''], ['never', 'never']), std('next', 'print("ok")')]
    got = by_id(run_judge(requests, tmp_path / 'tmp', '--workers', '1', '--isolation', 'weak')[0])
    killed = got['kill-worker']
    assert killed['passed'] is False
    # Killed (same uid as the worker): reported and replaced; own uid: the kill fails instead.
    assert killed['results'] == [-1, -1] and 'worker restarted' in killed['stderr'] \
        or killed['results'] == [False, False]
    assert got['next']['passed']


def test_everything_dies_with_the_judge(tmp_path):
    """SIGKILL the judge while candidates sleep, in each real sandbox: no process of the
    sandbox, the worker or the candidates outlives it."""
    for mode in ('bwrap', 'firejail'):
        if not probe()['available'][mode]['available']:
            continue
        nonce = '%06d' % random.randrange(10 ** 6)
        code = 'import os\nos.execv("/bin/sleep", ["sleep", "312.%s"])' % nonce
        (tmp_path / mode).mkdir()
        judge = subprocess.Popen([sys.executable, JUDGE, '--workers', '2', '--isolation', mode], cwd='/',
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 env=dict(os.environ, TMPDIR=str(tmp_path / mode)))
        request = json.dumps(std('sleeper', code, timeout_s=60.0)) + '\n'
        judge.stdin.write((request + request.replace('sleeper', 'sleeper2')).encode())
        judge.stdin.flush()
        marker = ('312.' + nonce).encode()
        deadline = time.monotonic() + 20
        while len(processes_with(marker)) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(processes_with(marker)) == 2, mode
        judge.kill()
        judge.wait()
        deadline = time.monotonic() + 10
        while (processes_with(marker) or leftover_processes()) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert processes_with(marker) == [], mode
        assert leftover_processes() == [], mode
        shutil.rmtree(tmp_path / mode)  # the judge had no chance to remove its root


def processes_with(marker):
    """Live processes anywhere on this machine whose command line holds `marker`."""
    found = []
    for entry in os.listdir('/proc'):
        try:
            with open('/proc/%s/cmdline' % entry, 'rb') as handle:
                if marker in handle.read():
                    found.append(int(entry))
        except (OSError, ValueError):
            pass
    return found


PROPERTIES = r'''
import ctypes, json, os, socket, sys
status = dict(line.split(':\t', 1) for line in open('/proc/self/status').read().splitlines() if ':\t' in line)
libc = ctypes.CDLL(None, use_errno=True)
CLONE_NEWUSER = 0x10000000
print(json.dumps({
    'uid': os.getuid(), 'groups': os.getgroups(),
    'cap_eff': int(status['CapEff'].strip(), 16), 'no_new_privs': status['NoNewPrivs'].strip(),
    'seccomp': status['Seccomp'].strip(),
    'ns': {kind: os.readlink('/proc/self/ns/' + kind) for kind in ('net', 'ipc', 'pid', 'mnt', 'uts')},
    'interfaces': sorted(name for _, name in socket.if_nameindex()),
    'new_user_namespace': libc.unshare(CLONE_NEWUSER) == 0,
}), file=sys.stderr)
sys.exit(1)  # a failing test returns its stderr
'''


@pytest.mark.parametrize('mode', ['bwrap', 'firejail'])
def test_what_a_candidate_sees_of_its_sandbox(mode, tmp_path):
    """The sandbox's properties as a candidate reads them: no network but its own
    loopback, its own namespaces, as root its own uid without capabilities, and under
    firejail no new privileges, seccomp, no supplementary groups and no new namespaces."""
    judge_command(mode, 'privileged')
    response = run_judge([std('properties', PROPERTIES, [''], ['never'])], tmp_path / 'tmp', '--isolation', mode)[0][0]
    seen = json.loads(next(line for line in response['stderr'].splitlines() if line.startswith('{')))
    assert seen['interfaces'] == ['lo']
    for kind in ('net', 'ipc', 'pid', 'mnt'):
        assert seen['ns'][kind] != os.readlink('/proc/self/ns/' + kind), kind
    if os.geteuid() == 0:
        assert seen['uid'] >= isolation.BASE_UID and seen['cap_eff'] == 0 and seen['groups'] == []
    if mode == 'firejail':
        assert seen['no_new_privs'] == '1' and seen['seccomp'] == '2'
        assert seen['new_user_namespace'] is False


@pytest.mark.parametrize('mode', ['bwrap', 'firejail'])
def test_a_checkout_in_tmp_runs_in_the_sandbox(mode, tmp_path):
    """CI clones live under /tmp, which both sandboxes replace: the judge's own folder must
    still be reachable (bwrap binds it under /run/passlens, firejail whitelists it), even
    behind a 0700 folder, and stay read-only."""
    judge_command(mode, 'privileged')
    clone = tempfile.mkdtemp(prefix='passlens-clone-', dir='/tmp')
    try:
        shutil.copytree(os.path.dirname(JUDGE), os.path.join(clone, 'python-sandbox'),
                        ignore=shutil.ignore_patterns('__pycache__', 'tests', 'bench'))
        judge = os.path.join(clone, 'python-sandbox', 'judge.py')
        requests = [std('works', 'print(input())', ['ok'], ['ok']),
                    std('cannot-write-it', 'open(%r, "a")' % judge, [''], [''])]
        done = subprocess.run([sys.executable, judge, '--isolation', mode, '--workers', '1'], cwd='/',
                              input=''.join(json.dumps(r) + '\n' for r in requests), capture_output=True,
                              text=True, env=dict(os.environ, TMPDIR=str(tmp_path)), timeout=60)
        got = by_id(json.loads(line) for line in done.stdout.splitlines())
        assert got['works']['passed'] and got['works']['isolation'] == mode, done.stderr
        assert got['cannot-write-it']['verdicts'] == ['runtime_error']
    finally:
        shutil.rmtree(clone)

"""Runs the real judge as a subprocess and checks it leaves nothing behind."""
import ctypes
import json
import os
import subprocess
import sys
import time

SANDBOX = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))
JUDGE = os.path.join(SANDBOX, 'judge.py')
REPO = os.path.dirname(SANDBOX)
APPS_SAMPLE = os.path.join(os.path.dirname(REPO), 'shared', 'apps-sample', 'problems.jsonl')

sys.path.insert(0, SANDBOX)

_PR_SET_CHILD_SUBREAPER = 36


def set_subreaper(on):
    """Orphans of the judge (anything a candidate left running) then become our children,
    so `leftover_processes` sees them even after the judge has exited."""
    ctypes.CDLL(None).prctl(_PR_SET_CHILD_SUBREAPER, ctypes.c_ulong(int(on)), 0, 0, 0)


def leftover_processes():
    """Live processes below this test process (zombies are reaped first)."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            break
        if pid == 0:
            break
    import hostos  # reads /proc the same way the worker does
    return hostos.descendants(os.getpid())


def run_judge(requests, tmp_root, *args, home=None, timeout=120, command=None):
    """Runs judge.py over `requests` (dicts or raw lines) with `command` (default: this
    interpreter); returns (responses, stderr).
    Asserts that the judge's temporary root is empty and no process survives it."""
    os.makedirs(tmp_root, exist_ok=True)
    env = dict(os.environ, TMPDIR=str(tmp_root))
    if home is not None:
        env['HOME'] = str(home)
    lines = [r if isinstance(r, str) else json.dumps(r) for r in requests]
    done = subprocess.run((command or [sys.executable]) + [JUDGE, *args], input='\n'.join(lines) + '\n',
                          capture_output=True, text=True, env=env, timeout=timeout, cwd='/')
    assert done.returncode == 0, done.stderr
    responses = [json.loads(line) for line in done.stdout.splitlines()]
    time.sleep(0.1)
    assert os.listdir(tmp_root) == [], 'judge left files in its temp root'
    assert leftover_processes() == [], 'processes survived the judge'
    return responses, done.stderr


def std(rid, code, inputs=('',), outputs=('ok',), **extra):
    """A standard-input request."""
    return dict(id=rid, code=code, tests={'inputs': list(inputs), 'outputs': list(outputs)},
                timeout_s=extra.pop('timeout_s', 1.0), **extra)


def call(rid, code, fn_name, inputs, outputs, **extra):
    """A call-based request."""
    return dict(id=rid, code=code, tests={'inputs': inputs, 'outputs': outputs, 'fn_name': fn_name},
                timeout_s=extra.pop('timeout_s', 1.0), **extra)


_PROBES = {}


def probe(command=None):
    """judge.py --probe, run once per command: which isolation modes work here and why not."""
    key = tuple(command or [sys.executable])
    if key not in _PROBES:
        done = subprocess.run(list(key) + [JUDGE, '--probe'], capture_output=True, text=True, cwd='/',
                              timeout=60, check=True)
        _PROBES[key] = json.loads(done.stdout)
    return _PROBES[key]


def sandbox_available(mode, command=None):
    return probe(command)['available'][mode]['available']


def by_id(responses):
    return {r['id']: r for r in responses}


def load_apps_sample():
    with open(APPS_SAMPLE, encoding='utf-8') as handle:
        return [json.loads(line) for line in handle]

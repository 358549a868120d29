"""macOS and Windows, tested on Linux: the sandbox-exec profile as text, the platform
dispatch, and the judge's start-up path run with sys.platform patched (tests/as_platform.py)."""
import json
import os
import subprocess
import sys

import pytest

import isolation

AS_PLATFORM = os.path.join(os.path.dirname(os.path.realpath(__file__)), 'as_platform.py')


def run_as(platform, tmp_path, *args, path=None, requests=()):
    record = tmp_path / 'calls.json'
    (tmp_path / 'tmp').mkdir(exist_ok=True)
    env = dict(os.environ, TMPDIR=str(tmp_path / 'tmp'))
    if path is not None:
        env['PATH'] = path
    done = subprocess.run([sys.executable, AS_PLATFORM, platform, str(record), *args],
                          input=''.join(json.dumps(r) + '\n' for r in requests), text=True,
                          capture_output=True, env=env, timeout=60, cwd='/')
    return done, json.loads(record.read_text())


def test_sandbox_exec_profile():
    profile = isolation.sandbox_exec_profile(
        '/private/var/folders/x/T/passlens-judge-1-a/worker-0', ['/Users', '/Volumes', '/Users/al "x"'],
        ['/Users/al "x"/venv', '/Users/al "x"/passlens/python-sandbox', '/opt/homebrew/Cellar/python'],
        ['/Users/al "x"/venv/bin/python', '/opt/homebrew/bin/python3.12'])
    lines = profile.splitlines()
    assert lines[:4] == ['(version 1)', '(allow default)', '(deny network*)', '(deny file-write*)']
    assert lines[4] == '(allow file-write* (subpath "/private/var/folders/x/T/passlens-judge-1-a/worker-0") ' \
                       '(literal "/dev/null"))'
    assert '(deny file-read* (subpath "/Users") (subpath "/Volumes") (subpath "/Users/al \\"x\\""))' in lines
    # Only the interpreter and the sandbox folder come back from under the home; not /opt,
    # which was never hidden.
    assert '(allow file-read* (subpath "/Users/al \\"x\\"/passlens/python-sandbox") ' \
           '(subpath "/Users/al \\"x\\"/venv"))' in lines
    metadata = next(line for line in lines if line.startswith('(allow file-read-metadata'))
    for folder in ('/Users', '/Users/al \\"x\\"', '/Users/al \\"x\\"/passlens'):
        assert '(literal "%s")' % folder in metadata
    assert lines.index('(deny file-read* (subpath "/Users") (subpath "/Volumes") (subpath "/Users/al \\"x\\""))') \
        < lines.index(next(line for line in lines if line.startswith('(allow file-read*')))
    assert '(deny process-exec)' in lines
    assert '(allow process-exec (literal "/Users/al \\"x\\"/venv/bin/python") ' \
           '(literal "/opt/homebrew/bin/python3.12") (literal "/bin/ps"))' in lines
    assert lines[-4:-2] == ['(deny signal)', '(allow signal (target same-sandbox))']
    assert lines[-2] == '(deny mach-lookup)' and 'com.apple.system.opendirectoryd.libinfo' in lines[-1]
    assert profile.count('(') == profile.count(')')


def test_platform_dispatch(monkeypatch, tmp_path):
    monkeypatch.setattr(sys, 'platform', 'darwin')
    assert isolation.strong_modes() == ('sandbox-exec',) and isolation.supports_weak()
    argv = isolation.worker_command('sandbox-exec', '/usr/bin/sandbox-exec', str(tmp_path))
    assert argv[:2] == ['/usr/bin/sandbox-exec', '-p'] and argv[3:] == isolation.plain_command()
    assert '(allow file-write* (subpath "%s")' % os.path.realpath(tmp_path) in argv[2]
    monkeypatch.setattr(sys, 'platform', 'linux')
    assert isolation.strong_modes() == ('bwrap', 'firejail')
    monkeypatch.setattr(sys, 'platform', 'win32')
    assert isolation.strong_modes() == () and not isolation.supports_weak()


def test_hostos_without_linux(monkeypatch, tmp_path):
    """The macOS paths of hostos: ps for the process table, an unlinked file for stdin."""
    import hostos
    monkeypatch.setattr(sys, 'platform', 'darwin')
    monkeypatch.setattr(hostos, '_prctl', lambda *a: pytest.fail('prctl on darwin'))
    monkeypatch.setattr(os, 'memfd_create', lambda *a: pytest.fail('memfd_create on darwin'), raising=False)
    hostos.set_not_dumpable()
    assert hostos.set_child_subreaper() is False
    hostos.die_with_parent()
    child = subprocess.Popen(['sleep', '30'])
    try:
        assert child.pid in hostos.descendants(os.getpid())
        assert hostos.count_user_tasks(os.getuid()) >= 2
    finally:
        child.kill()
        child.wait()
    fd = hostos.stdin_file(b'1 2\n', str(tmp_path))
    try:
        assert os.read(fd, 100) == b'1 2\n' and os.listdir(tmp_path) == []
    finally:
        os.close(fd)
    assert hostos.mount_fstype('/') is None


def test_darwin_start_up(tmp_path):
    """The judge starts on macOS without prctl, memfd_create or /proc; without
    sandbox-exec it refuses; a sandbox-exec that does not sandbox is caught; with
    --isolation weak it serves."""
    probe, calls = run_as('darwin', tmp_path, '--probe')
    assert probe.returncode == 0 and calls == [], (probe.stderr, calls)
    report = json.loads(probe.stdout)
    assert report['platform'] == 'darwin' and report['isolation'] is None
    assert report['available']['sandbox-exec'] == {
        'available': False, 'reason': 'not installed (%s)' % isolation.INSTALL_HINTS['sandbox-exec']}
    assert report['available']['bwrap']['reason'] == 'not available on darwin'
    assert report['available']['weak']['available'] is True

    refused, calls = run_as('darwin', tmp_path)
    assert refused.returncode == 3 and calls == []
    assert 'sandbox-exec: not installed' in refused.stderr and '--isolation weak' in refused.stderr

    fake = tmp_path / 'bin'
    fake.mkdir()
    (fake / 'sandbox-exec').write_text('#!/bin/sh\nprintf "%%s" "$2" > %s\nshift 2\nexec "$@"\n'
                                       % (tmp_path / 'profile.sb'))
    (fake / 'sandbox-exec').chmod(0o755)
    caught, calls = run_as('darwin', tmp_path, path='%s:%s' % (fake, os.environ['PATH']))
    assert caught.returncode == 3 and calls == []
    assert 'sandbox-exec: does not work here (not isolated: the worker could create' in caught.stderr
    assert '(deny network*)' in (tmp_path / 'profile.sb').read_text()

    request = {'id': 'a', 'code': 'print(int(input()) + 1)', 'tests': {'inputs': ['1'], 'outputs': ['2']}}
    served, calls = run_as('darwin', tmp_path, '--isolation', 'weak', '--workers', '1', requests=[request])
    assert served.returncode == 0 and calls == [], (served.stderr, calls)
    response = json.loads(served.stdout)
    assert response['passed'] and response['isolation'] == 'weak' and response['weak_isolation'] is True
    assert os.listdir(tmp_path / 'tmp') == []


def test_windows_refuses_with_a_reason(tmp_path):
    imported, calls = run_as('win32', tmp_path, '--import-only')
    assert imported.returncode == 0 and calls == [], (imported.stderr, calls)
    probe, calls = run_as('win32', tmp_path, '--probe')
    assert probe.returncode == 0 and calls == [], (probe.stderr, calls)
    report = json.loads(probe.stdout)
    assert report['isolation'] is None and report['platform'] == 'win32'
    assert not any(mode['available'] for mode in report['available'].values())
    assert 'WSL' in report['available']['weak']['reason']
    for args in ((), ('--isolation', 'weak')):
        refused, calls = run_as('win32', tmp_path, *args)
        assert refused.returncode == 3 and calls == [], (refused.stderr, calls)
        assert refused.stderr.count('\n') == 1 and 'WSL 2 or a dev container' in refused.stderr
    assert os.listdir(tmp_path / 'tmp') == []

"""How judge.py starts its workers: inside bubblewrap when it works, else bare (rlimits
plus the in-process guard). See README.md for what each mode guarantees."""
import os
import shutil
import stat
import sys

import hostos

HERE = os.path.dirname(os.path.realpath(__file__))
WORKER_SCRIPT = os.path.join(HERE, 'worker.py')
# Candidates run as uid BASE_UID + worker index when the judge runs as root, so each
# worker's candidates are counted (RLIMIT_NPROC) and signalled apart from everything else.
BASE_UID = 61000
NPROC_DROPPED = 128
NPROC_MARGIN = 256
SANDBOX_TMP_BYTES = 256 * 1024 * 1024
# Directories a candidate must never read: homes (SSH keys, tokens) and runtime sockets.
HIDDEN_DIRS = ('/root', '/home', '/run', '/mnt', '/media', '/srv')

CLEAN_ENV = {'PATH': '/usr/local/bin:/usr/bin:/bin', 'LANG': 'C.UTF-8', 'PYTHONDONTWRITEBYTECODE': '1',
             'OPENBLAS_NUM_THREADS': '1', 'OMP_NUM_THREADS': '1', 'PYTHONIOENCODING': 'utf-8'}


def python_paths():
    """What the interpreter needs to run: its prefixes and the sandbox's own folder."""
    paths = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix, HERE,
             os.path.dirname(os.path.realpath(sys.executable))}
    return sorted(os.path.realpath(p) for p in paths if p)


def hidden_dirs():
    home = os.path.realpath(os.path.expanduser('~'))
    found = []
    for path in list(HIDDEN_DIRS) + [home]:
        if os.path.isdir(path) and not os.path.islink(path) and path != '/' and path not in found:
            found.append(path)
    return found


def world_readable(path):
    """True when every directory on the way to `path` lets any user through (and read)."""
    path = os.path.realpath(path)
    parts = path.split(os.sep)
    for depth in range(1, len(parts) + 1):
        prefix = os.sep.join(parts[:depth]) or os.sep
        try:
            mode = os.stat(prefix).st_mode
        except OSError:
            return False
        if not mode & stat.S_IXOTH or (prefix == path and not mode & stat.S_IROTH):
            return False
    return True


def bwrap_command(bwrap):
    """argv that runs the worker in a sandbox: no network, read-only root, private /tmp,
    homes hidden, its own pid/ipc/uts namespaces, killed with the judge."""
    root = os.geteuid() == 0
    # --as-pid-1: the worker is the namespace's init, so no bwrap reaper holds the control
    # pipes where a same-uid candidate could write to them (/proc/1/fd), and init cannot
    # be killed from inside its namespace.
    argv = [bwrap, '--die-with-parent', '--new-session', '--as-pid-1', '--unshare-pid', '--unshare-net',
            '--unshare-ipc', '--unshare-uts', '--unshare-cgroup-try']
    if not root:
        argv.append('--unshare-user')
    argv += ['--ro-bind', '/', '/', '--dev', '/dev', '--proc', '/proc',
             '--size', str(SANDBOX_TMP_BYTES), '--tmpfs', '/tmp',
             '--size', str(SANDBOX_TMP_BYTES), '--tmpfs', '/dev/shm']
    hidden = hidden_dirs()
    for path in hidden:
        argv += ['--tmpfs', path]
    made = set()
    for path in python_paths():
        target = sandbox_path(path)
        home = next((h for h in hidden if target == h or target.startswith(h + os.sep)), None)
        if home is None:
            continue
        # bwrap would create the folders leading to the mount point as 0700, which a
        # candidate with its own uid could not pass through.
        parent = os.path.dirname(target)
        chain = []
        while parent != home and parent.startswith(home + os.sep):
            chain.append(parent)
            parent = os.path.dirname(parent)
        for folder in reversed(chain):
            if folder not in made:
                argv += ['--perms', '0755', '--dir', folder]
                made.add(folder)
        argv += ['--ro-bind', path, target]
    argv += ['--chdir', '/tmp', '--clearenv']
    for key, value in dict(CLEAN_ENV, HOME='/tmp').items():
        argv += ['--setenv', key, value]
    if root:
        # The worker keeps just what it needs to drop each candidate to its own uid, signal
        # it, and clean up its files; candidates lose every capability with the uid change.
        for cap in ('CAP_SETUID', 'CAP_SETGID', 'CAP_KILL', 'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_FOWNER'):
            argv += ['--cap-add', cap]
    return argv + ['--', sandbox_path(interpreter()), '-E', '-s', '-B', sandbox_path(WORKER_SCRIPT)]


def sandbox_path(path):
    """Where `path` is seen inside the sandbox. The candidates' private /tmp and /dev/shm
    would hide an interpreter or a checkout that lives there (a CI clone in /tmp), so such
    folders are mounted under the hidden /run instead."""
    for masked in ('/tmp', '/dev/shm'):
        if path == masked or path.startswith(masked + os.sep):
            return '/run/passlens' + path
    return path


def worker_settings(mode, index, tmp_dir):
    """The worker's config message for `mode` ('bwrap' or 'rlimits')."""
    root = os.geteuid() == 0
    if mode == 'bwrap':
        uid = BASE_UID + index if root else None
        return {'uid': uid, 'nproc': NPROC_DROPPED if uid is not None else hostos.count_user_tasks(os.getuid()) + NPROC_MARGIN,
                'guard': False, 'deny_read': [], 'tmp': '/tmp', 'wipe': ['/tmp', '/dev/shm']}
    # rlimits: a non-root uid only where the interpreter stays readable for it.
    assert tmp_dir is not None, 'rlimits mode runs candidates in a host temporary folder'
    can_drop = root and all(world_readable(p) for p in python_paths()) and world_readable(tmp_dir)
    uid = BASE_UID + index if can_drop else None
    return {'uid': uid, 'nproc': NPROC_DROPPED if uid is not None else hostos.count_user_tasks(os.getuid()) + NPROC_MARGIN,
            'guard': True, 'deny_read': hidden_dirs(), 'tmp': tmp_dir, 'wipe': []}


def interpreter():
    # Not realpath: a venv's python is a symlink, and resolving it would leave the venv.
    return os.path.abspath(sys.executable)


def plain_command():
    return [interpreter(), '-E', '-s', '-B', WORKER_SCRIPT]


def find_bwrap():
    return shutil.which('bwrap')

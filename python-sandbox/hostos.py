"""What the judge, its workers and their candidates need from the operating system.

Linux: prctl (non-dumpable, child subreaper, parent-death signal), memfd_create, /proc.
macOS has none of these; each function below says what it does there instead, or why
nothing is needed. On Windows the judge refuses to run (isolation.py); this module (like
every module judge.py imports) only has to import there.

The platform is read from sys.platform at call time, so tests can exercise the macOS and
Windows paths on Linux.
"""
import os
import subprocess
import sys
import tempfile

_PR_SET_PDEATHSIG, _PR_SET_DUMPABLE, _PR_SET_CHILD_SUBREAPER = 1, 4, 36
_SIGKILL = 9
_libc = None


def is_linux():
    return sys.platform.startswith('linux')


def _prctl(option, arg):
    global _libc
    import ctypes
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
    return _libc.prctl(option, ctypes.c_ulong(arg), 0, 0, 0)


def set_not_dumpable():
    """Closes /proc/<pid>/fd and /mem, and ptrace, to other processes of the same uid
    (Linux). macOS: no /proc, and reading another process's memory needs its task port,
    which only root or an entitled debugger gets: nothing to do."""
    if is_linux():
        _prctl(_PR_SET_DUMPABLE, 0)


def set_child_subreaper():
    """Orphaned descendants are re-parented to this process, to be killed (Linux). macOS
    has no equivalent (orphans go to launchd): returns False."""
    if is_linux():
        _prctl(_PR_SET_CHILD_SUBREAPER, 1)
        return True
    return False


def die_with_parent():
    """SIGKILL this process when its parent dies (Linux). macOS has no parent-death
    signal: workers watch their control pipe instead, and candidates are killed by their
    worker (see worker.watch_judge)."""
    if is_linux():
        _prctl(_PR_SET_PDEATHSIG, _SIGKILL)


def stdin_file(data, tmp_dir):
    """A read-only, seekable descriptor holding `data` (bytes), like `< file`: an
    in-memory file (Linux memfd_create), else a temporary file in `tmp_dir` that is
    unlinked at once."""
    if is_linux() and hasattr(os, 'memfd_create'):
        fd = os.memfd_create('stdin', 0)
    else:
        fd, path = tempfile.mkstemp(dir=tmp_dir)
        os.unlink(path)
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]
    os.lseek(fd, 0, os.SEEK_SET)
    return fd


def process_tree():
    """{parent pid: [child pids]} of every process: /proc on Linux, `ps` elsewhere."""
    children = {}
    if is_linux():
        for entry in os.listdir('/proc'):
            if not entry.isdigit():
                continue
            try:
                with open('/proc/%s/stat' % entry, 'rb') as handle:
                    stat = handle.read()
            except OSError:
                continue
            ppid = int(stat[stat.rindex(b')') + 2:].split()[1])
            children.setdefault(ppid, []).append(int(entry))
        return children
    for pid, ppid, _ in _ps_table():
        children.setdefault(ppid, []).append(pid)
    return children


def descendants(root_pid, children=None):
    """All live descendants of root_pid (orphans reparent to a subreaper, so on Linux a
    subreaper sees everything its children left behind)."""
    children = process_tree() if children is None else children
    found, stack = [], [root_pid]
    while stack:
        for child in children.get(stack.pop(), ()):
            found.append(child)
            stack.append(child)
    return found


def count_user_tasks(uid):
    """Tasks (threads on Linux, where RLIMIT_NPROC counts them; processes on macOS) that
    run as `uid`."""
    if is_linux():
        count = 0
        for entry in os.listdir('/proc'):
            if entry.isdigit():
                try:
                    if os.stat('/proc/' + entry).st_uid == uid:
                        count += len(os.listdir('/proc/%s/task' % entry))
                except OSError:
                    pass
        return count
    return sum(1 for _, _, owner in _ps_table() if owner == uid)


def _ps_table():
    """(pid, ppid, uid) of every process, from ps (POSIX options, as on macOS)."""
    done = subprocess.run(['ps', '-A', '-o', 'pid=', '-o', 'ppid=', '-o', 'uid='],
                          capture_output=True, text=True, check=False)
    rows = []
    for line in done.stdout.splitlines():
        fields = line.split()
        if len(fields) == 3 and all(field.isdigit() for field in fields):
            rows.append(tuple(int(field) for field in fields))
    return rows


def mount_fstype(path):
    """File system type of the mount at exactly `path` in this mount namespace (the top
    one where mounts are stacked), or None: Linux only (/proc/self/mountinfo)."""
    if not is_linux():
        return None
    found = None
    with open('/proc/self/mountinfo', encoding='utf-8', errors='replace') as handle:
        for line in handle:
            fields = line.split()
            separator = fields.index('-')
            mount_point = fields[4].replace('\\040', ' ').replace('\\011', '\t').replace('\\134', '\\')
            if mount_point == path:
                found = fields[separator + 1]
    return found

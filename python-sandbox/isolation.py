"""How judge.py starts its workers, per isolation mode. See README.md ("Isolation") for
what each mode guarantees.

  bwrap         Linux: bubblewrap (namespaces: no network, read-only root, homes hidden).
  firejail      Linux: firejail (a setuid sandbox: works where unprivileged user
                namespaces are disabled); the same guarantees as bwrap.
  sandbox-exec  macOS: the system sandbox with a generated profile (sandbox_exec_profile).
  weak          rlimits plus an in-process guard that ctypes or `posix` get around. Only
                with an explicit --isolation weak; `auto` never picks it.
"""
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
# Directories a candidate must never read: homes (SSH keys, tokens), runtime sockets,
# mounted media.
LINUX_HIDDEN_DIRS = ('/root', '/home', '/run', '/mnt', '/media', '/srv')
DARWIN_HIDDEN_DIRS = ('/Users', '/Volumes', '/private/var/root')
# What the worker keeps as root inside bwrap or firejail: enough to hand each candidate
# its own uid (which drops all of them), signal it and clean up its files.
WORKER_CAPS = ('CAP_SETUID', 'CAP_SETGID', 'CAP_KILL', 'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_FOWNER')

SANDBOXES = ('bwrap', 'firejail', 'sandbox-exec')
MODES = SANDBOXES + ('weak',)
STRONG_MODES = {'linux': ('bwrap', 'firejail'), 'darwin': ('sandbox-exec',)}
TOOLS = {'bwrap': 'bwrap', 'firejail': 'firejail', 'sandbox-exec': 'sandbox-exec'}
INSTALL_HINTS = {
    'bwrap': 'Debian/Ubuntu: apt-get install bubblewrap; Fedora: dnf install bubblewrap',
    'firejail': 'Debian/Ubuntu: apt-get install firejail; Fedora: dnf install firejail',
    'sandbox-exec': '/usr/bin/sandbox-exec ships with macOS',
}
BROKEN_HINTS = {
    'bwrap': 'bwrap needs unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1; '
             'Ubuntu >= 23.10: kernel.apparmor_restrict_unprivileged_userns=0) or to run as root',
    'firejail': 'firejail must be allowed for this user (/etc/firejail/firejail.users) and able to '
                'create namespaces (in a container: --privileged or CAP_SYS_ADMIN)',
    'sandbox-exec': 'sandbox-exec could not apply the profile',
}
WINDOWS_HINT = ('no sandbox is available on Windows: run PassLens in WSL 2 or a dev container '
                '(Linux, with bubblewrap or firejail installed)')
WEAK_WARNING = ('isolation is WEAK (--isolation weak): candidates run under rlimits and an '
                'in-process guard that ctypes or the posix module get around; use it only for '
                'code you trust (python-sandbox/README.md, "Weak mode")')

CLEAN_ENV = {'PATH': '/usr/local/bin:/usr/bin:/bin', 'LANG': 'C.UTF-8', 'PYTHONDONTWRITEBYTECODE': '1',
             'OPENBLAS_NUM_THREADS': '1', 'OMP_NUM_THREADS': '1', 'PYTHONIOENCODING': 'utf-8'}


def platform_key():
    if sys.platform.startswith('linux'):
        return 'linux'
    return sys.platform


def strong_modes():
    """The real sandboxes this platform can have, in the order `auto` tries them."""
    return STRONG_MODES.get(platform_key(), ())


def supports_weak():
    """Weak mode needs fork and rlimits: POSIX only."""
    return platform_key() in STRONG_MODES


def is_root():
    return hasattr(os, 'geteuid') and os.geteuid() == 0


def find_tool(mode):
    return shutil.which(TOOLS[mode])


def python_paths():
    """What the interpreter needs to run: its prefixes and the sandbox's own folder
    (without the ones inside another)."""
    paths = {os.path.realpath(p) for p in (sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix,
                                           HERE, os.path.dirname(os.path.realpath(sys.executable))) if p}
    return sorted(p for p in paths if not any(p != q and is_under(p, q) for q in paths))


def hidden_dirs():
    home = os.path.realpath(os.path.expanduser('~'))
    listed = DARWIN_HIDDEN_DIRS if platform_key() == 'darwin' else LINUX_HIDDEN_DIRS
    found = []
    for path in list(listed) + [home]:
        if os.path.isdir(path) and not os.path.islink(path) and path != '/' and path not in found:
            found.append(path)
    return found


def is_under(path, folder):
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


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


def interpreter():
    # Not realpath: a venv's python is a symlink, and resolving it would leave the venv.
    return os.path.abspath(sys.executable)


def worker_command(mode, tool, worker_dir):
    """argv that starts one worker in `mode`; `worker_dir` is the host folder its
    candidates write in (None for bwrap, which gives each worker a private /tmp)."""
    if mode == 'bwrap':
        return bwrap_command(tool)
    if mode == 'firejail':
        return firejail_command(tool, worker_dir)
    if mode == 'sandbox-exec':
        profile = sandbox_exec_profile(worker_dir, hidden_dirs(), python_paths(),
                                       [interpreter(), os.path.realpath(sys.executable)])
        return [tool, '-p', profile] + plain_command()
    return plain_command()


def plain_command():
    return [interpreter(), '-E', '-s', '-B', WORKER_SCRIPT]


# ---------------------------------------------------------------- bubblewrap

def bwrap_command(bwrap):
    """argv that runs the worker in a sandbox: no network, read-only root, private /tmp,
    homes hidden, its own pid/ipc/uts namespaces, killed with the judge."""
    root = is_root()
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
        home = next((h for h in hidden if is_under(target, h)), None)
        if home is None:
            continue
        # bwrap would create the folders leading to the mount point as 0700, which a
        # candidate with its own uid could not pass through.
        parent = os.path.dirname(target)
        chain = []
        while parent != home and is_under(parent, home):
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
        for cap in WORKER_CAPS:
            argv += ['--cap-add', cap]
    return argv + ['--', sandbox_path(interpreter()), '-E', '-s', '-B', sandbox_path(WORKER_SCRIPT)]


def sandbox_path(path):
    """Where `path` is seen inside the bwrap sandbox. The candidates' private /tmp and
    /dev/shm would hide an interpreter or a checkout that lives there (a CI clone in
    /tmp), so such folders are mounted under the hidden /run instead."""
    for masked in ('/tmp', '/dev/shm'):
        if is_under(path, masked):
            return '/run/passlens' + path
    return path


# ---------------------------------------------------------------- firejail

# Folders firejail (or this profile) replaces with a private tmpfs: a needed path under
# one is whitelisted (bound back) instead of hidden.
FIREJAIL_PRIVATE_DIRS = ('/tmp', '/var/tmp')
# Writable tmpfs folders firejail makes; read-only for candidates (no state carried from
# one request to the next, nothing written outside the working folder).
FIREJAIL_TMPFS_DIRS = ('/tmp', '/var/tmp', '/run/lock', '/var/log', '/dev/shm')


def firejail_masked_dirs():
    """Top-level folders hidden in the firejail sandbox (hidden_dirs without the ones
    nested in another, plus firejail's private /tmp and /var/tmp)."""
    tops = []
    for path in hidden_dirs() + list(FIREJAIL_PRIVATE_DIRS):
        if not any(is_under(path, top) for top in tops):
            tops = [top for top in tops if not is_under(top, path)] + [path]
    return tops


def firejail_whitelisted(worker_dir):
    """{masked folder: [needed paths under it]}: what firejail binds back into a hidden
    folder (the interpreter, this folder, the worker's working folder)."""
    needed = python_paths() + [os.path.realpath(worker_dir)]
    return {top: [p for p in needed if is_under(p, top)] for top in firejail_masked_dirs()}


def firejail_command(firejail, worker_dir):
    """argv that runs the worker under firejail (options: firejail(1)): no network, the
    file system read-only except the worker's folder, homes and /run hidden, its own
    pid/ipc/mount namespaces, seccomp, no new privileges, no supplementary groups. The
    worker is not pid 1 here (firejail's own init is), so it dies with the judge by
    watching its control pipe (worker.py) and takes the sandbox down with it
    (--deterministic-shutdown)."""
    root = is_root()
    argv = [firejail, '--noprofile', '--quiet', '--deterministic-shutdown',
            '--net=none', '--ipc-namespace', '--private-dev', '--nogroups', '--nonewprivs',
            '--seccomp', '--seccomp.block-secondary', '--restrict-namespaces',
            '--caps.keep=' + ','.join(cap[4:].lower() for cap in WORKER_CAPS) if root else '--caps.drop=all',
            '--read-only=/']
    for top, inside in firejail_whitelisted(worker_dir).items():
        if inside:
            argv += ['--whitelist=' + path for path in inside]
        elif top == '/run':
            # firejail keeps its own state in /run/firejail and fails when it is hidden.
            argv += ['--blacklist=' + os.path.join(top, name) for name in sorted(os.listdir(top))
                     if name != 'firejail']
        elif top == '/tmp':
            argv.append('--private-tmp')
        elif top not in FIREJAIL_PRIVATE_DIRS:
            argv.append('--blacklist=' + top)
    read_only = python_paths() + [d for d in FIREJAIL_TMPFS_DIRS if os.path.isdir(d)]
    if not root:
        # The home tmpfs belongs to the user, and candidates share the user's uid. As root
        # it stays writable for the worker alone (see root_traversal).
        read_only.append(os.path.realpath(os.path.expanduser('~')))
    argv += ['--read-only=' + path for path in read_only]
    # Last: it must win over the read-only folders that contain it.
    argv += ['--read-write=' + os.path.realpath(worker_dir)]
    return argv + ['--'] + plain_command()


def root_traversal(worker_dir):
    """Masked folders a root worker must open to its candidates' uid (o+x) inside the
    firejail sandbox: firejail mounts the whitelist tmpfs of a home with the home's own
    mode (/root is 0700), and candidates must still reach the interpreter under it."""
    return [top for top, inside in firejail_whitelisted(worker_dir).items()
            if inside and top not in FIREJAIL_PRIVATE_DIRS]


# ---------------------------------------------------------------- sandbox-exec (macOS)

# Mach services libSystem needs for user and group look-ups and logging; every other
# service (the pasteboard, the keychain, launch services...) is denied.
DARWIN_MACH_SERVICES = ('com.apple.system.opendirectoryd.libinfo',
                        'com.apple.system.opendirectoryd.membership',
                        'com.apple.system.logger', 'com.apple.system.notification_center')


def _sbpl_string(text):
    return '"%s"' % text.replace('\\', '\\\\').replace('"', '\\"')


def sandbox_exec_profile(worker_dir, hidden, readable, executables):
    """The SBPL profile (macOS sandbox-exec) of a worker: no network, writes only in
    `worker_dir` (and /dev/null), no reads in the `hidden` folders except the `readable`
    paths under them (the interpreter, this folder), exec only of `executables` (the
    interpreter) and ps (the worker's process table), signals only inside the sandbox,
    a short list of mach services. Everything else the interpreter needs stays allowed.
    In SBPL the last matching rule wins, so each allowance follows its denial."""
    worker_dir = os.path.realpath(worker_dir)
    inside = sorted({p for p in readable if any(is_under(p, h) for h in hidden)})
    ancestors = sorted({os.path.dirname(p) for p in inside} | {a for p in inside for a in _ancestors(p)})
    lines = [
        '(version 1)',
        '(allow default)',
        '(deny network*)',
        '(deny file-write*)',
        '(allow file-write* (subpath %s) (literal "/dev/null"))' % _sbpl_string(worker_dir),
    ]
    if hidden:
        lines.append('(deny file-read* %s)' % ' '.join('(subpath %s)' % _sbpl_string(h) for h in hidden))
    if inside:
        lines.append('(allow file-read* %s)' % ' '.join('(subpath %s)' % _sbpl_string(p) for p in inside))
        lines.append('(allow file-read-metadata %s)' % ' '.join('(literal %s)' % _sbpl_string(a)
                                                               for a in ancestors))
    lines += [
        '(deny process-exec)',
        '(allow process-exec %s)' % ' '.join('(literal %s)' % _sbpl_string(p)
                                             for p in sorted(set(executables)) + ['/bin/ps']),
        '(deny signal)',
        '(allow signal (target same-sandbox))',
        '(deny mach-lookup)',
        '(allow mach-lookup %s)' % ' '.join('(global-name %s)' % _sbpl_string(s) for s in DARWIN_MACH_SERVICES),
    ]
    return '\n'.join(lines) + '\n'


def _ancestors(path):
    found = []
    parent = os.path.dirname(path)
    while parent and parent != os.path.dirname(parent):
        found.append(parent)
        parent = os.path.dirname(parent)
    return found


# ---------------------------------------------------------------- per-worker settings

def worker_settings(mode, index, worker_dir, isolation_check):
    """The worker's config message. `worker_dir`: the host folder its candidates write in
    (None for bwrap: its private /tmp). `isolation_check`: what the worker must fail to
    reach before it serves (strong modes): {"write": a path outside, "connect": a port of
    a listener of the judge}."""
    root = is_root()
    if mode == 'bwrap':
        tmp, wipe = '/tmp', ['/tmp', '/dev/shm']
    else:
        tmp, wipe = worker_dir, []
    if mode in ('bwrap', 'firejail'):
        # Inside these sandboxes the folders leading to the interpreter and the working
        # folder are opened to the candidate's uid (bwrap_command, root_traversal).
        can_drop = root
    else:
        # Elsewhere the candidate reads the host's folders: a uid of its own only where
        # the interpreter and its working folder stay reachable for it.
        can_drop = root and all(world_readable(p) for p in python_paths()) and world_readable(worker_dir)
    uid = BASE_UID + index if can_drop else None
    nproc = NPROC_DROPPED if uid is not None else hostos.count_user_tasks(os.getuid()) + NPROC_MARGIN
    return {'uid': uid, 'nproc': nproc, 'tmp': tmp, 'wipe': wipe,
            'guard': mode == 'weak', 'deny_read': hidden_dirs() if mode == 'weak' else [],
            'open_for_uid': root_traversal(worker_dir) if mode == 'firejail' and uid is not None else [],
            'isolation_check': None if mode == 'weak' else isolation_check}

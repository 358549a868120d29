import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import {
  SandboxClient,
  SandboxUnavailableError,
  defaultJudgePath,
  isWeakIsolation,
  type JudgeRequest,
  type JudgeVerdict,
  type JudgeResponse,
} from '../../src/core/sandbox';
import { verdictLabel } from '../../src/core/generateAndRank/bestOfN';
import { UntrustedWorkspaceError } from '../../src/core/shared/trust';
import { withoutStrongIsolation } from '../fixtures/sandbox';

const repo = resolve(__dirname, '..', '..');
const judgePath = join(repo, 'python-sandbox', 'judge.py');
const venvPython = join(repo, '.venv', 'bin', 'python');
const pythonPath = existsSync(venvPython) ? venvPython : 'python3';

/** A client for the protocol tests; the isolation tests below say what they allow. */
function client(extra: Partial<ConstructorParameters<typeof SandboxClient>[0]> = {}): SandboxClient {
  return new SandboxClient({ pythonPath, judgePath, workers: 2, trusted: true, defaultTimeoutS: 2, allowWeakIsolation: true, ...extra });
}

function verdict(response: JudgeResponse): JudgeVerdict {
  assert.ok(!('error' in response), `expected a verdict, got ${JSON.stringify(response)}`);
  return response as JudgeVerdict;
}

const sleeper: JudgeRequest = {
  id: 'sleeper',
  code: 'import time\ntime.sleep(60)',
  tests: { inputs: [''], outputs: [''] },
  timeout_s: 3,
};
const echo = (id: string): JudgeRequest => ({ id, code: 'print(input())', tests: { inputs: [id], outputs: [id] } });

test('judges standard-input and call-based requests with the real judge', async () => {
  const sandbox = client();
  try {
    const [stdin, called, wrong] = await sandbox.judgeMany([
      { id: 's', code: 'n = int(input())\nprint(n * n)', tests: { inputs: ['3\n', '4\n'], outputs: ['9\n', '16\n'] } },
      { id: 'c', code: 'def add(a, b):\n    return a + b', tests: { inputs: [[1, 2], [2, 2]], outputs: [[3], [4]], fn_name: 'add' } },
      { id: 'w', code: 'print(5)', tests: { inputs: ['', ''], outputs: ['5', '6'] } },
    ]);
    assert.equal(verdict(stdin).passed, true);
    assert.deepEqual(verdict(stdin).results, [true, true]);
    assert.equal(verdict(called).passed, true);
    assert.equal(verdict(wrong).passed, false);
    assert.deepEqual(verdict(wrong).verdicts, ['pass', 'wrong_answer']);
    assert.ok(['bwrap', 'firejail'].includes(verdict(wrong).isolation), 'a real sandbox on Linux, never the weak guard by default');
    assert.equal(verdict(wrong).weak_isolation, false);
    assert.equal(verdict(wrong).apps_passed, false);
  } finally {
    await sandbox.dispose();
  }
});

test('keeps request order across parallel workers and survives malformed requests', async () => {
  const sandbox = client();
  try {
    const requests: JudgeRequest[] = [
      { id: 'slow', code: 'import time\ntime.sleep(0.5)\nprint(1)', tests: { inputs: [''], outputs: ['1'] } },
      { id: 'bad', code: 'print(1)', tests: { inputs: ['', ''], outputs: ['1'] } },
      echo('fast'),
    ];
    const responses = await sandbox.judgeMany(requests);
    assert.deepEqual(responses.map((r) => r.id), ['slow', 'bad', 'fast']);
    assert.equal(verdict(responses[0]).passed, true);
    assert.match((responses[1] as { error: string }).error, /2 items but "tests.outputs" has 1/);
    assert.equal(verdict(responses[2]).passed, true);
    assert.equal(sandbox.starts, 1);
  } finally {
    await sandbox.dispose();
  }
});

test('refuses to run code in an untrusted workspace', async () => {
  const sandbox = client({ trusted: false });
  await assert.rejects(sandbox.judge(echo('x')), UntrustedWorkspaceError);
  assert.equal(sandbox.pid, undefined);
  assert.equal(sandbox.starts, 0);
});

test('a cancelled request rejects at once and the next one is still answered', async () => {
  const sandbox = client({ workers: 1 });
  try {
    const controller = new AbortController();
    const cancelled = sandbox.judge({ ...sleeper, timeout_s: 1 }, controller.signal);
    const next = sandbox.judge(echo('after-cancel'));
    setTimeout(() => controller.abort(), 200);
    await assert.rejects(cancelled, { name: 'AbortError' });
    assert.equal(verdict(await next).passed, true);
    const already = new AbortController();
    already.abort();
    await assert.rejects(sandbox.judge(echo('never'), already.signal), { name: 'AbortError' });
  } finally {
    await sandbox.dispose();
  }
});

test('a crashed judge is restarted and the in-flight request reported as errored', async () => {
  const sandbox = client();
  try {
    const inFlight = sandbox.judge(sleeper);
    const queued = sandbox.judge(echo('queued'));
    while (sandbox.pid === undefined) await new Promise((r) => setTimeout(r, 20));
    await new Promise((r) => setTimeout(r, 500));
    process.kill(sandbox.pid, 'SIGKILL');
    const crashed = await inFlight;
    assert.equal(crashed.id, 'sleeper');
    assert.match((crashed as { error: string }).error, /judge was killed \(SIGKILL\)/);
    assert.equal(verdict(await queued).passed, true);
    assert.equal(verdict(await sandbox.judge(echo('later'))).passed, true);
    assert.equal(sandbox.starts, 2);
  } finally {
    await sandbox.dispose();
  }
});

test('a hung judge is killed after the request\'s worst case and replaced', async () => {
  const sandbox = client({ hangGraceMs: 300 });
  try {
    assert.equal(verdict(await sandbox.judge(echo('warm'))).passed, true);
    const hungPid = sandbox.pid;
    assert.ok(hungPid);
    process.kill(hungPid, 'SIGSTOP');
    const response = await sandbox.judge({ ...echo('stuck'), timeout_s: 0.5 });
    assert.match((response as { error: string }).error, /did not answer within/);
    assert.equal(verdict(await sandbox.judge(echo('after-hang'))).passed, true);
    assert.notEqual(sandbox.pid, hungPid);
    assert.throws(() => process.kill(hungPid, 0), /ESRCH/);
  } finally {
    await sandbox.dispose();
  }
});

test('dispose rejects pending requests and stops the judge', async () => {
  const sandbox = client();
  const pending = sandbox.judge(sleeper);
  while (sandbox.pid === undefined) await new Promise((r) => setTimeout(r, 20));
  const pid = sandbox.pid;
  const rejected = assert.rejects(pending, /disposed/);
  await sandbox.dispose();
  await rejected;
  assert.throws(() => process.kill(pid, 0), /ESRCH/);
  await assert.rejects(sandbox.judge(echo('x')), /disposed/);
});

test('defaultJudgePath finds the judge from the source tree and from a bundle folder', () => {
  assert.equal(defaultJudgePath(join(repo, 'src', 'core', 'sandbox')), judgePath);
  assert.equal(defaultJudgePath(join(repo, 'dist')), judgePath);
  const elsewhere = mkdtempSync(join(tmpdir(), 'passlens-nojudge-'));
  try {
    mkdirSync(join(elsewhere, 'a', 'b', 'c'), { recursive: true });
    assert.throws(() => defaultJudgePath(join(elsewhere, 'a', 'b', 'c')), /judge\.py not found/);
  } finally {
    rmSync(elsewhere, { recursive: true, force: true });
  }
});

// ---------------------------------------------------------------- isolation

test('weak isolation asked for without the opt-in is refused before the judge starts', async () => {
  const sandbox = client({ isolation: 'weak', allowWeakIsolation: false });
  await assert.rejects(sandbox.judge(echo('x')), (e: unknown) => e instanceof SandboxUnavailableError && /not allowed/.test(e.message));
  assert.equal(sandbox.starts, 0);
});

test('with the opt-in, weak verdicts are marked weak wherever they are labelled', async () => {
  const sandbox = client({ isolation: 'weak', allowWeakIsolation: true });
  try {
    const response = await sandbox.judge(echo('weak'));
    assert.equal(verdict(response).passed, true);
    assert.equal(isWeakIsolation(response), true);
    assert.equal(verdictLabel(response), 'passes 1 example [weak isolation]');
  } finally {
    await sandbox.dispose();
  }
  const strong = client({ allowWeakIsolation: false });
  try {
    const response = await strong.judge(echo('strong'));
    assert.equal(isWeakIsolation(response), false, `this machine has a real sandbox (${verdict(response).isolation})`);
    assert.equal(verdictLabel(response), 'passes 1 example');
  } finally {
    await strong.dispose();
  }
});

test('without bwrap or firejail and without the opt-in, no verdict comes back: every request rejects with the judge\'s reason', async () => {
  await withoutStrongIsolation(async () => {
    const sandbox = client({ allowWeakIsolation: false });
    try {
      const settled = await Promise.allSettled([echo('a'), echo('b'), echo('c')].map((r) => sandbox.judge(r)));
      settled.push(...(await Promise.allSettled([sandbox.judge(echo('later'))])));
      for (const result of settled) {
        assert.equal(result.status, 'rejected');
        const reason = (result as PromiseRejectedResult).reason;
        assert.ok(reason instanceof SandboxUnavailableError, String(reason));
        assert.match(reason.message, /bubblewrap|bwrap/);
      }
      assert.equal(sandbox.pid, undefined, 'the judge was stopped');
      assert.equal(sandbox.starts, 1, 'and not restarted');
    } finally {
      await sandbox.dispose();
    }
  });
});

test('without bwrap or firejail and with the opt-in, candidates run under weak isolation and say so', async () => {
  await withoutStrongIsolation(async () => {
    const sandbox = client({ allowWeakIsolation: true });
    try {
      const [a, b] = await sandbox.judgeMany([echo('a'), { ...echo('b'), tests: { inputs: ['b'], outputs: ['c'] } }]);
      assert.equal(verdict(a).passed, true);
      assert.equal(verdict(b).passed, false);
      assert.ok(isWeakIsolation(a) && isWeakIsolation(b));
      assert.match(verdictLabel(b), /wrong answer \(0\/1\) \[weak isolation\]/);
    } finally {
      await sandbox.dispose();
    }
  });
});

test('a judge that cannot isolate exits at start: its own message is the refusal, and it is not restarted', async () => {
  await withoutStrongIsolation(async () => {
    // An explicit strong mode is never swapped for the weak one, opt-in or not.
    for (const allowWeakIsolation of [false, true]) {
      const sandbox = client({ isolation: 'bwrap', allowWeakIsolation });
      try {
        await assert.rejects(sandbox.judge(echo('x')), (e: unknown) => e instanceof SandboxUnavailableError && /bwrap: not installed.*apt-get install bubblewrap/.test(e.message));
        await assert.rejects(sandbox.judge(echo('y')), SandboxUnavailableError);
        assert.equal(sandbox.starts, 1);
      } finally {
        await sandbox.dispose();
      }
    }
  });
});

test('auto refused at start, with the opt-in: the judge is started again in weak mode', async () => {
  await withoutStrongIsolation(async () => {
    const refused = new SandboxClient({ pythonPath, judgePath, trusted: true, workers: 1 });
    try {
      await assert.rejects(refused.judge(echo('x')), (e: unknown) => e instanceof SandboxUnavailableError && /bubblewrap|bwrap/.test(e.message));
    } finally {
      await refused.dispose();
    }
    const allowed = new SandboxClient({ pythonPath, judgePath, trusted: true, workers: 1, allowWeakIsolation: true });
    try {
      const response = await allowed.judge(echo('x'));
      assert.equal(verdict(response).passed, true);
      assert.equal(isWeakIsolation(response), true);
      assert.equal(allowed.starts, 2);
      assert.match(allowed.weakFallbackReason ?? '', /bubblewrap|bwrap/);
    } finally {
      await allowed.dispose();
    }
  });
});

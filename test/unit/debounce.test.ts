import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isAbortError, throwIfAborted } from '../../src/core/shared/abort';
import { LatestRunScheduler } from '../../src/core/shared/debounce';

test('only the last of a burst of schedules runs', async () => {
  const scheduler = new LatestRunScheduler(20);
  const ran: number[] = [];
  const results = await Promise.all([1, 2, 3].map((n) => scheduler.schedule(async () => (ran.push(n), n))));
  assert.deepEqual(ran, [3]);
  assert.deepEqual(results, [undefined, undefined, 3]);
});

test('a new schedule aborts the run in flight and its result is dropped', async () => {
  const scheduler = new LatestRunScheduler(0);
  let sawAbort = false;
  let release!: () => void;
  const started = new Promise<void>((resolve) => (release = resolve));
  const first = scheduler.schedule(
    (signal) =>
      new Promise<string>((resolve) => {
        release();
        signal.addEventListener('abort', () => {
          sawAbort = true;
          resolve('stale');
        });
      }),
  );
  await started;
  assert.equal(scheduler.busy, true);
  const second = scheduler.schedule(async () => 'fresh');
  assert.equal(await first, undefined);
  assert.equal(await second, 'fresh');
  assert.equal(sawAbort, true);
  assert.equal(scheduler.busy, false);
});

test('errors of the latest run reach the caller; errors of superseded runs do not', async () => {
  const scheduler = new LatestRunScheduler(0);
  await assert.rejects(scheduler.schedule(async () => { throw new Error('boom'); }), /boom/);
  const stale = scheduler.schedule(async (signal) => {
    await new Promise((r) => setTimeout(r, 10));
    throwIfAborted(signal);
    return 1;
  });
  await new Promise((r) => setTimeout(r, 1));
  scheduler.cancel();
  assert.equal(await stale, undefined);
});

test('dispose cancels pending work and refuses new work', async () => {
  const scheduler = new LatestRunScheduler(50);
  let ran = false;
  const pending = scheduler.schedule(async () => (ran = true));
  scheduler.dispose();
  assert.equal(await pending, undefined);
  assert.equal(await scheduler.schedule(async () => (ran = true)), undefined);
  await new Promise((r) => setTimeout(r, 60));
  assert.equal(ran, false);
});

test('throwIfAborted throws an AbortError only when aborted', () => {
  const controller = new AbortController();
  throwIfAborted(controller.signal);
  controller.abort();
  assert.throws(() => throwIfAborted(controller.signal), (e) => isAbortError(e));
});

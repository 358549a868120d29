/**
 * Runs the UI checks (test/ui/*.ui.ts, mocha TDD interface) against one workbench
 * started for the whole run, with the micro-ci critic and generator configured.
 * Screenshots go to test-results/screenshots/. Prints one line per check and, last,
 * "N passed, N failed".
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import Mocha from 'mocha';
import { microModels } from '../fixtures/models';
import { screenshot, screenshotsDir, startWorkbench, stopWorkbench } from './workbench';

const TIMEOUT_MS = Number(process.env.PASSLENS_EDITOR_TEST_TIMEOUT_MS ?? 720_000);

async function main(): Promise<number> {
  const mocha = new Mocha({ ui: 'tdd', timeout: 60_000, reporter: 'spec', color: false });
  if (process.env.PASSLENS_TEST_GREP) mocha.grep(process.env.PASSLENS_TEST_GREP);
  for (const name of readdirSync(__dirname).filter((n) => n.endsWith('.ui.ts')).sort()) mocha.addFile(join(__dirname, name));
  mocha.rootHooks({
    async beforeAll(this: Mocha.Context) {
      this.timeout(600_000); // builds the micro models if run.sh has not (cold: ~5 min)
      const models = microModels();
      // Every check sees these from the start: no settings edit the workbench could pick up late.
      await startWorkbench({
        'passlens.critic.bundlePath': models.criticBundle,
        'passlens.generator.backend': 'local',
        'passlens.generator.model': models.generator,
        'passlens.generator.dtype': 'fp32',
        'passlens.generator.offlineOnly': true,
        'passlens.generator.candidates': 4,
        'passlens.generator.temperature': 1.0,
        'passlens.generator.maxNewTokens': 200,
      });
    },
    async afterEach(this: Mocha.Context) {
      // A failing check leaves a picture of what the editor showed.
      if (this.currentTest?.state === 'failed') await screenshot(`FAILED-${this.currentTest.fullTitle().replace(/\W+/g, '-')}`).catch(() => undefined);
    },
    async afterAll() {
      await stopWorkbench();
    },
  });
  await mocha.loadFilesAsync();
  const watchdog = setTimeout(() => {
    console.log(`UI checks did not finish within ${TIMEOUT_MS / 1000} s`);
    console.log('0 passed, 1 failed');
    process.exit(1);
  }, TIMEOUT_MS);
  const stats = await new Promise<Mocha.Stats>((resolve) => {
    const runner = mocha.run(() => resolve(runner.stats!));
  });
  clearTimeout(watchdog);
  console.log(`screenshots: ${screenshotsDir}`);
  console.log(`${stats.passes} passed, ${stats.failures} failed`);
  return stats.failures === 0 && stats.passes > 0 ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  async (error: unknown) => {
    await stopWorkbench();
    console.error(error instanceof Error ? error.stack : error);
    console.log('0 passed, 1 failed');
    process.exit(1);
  },
);

/**
 * Runs a benchmark suite in a real editor (the integration tests' code-server + headless
 * Chromium harness) and prints the medians side by side. Use editor-bench.sh [inline].
 * The suite is editorSuite, or the one named as the first argument; a suite that writes
 * `report` lines with its samples has them printed as they are.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { launchChromium } from '../../test/integration/harness/browser';
import { startCodeServer } from '../../test/integration/harness/codeServer';
import { baseSettings, makeWorkspace, repoRoot } from '../../test/integration/harness/workspace';

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function main(): Promise<void> {
  const suite = join(repoRoot, 'out', 'benchmarks', 'editor', `${process.argv[2] ?? 'editorSuite'}.js`);
  const stateDir = mkdtempSync(join(tmpdir(), 'passlens-bench-'));
  const results = join(stateDir, 'bench.json');
  const workspace = makeWorkspace(stateDir, baseSettings(stateDir));
  const server = await startCodeServer({ stateDir, smokeTestDriver: true, env: { PASSLENS_BENCH_RESULTS: results } });
  const remote = (path: string) => `vscode-remote://127.0.0.1:${server.port}${path}`;
  const payload = [['extensionDevelopmentPath', remote(repoRoot)], ['extensionTestsPath', remote(suite)]];
  const browser = await launchChromium();
  try {
    const page = await browser.newPage();
    const exit = new Promise<number>((resolve) => void page.exposeFunction('codeAutomationExit', resolve));
    await page.goto(`${server.url}/?folder=${encodeURIComponent(workspace)}&payload=${encodeURIComponent(JSON.stringify(payload))}`);
    const code = await Promise.race([exit, new Promise<number>((_, reject) => setTimeout(() => reject(new Error('benchmark timed out')), 600_000).unref())]);
    // The state folder stays when the suite fails: its extension host's logs are there.
    if (code !== 0 || !existsSync(results)) throw new Error(`the benchmark suite failed (exit ${code}); see the extension host's logs under ${stateDir}`);
  } finally {
    await browser.close();
    server.stop();
  }
  const s = JSON.parse(readFileSync(results, 'utf8')) as { open: number[]; appendKeystroke: number[]; midKeystroke: number[]; incrementalAppends: number; report?: string[] };
  rmSync(stateDir, { recursive: true, force: true });
  if (s.report) {
    console.log(s.report.join('\n'));
    return;
  }
  const ms = (x: number) => `${x.toFixed(1)} ms`.padStart(10);
  console.log(`PassLens in the editor (code-server), 300-line file, tiny 8k-context bundle, CPU, median of ${s.open.length}`);
  console.log(`  file opened → decorations shown              ${ms(median(s.open))}`);
  console.log(`  keystroke → decorations updated`);
  console.log(`    mid-file (full rescoring)                  ${ms(median(s.midKeystroke))}`);
  console.log(`    end of file (incremental, ${s.incrementalAppends}/${s.appendKeystroke.length} via KV cache) ${ms(median(s.appendKeystroke))}   (${(median(s.midKeystroke) / median(s.appendKeystroke)).toFixed(1)}× faster)`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});

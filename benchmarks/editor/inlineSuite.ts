/**
 * Runs inside a real editor's extension host (editor-bench.sh inline): with the micro-ci
 * generator and critic on a held-out micro problem, times from the trigger to
 *   - the first ghost text (the provider hands the editor its first scored continuation)
 *   - the final ranking in the editor (every continuation scored, the list re-fetched)
 * for ranked inline suggestions, against Generate and Rank (the QuickPick path: the
 * picker opens once every candidate is generated, scored and judged; before that the user
 * sees a progress notification). Same N, temperature and token limit for both; run 0
 * loads the models and is left out. Writes the samples and a printed report to
 * $PASSLENS_BENCH_RESULTS.
 */
import { copyFileSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as vscode from 'vscode';
import type { PassLensApi } from '../../src/extension';
import { microModels, writeDemoWorkspace } from '../../test/fixtures/models';

const RUNS = Number(process.env.PASSLENS_BENCH_RUNS ?? 7);
const N = 4;
const PROBLEM = 'digits_cmp-stdin';

async function until<T>(what: string, probe: () => T | undefined, timeoutMs = 180_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

export async function run(): Promise<void> {
  const models = microModels();
  const config = vscode.workspace.getConfiguration('passlens');
  const settings: Record<string, unknown> = {
    'critic.bundlePath': models.criticBundle,
    'generator.model': models.generator,
    'generator.dtype': 'fp32',
    'generator.offlineOnly': true,
    'generator.candidates': N,
    'generator.temperature': 1.0,
    'generator.maxNewTokens': 200,
    'inline.candidates': N,
    'inline.maxNewTokens': 200,
  };
  for (const [key, value] of Object.entries(settings)) await config.update(key, value, vscode.ConfigurationTarget.Workspace);
  const api = await vscode.extensions.getExtension<PassLensApi>('passlens.passlens')!.activate();
  const statement = writeDemoWorkspace(mkdtempSync(join(tmpdir(), 'passlens-bench-demo-')), models).find((p) => p.endsWith(`${PROBLEM}.md`))!;
  const folder = vscode.workspace.workspaceFolders![0].uri;
  const open = async (name: string) => {
    copyFileSync(statement, join(folder.fsPath, `${name}.md`));
    writeFileSync(join(folder.fsPath, `${name}.py`), '');
    return vscode.window.showTextDocument(await vscode.workspace.openTextDocument(vscode.Uri.joinPath(folder, `${name}.py`)));
  };
  const samples = { inlineFirst: [] as number[], inlineFinal: [] as number[], inlineSessionFirst: [] as number[], pickerShown: [] as number[], distinct: [] as number[] };

  for (let r = 0; r <= RUNS; r++) {
    const editor = await open(`inline_${r}`);
    const before = api.inline.sessions.current;
    const start = performance.now();
    await vscode.commands.executeCommand('editor.action.inlineSuggest.trigger');
    const session = await until('an inline session', () => {
      const s = api.inline.sessions.current;
      return s && s !== before && s.document === editor.document ? s : undefined;
    });
    await until('the first ghost text', () => (session.provided.length ? true : undefined));
    const first = performance.now() - start;
    await until('the final ranking in the editor', () => {
      if (session.done && session.error) throw new Error(String(session.error));
      return session.done && session.provided.map((c) => c.continuation).join('\0') === session.ranked.map((c) => c.continuation).join('\0') ? true : undefined;
    });
    const final = performance.now() - start;
    await vscode.commands.executeCommand('editor.action.inlineSuggest.hide');
    await vscode.commands.executeCommand('workbench.action.closeActiveEditor');

    const picked = await open(`picker_${r}`);
    api.candidates.clear();
    const pickStart = performance.now();
    const running = Promise.resolve(vscode.commands.executeCommand('passlens.generateAndRank'));
    await until('the picker', () => (api.candidates.last?.document.toString() === picked.document.uri.toString() ? true : undefined));
    const shown = performance.now() - pickStart;
    await vscode.commands.executeCommand('workbench.action.closeQuickOpen');
    await running;
    await vscode.commands.executeCommand('workbench.action.closeActiveEditor');
    if (r === 0) continue; // loads the models
    samples.inlineFirst.push(first);
    samples.inlineFinal.push(final);
    samples.inlineSessionFirst.push(session.timings.first ?? Number.NaN);
    samples.pickerShown.push(shown);
    samples.distinct.push(session.ranked.length);
  }
  const ms = (x: number) => `${x.toFixed(0)} ms`.padStart(9);
  const report = [
    `Ranked inline suggestions vs Generate and Rank in the editor (code-server), micro-ci models, N = ${N}, CPU, median of ${RUNS}`,
    `  inline: trigger → first ghost text              ${ms(median(samples.inlineFirst))}   (${(median(samples.pickerShown) / median(samples.inlineFirst)).toFixed(1)}× sooner than the picker)`,
    `  inline: trigger → final ranking in the editor   ${ms(median(samples.inlineFinal))}`,
    `  picker: command → ranked list shown              ${ms(median(samples.pickerShown))}   (first = final: the picker opens when all are scored and judged)`,
    `  (distinct continuations per suggestion: median ${median(samples.distinct)} of ${N})`,
  ];
  writeFileSync(process.env.PASSLENS_BENCH_RESULTS!, JSON.stringify({ ...samples, report }));
}

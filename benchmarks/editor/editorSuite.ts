/**
 * Runs inside a real editor's extension host (see editor-bench.sh): times, with live
 * confidence on and no debounce, "file opened" → decorations for the file's version, and
 * "keystroke" → decorations for the new version, at the end of the file (incremental,
 * KV cache) and in the middle (full rescoring). Writes the samples to $PASSLENS_BENCH_RESULTS.
 */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as vscode from 'vscode';
import type { PassLensApi } from '../../src/extension';

const RUNS = Number(process.env.PASSLENS_BENCH_RUNS ?? 7);
const LINES = 300;

function pythonFile(lines: number, variant: number): string {
  const out = ['"""Read n, k and n integers; print the weighted total."""', 'import sys', '', 'def read_ints():', '    return list(map(int, sys.stdin.readline().split()))', ''];
  for (let f = 0; out.length < lines - 6; f++) {
    out.push(`def step_${f}(values, k):`, '    total = 0', '    for i, v in enumerate(values):', `        if v % (k + ${f + 2 + variant}) == 0:`, '            total += v * i', '        else:', `            total -= ${f}`, '    return total', '');
  }
  out.push('def main():', '    n, k = read_ints()', '    values = read_ints()', '    print(step_0(values, k))', '', 'main()');
  return out.slice(0, lines).join('\n') + '\n';
}

/** Resolves with the milliseconds until the store holds scores for `document`'s current version. */
function untilScored(api: PassLensApi, document: () => vscode.TextDocument | undefined, start: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no scores within 120 s')), 120_000);
    const check = () => {
      const doc = document();
      const score = doc && api.scores.score(doc.uri);
      if (doc && score?.version === doc.version) {
        clearTimeout(timer);
        listener.dispose();
        resolve(performance.now() - start);
      }
    };
    const listener = api.scores.onDidChange(check);
  });
}

export async function run(): Promise<void> {
  const extension = vscode.extensions.getExtension<PassLensApi>('passlens.passlens')!;
  const root = extension.extensionPath;
  const bundle = join(root, '.cache', 'fixtures', 'critic-bundle-8k');
  execFileSync(join(root, '.venv', 'bin', 'python'), ['-m', 'passlens_training.testing.fixtures', 'critic-bundle', bundle, '--max-positions', '8192'], { cwd: root });
  const config = vscode.workspace.getConfiguration('passlens');
  await config.update('critic.bundlePath', bundle, vscode.ConfigurationTarget.Workspace);
  await config.update('liveConfidence.debounceMs', 0, vscode.ConfigurationTarget.Workspace);
  await config.update('liveConfidence.enabled', true, vscode.ConfigurationTarget.Workspace);
  const api = await extension.activate();
  const folder = vscode.workspace.workspaceFolders![0].uri;
  const samples = { open: [] as number[], appendKeystroke: [] as number[], midKeystroke: [] as number[], incrementalAppends: 0 };

  for (let r = 0; r <= RUNS; r++) {
    const uri = vscode.Uri.joinPath(folder, `bench_${r}.py`);
    writeFileSync(uri.fsPath, pythonFile(LINES, r));
    const start = performance.now();
    const opened = untilScored(api, () => vscode.workspace.textDocuments.find((d) => d.uri.toString() === uri.toString()), start);
    const editor = await vscode.window.showTextDocument(await vscode.workspace.openTextDocument(uri));
    const openMs = await opened;
    // Run 0 loads the critic: a warm-up, not a sample.
    if (r > 0) samples.open.push(openMs);

    const end = editor.document.lineAt(editor.document.lineCount - 1).range.end;
    let t = performance.now();
    let done = untilScored(api, () => editor.document, t);
    await editor.edit((e) => e.insert(end, 'x'));
    const appendMs = await done;
    if (r > 0) {
      samples.appendKeystroke.push(appendMs);
      if (api.scores.score(uri)?.incremental) samples.incrementalAppends++;
    }

    t = performance.now();
    done = untilScored(api, () => editor.document, t);
    await editor.edit((e) => e.insert(new vscode.Position(LINES / 2, 4), 'y'));
    const midMs = await done;
    if (r > 0) samples.midKeystroke.push(midMs);
    // Saved, not reverted: a revert is an edit, whose rescoring would still occupy the
    // critic when the next file opens.
    await editor.document.save();
    await vscode.commands.executeCommand('workbench.action.closeActiveEditor');
  }
  writeFileSync(process.env.PASSLENS_BENCH_RESULTS!, JSON.stringify(samples));
}

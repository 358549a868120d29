/**
 * PassLens' features in a real editor with the tiny critic bundle and tiny generator:
 * gutter decorations on the right lines in the right colours, live mode after an edit,
 * and Generate and Rank end to end (N ranked items, accepting inserts the top one).
 */
import * as assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import * as vscode from 'vscode';
import { confidenceBucket, lineConfidences } from '../../../src/core/lines';
import { codeAsResponse } from '../../../src/core/prompt';
import type { JudgeResponse } from '../../../src/core/sandbox/types';
import type { PassLensApi } from '../../../src/extension';
import { tinyCriticBundle, tinyGenerator } from '../../unit/helpers/fixtures';
import { passlens, waitFor, workspaceFile } from './helpers';

const STATEMENT = 'Read two integers and print their sum.\n\n-----Examples-----\nInput\n2 3\n\nOutput\n5\n';
const SOURCE = `"""\n${STATEMENT}"""\na, b = map(int, input().split())\n\nprint(a + b)\n`;

const settings: Record<string, unknown> = {
  'critic.bundlePath': '',
  'generator.backend': 'local',
  'generator.model': '',
  'generator.dtype': 'fp32',
  'generator.offlineOnly': true,
  'generator.candidates': 3,
  'generator.maxNewTokens': 12,
  'liveConfidence.debounceMs': 50,
};

async function openSource(name: string, text: string): Promise<vscode.TextEditor> {
  const uri = workspaceFile(name);
  writeFileSync(uri.fsPath, text);
  return vscode.window.showTextDocument(await vscode.workspace.openTextDocument(uri));
}

suite('features (tiny critic and generator)', () => {
  let api: PassLensApi;
  const config = () => vscode.workspace.getConfiguration('passlens');
  const previous = new Map<string, unknown>();

  suiteSetup(async function () {
    this.timeout(240_000); // builds the fixtures on a fresh machine
    settings['critic.bundlePath'] = tinyCriticBundle();
    settings['generator.model'] = tinyGenerator();
    for (const [key, value] of Object.entries(settings)) {
      previous.set(key, config().inspect(key)?.workspaceValue);
      await config().update(key, value, vscode.ConfigurationTarget.Workspace);
    }
    api = await passlens().activate();
  });

  suiteTeardown(async () => {
    // Later suites see the workspace settings the runner wrote.
    await config().update('liveConfidence.enabled', undefined, vscode.ConfigurationTarget.Workspace);
    for (const [key, value] of previous) await config().update(key, value, vscode.ConfigurationTarget.Workspace);
  });

  test('@vsix Score Current File puts gutter icons on the scored lines, coloured by their p(pass)', async () => {
    const editor = await openSource('scored.py', SOURCE);
    const uri = editor.document.uri;
    await vscode.commands.executeCommand('passlens.scoreCurrentFile');
    const score = await waitFor('the file to be scored', () => api.scores.score(uri));
    // The critic scored the whole file as its response, token offsets covering the code.
    const { text, codeStart } = codeAsResponse(editor.document.getText());
    assert.equal(score.code, editor.document.getText());
    assert.equal(score.codeStart, codeStart);
    assert.equal(score.scores.charOffsets[score.scores.charOffsets.length - 1][1], text.length);
    assert.deepEqual(score.lines, lineConfidences(score.scores, score.code, score.codeStart));
    const nonBlank = editor.document.getText().split('\n').flatMap((l, i) => (l.trim() ? [i] : []));
    const byBucket = api.decorations.linesByBucket(uri);
    const decorated = byBucket.flat().sort((a, b) => a - b);
    assert.deepEqual(decorated, score.lines.map((l) => l.line), 'one gutter icon per scored line');
    for (const line of score.lines) assert.ok(byBucket[confidenceBucket(line.value)].includes(line.line), `line ${line.line} in its colour bucket`);
    for (const line of nonBlank) assert.ok(decorated.includes(line), `non-blank line ${line} is decorated`);

    // The hover of a scored line shows its p(pass), trend and the curve link.
    const last = score.lines[score.lines.length - 1];
    const hovers = await vscode.commands.executeCommand<vscode.Hover[]>('vscode.executeHoverProvider', uri, new vscode.Position(last.line, 0));
    const hover = hovers.flatMap((h) => h.contents.map((c) => (typeof c === 'string' ? c : 'value' in c ? c.value : ''))).join('\n');
    assert.ok(hover.includes(`p(pass) after this line: **${(last.value * 100).toFixed(0)}%**`), hover);
    assert.match(hover, new RegExp(`Trend: ${last.trend}`));
    assert.match(hover, /command:passlens\.showConfidenceCurve/);
  });

  test('live mode rescores an edit incrementally, the curve opens, a file without a problem is flagged, turning off clears', async () => {
    const editor = await openSource('live.py', SOURCE);
    const uri = editor.document.uri;
    await config().update('liveConfidence.enabled', true, vscode.ConfigurationTarget.Workspace);
    await waitFor('live scores', () => api.scores.score(uri)?.version === editor.document.version || undefined);
    const end = editor.document.lineAt(editor.document.lineCount - 1).range.end;
    await editor.edit((edit) => edit.insert(end, 'print(a * b)\n'));
    const updated = await waitFor('scores for the edited text', () => {
      const score = api.scores.score(uri);
      return score?.version === editor.document.version ? score : undefined;
    });
    assert.equal(updated.incremental, true, 'an append goes through the KV cache');
    assert.ok(updated.lines.some((l) => l.line === editor.document.lineCount - 2), 'the new line is scored');

    // Show Confidence Curve opens its webview beside the editor.
    await vscode.commands.executeCommand('passlens.showConfidenceCurve');
    await waitFor('the curve webview', () =>
      vscode.window.tabGroups.all.some((g) => g.tabs.some((t) => t.input instanceof vscode.TabInputWebview && t.input.viewType.endsWith('passlens.curve'))) || undefined,
    );

    // A file without a problem statement says so (the status bar shows this state).
    const bare = await openSource('bare.py', 'x = 1\n');
    await waitFor('the no-problem state', () => api.scores.state(bare.document.uri)?.kind === 'noProblem' || undefined);
    await config().update('liveConfidence.enabled', false, vscode.ConfigurationTarget.Workspace);
    await waitFor('scores to be cleared', () => api.scores.score(uri) === undefined || undefined);
    assert.deepEqual(api.decorations.linesByBucket(uri).flat(), []);
  });

  test('@vsix Generate and Rank lists N candidates best first and accepting inserts the top one', async function () {
    this.timeout(120_000);
    const editor = await openSource('generated.py', `"""\n${STATEMENT}"""\n\n`);
    const line = editor.document.lineCount - 1;
    editor.selection = new vscode.Selection(line, 0, line, 0);
    api.candidates.clear();
    const running = vscode.commands.executeCommand('passlens.generateAndRank');
    let settled = false;
    void Promise.resolve(running).finally(() => (settled = true));
    const run = await waitFor('ranked candidates', () => api.candidates.last, 90_000);
    assert.equal(run.candidates.length, 3);
    for (let i = 1; i < run.candidates.length; i++) assert.ok(run.candidates[i - 1].final >= run.candidates[i].final, 'best first');
    assert.ok(run.candidates.every((c) => c.judged !== undefined), 'the examples were run in the (trusted) sandbox');
    // Accept the active (top) item once the picker is up.
    await waitFor('the picker to accept', async () => {
      if (settled) return true;
      await vscode.commands.executeCommand('workbench.action.acceptSelectedQuickOpenItem');
      await new Promise((resolve) => setTimeout(resolve, 300));
      return settled || undefined;
    });
    const top = run.candidates[0].code.replace(/\n$/, '');
    assert.ok(editor.document.getText().includes(top), 'the top candidate was inserted');
    assert.ok(editor.document.getText().startsWith(`"""\n${STATEMENT}"""`), 'the statement is kept');
  });

  test('@vsix Run Candidate in Sandbox runs the top candidate on the problem\'s examples', async function () {
    this.timeout(60_000);
    const run = api.candidates.last;
    assert.ok(run, 'needs the candidates of the previous test');
    const running = Promise.resolve(vscode.commands.executeCommand<JudgeResponse | undefined>('passlens.runCandidateInSandbox'));
    let settled = false;
    void running.finally(() => (settled = true));
    // Two pickers: which code (candidate #1 is first), which tests (the examples are first).
    await waitFor('both pickers to be accepted', async () => {
      if (settled) return true;
      await vscode.commands.executeCommand('workbench.action.acceptSelectedQuickOpenItem');
      await new Promise((resolve) => setTimeout(resolve, 300));
      return settled || undefined;
    }, 45_000);
    const result = await running;
    assert.ok(result && !('error' in result), `judge answered ${JSON.stringify(result)}`);
    assert.equal(result.results.length, 1, 'one example was run');
    const judged = run.candidates[0].judged;
    assert.ok(judged && !('error' in judged));
    assert.deepEqual([result.passed, result.verdicts], [judged.passed, judged.verdicts], 'the same verdict as in the picker');
  });
});

/**
 * PassLens' features in a real editor with the micro-ci generator and critic (issue 9) on
 * a held-out micro problem, written as the demo workspace has it (<name>.md beside
 * <name>.py): gutter decorations on the right lines in the right colours, causal scores;
 * live mode after an edit; Generate and Rank end to end with real candidates (Python that
 * runs, verdicts that differ, ranked by the critic's p(pass), or by the generator's
 * likelihood without a critic). What is asserted is what holds for any critic build: how
 * well the micro critic ranks is an effect, reported over seeds in docs/reproduction.md.
 */
import * as assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as vscode from 'vscode';
import type { RankedCandidate } from '../../../src/core/generateAndRank/bestOfN';
import { confidenceBucket, lineConfidences } from '../../../src/core/confidence/lineConfidence';
import { codeAsResponse } from '../../../src/core/confidence/documentScoring';
import type { JudgeResponse } from '../../../src/core/sandbox/types';
import type { PassLensApi } from '../../../src/extension';
import { microModels, writeDemoWorkspace } from '../../fixtures/models';
import { passlens, waitFor, workspaceFile } from './helpers';

/** The held-out problem the tests use (a family the critic was not trained on). */
const PROBLEM = 'digits_cmp-stdin';
// The statement says "at least d": `>=` is right, `>` fails the example and the tests.
const CORRECT = [
  'n, d = map(int, input().split())',
  'count = 0',
  'for ch in str(n):',
  '    # the digit must be at least d',
  '    if int(ch) >= d:',
  '        count += 1',
  'print(count)',
  '',
].join('\n');
const FLIPPED = CORRECT.replace('int(ch) >= d', 'int(ch) > d');
const DECISIVE_LINE = 4;
const CANDIDATES = 16;

const settings: Record<string, unknown> = {
  'critic.bundlePath': '',
  'generator.backend': 'local',
  'generator.model': '',
  'generator.dtype': 'fp32',
  'generator.offlineOnly': true,
  'generator.candidates': CANDIDATES,
  // The temperature the critic's training rollouts were sampled at.
  'generator.temperature': 1.0,
  'generator.maxNewTokens': 200,
  'liveConfidence.debounceMs': 50,
};

let statement = '';

/** Writes `<name>.py` with `code` and the problem's statement as `<name>.md` beside it, and opens the .py. */
async function openSolution(name: string, code: string): Promise<vscode.TextEditor> {
  copyFileSync(statement, workspaceFile(`${name}.md`).fsPath);
  const uri = workspaceFile(`${name}.py`);
  writeFileSync(uri.fsPath, code);
  return vscode.window.showTextDocument(await vscode.workspace.openTextDocument(uri));
}

async function scoreFile(api: PassLensApi, editor: vscode.TextEditor) {
  await vscode.commands.executeCommand('passlens.scoreCurrentFile');
  return waitFor('the file to be scored', () => {
    const score = api.scores.score(editor.document.uri);
    return score?.version === editor.document.version ? score : undefined;
  });
}

const mean = (values: number[]) => values.reduce((a, b) => a + b, 0) / values.length;

suite('features (micro-ci critic and generator, held-out micro problem)', () => {
  let api: PassLensApi;
  let demoDir: string;
  const config = () => vscode.workspace.getConfiguration('passlens');
  const previous = new Map<string, unknown>();

  suiteSetup(async function () {
    this.timeout(600_000); // builds the micro models if the runner has not (cold: ~5 min)
    const models = microModels();
    settings['critic.bundlePath'] = models.criticBundle;
    settings['generator.model'] = models.generator;
    demoDir = mkdtempSync(join(tmpdir(), 'passlens-demo-'));
    statement = writeDemoWorkspace(demoDir, models).find((path) => path.endsWith(`${PROBLEM}.md`))!;
    assert.ok(statement, `the demo writer wrote no ${PROBLEM}.md`);
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
    rmSync(demoDir, { recursive: true, force: true });
  });

  test('@vsix Score Current File puts gutter icons on the scored lines, coloured by their p(pass)', async function () {
    this.timeout(120_000);
    const editor = await openSolution('scored', CORRECT);
    const uri = editor.document.uri;
    const score = await scoreFile(api, editor);
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

  test('a file is scored causally: the lines before the decisive one score the same in the correct and the flipped solution', async function () {
    this.timeout(120_000);
    // Whether the critic ranks ">=" above ">" under "at least" is an effect, measured over
    // several seeds in docs/reproduction.md (the gutter's decisive-line metric), not asserted
    // here: one build of the micro critic on one machine is one sample of it. What must hold
    // for any critic is that a value depends only on the text before it.
    const correct = await scoreFile(api, await openSolution('correct', CORRECT));
    const flipped = await scoreFile(api, await openSolution('flipped', FLIPPED));
    const at = (score: typeof correct, line: number) => score.lines.find((l) => l.line === line)!.value;
    for (const score of [correct, flipped]) {
      assert.deepEqual(score.lines.map((l) => l.line), [0, 1, 2, 3, 4, 5, 6], 'every code line has a value');
      assert.ok(score.lines.every((l) => l.value >= 0 && l.value <= 1), 'values are probabilities');
    }
    for (let line = 0; line < DECISIVE_LINE; line++) assert.ok(Math.abs(at(correct, line) - at(flipped, line)) < 1e-4, `line ${line} differs`);
  });

  test('live mode rescores an edit incrementally, the curve opens, a file without a problem is flagged, turning off clears', async function () {
    this.timeout(120_000);
    const editor = await openSolution('live', CORRECT);
    const uri = editor.document.uri;
    await config().update('liveConfidence.enabled', true, vscode.ConfigurationTarget.Workspace);
    await waitFor('live scores', () => api.scores.score(uri)?.version === editor.document.version || undefined, 60_000);
    const end = editor.document.lineAt(editor.document.lineCount - 1).range.end;
    await editor.edit((edit) => edit.insert(end, 'print(n * d)\n'));
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
    const uriBare = workspaceFile('bare.py');
    writeFileSync(uriBare.fsPath, 'x = 1\n');
    const bare = await vscode.window.showTextDocument(await vscode.workspace.openTextDocument(uriBare));
    await waitFor('the no-problem state', () => api.scores.state(bare.document.uri)?.kind === 'noProblem' || undefined);
    await config().update('liveConfidence.enabled', false, vscode.ConfigurationTarget.Workspace);
    await waitFor('scores to be cleared', () => api.scores.score(uri) === undefined || undefined);
    assert.deepEqual(api.decorations.linesByBucket(uri).flat(), []);
  });

  test('@vsix Generate and Rank: real Python candidates, verdicts that differ, best first by the critic, accepting inserts the top one', async function () {
    this.timeout(180_000);
    // An empty solution file: the problem comes from the .md beside it, as in the demo.
    const editor = await openSolution('generated', '');
    api.candidates.clear();
    const running = vscode.commands.executeCommand('passlens.generateAndRank');
    let settled = false;
    void Promise.resolve(running).finally(() => (settled = true));
    const run = await waitFor('ranked candidates', () => api.candidates.last, 150_000);
    // Accept the active (top) item once the picker is up (first, so that a failed check
    // below leaves no picker open for the next test).
    await waitFor('the picker to accept', async () => {
      if (settled) return true;
      await vscode.commands.executeCommand('workbench.action.acceptSelectedQuickOpenItem');
      await new Promise((resolve) => setTimeout(resolve, 300));
      return settled || undefined;
    });
    const candidates: RankedCandidate[] = run.candidates;
    const summary = candidates.map((c) => `${c.final.toFixed(2)} ${c.judged && 'verdicts' in c.judged ? c.judged.verdicts.join(',') : JSON.stringify(c.judged)}`).join(' | ');
    assert.equal(candidates.length, CANDIDATES);
    for (let i = 1; i < candidates.length; i++) assert.ok(candidates[i - 1].final >= candidates[i].final, 'best first');
    const verdicts = candidates.map((c) => {
      assert.ok(c.judged && !('error' in c.judged), `the examples were run in the (trusted) sandbox: ${JSON.stringify(c.judged)}`);
      return c.judged;
    });
    // Real Python: the generator writes a ```python block that compiles. Sampling at 1.0
    // now and then breaks one (about 1 in 30 measured), so at least 3 in 4, not all.
    // A broken sample may also lose its fence (seen once in CI: the text was judged as
    // code and failed to compile), so the same 3-in-4 bar holds for code blocks.
    const fenced = candidates.filter((c) => c.code.trim() && c.code !== c.text).length;
    assert.ok(fenced >= CANDIDATES * 0.75, `${fenced}/${CANDIDATES} responses have a code block: ${summary}`);
    const compiled = verdicts.filter((v) => v.verdicts[0] !== 'compile_error').length;
    assert.ok(compiled >= CANDIDATES * 0.75, `${compiled}/${CANDIDATES} compile: ${summary}`);
    // The corpus the generator learned from has a wrong decisive token in ~30% of its
    // solutions: of 16 samples some pass the example and some fail it (measured pass rate
    // ~0.6 here: all 16 alike has a chance below 1 in 1000).
    const passing = candidates.filter((_, i) => verdicts[i].passed);
    const failing = candidates.filter((_, i) => !verdicts[i].passed);
    assert.ok(passing.length > 0 && failing.length > 0, `verdicts differ: ${summary}`);
    // Ranked by the critic, each candidate by its own final p(pass) (how well that ranking
    // picks passing candidates is measured in docs/reproduction.md, not asserted here).
    const ownFinal = (c: RankedCandidate) => (c.values.length ? c.final === c.values[c.values.length - 1] : Number.isNaN(c.final));
    assert.ok(candidates.every((c) => c.rankedBy === 'critic' && ownFinal(c)), summary);
    const top = candidates[0].code.replace(/\n$/, '');
    assert.equal(editor.document.getText(), `${top}\n`, 'the top candidate fills the empty file, ending with a newline');
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

  test('without a critic, Generate and Rank ranks by the generator\'s likelihood, labelled as such', async function () {
    this.timeout(180_000);
    await config().update('critic.bundlePath', '', vscode.ConfigurationTarget.Workspace);
    try {
      const editor = await openSolution('likelihood', '');
      api.candidates.clear();
      const running = vscode.commands.executeCommand('passlens.generateAndRank');
      let settled = false;
      void Promise.resolve(running).finally(() => (settled = true));
      const run = await waitFor('ranked candidates', () => api.candidates.last, 150_000);
      await waitFor('the picker to accept', async () => {
        if (settled) return true;
        await vscode.commands.executeCommand('workbench.action.acceptSelectedQuickOpenItem');
        await new Promise((resolve) => setTimeout(resolve, 300));
        return settled || undefined;
      });
      const candidates: RankedCandidate[] = run.candidates;
      assert.equal(candidates.length, CANDIDATES);
      for (const c of candidates) {
        assert.equal(c.rankedBy, 'likelihood');
        assert.deepEqual(c.values, [], 'no p(pass) without a critic');
        if (c.logprobs.length) assert.ok(Math.abs(c.final - mean(c.logprobs)) < 1e-9, 'ranked by the mean token log-probability');
        else assert.ok(Number.isNaN(c.final), 'a candidate without tokens has no likelihood');
      }
      for (let i = 1; i < candidates.length; i++) assert.ok(candidates[i - 1].final >= candidates[i].final, 'most likely first');
      assert.equal(editor.document.getText(), `${candidates[0].code.replace(/\n$/, '')}\n`);
    } finally {
      await config().update('critic.bundlePath', settings['critic.bundlePath'], vscode.ConfigurationTarget.Workspace);
    }
  });
});

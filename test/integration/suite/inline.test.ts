/**
 * Ranked inline suggestions and the candidates panel in a real editor, with the micro-ci
 * generator and critic on a held-out micro problem (`<name>.md` beside `<name>.py`, as in
 * the demo): the editor's first ghost text is the critic's top continuation, Alt+] and
 * Alt+[ walk the ranking, Tab inserts what shows; the panel lists the candidates best
 * first and its Accept inserts one (from an inline suggestion and from Generate and Rank).
 */
import * as assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as vscode from 'vscode';
import type { PassLensApi } from '../../../src/extension';
import { microModels, writeDemoWorkspace } from '../../fixtures/models';
import { passlens, waitFor, workspaceFile } from './helpers';

const PROBLEM = 'digits_cmp-stdin';
const SETTINGS: Record<string, unknown> = {
  'critic.bundlePath': '',
  'generator.backend': 'local',
  'generator.model': '',
  'generator.dtype': 'fp32',
  'generator.offlineOnly': true,
  'generator.candidates': 4,
  // The temperature the critic's training rollouts were sampled at.
  'generator.temperature': 1.0,
  'generator.maxNewTokens': 200,
  'inline.candidates': 6,
  'inline.maxNewTokens': 200,
};

type Session = NonNullable<PassLensApi['inline']['sessions']['current']>;

suite('inline suggestions and the candidates panel (micro-ci models, held-out micro problem)', () => {
  let api: PassLensApi;
  let demoDir: string;
  let statement = '';
  const config = () => vscode.workspace.getConfiguration('passlens');
  const previous = new Map<string, unknown>();

  async function openSolution(name: string, code: string): Promise<vscode.TextEditor> {
    copyFileSync(statement, workspaceFile(`${name}.md`).fsPath);
    const uri = workspaceFile(`${name}.py`);
    writeFileSync(uri.fsPath, code);
    const editor = await vscode.window.showTextDocument(await vscode.workspace.openTextDocument(uri));
    const end = editor.document.positionAt(code.length);
    editor.selection = new vscode.Selection(end, end);
    return editor;
  }

  /**
   * Triggers a suggestion as Alt+\ does and waits until the session has ranked all of its
   * continuations and the editor holds that final ranking.
   */
  async function suggest(editor: vscode.TextEditor): Promise<Session> {
    const before = api.inline.sessions.current;
    await vscode.commands.executeCommand('passlens.suggestInline');
    const session = await waitFor('an inline session', () => {
      const current = api.inline.sessions.current;
      return current && current !== before && current.document === editor.document ? current : undefined;
    });
    return waitFor(
      'the final ranking in the editor',
      () => {
        if (session.done && session.error) throw new Error(`the session failed: ${String(session.error)}`);
        const final = session.done && session.ranked.length > 0 && session.provided.map((c) => c.continuation).join('\u0000') === session.ranked.map((c) => c.continuation).join('\u0000');
        return final ? session : undefined;
      },
      120_000,
    );
  }

  /** Runs suggestions until one offers at least `distinct` different continuations (sampling can repeat itself). */
  async function suggestDistinct(editor: vscode.TextEditor, distinct: number): Promise<Session> {
    for (let attempt = 1; ; attempt++) {
      const session = await suggest(editor);
      if (session.ranked.length >= distinct || attempt === 4) return session;
      // As Escape does: the editor's own hide keeps the finished session, and a trigger at the
      // same place and version is answered from it (no new samples: the retry waited 20 s for a session that never came).
      await vscode.commands.executeCommand('passlens.inline.hide');
    }
  }

  suiteSetup(async function () {
    this.timeout(600_000);
    const models = microModels();
    SETTINGS['critic.bundlePath'] = models.criticBundle;
    SETTINGS['generator.model'] = models.generator;
    demoDir = mkdtempSync(join(tmpdir(), 'passlens-inline-'));
    statement = writeDemoWorkspace(demoDir, models).find((path) => path.endsWith(`${PROBLEM}.md`))!;
    assert.ok(statement, `the demo writer wrote no ${PROBLEM}.md`);
    for (const [key, value] of Object.entries(SETTINGS)) {
      previous.set(key, config().inspect(key)?.workspaceValue);
      await config().update(key, value, vscode.ConfigurationTarget.Workspace);
    }
    api = await passlens().activate();
  });

  suiteTeardown(async () => {
    await vscode.commands.executeCommand('workbench.action.closeAllEditors');
    for (const [key, value] of previous) await config().update(key, value, vscode.ConfigurationTarget.Workspace);
    rmSync(demoDir, { recursive: true, force: true });
  });

  test('the first ghost text is the critic\'s top continuation and Tab inserts it', async function () {
    this.timeout(240_000);
    const editor = await openSolution('inline_first', '');
    const session = await suggest(editor);
    const finals = session.provided.map((c) => c.final);
    assert.deepEqual(finals, [...finals].sort((a, b) => b - a), `best first: ${finals.join(', ')}`);
    assert.ok(session.timings.first !== undefined && session.timings.final !== undefined && session.timings.first <= session.timings.final);
    // All samples are accounted for: each wrote one of the listed continuations or nothing usable.
    const samples = session.ranked.reduce((sum, c) => sum + c.indices.length, 0);
    assert.ok(samples >= 1 && samples <= 6);
    await vscode.commands.executeCommand('editor.action.inlineSuggest.commit');
    await waitFor('the suggestion to be inserted', () => editor.document.getText() === session.provided[0].continuation || undefined);
    // A real program: the top continuation reads the input and prints an answer.
    assert.match(editor.document.getText(), /input\(\)[\s\S]*print\(/);
  });

  test('Alt+] and Alt+[ walk the ranking: the second best, then back past the first to the last', async function () {
    this.timeout(300_000);
    const editor = await openSolution('inline_cycle', '');
    const session = await suggestDistinct(editor, 2);
    assert.ok(session.provided.length >= 2, `two different continuations in 4 tries (got ${session.provided.length})`);
    await vscode.commands.executeCommand('passlens.inline.showNext');
    assert.equal(session.shown, 1);
    await vscode.commands.executeCommand('passlens.inline.showPrevious');
    await vscode.commands.executeCommand('passlens.inline.showPrevious');
    assert.equal(session.shown, session.provided.length - 1);
    await vscode.commands.executeCommand('passlens.inline.showNext');
    await vscode.commands.executeCommand('passlens.inline.showNext');
    await vscode.commands.executeCommand('editor.action.inlineSuggest.commit');
    await waitFor('the second-ranked continuation to be inserted', () => editor.document.getText() === session.provided[1].continuation || undefined);
  });

  test('in the middle of a program: continuations of the cursor line, scored with the code below', async function () {
    this.timeout(240_000);
    const above = 'n, d = map(int, input().split())\ncount = 0\nfor ch in str(n):\n    # the digit must be at least d\n    if int(ch)';
    const below = '\nprint(count)\n';
    const editor = await openSolution('inline_middle', above + below);
    editor.selection = new vscode.Selection(editor.document.positionAt(above.length), editor.document.positionAt(above.length));
    const session = await suggest(editor);
    assert.equal(session.request?.prefix, above);
    assert.equal(session.request?.suffix, below);
    for (const c of session.ranked) assert.ok(!c.continuation.includes('print(count)'), `the code below is not written again: ${JSON.stringify(c.continuation)}`);
    await vscode.commands.executeCommand('editor.action.inlineSuggest.commit');
    await waitFor('the top continuation between the lines', () => editor.document.getText() === above + session.provided[0].continuation + below || undefined);
  });

  test('automatic suggestions: off by default; on, typing starts one after the pause and typing again cancels it end to end', async function () {
    this.timeout(240_000);
    // Words of the files the other tests opened would open the suggest widget, to which inline suggestions yield.
    const editorConfig = vscode.workspace.getConfiguration('editor', { languageId: 'python' });
    await editorConfig.update('quickSuggestions', { other: 'off', comments: 'off', strings: 'off' }, vscode.ConfigurationTarget.Workspace, true);
    try {
      const editor = await openSolution('inline_auto', 'n, d = map(int, input().split())\n');
      const before = api.inline.sessions.current;
      await vscode.commands.executeCommand('type', { text: 'c' });
      await new Promise((resolve) => setTimeout(resolve, 1500));
      assert.equal(api.inline.sessions.current, before, 'no suggestion without passlens.inline.automatic');
      await config().update('inline.automatic', true, vscode.ConfigurationTarget.Workspace);
      await config().update('inline.debounceMs', 200, vscode.ConfigurationTarget.Workspace);
      await vscode.commands.executeCommand('type', { text: 'o' });
      const first = await waitFor('an automatic session', () => {
        const current = api.inline.sessions.current;
        return current && current !== before && current.document === editor.document ? current : undefined;
      });
      assert.equal(first.explicit, false);
      await vscode.commands.executeCommand('type', { text: 'u' });
      // The edit ended the first session: its signal aborted generation and scoring, and it ended without a ranking of its own.
      await waitFor('the first session to end', () => first.done || undefined);
      assert.equal(first.signal.aborted, true);
      assert.equal((first.error as Error | undefined)?.name, 'AbortError');
      const second = await waitFor('a session for the new text', () => {
        const current = api.inline.sessions.current;
        return current && current !== first ? current : undefined;
      });
      assert.equal(second.version, editor.document.version);
      await waitFor('the second session to rank', () => (second.done ? second : undefined), 120_000);
      assert.equal(second.error, undefined, `the second session failed: ${String(second.error)}`);
    } finally {
      await editorConfig.update('quickSuggestions', undefined, vscode.ConfigurationTarget.Workspace, true);
      await config().update('inline.automatic', undefined, vscode.ConfigurationTarget.Workspace);
      await config().update('inline.debounceMs', undefined, vscode.ConfigurationTarget.Workspace);
      await vscode.commands.executeCommand('editor.action.inlineSuggest.hide');
    }
  });

  test('without a critic, the ghost text is the most likely continuation, labelled likelihood, and the panel says so', async function () {
    this.timeout(240_000);
    await config().update('critic.bundlePath', '', vscode.ConfigurationTarget.Workspace);
    try {
      const editor = await openSolution('inline_likelihood', '');
      const session = await suggest(editor);
      assert.equal(session.critic, undefined);
      assert.ok(session.provided.every((c) => c.rankedBy === 'likelihood' && c.values.length === 0), 'no p(pass) without a critic');
      const finals = session.provided.map((c) => c.final);
      assert.ok(finals.every((f) => Number.isFinite(f) && f < 0), `mean log-probabilities: ${finals.join(', ')}`);
      assert.deepEqual(finals, [...finals].sort((a, b) => b - a), 'most likely first');
      await vscode.commands.executeCommand('editor.action.inlineSuggest.commit');
      await waitFor('the most likely continuation to be inserted', () => editor.document.getText() === session.provided[0].continuation || undefined);
      await vscode.commands.executeCommand('passlens.showCandidates');
      const panel = await waitFor('the candidates panel', () => api.candidatesPanel());
      const view = panel.view();
      assert.match(view.detail, /by the generator's likelihood/);
      assert.deepEqual(view.cards.map((c) => c.code), session.ranked.map((c) => c.continuation));
      assert.ok(view.cards.every((c) => c.rankedBy === 'likelihood'));
      await vscode.commands.executeCommand('workbench.action.closeActiveEditor');
    } finally {
      await config().update('critic.bundlePath', SETTINGS['critic.bundlePath'], vscode.ConfigurationTarget.Workspace);
    }
  });

  test('the candidates panel opens from the inline suggestion, lists its continuations best first, Accept inserts', async function () {
    this.timeout(240_000);
    const editor = await openSolution('inline_panel', '');
    const session = await suggest(editor);
    await vscode.commands.executeCommand('passlens.showCandidates');
    const panel = await waitFor('the candidates panel', () => api.candidatesPanel());
    const view = await waitFor('judged cards', () => {
      const v = panel.view();
      return v.cards.every((c) => c.verdict.kind !== 'notRun') ? v : undefined;
    }, 60_000);
    assert.deepEqual(view.cards.map((c) => c.code), session.ranked.map((c) => c.continuation));
    const finals = view.cards.map((c) => c.final);
    assert.deepEqual(finals, [...finals].sort((a, b) => b - a));
    assert.ok(view.cards.every((c) => c.diff.some((line) => line.kind === 'add')), 'each card has its diff');
    // Accept the last one: the panel inserts any candidate, not just the editor's first.
    const chosen = view.cards[view.cards.length - 1];
    await panel.receive({ type: 'accept', key: chosen.key });
    await waitFor('the accepted continuation', () => editor.document.getText() === chosen.code || undefined);
    await vscode.commands.executeCommand('workbench.action.closeActiveEditor');
  });

  test('the candidates panel shows a Generate and Rank run: N candidates by p(pass), sandbox verdicts, Accept inserts', async function () {
    this.timeout(240_000);
    const editor = await openSolution('ranked_panel', '');
    api.candidates.clear();
    const running = Promise.resolve(vscode.commands.executeCommand('passlens.generateAndRank'));
    const run = await waitFor('ranked candidates', () => api.candidates.last, 180_000);
    // The panel (the picker's title button does the same), then dismiss the picker.
    await vscode.commands.executeCommand('passlens.showCandidates');
    await vscode.commands.executeCommand('workbench.action.closeQuickOpen');
    await running;
    const panel = await waitFor('the candidates panel', () => api.candidatesPanel());
    const view = await waitFor('the finished run', () => (panel.view().done ? panel.view() : undefined));
    assert.equal(view.cards.length, 4);
    assert.deepEqual(view.cards.map((c) => c.key), run.candidates.map((c) => String(c.index)), 'the picker\'s order');
    const finals = view.cards.map((c) => c.final);
    assert.deepEqual(finals, [...finals].sort((a, b) => b - a));
    assert.ok(view.cards.every((c) => c.verdict.kind === 'pass' || c.verdict.kind === 'fail'), `verdicts: ${view.cards.map((c) => c.verdict.label).join(' | ')}`);
    assert.equal(editor.document.getText(), '', 'dismissing the picker inserted nothing');
    await panel.receive({ type: 'accept', key: view.cards[0].key });
    await waitFor('the top candidate in the file', () => editor.document.getText() === `${run.candidates[0].code.replace(/\n$/, '')}\n` || undefined);
  });
});

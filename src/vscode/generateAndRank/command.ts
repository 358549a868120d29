import * as vscode from 'vscode';
import { judgeCandidates, type RankedCandidate } from '../../core/generateAndRank/bestOfN';
import { search } from '../../core/generateAndRank/search';
import type { Problem } from '../../core/problem/types';
import { SandboxUnavailableError } from '../../core/sandbox';
import { docstringEndingAt, problemFromStatement, statementAboveLine } from '../../core/problem/extraction';
import type { Critic } from '../../core/critic/types';
import { offerCriticFix, tellRankedByLikelihood } from '../critic/selectCritic';
import { errorMessage, isCancellation, timed, withProgress } from '../log';
import type { CriticService } from '../critic/criticService';
import type { GeneratorService } from '../generation/generatorService';
import type { ProblemService } from '../problem/problemService';
import type { SandboxService } from '../sandbox/sandboxService';
import { readSettings } from '../settings';
import type { CandidateStore } from './candidateStore';
import { pickCandidate, rankingLabel } from './picker';
import { PREVIEW_SCHEME, type CandidatePreviews } from './preview';
import type { CandidateSource } from './candidatesPanel';
import { RankRunCards } from './rankRunCards';

export interface GenerateAndRankDeps {
  generators: GeneratorService;
  critics: CriticService;
  sandbox: SandboxService;
  problems: ProblemService;
  previews: CandidatePreviews;
  store: CandidateStore;
  log: vscode.LogOutputChannel;
  openPanel: (source: CandidateSource) => void;
}

/** Problem for generation: the selection, the docstring/comment above the cursor, the file's problem, or typed. */
async function problemAtCursor(editor: vscode.TextEditor, problems: ProblemService): Promise<Problem | undefined> {
  const selection = editor.document.getText(editor.selection);
  if (selection.trim()) return problemFromStatement(selection);
  const above = statementAboveLine(editor.document.getText(), editor.selection.active.line);
  if (above) return problemFromStatement(above);
  const fileProblem = await problems.problemFor(editor.document);
  if (fileProblem) return fileProblem.problem;
  const typed = await vscode.window.showInputBox({
    title: 'PassLens: Generate and Rank Solutions',
    prompt: 'Problem statement (no selection or docstring above the cursor)',
    ignoreFocusOut: true,
  });
  return typed?.trim() ? problemFromStatement(typed) : undefined;
}

export type AcceptMode = 'insert' | 'replace';

/**
 * Where accepting `code` writes it: 'insert' puts it below the selection or the cursor's
 * line (below the whole docstring when the cursor is in one; taking the place of an empty
 * line; ending with a newline at the end of the file); 'replace' swaps it for the selected text.
 */
export function textAfterAccept(document: vscode.TextDocument, selection: vscode.Selection, code: string, mode: AcceptMode): { range: vscode.Range; text: string } {
  const body = code.replace(/\n$/, '');
  if (mode === 'replace' && !selection.isEmpty) return { range: selection, text: body };
  const cursorLine = selection.isEmpty ? selection.active.line : selection.end.line;
  const at = document.lineAt(docstringEndingAt(document.getText(), cursorLine) ?? cursorLine);
  // On the file's last line the code keeps a final newline: the critic reads a file's
  // p(pass) after its last token, and a last line cut before its newline is a rarer token
  // (a micro solution scored 9% without it, 68% with it).
  const end = at.lineNumber === document.lineCount - 1 ? '\n' : '';
  if (at.isEmptyOrWhitespace) return { range: at.range, text: body + end };
  return { range: new vscode.Range(at.range.end, at.range.end), text: '\n' + body + end };
}

/** The run as the candidates panel shows it: streaming, then ranked and judged; Accept inserts like the picker's Enter. */
function panelRun(editor: vscode.TextEditor, problem: Problem, n: number, deps: GenerateAndRankDeps): RankRunCards {
  const { document, selection } = editor;
  const run = new RankRunCards(document, problem, n, `${n} candidates, best first by the critic's p(pass)`, {
    after: (code) => {
      const { range, text } = textAfterAccept(document, selection, code, 'insert');
      return document.getText(new vscode.Range(new vscode.Position(0, 0), range.start)) + text + document.getText(new vscode.Range(range.end, document.lineAt(document.lineCount - 1).range.end));
    },
    apply: async (code) => {
      const target = await vscode.window.showTextDocument(document, editor.viewColumn);
      const { range, text } = textAfterAccept(document, selection, code, 'insert');
      if (!(await target.edit((edit) => edit.replace(range, text)))) throw new Error(`Could not edit ${vscode.workspace.asRelativePath(document.uri)}.`);
    },
  });
  deps.store.setLive(run);
  return run;
}

/** Closes the diff tabs the picker opened. */
async function closePreviews(): Promise<void> {
  const tabs = vscode.window.tabGroups.all.flatMap((group) =>
    group.tabs.filter((tab) => tab.input instanceof vscode.TabInputTextDiff && tab.input.modified.scheme === PREVIEW_SCHEME),
  );
  if (tabs.length) await vscode.window.tabGroups.close(tabs, true);
}

/** PassLens: Generate and Rank Solutions. */
export async function generateAndRankCommand(deps: GenerateAndRankDeps): Promise<RankedCandidate | undefined> {
  const editor = vscode.window.activeTextEditor;
  if (!editor) {
    void vscode.window.showInformationMessage('PassLens: open a Python file to generate into.');
    return undefined;
  }
  const problem = await problemAtCursor(editor, deps.problems);
  if (!problem) return undefined;
  const settings = readSettings();
  const run = panelRun(editor, problem, settings.generator.candidates, deps);
  let candidates: RankedCandidate[] | undefined;
  let calibrated = false;
  try {
    const { strategy, tokenBudget, guided } = settings.search;
    const n = settings.generator.candidates;
    const title = strategy === 'guided' ? `PassLens: guided search, ${n} candidates at a time` : `PassLens: generating ${n} candidates`;
    candidates = await withProgress(deps.log, title, async (progress, signal) => {
      // No critic configured: best-of-n ranks by the generator's likelihood, and says so.
      const critic: Critic | undefined = strategy === 'best-of-n' ? await deps.critics.getIfConfigured(signal) : await deps.critics.get(signal);
      calibrated = critic?.info.calibration !== undefined;
      if (!critic) tellRankedByLikelihood('candidates', deps.log);
      const generator = await deps.generators.get(signal);
      progress.report({ message: `${generator.name}` });
      try {
        let stopped = 0;
        const ranked = await timed(deps.log, `${strategy} over ${n} with ${generator.name}`, () =>
          search(
            generator,
            critic,
            problem,
            {
              strategy,
              n,
              temperature: settings.generator.temperature,
              topP: settings.generator.topP,
              topK: settings.generator.topK,
              maxNewTokens: settings.generator.maxNewTokens,
              tokenBudget: tokenBudget || undefined,
              guided,
            },
            signal,
            {
              onUpdate: ({ index, text, values, tokens, pruned, meanLogprob }) => {
                run.update(index, { text, values, tokens, pruned });
                const last = values[values.length - 1];
                const score = critic
                  ? `p(pass) ${last === undefined ? '—' : (last * 100).toFixed(0) + '%'}`
                  : `likelihood ${meanLogprob === undefined || Number.isNaN(meanLogprob) ? '—' : meanLogprob.toFixed(3)} (mean log-prob)`;
                if (pruned !== undefined && pruned !== false) {
                  stopped++;
                  progress.report({ message: `candidate ${index + 1} pruned at ${pruned} tokens (${score}); ${stopped} pruned so far` });
                } else progress.report({ message: `candidate ${index + 1}: ${tokens ?? values.length} tokens, ${score}` });
              },
            },
          ),
        );
        run.finish(ranked);
        const pruned = ranked.filter((c) => c.pruned !== false);
        if (pruned.length) deps.log.info(`guided search pruned ${pruned.length} of ${ranked.length} candidates; ${ranked.reduce((sum, c) => sum + c.tokens, 0)} tokens generated`);
        if (problem.tests && vscode.workspace.isTrusted) {
          progress.report({ message: `running ${problem.tests.inputs.length} example(s) in the sandbox` });
          await timed(deps.log, 'judge candidates on the examples', () => judgeCandidates(deps.sandbox.get(), problem, ranked, deps.sandbox.limits, signal)).catch(
            (error: unknown) => {
              if (isCancellation(error)) throw error;
              // Ranking stands without verdicts ("not run"); the user is told why (once) and how to fix it.
              if (error instanceof SandboxUnavailableError) deps.sandbox.reportUnavailable(error);
              else deps.log.warn(`sandbox: ${errorMessage(error)}`);
            },
          );
          deps.sandbox.noteVerdicts(ranked.map((candidate) => candidate.judged));
        }
        return ranked;
      } finally {
        run.end();
        deps.generators.idle();
        if (critic && !settings.liveConfidence.enabled) deps.critics.idle();
      }
    });
  } catch (error) {
    await offerCriticFix(error);
    return undefined;
  }
  if (!candidates?.length) return undefined;
  deps.store.last = { document: editor.document.uri, problem, candidates };
  const document = editor.document;
  const selection = editor.selection;
  const fileName = document.uri.path.split('/').pop() || 'candidate.py';
  // Diff tabs still opening when the pick ends: closed only once they exist (a tab that
  // opened after the clean-up stayed behind the dismissed picker).
  const opening = new Set<Promise<unknown>>();
  const preview = (candidate: RankedCandidate, mode: AcceptMode) => {
    const { range, text } = textAfterAccept(document, selection, candidate.code, mode);
    const after = document.getText(new vscode.Range(new vscode.Position(0, 0), range.start)) + text + document.getText(new vscode.Range(range.end, document.lineAt(document.lineCount - 1).range.end));
    const uri = deps.previews.put(`candidate-${candidate.index}`, fileName, after);
    const opened = Promise.resolve(
      vscode.commands.executeCommand('vscode.diff', document.uri, uri, `${fileName} ↔ candidate (${rankingLabel(candidate).replace(/\s+/g, ' ')})`, { preview: true, preserveFocus: true }),
    ).catch(() => undefined); // the editor may be closing
    opening.add(opened);
    void opened.finally(() => opening.delete(opened));
  };
  const chosen = await pickCandidate(candidates, preview, !selection.isEmpty, calibrated, () => deps.openPanel(run));
  // Bounded: a diff that never finishes opening must not hold the command.
  await Promise.race([Promise.all([...opening]), new Promise((resolve) => setTimeout(resolve, 5000))]);
  await closePreviews();
  deps.previews.clear();
  if (!chosen) {
    // Back to the file after the previews; a dismissal never fails the command (the editor may be closing).
    await Promise.resolve(vscode.window.showTextDocument(document, editor.viewColumn)).catch(() => undefined);
    return undefined;
  }
  const target = await vscode.window.showTextDocument(document, editor.viewColumn);
  const { range, text } = textAfterAccept(document, selection, chosen.candidate.code, chosen.mode);
  await target.edit((edit) => edit.replace(range, text));
  deps.log.info(`accepted candidate ${chosen.candidate.index} (${rankingLabel(chosen.candidate).replace(/\s+/g, ' ')}, ${chosen.mode})`);
  return chosen.candidate;
}

import * as vscode from 'vscode';
import type { Tests } from '../../core/problem/types';
import { SandboxUnavailableError, WEAK_ISOLATION_LABEL, isWeakIsolation, type JudgeResponse } from '../../core/sandbox';
import type { CandidateStore } from '../generateAndRank/candidateStore';
import { errorMessage, isCancellation, withProgress } from '../log';
import type { ProblemService } from '../problem/problemService';
import type { SandboxService } from './sandboxService';

/** Reads and checks a tests JSON ({inputs, outputs, fn_name?}), saying what is wrong. */
export function parseTestsJson(text: string, source: string): Tests {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new Error(`${source} is not valid JSON: ${errorMessage(error)}`);
  }
  const tests = value as Partial<Tests>;
  if (!Array.isArray(tests.inputs) || !Array.isArray(tests.outputs) || tests.inputs.length !== tests.outputs.length) {
    throw new Error(`${source} must look like {"inputs": [...], "outputs": [...]} with as many outputs as inputs`);
  }
  if (tests.fn_name !== undefined && typeof tests.fn_name !== 'string') throw new Error(`${source}: "fn_name" must be a string`);
  return tests as Tests;
}

/**
 * PassLens: Run Candidate in Sandbox — runs a generated candidate or the current file against
 * the problem's examples or a tests JSON; only in a trusted workspace. Results go to a panel.
 */
export async function runCandidateInSandbox(
  sandbox: SandboxService,
  candidates: CandidateStore,
  problems: ProblemService,
  log: vscode.LogOutputChannel,
): Promise<JudgeResponse | undefined> {
  if (!vscode.workspace.isTrusted) {
    void vscode.window.showWarningMessage('PassLens runs model-written code only in a trusted workspace.', 'Manage Workspace Trust').then(
      (choice) => choice && vscode.commands.executeCommand('workbench.trust.manage'),
    );
    return undefined;
  }
  const editor = vscode.window.activeTextEditor;
  const run = candidates.last;
  const codeChoices = [
    ...(run?.candidates ?? []).map((c, rank) => ({ label: `Candidate #${rank + 1}`, description: `p(pass) ${(c.final * 100).toFixed(0)}%`, code: c.code })),
    ...(editor ? [{ label: 'Current file', description: vscode.workspace.asRelativePath(editor.document.uri), code: editor.document.getText() }] : []),
  ];
  if (!codeChoices.length) {
    void vscode.window.showInformationMessage('PassLens: nothing to run: generate candidates or open a Python file.');
    return undefined;
  }
  const chosen = codeChoices.length === 1 ? codeChoices[0] : await vscode.window.showQuickPick(codeChoices, { title: 'Run which code?' });
  if (!chosen) return undefined;
  const fileProblem = editor ? await problems.problemFor(editor.document) : undefined;
  const examples = run?.problem.tests ?? fileProblem?.problem.tests;
  const testChoice = await vscode.window.showQuickPick(
    [
      ...(examples ? [{ label: `Examples from the problem (${examples.inputs.length})`, pick: 'examples' as const }] : []),
      { label: 'Pick a tests JSON file…', pick: 'file' as const },
    ],
    { title: 'Run against which tests?' },
  );
  if (!testChoice) return undefined;
  let tests = examples;
  if (testChoice.pick === 'file') {
    const file = await vscode.window.showOpenDialog({ canSelectMany: false, filters: { 'Tests JSON': ['json'] } });
    if (!file?.[0]) return undefined;
    try {
      tests = parseTestsJson(new TextDecoder().decode(await vscode.workspace.fs.readFile(file[0])), file[0].fsPath);
    } catch (error) {
      void vscode.window.showErrorMessage(`PassLens: ${errorMessage(error)}`);
      return undefined;
    }
  }
  if (!tests) return undefined;
  const runTests = tests;
  try {
    const result = await withProgress(log, `PassLens: running ${chosen.label} on ${runTests.inputs.length} test(s)`, (_p, signal) =>
      sandbox.get().judge({ id: chosen.label, code: chosen.code, tests: runTests, timeout_s: sandbox.limits.timeoutSeconds, memory_mb: sandbox.limits.memoryMb }, signal),
    );
    if (result) {
      sandbox.noteVerdicts([result]);
      showResults(chosen.label, runTests, result);
    }
    return result;
  } catch (error) {
    if (error instanceof SandboxUnavailableError) sandbox.reportUnavailable(error, true);
    else if (!isCancellation(error)) void vscode.window.showErrorMessage(`PassLens sandbox: ${errorMessage(error)}`);
    return undefined;
  }
}

const escape = (s: string) => s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);

function showResults(title: string, tests: Tests, result: JudgeResponse): void {
  const panel = vscode.window.createWebviewPanel('passlens.sandbox', `PassLens sandbox: ${title}`, vscode.ViewColumn.Beside, { enableScripts: false });
  const show = (v: unknown) => escape(typeof v === 'string' ? v : JSON.stringify(v));
  let body: string;
  if ('error' in result) body = `<p class="bad">The sandbox rejected the request: ${escape(result.error)}</p>`;
  else {
    const rows = result.verdicts
      .map((verdict, i) => `<tr class="${verdict === 'pass' ? 'ok' : 'bad'}"><td>${i + 1}</td><td>${verdict.replace('_', ' ')}</td><td><pre>${show(tests.inputs[i])}</pre></td><td><pre>${show(tests.outputs[i])}</pre></td></tr>`)
      .join('');
    const weak = isWeakIsolation(result)
      ? `<p class="bad" id="weak-isolation"><strong>⚠ ${WEAK_ISOLATION_LABEL}</strong>: this verdict comes from the judge's in-process guard (${escape(result.isolation)}), which the program can escape; it is not a sandbox. Install bubblewrap or firejail (Linux), or use WSL or a dev container (Windows).</p>`
      : '';
    body = `${weak}<p class="${result.passed ? 'ok' : 'bad'}"><strong>${result.passed ? 'Passed' : 'Failed'}</strong> · ${result.results.filter((r) => r === true).length}/${result.results.length} tests · ${result.seconds.toFixed(2)} s · isolation ${escape(result.isolation)}${isWeakIsolation(result) ? ` (${WEAK_ISOLATION_LABEL})` : ''}</p>
<table><tr><th>#</th><th>verdict</th><th>input</th><th>expected</th></tr>${rows}</table>${result.stderr ? `<h4>stderr</h4><pre>${escape(result.stderr)}</pre>` : ''}`;
  }
  panel.webview.html = `<!DOCTYPE html><html><head><meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline';"><style>
body{font-family:var(--vscode-font-family);color:var(--vscode-foreground)} table{border-collapse:collapse} td,th{border:1px solid var(--vscode-panel-border);padding:2px 6px;vertical-align:top;text-align:left}
pre{margin:0;font-family:var(--vscode-editor-font-family)} .ok{color:var(--vscode-testing-iconPassed)} .bad{color:var(--vscode-testing-iconFailed)}</style></head><body>${body}</body></html>`;
}

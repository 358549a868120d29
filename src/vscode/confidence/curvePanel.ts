import * as vscode from 'vscode';
import { randomBytes } from 'node:crypto';
import { CURVE_SCRIPT, CURVE_STYLE } from './curveScript';
import type { ScoreStore } from './scoreStore';

interface CurveData {
  type: 'data';
  file: string;
  code: string;
  final: number;
  values: number[];
  tokens: string[];
  /** [start, end) offsets into `code` (the fence before the code is left out). */
  offsets: Array<[number, number]>;
}

/**
 * Show Confidence Curve: value against token position with the code beside it and a 0.5
 * line (the paper's Figure 1b), following the colour theme; clicking a point or a token
 * reveals it in the editor. Follows the file it was opened for as it is re-scored.
 */
export class CurvePanel implements vscode.Disposable {
  private static current: CurvePanel | undefined;
  private readonly disposables: vscode.Disposable[] = [];

  static show(extensionUri: vscode.Uri, store: ScoreStore, document: vscode.TextDocument): CurvePanel {
    if (CurvePanel.current) {
      CurvePanel.current.document = document;
      CurvePanel.current.panel.reveal(vscode.ViewColumn.Beside, true);
      CurvePanel.current.post();
      return CurvePanel.current;
    }
    const panel = vscode.window.createWebviewPanel('passlens.curve', 'PassLens: Confidence Curve', { viewColumn: vscode.ViewColumn.Beside, preserveFocus: true }, {
      enableScripts: true,
      localResourceRoots: [],
    });
    panel.iconPath = vscode.Uri.joinPath(extensionUri, 'media', 'passlens.svg');
    CurvePanel.current = new CurvePanel(panel, store, document);
    return CurvePanel.current;
  }

  static disposeCurrent(): void {
    CurvePanel.current?.dispose();
  }

  private constructor(private readonly panel: vscode.WebviewPanel, private readonly store: ScoreStore, private document: vscode.TextDocument) {
    const nonce = randomBytes(16).toString('base64');
    panel.webview.html = curveHtml(panel.webview.cspSource, nonce);
    this.disposables.push(
      panel.onDidDispose(() => this.dispose()),
      panel.webview.onDidReceiveMessage((message: { type: string; start?: number; end?: number }) => {
        if (message.type === 'ready') this.post();
        if (message.type === 'reveal' && message.start !== undefined && message.end !== undefined) void this.reveal(message.start, message.end);
      }),
      store.onDidChange((uri) => uri.toString() === this.document.uri.toString() && this.post()),
    );
  }

  private post(): void {
    const score = this.store.score(this.document.uri);
    if (!score) {
      void this.panel.webview.postMessage({ type: 'empty', file: vscode.workspace.asRelativePath(this.document.uri) });
      return;
    }
    const data: CurveData = {
      type: 'data',
      file: vscode.workspace.asRelativePath(this.document.uri),
      code: score.code,
      final: score.final,
      values: score.scores.values,
      tokens: score.scores.tokens,
      offsets: score.scores.charOffsets.map(([s, e]) => [s - score.codeStart, e - score.codeStart]),
    };
    void this.panel.webview.postMessage(data);
  }

  private async reveal(start: number, end: number): Promise<void> {
    const column = vscode.window.visibleTextEditors.find((e) => e.document === this.document)?.viewColumn ?? vscode.ViewColumn.One;
    const editor = await vscode.window.showTextDocument(this.document, { viewColumn: column, preserveFocus: false });
    const range = new vscode.Range(this.document.positionAt(Math.max(0, start)), this.document.positionAt(Math.max(0, end)));
    editor.selection = new vscode.Selection(range.start, range.end);
    editor.revealRange(range, vscode.TextEditorRevealType.InCenterIfOutsideViewport);
  }

  dispose(): void {
    if (CurvePanel.current === this) CurvePanel.current = undefined;
    this.disposables.forEach((d) => d.dispose());
    this.panel.dispose();
  }
}

function curveHtml(cspSource: string, nonce: string): string {
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src ${cspSource} 'nonce-${nonce}'; script-src 'nonce-${nonce}';">
<style nonce="${nonce}">
  body { font-family: var(--vscode-font-family); color: var(--vscode-foreground); background: var(--vscode-editor-background); margin: 0; padding: 8px 12px; }
  header { display: flex; gap: 1em; align-items: baseline; }
  #wrap { display: flex; gap: 12px; height: calc(100vh - 48px); }
  #chart { flex: 3; min-width: 0; }
${CURVE_STYLE}
  #code { flex: 2; overflow: auto; font-family: var(--vscode-editor-font-family); font-size: var(--vscode-editor-font-size); white-space: pre; border-left: 1px solid var(--vscode-panel-border); padding-left: 8px; }
  #code span { cursor: pointer; }
  #code span.sel { outline: 1px solid var(--vscode-focusBorder); }
</style></head>
<body>
<header><strong id="file">PassLens</strong><span id="final"></span></header>
<div id="wrap"><div id="chart"></div><div id="code"></div></div>
<script nonce="${nonce}">
${CURVE_SCRIPT}
const vscode = acquireVsCodeApi();
const chart = document.getElementById('chart');
const codeView = document.getElementById('code');
let data;
function reveal(i) {
  const [s, e] = data.offsets[i];
  vscode.postMessage({ type: 'reveal', start: s, end: e });
  document.querySelectorAll('.sel').forEach((el) => el.classList.remove('sel'));
  document.querySelectorAll('[data-i="' + i + '"]').forEach((el) => el.classList.add('sel'));
}
function hue(v) { return Math.round(120 * Math.max(0, Math.min(1, v))); }
function render() {
  if (!data) return;
  drawCurve(chart, data.values, { tokens: data.tokens, skip: (i) => data.offsets[i][1] <= 0, onPoint: reveal });
  const frag = document.createDocumentFragment();
  let at = 0;
  data.values.forEach((v, i) => {
    const [s, e] = data.offsets[i];
    if (e <= 0) return;
    if (s > at) frag.appendChild(document.createTextNode(data.code.slice(at, s)));
    const span = document.createElement('span');
    span.textContent = data.code.slice(Math.max(s, 0), e);
    span.style.background = 'hsla(' + hue(v) + ', 70%, 45%, 0.25)';
    span.title = 'p=' + v.toFixed(3); span.dataset.i = i;
    span.addEventListener('click', () => reveal(i));
    frag.appendChild(span); at = e;
  });
  frag.appendChild(document.createTextNode(data.code.slice(at)));
  codeView.replaceChildren(frag);
}
window.addEventListener('message', (event) => {
  const m = event.data;
  document.getElementById('file').textContent = m.file;
  if (m.type === 'empty') { data = undefined; document.getElementById('final').textContent = 'not scored yet: run PassLens: Score Current File or turn on live confidence'; chart.replaceChildren(); codeView.replaceChildren(); return; }
  data = m;
  document.getElementById('final').textContent = 'p(pass) ' + (m.final * 100).toFixed(1) + '%  ·  ' + m.values.length + ' tokens';
  render();
});
window.addEventListener('resize', render);
vscode.postMessage({ type: 'ready' });
</script></body></html>`;
}

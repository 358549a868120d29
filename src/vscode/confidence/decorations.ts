import * as vscode from 'vscode';
import { confidenceBucket, type LineConfidence } from '../../core/confidence/lineConfidence';
import type { ScoreStore } from './scoreStore';

const BUCKETS = 5;
/** Buckets 0 and 1 (p(pass) < 0.4) are "low" and get overview-ruler marks. */
const LOW_BUCKETS = 2;

/**
 * Gutter icons on a red → amber → green scale for every scored line, overview-ruler
 * marks for low lines, and a hover with the line's p(pass), biggest drop and trend.
 */
export class ConfidenceDecorations implements vscode.Disposable {
  private readonly types: vscode.TextEditorDecorationType[];
  private readonly disposables: vscode.Disposable[] = [];

  constructor(extensionUri: vscode.Uri, private readonly store: ScoreStore) {
    this.types = Array.from({ length: BUCKETS }, (_, bucket) =>
      vscode.window.createTextEditorDecorationType({
        light: { gutterIconPath: vscode.Uri.joinPath(extensionUri, 'media', `gutter-${bucket}-light.svg`) },
        dark: { gutterIconPath: vscode.Uri.joinPath(extensionUri, 'media', `gutter-${bucket}-dark.svg`) },
        gutterIconSize: 'contain',
        ...(bucket < LOW_BUCKETS
          ? {
              overviewRulerColor: new vscode.ThemeColor(bucket === 0 ? 'editorOverviewRuler.errorForeground' : 'editorOverviewRuler.warningForeground'),
              overviewRulerLane: vscode.OverviewRulerLane.Right,
            }
          : {}),
      }),
    );
    this.disposables.push(
      store.onDidChange((uri) => {
        for (const editor of vscode.window.visibleTextEditors) if (editor.document.uri.toString() === uri.toString()) this.render(editor);
      }),
      vscode.window.onDidChangeVisibleTextEditors((editors) => editors.forEach((e) => this.render(e))),
      vscode.languages.registerHoverProvider({ language: 'python' }, { provideHover: (doc, pos) => this.hover(doc, pos) }),
    );
    vscode.window.visibleTextEditors.forEach((e) => this.render(e));
  }

  /** Lines of `editor`'s document per colour bucket (exposed for the editor tests). */
  linesByBucket(uri: vscode.Uri): number[][] {
    const byBucket: number[][] = Array.from({ length: BUCKETS }, () => []);
    for (const line of this.store.score(uri)?.lines ?? []) byBucket[confidenceBucket(line.value, BUCKETS)].push(line.line);
    return byBucket;
  }

  private render(editor: vscode.TextEditor): void {
    const byBucket = this.linesByBucket(editor.document.uri);
    const lastLine = editor.document.lineCount - 1;
    this.types.forEach((type, bucket) =>
      editor.setDecorations(
        type,
        byBucket[bucket].filter((line) => line <= lastLine).map((line) => new vscode.Range(line, 0, line, 0)),
      ),
    );
  }

  private hover(document: vscode.TextDocument, position: vscode.Position): vscode.Hover | undefined {
    const score = this.store.score(document.uri);
    const line = score?.lines.find((l) => l.line === position.line);
    if (!score || !line) return undefined;
    return new vscode.Hover(hoverText(line, score.final), document.lineAt(position.line).range);
  }

  dispose(): void {
    this.types.forEach((t) => t.dispose());
    this.disposables.forEach((d) => d.dispose());
  }
}

const percent = (value: number) => `${(value * 100).toFixed(0)}%`;

function hoverText(line: LineConfidence, fileValue: number): vscode.MarkdownString {
  const sign = (v: number) => (v >= 0 ? '+' : '−') + Math.abs(v * 100).toFixed(0);
  const text = new vscode.MarkdownString(undefined, true);
  text.appendMarkdown(`**PassLens** p(pass) after this line: **${percent(line.value)}** (file: ${percent(fileValue)})\n\n`);
  text.appendMarkdown(`Trend: ${line.trend} (${sign(line.delta)} points across the line)\n\n`);
  if (line.biggestDrop) {
    text.appendMarkdown('Biggest drop: ');
    text.appendCodeblock(line.biggestDrop.token.trim() || JSON.stringify(line.biggestDrop.token), 'python');
    text.appendMarkdown(`${sign(-line.biggestDrop.drop)} points\n\n`);
  }
  text.appendMarkdown('[Show confidence curve](command:passlens.showConfidenceCurve)');
  text.isTrusted = { enabledCommands: ['passlens.showConfidenceCurve'] };
  return text;
}

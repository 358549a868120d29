import * as vscode from 'vscode';

export const PREVIEW_SCHEME = 'passlens-candidate';

/** Read-only documents holding "the file after accepting candidate k", for diff previews. */
export class CandidatePreviews implements vscode.TextDocumentContentProvider, vscode.Disposable {
  private readonly contents = new Map<string, string>();
  private readonly changed = new vscode.EventEmitter<vscode.Uri>();
  readonly onDidChange = this.changed.event;
  private readonly registration = vscode.workspace.registerTextDocumentContentProvider(PREVIEW_SCHEME, this);

  /** A URI whose document shows `content`; the file name keeps the language's highlighting. */
  put(key: string, fileName: string, content: string): vscode.Uri {
    const uri = vscode.Uri.from({ scheme: PREVIEW_SCHEME, path: `/${key}/${fileName}` });
    this.contents.set(uri.toString(), content);
    this.changed.fire(uri);
    return uri;
  }

  provideTextDocumentContent(uri: vscode.Uri): string {
    return this.contents.get(uri.toString()) ?? '';
  }

  /** Frees the previews of a finished pick. */
  clear(): void {
    this.contents.clear();
  }

  dispose(): void {
    this.contents.clear();
    this.changed.dispose();
    this.registration.dispose();
  }
}

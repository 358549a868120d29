import * as vscode from 'vscode';
import { verdictLabel, type RankedCandidate } from '../../core/bestOfN';
import { sparkline } from '../../core/lines';

export interface CandidateItem extends vscode.QuickPickItem {
  candidate: RankedCandidate;
}

/** Picker rows: rank, p(pass), confidence sparkline, example verdict, first line of code. */
export function candidateItems(candidates: readonly RankedCandidate[]): CandidateItem[] {
  return candidates.map((candidate, rank) => {
    const judged = candidate.judged;
    const icon = !judged ? '$(circle-outline)' : 'error' in judged ? '$(warning)' : judged.passed ? '$(pass-filled)' : '$(error)';
    const score = Number.isNaN(candidate.final) ? '  —' : `${(candidate.final * 100).toFixed(0).padStart(3)}%`;
    const firstLine = candidate.code.split('\n').find((l) => l.trim()) ?? '(no code)';
    return {
      label: `${icon} #${rank + 1}  p(pass) ${score}  ${sparkline(candidate.values, 20)}`,
      description: verdictLabel(judged),
      detail: `${firstLine.trim()}  ·  ${candidate.code.split('\n').length} lines${candidate.finishReason === 'length' ? '  ·  cut off at max tokens' : ''}`,
      candidate,
    };
  });
}

/**
 * Shows the ranked candidates; `onActive` fires as the user moves (for the diff preview).
 * Resolves with the accepted candidate, or undefined when dismissed.
 */
export function pickCandidate(
  candidates: readonly RankedCandidate[],
  onActive: (candidate: RankedCandidate) => void,
): Promise<RankedCandidate | undefined> {
  const quickPick = vscode.window.createQuickPick<CandidateItem>();
  quickPick.title = `PassLens: ${candidates.length} candidates, best first by the critic's p(pass)`;
  quickPick.placeholder = 'Move to preview a candidate as a diff; Enter inserts it';
  quickPick.matchOnDetail = true;
  quickPick.ignoreFocusOut = true;
  quickPick.items = candidateItems(candidates);
  return new Promise((resolve) => {
    let accepted: RankedCandidate | undefined;
    quickPick.onDidChangeActive((items) => items[0] && onActive(items[0].candidate));
    quickPick.onDidAccept(() => {
      accepted = quickPick.selectedItems[0]?.candidate ?? quickPick.activeItems[0]?.candidate;
      quickPick.hide();
    });
    quickPick.onDidHide(() => {
      quickPick.dispose();
      resolve(accepted);
    });
    quickPick.show();
  });
}

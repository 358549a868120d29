import * as vscode from 'vscode';
import { verdictLabel, type RankedCandidate } from '../../core/generateAndRank/bestOfN';
import { sparkline } from '../../core/confidence/lineConfidence';

export interface CandidateItem extends vscode.QuickPickItem {
  candidate: RankedCandidate;
}

/** How a candidate was written: tokens spent, and where a search stopped it or re-branched it from. */
function generation(candidate: RankedCandidate, all: readonly RankedCandidate[]): string {
  const parts = [`${candidate.tokens} tokens`];
  if (candidate.pruned !== false) parts.push(`pruned at ${candidate.pruned} tokens`);
  else if (candidate.finishReason === 'budget') parts.push('stopped by the token budget');
  else if (candidate.finishReason === 'length') parts.push('cut off at max tokens');
  if (candidate.branch) {
    const from = all.findIndex((c) => c.index === candidate.branch!.from);
    parts.push(`continues #${from + 1} from token ${candidate.branch.at}`);
  }
  return parts.join('  ·  ');
}

/**
 * The ranking value as the picker shows it: the critic's p(pass) as a percentage, or the
 * generator's mean token log-probability, named "likelihood" (it is no probability of passing).
 */
export function rankingLabel(candidate: RankedCandidate): string {
  if (candidate.rankedBy === 'likelihood') {
    return `likelihood ${Number.isNaN(candidate.final) ? '—' : candidate.final.toFixed(3)} (mean log-prob)`;
  }
  return `p(pass) ${Number.isNaN(candidate.final) ? '  —' : `${(candidate.final * 100).toFixed(0).padStart(3)}%`}`;
}

/** The picker's title: how many candidates and what ranked them. */
export function pickerTitle(candidates: readonly RankedCandidate[], calibrated: boolean): string {
  if (candidates[0]?.rankedBy === 'likelihood') {
    return `PassLens: ${candidates.length} candidates, ranked by the generator's likelihood (no critic configured: not a p(pass))`;
  }
  return `PassLens: ${candidates.length} candidates, best first by the critic's ${calibrated ? 'calibrated' : 'uncalibrated'} p(pass)`;
}

/** Picker rows: rank, p(pass) or likelihood, confidence sparkline, example verdict, first line of code, how it was written. */
export function candidateItems(candidates: readonly RankedCandidate[]): CandidateItem[] {
  return candidates.map((candidate, rank) => {
    const judged = candidate.judged;
    const icon = !judged ? '$(circle-outline)' : 'error' in judged ? '$(warning)' : judged.passed ? '$(pass-filled)' : '$(error)';
    const firstLine = candidate.code.split('\n').find((l) => l.trim()) ?? '(no code)';
    return {
      label: `${icon} #${rank + 1}  ${rankingLabel(candidate)}  ${sparkline(candidate.values, 20)}`.trimEnd(),
      description: verdictLabel(judged),
      detail: `${firstLine.trim()}  ·  ${candidate.code.split('\n').length} lines  ·  ${generation(candidate, candidates)}`,
      candidate,
    };
  });
}

const REPLACE_BUTTON: vscode.QuickInputButton = { iconPath: new vscode.ThemeIcon('replace'), tooltip: 'Replace the selection with this candidate' };
const PANEL_BUTTON: vscode.QuickInputButton = { iconPath: new vscode.ThemeIcon('layout-panel-justify'), tooltip: 'Show all candidates side by side (Candidates panel)' };

/**
 * Shows the ranked candidates; `onActive` fires as the user moves (for the diff preview).
 * Enter inserts; with a selection, each row also has a "replace the selection" button.
 * Resolves with the accepted candidate and how to apply it, or undefined when dismissed.
 */
export function pickCandidate(
  candidates: readonly RankedCandidate[],
  onActive: (candidate: RankedCandidate, mode: 'insert' | 'replace') => void,
  canReplace: boolean,
  calibrated = false,
  /** The title bar's panel button: the picker closes and the candidates panel opens. */
  openPanel?: () => void,
): Promise<{ candidate: RankedCandidate; mode: 'insert' | 'replace' } | undefined> {
  const quickPick = vscode.window.createQuickPick<CandidateItem>();
  quickPick.title = pickerTitle(candidates, calibrated);
  quickPick.placeholder = `Move to preview a candidate as a diff; Enter inserts it${canReplace ? ', the replace button swaps it for the selection' : ''}`;
  quickPick.matchOnDetail = true;
  quickPick.ignoreFocusOut = true;
  quickPick.items = candidateItems(candidates).map((item) => (canReplace ? { ...item, buttons: [REPLACE_BUTTON] } : item));
  if (openPanel) quickPick.buttons = [PANEL_BUTTON];
  return new Promise((resolve) => {
    let accepted: { candidate: RankedCandidate; mode: 'insert' | 'replace' } | undefined;
    quickPick.onDidChangeActive((items) => items[0] && onActive(items[0].candidate, 'insert'));
    quickPick.onDidAccept(() => {
      const item = quickPick.selectedItems[0] ?? quickPick.activeItems[0];
      if (item) accepted = { candidate: item.candidate, mode: 'insert' };
      quickPick.hide();
    });
    quickPick.onDidTriggerButton(() => {
      quickPick.hide();
      openPanel?.();
    });
    quickPick.onDidTriggerItemButton(({ item }) => {
      accepted = { candidate: item.candidate, mode: 'replace' };
      quickPick.hide();
    });
    quickPick.onDidHide(() => {
      quickPick.dispose();
      resolve(accepted);
    });
    quickPick.show();
  });
}

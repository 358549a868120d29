import { CURVE_SCRIPT, CURVE_STYLE } from '../confidence/curveScript';

/**
 * The candidates panel's page: theme colours only, a strict CSP (scripts and styles by
 * nonce, nothing remote), and model-written text put in as text nodes, never as markup.
 * Keyboard: arrow keys (and Home/End) move between candidates, Enter or A accepts the
 * focused one, Tab reaches each Accept button.
 */
export function candidatesHtml(cspSource: string, nonce: string): string {
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src ${cspSource} 'nonce-${nonce}'; script-src 'nonce-${nonce}';">
<style nonce="${nonce}">
  body { font-family: var(--vscode-font-family); font-size: var(--vscode-font-size); color: var(--vscode-foreground); background: var(--vscode-editor-background); margin: 0; padding: 8px 12px; }
  header h1 { font-size: 1.1em; margin: 0 0 2px 0; }
  header .detail, header .status { color: var(--vscode-descriptionForeground); margin: 0 0 6px 0; }
  header .status:empty { display: none; }
  #cards { display: grid; grid-auto-flow: column; grid-auto-columns: minmax(300px, 1fr); gap: 10px; overflow-x: auto; padding-bottom: 8px; }
  article { border: 1px solid var(--vscode-panel-border, var(--vscode-widget-border)); border-radius: 4px; padding: 8px; display: flex; flex-direction: column; gap: 6px; min-width: 0; background: var(--vscode-editorWidget-background); }
  article:focus { outline: 2px solid var(--vscode-focusBorder); outline-offset: -1px; }
  article.pruned { opacity: 0.6; }
  .top { display: flex; align-items: baseline; gap: 8px; flex-wrap: wrap; }
  .rank { font-weight: bold; }
  .score { font-size: 1.4em; font-variant-numeric: tabular-nums; }
  .badge { border-radius: 3px; padding: 0 5px; font-size: 0.9em; background: var(--vscode-badge-background); color: var(--vscode-badge-foreground); }
  .verdict.pass { color: var(--vscode-testing-iconPassed, var(--vscode-charts-green)); }
  .verdict.fail, .verdict.error { color: var(--vscode-testing-iconFailed, var(--vscode-errorForeground)); }
  .verdict.notRun, .meta { color: var(--vscode-descriptionForeground); }
  .chart { height: 90px; }
  pre { margin: 0; font-family: var(--vscode-editor-font-family); font-size: var(--vscode-editor-font-size); white-space: pre; overflow: auto; max-height: 16em; background: var(--vscode-textCodeBlock-background); padding: 4px; }
  .diff .add { background: var(--vscode-diffEditor-insertedTextBackground, rgba(155, 185, 85, 0.2)); }
  .diff .remove { background: var(--vscode-diffEditor-removedTextBackground, rgba(255, 0, 0, 0.2)); }
  .diff .hunk { color: var(--vscode-descriptionForeground); }
  details summary { cursor: pointer; color: var(--vscode-descriptionForeground); }
  button { font-family: inherit; color: var(--vscode-button-foreground); background: var(--vscode-button-background); border: none; padding: 4px 10px; border-radius: 2px; cursor: pointer; align-self: flex-start; }
  button:hover { background: var(--vscode-button-hoverBackground); }
  button:focus { outline: 1px solid var(--vscode-focusBorder); outline-offset: 2px; }
  button:disabled { opacity: 0.5; cursor: default; }
  .empty { color: var(--vscode-descriptionForeground); }
${CURVE_STYLE}
</style></head>
<body>
<header><h1 id="title">PassLens: Candidates</h1><p class="detail" id="detail"></p><p class="status" id="status" role="status" aria-live="polite"></p></header>
<main id="cards" role="list" aria-label="candidates, best first"></main>
<script nonce="${nonce}">
${CURVE_SCRIPT}
const vscode = acquireVsCodeApi();
const cardsView = document.getElementById('cards');
let view;

const pct = (v) => (Number.isNaN(v) || v === null ? '—' : (v * 100).toFixed(0) + '%');
// Without a critic the ranking value is the generator's mean log-probability: never shown as a p(pass).
const score = (card, v) => (card.rankedBy === 'likelihood' ? 'likelihood ' + (Number.isNaN(v) || v === null ? '—' : v.toFixed(3)) : pct(v));
function el(tag, cls, text) { const e = document.createElement(tag); if (cls) e.className = cls; if (text !== undefined) e.textContent = text; return e; }

function cardElement(card, rank) {
  const article = el('article', card.pruned ? 'pruned' : '');
  article.tabIndex = 0;
  article.dataset.key = card.key;
  article.setAttribute('role', 'listitem');
  const scored = card.state === 'scored';
  article.setAttribute('aria-label', (scored ? 'rank ' + rank + ', ' + (card.rankedBy === 'likelihood' ? '' : 'p(pass) ') + score(card, card.final) : card.state) + ', ' + card.label + ', ' + card.verdict.label);
  const top = el('div', 'top');
  top.append(el('span', 'rank', scored ? '#' + rank : '…'), el('span', 'score', scored ? score(card, card.final) : pct(card.values.length ? card.values[card.values.length - 1] : NaN)));
  if (!scored) top.append(el('span', 'badge', card.state));
  if (card.pruned) top.append(el('span', 'badge', 'pruned at ' + card.pruned + ' tokens'));
  top.append(el('span', 'verdict ' + card.verdict.kind, card.verdict.label));
  article.append(top);
  const meta = [card.label];
  if (card.tokens !== undefined) meta.push(card.tokens + ' tokens');
  if (card.finishReason === 'length') meta.push('cut off at max tokens');
  article.append(el('div', 'meta', meta.join(' · ')));
  const chart = el('div', 'chart');
  article.append(chart);
  article.append(el('pre', 'code', card.code || '(no code)'));
  if (card.diff.length) {
    const details = el('details', 'diff');
    details.open = true;
    details.append(el('summary', '', 'diff against the current file'));
    const pre = el('pre');
    card.diff.forEach((line) => pre.append(el('div', line.kind, (line.kind === 'add' ? '+' : line.kind === 'remove' ? '-' : line.kind === 'hunk' ? '' : ' ') + line.text)));
    details.append(pre);
    article.append(details);
  }
  const accept = el('button', 'accept', 'Accept');
  accept.disabled = !card.code || card.state === 'generating';
  accept.title = 'Insert this candidate (Enter)';
  accept.addEventListener('click', () => vscode.postMessage({ type: 'accept', key: card.key }));
  article.append(accept);
  article.addEventListener('keydown', (event) => {
    if (event.target !== article) return;
    if ((event.key === 'Enter' || event.key === 'a') && !accept.disabled) { event.preventDefault(); accept.click(); }
  });
  return { article, chart, card };
}

function render() {
  if (!view) return;
  document.getElementById('title').textContent = view.title;
  document.getElementById('detail').textContent = view.detail + (view.done ? '' : '  ·  generating…');
  document.getElementById('status').textContent = view.status || '';
  const focusedKey = document.activeElement && document.activeElement.closest && document.activeElement.closest('article') ? document.activeElement.closest('article').dataset.key : undefined;
  const focusedButton = document.activeElement && document.activeElement.tagName === 'BUTTON';
  const scroll = cardsView.scrollLeft;
  if (!view.cards.length) { cardsView.replaceChildren(el('p', 'empty', view.done ? 'No candidates.' : 'Waiting for the first candidate…')); return; }
  let rank = 0;
  const built = view.cards.map((card) => cardElement(card, card.state === 'scored' ? ++rank : 0));
  cardsView.replaceChildren(...built.map((b) => b.article));
  built.forEach(({ chart, card }) => { if (card.values.length) drawCurve(chart, card.values, { compact: true, span: card.span }); });
  cardsView.scrollLeft = scroll;
  const again = built.find((b) => b.card.key === focusedKey);
  if (again) (focusedButton ? again.article.querySelector('button') : again.article).focus();
}

cardsView.addEventListener('keydown', (event) => {
  const cards = [...cardsView.querySelectorAll('article')];
  const at = cards.indexOf(document.activeElement);
  if (at < 0) return;
  const to = { ArrowRight: at + 1, ArrowDown: at + 1, ArrowLeft: at - 1, ArrowUp: at - 1, Home: 0, End: cards.length - 1 }[event.key];
  if (to === undefined) return;
  event.preventDefault();
  const next = cards[Math.max(0, Math.min(cards.length - 1, to))];
  next.focus();
  next.scrollIntoView({ block: 'nearest', inline: 'nearest' });
});

window.addEventListener('message', (event) => {
  if (event.data.type !== 'view') return;
  const first = !view;
  view = event.data;
  render();
  if (first) { const card = cardsView.querySelector('article'); if (card) card.focus(); }
});
window.addEventListener('resize', render);
vscode.postMessage({ type: 'ready' });
</script></body></html>`;
}

/**
 * The confidence curve as a webview script (value against token position, a dashed 0.5
 * line, one point per token with its text and value as a tooltip), shared by the curve
 * panel and the candidates panel. Inlined under the page's CSP nonce; colours come from
 * the theme's CSS variables (CURVE_STYLE).
 */
export const CURVE_STYLE = `
  svg.curve-chart { width: 100%; height: 100%; }
  .curve-chart .axis { stroke: var(--vscode-editorLineNumber-foreground); stroke-width: 1; }
  .curve-chart .half { stroke: var(--vscode-editorWarning-foreground); stroke-dasharray: 4 3; }
  .curve-chart .curve { fill: none; stroke: var(--vscode-charts-blue, var(--vscode-textLink-foreground)); stroke-width: 1.5; }
  .curve-chart .span { fill: var(--vscode-editor-selectionBackground); opacity: 0.5; }
  .curve-chart .pt { fill: var(--vscode-charts-blue, var(--vscode-textLink-foreground)); cursor: pointer; }
  .curve-chart .pt:hover, .curve-chart .pt.sel { fill: var(--vscode-charts-orange, var(--vscode-editorWarning-foreground)); r: 4; }
  .curve-chart text { fill: var(--vscode-descriptionForeground); font-size: 10px; }
`;

/**
 * `drawCurve(container, values, options)`: replaces the container's content with the
 * chart. options: tokens (tooltips), skip(i) (no point for token i), onPoint(i) (click),
 * span [from, to) (token range shaded, e.g. a suggestion inside its file), compact (no labels).
 */
export const CURVE_SCRIPT = `
function drawCurve(container, values, options) {
  options = options || {};
  const compact = !!options.compact;
  const W = container.clientWidth || 600, H = container.clientHeight || (compact ? 90 : 300);
  const L = compact ? 4 : 34, B = compact ? 4 : 22, T = compact ? 4 : 8, R = compact ? 4 : 8;
  const n = values.length;
  const x = (i) => L + (n <= 1 ? 0 : (i * (W - L - R)) / (n - 1));
  const y = (v) => T + (1 - v) * (H - T - B);
  const ns = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(ns, 'svg');
  svg.setAttribute('class', 'curve-chart');
  svg.setAttribute('viewBox', '0 0 ' + W + ' ' + H);
  svg.setAttribute('role', 'img');
  svg.setAttribute('aria-label', 'confidence curve over ' + n + ' tokens');
  const line = (x1, y1, x2, y2, cls) => { const l = document.createElementNS(ns, 'line'); Object.entries({ x1, y1, x2, y2 }).forEach(([k, v]) => l.setAttribute(k, v)); l.setAttribute('class', cls); svg.appendChild(l); };
  const label = (tx, ty, s, anchor) => { const t = document.createElementNS(ns, 'text'); t.setAttribute('x', tx); t.setAttribute('y', ty); t.setAttribute('text-anchor', anchor || 'end'); t.textContent = s; svg.appendChild(t); };
  if (options.span && n > 1) {
    const rect = document.createElementNS(ns, 'rect');
    const from = x(Math.max(0, options.span[0])), to = x(Math.min(n - 1, options.span[1] - 1));
    rect.setAttribute('x', from); rect.setAttribute('y', T); rect.setAttribute('width', Math.max(1, to - from)); rect.setAttribute('height', H - T - B);
    rect.setAttribute('class', 'span');
    svg.appendChild(rect);
  }
  line(L, T, L, H - B, 'axis'); line(L, H - B, W - R, H - B, 'axis'); line(L, y(0.5), W - R, y(0.5), 'half');
  if (!compact) {
    [0, 0.5, 1].forEach((v) => label(L - 4, y(v) + 3, v.toFixed(1)));
    label(W - R, H - 6, 'token position (' + n + ')');
  }
  const path = document.createElementNS(ns, 'polyline');
  path.setAttribute('points', values.map((v, i) => x(i) + ',' + y(v)).join(' '));
  path.setAttribute('class', 'curve');
  svg.appendChild(path);
  values.forEach((v, i) => {
    if (options.skip && options.skip(i)) return;
    const c = document.createElementNS(ns, 'circle');
    c.setAttribute('cx', x(i)); c.setAttribute('cy', y(v)); c.setAttribute('r', compact || n > 400 ? 1.5 : 2.5);
    c.setAttribute('class', 'pt'); c.dataset.i = i;
    const tip = document.createElementNS(ns, 'title'); tip.textContent = (options.tokens ? JSON.stringify(options.tokens[i]) + '  ' : '') + 'p=' + v.toFixed(3); c.appendChild(tip);
    if (options.onPoint) c.addEventListener('click', () => options.onPoint(i));
    svg.appendChild(c);
  });
  container.replaceChildren(svg);
}
`;

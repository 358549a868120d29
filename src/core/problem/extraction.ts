/**
 * Where a problem statement comes from in an editor: the selection, the docstring or
 * comment block above the cursor, a file's top docstring, or a sibling problem.md; and
 * the examples a statement contains, turned into sandbox Tests.
 */
import type { Problem, Tests } from './types';

/** Joins `# ...` comment lines into prose, dropping the markers. */
function uncomment(lines: readonly string[]): string {
  return lines.map((line) => line.replace(/^\s*#\s?/, '')).join('\n').trim();
}

const DOCSTRING_OPEN = /^\s*(?:[rRuU])?("""|''')/;

/**
 * A triple-quoted string starting on `lines[start]`; returns its body and the line it
 * ends on, or undefined when it never closes.
 */
function readDocstring(lines: readonly string[], start: number): { body: string; end: number } | undefined {
  const open = DOCSTRING_OPEN.exec(lines[start]);
  if (!open) return undefined;
  const quote = open[1];
  const first = lines[start].slice(open[0].length);
  const sameLine = first.indexOf(quote);
  if (sameLine !== -1) return { body: first.slice(0, sameLine).trim(), end: start };
  const body = [first];
  for (let i = start + 1; i < lines.length; i++) {
    const close = lines[i].indexOf(quote);
    if (close !== -1) {
      body.push(lines[i].slice(0, close));
      // Like inspect.cleandoc: the opening line keeps its text, the rest lose their common indent.
      return { body: [body[0].trim(), dedent(body.slice(1).join('\n'))].join('\n').trim(), end: i };
    }
    body.push(lines[i]);
  }
  return undefined;
}

function dedent(text: string): string {
  const lines = text.split('\n');
  const indents = lines.filter((l) => l.trim()).map((l) => /^\s*/.exec(l)![0].length);
  const cut = indents.length ? Math.min(...indents) : 0;
  return lines.map((l) => l.slice(Math.min(cut, /^\s*/.exec(l)![0].length))).join('\n');
}

/** The statement at the top of a Python file and the line it ends on, or undefined when none. */
function topStatement(lines: readonly string[]): { body: string; end: number } | undefined {
  let i = 0;
  // Shebang and encoding lines are not part of the statement.
  while (i < lines.length && /^#!|^#.*coding[:=]/.test(lines[i])) i++;
  while (i < lines.length && !lines[i].trim()) i++;
  if (i >= lines.length) return undefined;
  const docstring = readDocstring(lines, i);
  if (docstring) return docstring.body ? docstring : undefined;
  const comments: string[] = [];
  while (i < lines.length && /^\s*#/.test(lines[i])) comments.push(lines[i++]);
  const body = uncomment(comments);
  return body ? { body, end: i - 1 } : undefined;
}

/** Statement at the top of a Python file: its module docstring or leading comment block. */
export function topOfFileStatement(fileText: string): string | undefined {
  return topStatement(fileText.split(/\r?\n/))?.body;
}

/**
 * Where the code after the file's top statement starts (UTF-16 offset): past the statement's
 * last line and the blank lines after it; 0 when the file has no top statement. The statement
 * is the problem, which the prompt holds already: a generator continuing the file is given
 * the code from here.
 */
export function codeAfterTopStatement(fileText: string): number {
  const lines = fileText.split('\n');
  const statement = topStatement(lines.map((line) => line.replace(/\r$/, '')));
  if (!statement) return 0;
  let line = statement.end + 1;
  while (line < lines.length && !lines[line].trim()) line++;
  if (line >= lines.length) return fileText.length;
  return lines.slice(0, line).reduce((offset, text) => offset + text.length + 1, 0);
}

/**
 * The docstring or comment block that ends just above `line` (blank lines between are
 * allowed), or the one `line` is inside. Used when generating at the cursor.
 */
export function statementAboveLine(fileText: string, line: number): string | undefined {
  const lines = fileText.split(/\r?\n/);
  // Inside or on a docstring: find one whose span covers the line.
  for (let start = 0; start <= Math.min(line, lines.length - 1); start++) {
    const doc = readDocstring(lines, start);
    if (doc && doc.end >= line) return doc.body || undefined;
    if (doc) start = doc.end;
  }
  let i = Math.min(line, lines.length) - 1;
  while (i >= 0 && !lines[i].trim()) i--;
  if (i < 0) return undefined;
  if (/^\s*#/.test(lines[i])) {
    const end = i;
    while (i >= 0 && /^\s*#/.test(lines[i])) i--;
    return uncomment(lines.slice(i + 1, end + 1)) || undefined;
  }
  if (/("""|''')\s*$/.test(lines[i])) {
    for (let start = i; start >= 0; start--) {
      const doc = readDocstring(lines, start);
      if (doc && doc.end === i) return doc.body || undefined;
    }
  }
  return undefined;
}

/** The last line of the docstring that contains `line`, or undefined when `line` is in none. */
export function docstringEndingAt(fileText: string, line: number): number | undefined {
  const lines = fileText.split(/\r?\n/);
  for (let start = 0; start <= Math.min(line, lines.length - 1); start++) {
    const doc = readDocstring(lines, start);
    if (doc && doc.end >= line) return doc.end;
    if (doc) start = doc.end;
  }
  return undefined;
}

/** A problem.md: an optional leading `# Title` line is dropped, a ```python block is starter code. */
export function problemFromMarkdown(markdown: string): Problem {
  const text = markdown.replace(/^\s*#\s+[^\n]*\n/, '');
  const starter = /```python[^\n]*\n([\s\S]*?)```/i.exec(text);
  const question = (starter ? text.slice(0, starter.index) + text.slice(starter.index + starter[0].length) : text).trim();
  return problemFromStatement(question, starter?.[1]);
}

/** The function a call-based problem asks for: `class Solution: def name(self, ...)` or a top-level def. */
export function functionNameOf(starterCode: string): string | undefined {
  const inClass = /class\s+Solution\b[\s\S]*?\n\s+def\s+([A-Za-z_]\w*)\s*\(/.exec(starterCode);
  if (inClass) return inClass[1];
  return /^def\s+([A-Za-z_]\w*)\s*\(/m.exec(starterCode)?.[1];
}

/** A Problem from a statement (and starter code, which makes it call-based), examples parsed in. */
export function problemFromStatement(statement: string, starterCode?: string): Problem {
  const starter = starterCode?.trim() ? starterCode : undefined;
  const fnName = starter ? functionNameOf(starter) : undefined;
  const problem: Problem = {
    question: statement.trim(),
    kind: starter ? 'call_based' : 'standard_input',
    ...(starter ? { starterCode: starter } : {}),
  };
  // Call-based examples come from the statement and from doctests in the starter code's
  // docstring (HumanEval puts them there).
  const tests = fnName
    ? callTests([...callExamples(statement, fnName), ...doctestExamples(starter!, fnName, statement.length + 1)], fnName)
    : parseStdinExamples(statement);
  if (tests) problem.tests = tests;
  return problem;
}

/**
 * Examples in a statement as Tests. Understands APPS' standard-input layout
 * ("-----Examples-----" then "Input"/"Output" blocks, also "Sample Input"/"Sample Output")
 * and, when `fnName` is given, LeetCode's call-based "Input: a = [1,2], k = 3 / Output: 4"
 * lines and doctests calling `fnName` (see parseDoctestExamples). Returns undefined when
 * the statement has no example.
 */
export function parseExamples(statement: string, fnName?: string): Tests | undefined {
  return fnName ? callTests(callExamples(statement, fnName), fnName) : parseStdinExamples(statement);
}

/**
 * Doctest examples calling `fnName` as Tests: a `>>> fnName(args)` line (or
 * `>>> Solution().fnName(args)`) and the expected value on the lines after it, up to a blank
 * line, the next `>>>`, a Markdown fence or the docstring's closing quotes. Arguments and
 * value must be Python literals; no output line means the call returns None (doctest shows
 * nothing for None). Skipped: calls of anything else (`round(fn(x), 2)`, another function),
 * keyword arguments (the judge calls with positional arguments only), `...` continuation
 * lines, anything after the call (a `# doctest:` directive), and values that are not literals
 * (a traceback, printed text, `...` ellipses).
 */
export function parseDoctestExamples(text: string, fnName: string): Tests | undefined {
  return callTests(doctestExamples(text, fnName, 0), fnName);
}

function callExamples(statement: string, fnName: string): CallExample[] {
  return [...leetCodeExamples(statement), ...doctestExamples(statement, fnName, 0)];
}

function parseStdinExamples(statement: string): Tests | undefined {
  const lines = statement.replace(/\r\n/g, '\n').split('\n');
  const inputs: string[] = [];
  const outputs: string[] = [];
  const header = (line: string, word: 'input' | 'output') =>
    new RegExp(`^\\s*(?:sample\\s+|example\\s+)?${word}(?:\\s*#?\\s*\\d+)?\\s*:?\\s*$`, 'i').test(line);
  const isSectionBreak = (line: string) => /^\s*-{3,}.*-{3,}\s*$/.test(line) || /^\s*#{1,6}\s/.test(line);
  // Reads a block after a header until the next header or section; keeps inner blank lines
  // only when more content follows in the same block.
  const readBlock = (start: number): { text: string; next: number } => {
    const body: string[] = [];
    let i = start;
    while (i < lines.length && !header(lines[i], 'input') && !header(lines[i], 'output') && !isSectionBreak(lines[i])) {
      if (/^\s*(?:note|explanation)\b/i.test(lines[i])) break;
      body.push(lines[i]);
      i++;
    }
    while (body.length && !body[body.length - 1].trim()) body.pop();
    while (body.length && !body[0].trim()) body.shift();
    const fenced = body.length >= 2 && /^\s*```/.test(body[0]) && /^\s*```\s*$/.test(body[body.length - 1]);
    const content = fenced ? body.slice(1, -1) : body;
    return { text: content.length ? content.join('\n') + '\n' : '', next: i };
  };
  for (let i = 0; i < lines.length; ) {
    if (!header(lines[i], 'input')) {
      i++;
      continue;
    }
    const input = readBlock(i + 1);
    let j = input.next;
    while (j < lines.length && !lines[j].trim()) j++;
    if (j < lines.length && header(lines[j], 'output')) {
      const output = readBlock(j + 1);
      if (input.text || output.text) {
        inputs.push(input.text);
        outputs.push(output.text);
      }
      i = output.next;
    } else {
      i = j;
    }
  }
  return inputs.length ? { inputs, outputs } : undefined;
}

/** One call-based example: its arguments and the value the call returns, where it was found. */
interface CallExample {
  at: number;
  args: unknown[];
  output: unknown;
}

/** LeetCode's "Input: a = [1,2], k = 3 / Output: 4" lines. */
function leetCodeExamples(statement: string): CallExample[] {
  const examples: CallExample[] = [];
  const pattern = /^\s*Input:\s*(.+?)\s*\n\s*Output:\s*(.+?)\s*$/gim;
  for (let match = pattern.exec(statement); match; match = pattern.exec(statement)) {
    try {
      const args = splitTopLevel(match[1]).map((part) => parsePythonLiteral(part.replace(/^\s*[A-Za-z_]\w*\s*=\s*/, '')));
      examples.push({ at: match.index, args, output: parsePythonLiteral(match[2]) });
    } catch {
      // An example we cannot read as Python literals is skipped, not guessed.
    }
  }
  return examples;
}

const DOCTEST_PROMPT = /^\s*>>>(?: (.*))?$/;

/** Doctests of `text` calling `fnName`; `offset` places them among other examples. */
function doctestExamples(text: string, fnName: string, offset: number): CallExample[] {
  const examples: CallExample[] = [];
  const raw = text.split('\n');
  const lines = raw.map((line) => line.replace(/\r$/, ''));
  let at = offset;
  for (let i = 0; i < lines.length; at += raw[i].length + 1, i++) {
    const prompt = DOCTEST_PROMPT.exec(lines[i]);
    if (!prompt) continue;
    const expected: string[] = [];
    let continued = false;
    for (let j = i + 1; j < lines.length; j++) {
      const line = lines[j];
      if (j === i + 1 && /^\s*\.\.\.(?: |$)/.test(line)) continued = true;
      if (!line.trim() || DOCTEST_PROMPT.test(line) || /^\s*```/.test(line)) break;
      const close = /"""|'''/.exec(line);
      if (close) {
        expected.push(line.slice(0, close.index));
        break;
      }
      expected.push(line);
    }
    const args = continued ? undefined : callArguments(prompt[1] ?? '', fnName);
    if (args === undefined) continue;
    try {
      const parts = splitTopLevel(args);
      // Keyword arguments: the judge passes a test's inputs positionally (compare.apps_call_args).
      if (parts.some((part) => /^[A-Za-z_]\w*\s*=(?!=)/.test(part))) continue;
      const output = expected.join('\n').trim();
      examples.push({ at, args: parts.map((part) => parsePythonLiteral(part)), output: output ? parsePythonLiteral(output) : null });
    } catch {
      // An example we cannot read as Python literals is skipped, not guessed.
    }
  }
  return examples;
}

/**
 * The text between the parentheses when `source` is exactly a call of `fnName` (or of
 * `Solution().fnName`), nothing before or after it; otherwise undefined.
 */
function callArguments(source: string, fnName: string): string | undefined {
  const head = new RegExp(`^\\s*(?:Solution\\(\\s*\\)\\s*\\.\\s*)?${fnName}\\s*\\(`).exec(source);
  if (!head) return undefined;
  for (const { i, ch, depth } of unquoted(source, head[0].length)) {
    if (')]}'.includes(ch) && depth === 0) return source.slice(i + 1).trim() ? undefined : source.slice(head[0].length, i);
  }
  return undefined;
}

/** The characters of `text` from `from` on that are outside string literals, each with the bracket depth before it. */
function* unquoted(text: string, from = 0): Generator<{ i: number; ch: string; depth: number }> {
  let depth = 0;
  let quote: string | undefined;
  for (let i = from; i < text.length; i++) {
    const ch = text[i];
    if (quote) {
      if (ch === '\\') i++;
      else if (ch === quote) quote = undefined;
    } else if (ch === '"' || ch === "'") quote = ch;
    else {
      yield { i, ch, depth };
      if ('([{'.includes(ch)) depth++;
      else if (')]}'.includes(ch)) depth--;
    }
  }
}

const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** A dict key Python's int() accepts (the judge's APPS comparison turns such keys into ints). */
const intLike = (key: string) => /^\s*[+-]?\d(?:_?\d)*\s*$/.test(key);

/**
 * Tests from call-based examples, in the order found, duplicates dropped. The judge compares
 * the APPS way (python-sandbox/compare.py: `output == expected`, or `output == expected[0]`
 * when the expected value is a non-empty list), so an expected non-empty list is stored as
 * `[list]`, as APPS' own data does: stored bare, a function returning only its first item
 * would pass, and one returning a list of tuples would fail. Examples the judge would
 * change (a dict whose keys all look like ints, as the first argument or as the expected
 * value: APPS turns the keys into ints and keeps only that argument) are skipped.
 */
function callTests(examples: readonly CallExample[], fnName: string): Tests | undefined {
  const inputs: unknown[] = [];
  const outputs: unknown[] = [];
  const seen = new Set<string>();
  for (const { args, output } of [...examples].sort((a, b) => a.at - b.at)) {
    const key = JSON.stringify([args, output]);
    if (seen.has(key)) continue;
    const first = args[0];
    if (isPlainObject(first) && Object.keys(first).every(intLike) && (args.length > 1 || Object.keys(first).length > 0)) continue;
    if (isPlainObject(output) && Object.keys(output).length > 0 && Object.keys(output).every(intLike)) continue;
    seen.add(key);
    inputs.push(args);
    outputs.push(Array.isArray(output) && output.length > 0 ? [output] : output);
  }
  return inputs.length ? { inputs, outputs, fn_name: fnName } : undefined;
}

/** Splits `a = [1, 2], b = "x,y"` on commas outside brackets and strings. */
function splitTopLevel(text: string): string[] {
  const parts: string[] = [];
  let start = 0;
  for (const { i, ch, depth } of unquoted(text)) {
    if (ch === ',' && depth === 0) {
      parts.push(text.slice(start, i));
      start = i + 1;
    }
  }
  parts.push(text.slice(start));
  return parts.map((p) => p.trim()).filter(Boolean);
}

const SIMPLE_ESCAPES: Record<string, string> = {
  n: '\n', t: '\t', r: '\r', a: '\x07', b: '\b', f: '\f', v: '\v', '\\': '\\', "'": "'", '"': '"', '\n': '',
};

/** The string literal that opens at `text[start]` (a quote): its value and where it ends. */
function readStringLiteral(text: string, start: number, source: string): { value: string; end: number } {
  const quote = text[start];
  let value = '';
  let j = start + 1;
  for (; j < text.length && text[j] !== quote; j++) {
    if (text[j] === '\n') throw new Error(`unterminated string in ${source}`);
    if (text[j] !== '\\' || j + 1 >= text.length) {
      value += text[j];
      continue;
    }
    const escaped = text[++j];
    const hex = ({ x: 2, u: 4, U: 8 } as Record<string, number>)[escaped];
    if (escaped in SIMPLE_ESCAPES) value += SIMPLE_ESCAPES[escaped];
    else if (hex) {
      const digits = text.slice(j + 1, j + 1 + hex);
      if (!new RegExp(`^[0-9a-fA-F]{${hex}}$`).test(digits)) throw new Error(`bad \\${escaped} escape in ${source}`);
      value += String.fromCodePoint(parseInt(digits, 16));
      j += hex;
    } else if (/[0-7]/.test(escaped)) {
      const digits = /^[0-7]{1,3}/.exec(text.slice(j))![0];
      value += String.fromCodePoint(parseInt(digits, 8));
      j += digits.length - 1;
    } else if (escaped === 'N') throw new Error(`\\N escape in ${source}`);
    else value += '\\' + escaped; // Python keeps the backslash of an unknown escape
  }
  if (j >= text.length) throw new Error(`unterminated string in ${source}`);
  return { value, end: j };
}

const PYTHON_NUMBER = /^(?:\d(?:_?\d)*(?:\.(?:\d(?:_?\d)*)?)?|\.\d(?:_?\d)*)(?:[eE][+-]?\d(?:_?\d)*)?/;

/**
 * A Python literal (numbers, strings, lists, tuples, dicts, True/False/None) as JSON data.
 * Throws on anything else (an expression, a name, a set, a dict with non-string keys, bytes,
 * complex numbers) and on numbers JSON cannot hold exactly (integers beyond 2^53, infinities).
 */
export function parsePythonLiteral(source: string): unknown {
  let json = '';
  const text = source.trim();
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (ch === '"' || ch === "'") {
      const { value, end } = readStringLiteral(text, i, source);
      json += JSON.stringify(value);
      i = end;
    } else if (/[A-Za-z_]/.test(ch)) {
      const word = /^[A-Za-z_]\w*/.exec(text.slice(i))![0];
      const mapped = ({ True: 'true', False: 'false', None: 'null' } as Record<string, string>)[word];
      if (!mapped) throw new Error(`not a literal: ${word}`);
      json += mapped;
      i += word.length - 1;
    } else if (/[\d.]/.test(ch) && PYTHON_NUMBER.test(text.slice(i))) {
      const spelled = PYTHON_NUMBER.exec(text.slice(i))![0];
      const digits = spelled.replace(/_/g, '');
      const integer = /^\d+$/.test(digits);
      const value = Number(digits);
      // 1j, 0x10, 1.2.3 and 012 are not numbers JSON can take; big integers would lose digits.
      if (/^[\w.]/.test(text.slice(i + spelled.length)) || (integer && /^0\d/.test(digits) && /[1-9]/.test(digits))) {
        throw new Error(`not a literal: ${text.slice(i, i + spelled.length + 1)}`);
      }
      if (!Number.isFinite(value) || (integer && !Number.isSafeInteger(value))) throw new Error(`${spelled} does not fit a JSON number exactly`);
      json += String(value);
      i += spelled.length - 1;
    } else json += ch === '(' ? '[' : ch === ')' ? ']' : ch;
  }
  // Python allows trailing commas and one-element tuples; JSON does not.
  return JSON.parse(json.replace(/,\s*([\]}])/g, '$1'));
}

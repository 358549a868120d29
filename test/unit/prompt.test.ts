import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  DEFAULT_TEMPLATES,
  buildMessages,
  codeAsResponse,
  extractCode,
  renderPhiChat,
  validateTemplates,
} from '../../src/core/prompt';

const repo = join(__dirname, '..', '..');

test('default templates are the training templates file', () => {
  const onDisk = JSON.parse(readFileSync(join(repo, 'training/passlens_training/prompt_templates.json'), 'utf8'));
  assert.deepEqual(DEFAULT_TEMPLATES, onDisk);
});

test('buildMessages fills the standard-input template', () => {
  const messages = buildMessages({ question: '  Add two numbers.\n', kind: 'standard_input' });
  assert.equal(messages.length, 2);
  assert.equal(messages[0].role, 'system');
  assert.equal(messages[0].content, DEFAULT_TEMPLATES.system);
  assert.equal(messages[1].content, DEFAULT_TEMPLATES.standard_input.replace('{question}', 'Add two numbers.'));
});

test('buildMessages uses the call-based template with starter code, and never re-expands placeholders in the question', () => {
  const templates = { system: 'S', standard_input: 'Q:{question}', call_based: 'Q:{question}|C:{starter_code}' };
  const messages = buildMessages(
    { question: 'literal {starter_code} here', kind: 'call_based', starterCode: 'def f(x):\n    pass\n\n' },
    templates,
  );
  assert.equal(messages[1].content, 'Q:literal {starter_code} here|C:def f(x):\n    pass');
});

test('validateTemplates names the missing field and the source', () => {
  assert.throws(() => validateTemplates({ system: 's', standard_input: '{question}' }, 'bundle X'), /bundle X.*"call_based"/);
  assert.throws(() => validateTemplates({ system: 's', standard_input: 'no', call_based: 'no' }, 'b'), /\{question\}/);
  assert.deepEqual(validateTemplates(DEFAULT_TEMPLATES, 'd'), DEFAULT_TEMPLATES);
});

test('renderPhiChat writes Phi-4 markers and opens the assistant turn', () => {
  assert.equal(
    renderPhiChat([{ role: 'system', content: 'a' }, { role: 'user', content: 'b' }]),
    '<|system|>a<|end|><|user|>b<|end|><|assistant|>',
  );
});

test('codeAsResponse opens a python block and reports where the code starts', () => {
  const { text, codeStart } = codeAsResponse('x = 1\n');
  assert.equal(text.slice(codeStart), 'x = 1\n');
  assert.ok(text.startsWith('```python\n'));
  assert.ok(codeAsResponse('x = 1\ny').text.startsWith(codeAsResponse('x = 1\n').text), 'typing at the end is an append');
});

test('extractCode prefers the python block, falls back to another block, then the whole text', () => {
  const response = 'Idea.\n```text\nnot code\n```\nCode:\n```python\nprint(1)\n```\nDone.';
  const python = extractCode(response);
  assert.equal(python.code, 'print(1)\n');
  assert.equal(response.slice(python.start, python.start + python.code.length), 'print(1)\n');
  assert.equal(extractCode('```\nx = 2\n```').code, 'x = 2\n');
  assert.equal(extractCode('```python\nunfinished = (').code, 'unfinished = (');
  assert.deepEqual(extractCode('plain words'), { code: 'plain words', start: 0 });
});

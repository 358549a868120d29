import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { codeAsResponse } from '../../src/core/confidence/documentScoring';
import { DEFAULT_TEMPLATES, buildMessages, validateTemplates } from '../../src/core/contracts';
import { renderPhiChat } from '../../src/core/generation/openai';

const repo = join(__dirname, '..', '..');

test('default templates are the contracts file', () => {
  const onDisk = JSON.parse(readFileSync(join(repo, 'contracts/prompt_templates.json'), 'utf8'));
  assert.deepEqual(DEFAULT_TEMPLATES, onDisk);
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

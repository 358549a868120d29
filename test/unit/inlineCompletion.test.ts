/**
 * Inline suggestions in src/core: the request (prefix, suffix, problem, the response the
 * generator continues), what is inserted from a generated continuation, and the ranking
 * with the real tiny generator and critic: order by the contract's value over the whole
 * file, the prefix scored once (a recording wrapper counts what reaches the real critic),
 * duplicates scored once, and cancellation.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { loadCritic } from '../../src/core/critic';
import type { Critic, CriticStream } from '../../src/core/critic';
import { codeAsResponse } from '../../src/core/confidence/documentScoring';
import { buildMessages, DEFAULT_TEMPLATES } from '../../src/core/contracts';
import { finalScore, meanLogprob } from '../../src/core/generateAndRank/ranking';
import { LocalGenerator } from '../../src/core/generation/local';
import type { GenerationEvent, GenerationRequest, Generator } from '../../src/core/generation/types';
import { buildInlineRequest, continuationOf, CLOSING_FENCE, leadRequest, LEAD_MAX_TOKENS } from '../../src/core/inlineCompletion/request';
import { LeadCache } from '../../src/core/inlineCompletion/lead';
import { collectCandidates } from '../../src/core/generation/types';
import { ContinuationRanker, type InlineRanking } from '../../src/core/inlineCompletion/rankContinuations';
import { codeAfterTopStatement } from '../../src/core/problem/extraction';
import type { Problem } from '../../src/core/problem/types';
import { isAbortError } from '../../src/core/shared/abort';
import { tinyCriticBundle, tinyGenerator } from '../fixtures/models';

const PROBLEM: Problem = { question: 'Read n and print the sum of 1..n.', kind: 'standard_input' };
const FILE = '"""Sum of 1..n."""\nn = int(input())\ntotal = 0\n\nprint(total)\n';
const CURSOR = FILE.indexOf('\nprint'); // end of the empty line before print
const OPTIONS = { n: 4, temperature: 1, maxNewTokens: 16, fillInTheMiddle: false, seed: 5 };

describe('the request', () => {
  test('splits the file at the cursor; the generator continues the response the critic scores the prefix as', () => {
    const request = buildInlineRequest(PROBLEM, DEFAULT_TEMPLATES, FILE, CURSOR, OPTIONS);
    assert.equal(request.prefix + request.suffix, FILE);
    assert.equal(request.suffix, '\nprint(total)\n');
    assert.equal(request.responsePrefix, codeAsResponse(request.prefix).text);
    // The cursor is at the start of an empty line: the generator writes the line break again.
    assert.equal(request.healed, '\n');
    assert.equal(request.generation.responsePrefix, codeAsResponse(request.prefix.slice(0, -1)).text);
    assert.deepEqual(request.generation.messages, buildMessages(PROBLEM, DEFAULT_TEMPLATES));
    assert.deepEqual(request.generation.stop, [CLOSING_FENCE]);
    assert.equal(request.generation.suffix, undefined, 'no suffix without fill-in-the-middle');
    assert.deepEqual([request.generation.n, request.generation.temperature, request.generation.maxNewTokens, request.generation.seed], [4, 1, 16, 5]);
    const sampled = buildInlineRequest(PROBLEM, DEFAULT_TEMPLATES, FILE, CURSOR, { ...OPTIONS, topP: 0.95, topK: 40 });
    assert.deepEqual([sampled.generation.topP, sampled.generation.topK], [0.95, 40], 'top-p and top-k as the generator settings ask');
    const lead = leadRequest(PROBLEM, DEFAULT_TEMPLATES, { temperature: 0.7, topP: 0.9, topK: 20 });
    assert.deepEqual([lead.temperature, lead.topP, lead.topK], [0.7, 0.9, 20], 'the lead is sampled the same way');
  });

  test('the generator continues after its lead, from before the last word, punctuation or whitespace', () => {
    const lead = 'Add 1..n up.\n\n';
    const at = (text: string) => buildInlineRequest(PROBLEM, DEFAULT_TEMPLATES, text, text.length, OPTIONS, lead);
    for (const [text, healed] of [
      ['n = int(input())\nprint(total', 'total'],
      ['n = int(input())\nprint(total)', ')'],
      ['n = int(input())\nfor i in range(n):\n    ', '\n    '],
      ['n = int(input())\nx = n +', ' +'],
      ['s = "é', 'é'],
      ['', ''],
    ]) {
      const request = at(text);
      assert.equal(request.healed, healed, JSON.stringify(text));
      assert.equal(request.generation.responsePrefix, lead + codeAsResponse(text.slice(0, text.length - healed.length)).text);
      assert.equal(request.responsePrefix, codeAsResponse(text).text, 'the critic scores the file as it is');
    }
  });

  test('a file whose top docstring is the problem: the generator sees the code after it, the critic the whole file', () => {
    const lead = 'Add 1..n up.\n\n';
    const statement = '"""Read n and print the sum of 1..n.\n\nInput: n.\n"""\n\n';
    const codeFrom = codeAfterTopStatement(statement + 'n = int(input())\n');
    assert.equal(codeFrom, statement.length);
    for (const [code, healed] of [['n = int(input())\nprint(total', 'total'], ['', '']]) {
      const text = statement + code;
      const request = buildInlineRequest(PROBLEM, DEFAULT_TEMPLATES, text, text.length, OPTIONS, lead, codeFrom);
      assert.equal(request.healed, healed);
      assert.equal(request.generation.responsePrefix, lead + codeAsResponse(code.slice(0, code.length - healed.length)).text);
      assert.equal(request.responsePrefix, codeAsResponse(text).text, 'the critic scores the file as it is');
    }
    // Only blank lines after the statement: nothing for the generator to repeat.
    const blank = buildInlineRequest(PROBLEM, DEFAULT_TEMPLATES, statement + '\n\n', statement.length + 1, OPTIONS, lead, codeFrom);
    assert.equal(blank.healed, '');
    assert.equal(blank.generation.responsePrefix, lead + codeAsResponse('').text);
    // A cursor inside the docstring sees the file from its start.
    const inside = buildInlineRequest(PROBLEM, DEFAULT_TEMPLATES, statement, 10, OPTIONS, lead, codeFrom);
    assert.equal(inside.generation.responsePrefix, lead + codeAsResponse(statement.slice(0, 10 - inside.healed.length)).text);
    assert.equal(codeAfterTopStatement('n = 1\n'), 0, 'no statement: all of the file is code');
    assert.equal(codeAfterTopStatement('# Read n.\n# Print it.\nn = int(input())\n'), '# Read n.\n# Print it.\n'.length, 'a comment block is a statement too');
  });

  test('fill-in-the-middle sends the text after the cursor, closed like the block it is in', () => {
    const request = buildInlineRequest(PROBLEM, DEFAULT_TEMPLATES, FILE, CURSOR, { ...OPTIONS, fillInTheMiddle: true });
    assert.equal(request.generation.suffix, '\nprint(total)\n```');
  });

  test('the problem\'s own templates (a critic bundle\'s) build the messages', () => {
    const templates = { system: 'S', standard_input: 'Q: {question}', call_based: 'C: {question} {starter_code}' };
    const request = buildInlineRequest(PROBLEM, templates, FILE, 0, OPTIONS);
    assert.deepEqual(request.generation.messages, [{ role: 'system', content: 'S' }, { role: 'user', content: `Q: ${PROBLEM.question}` }]);
    assert.equal(request.prefix, '');
    assert.equal(request.responsePrefix, '```python\n');
  });

  test('a cursor outside the document is refused with the range', () => {
    assert.throws(() => buildInlineRequest(PROBLEM, DEFAULT_TEMPLATES, FILE, FILE.length + 1, OPTIONS), new RegExp(`outside the document \\(0\\.\\.${FILE.length}\\)`));
    assert.throws(() => buildInlineRequest(PROBLEM, DEFAULT_TEMPLATES, FILE, -1, OPTIONS), RangeError);
  });
});

describe('what is inserted', () => {
  const at = (healed: string, suffix: string) => ({ healed, suffix });
  test('at the end of the file: everything up to the closing fence, final newline kept', () => {
    assert.equal(continuationOf('n = int(input())\nprint(n)\n```\nThat reads n.', at('', '')), 'n = int(input())\nprint(n)\n');
    assert.equal(continuationOf('x = 1\n', at('', '')), 'x = 1\n');
  });

  test('only a continuation that writes the healed text again counts, without that text', () => {
    assert.equal(continuationOf('total)\n', at('total', '')), ')\n');
    assert.equal(continuationOf('n)\n', at('total', '')), '', 'another word than the one typed');
    assert.equal(continuationOf('\n    total += i\n', at('\n    ', '')), 'total += i\n');
  });

  test('before more lines: the line break is left to them, and a repeat of the next line is cut', () => {
    const suffix = '\nprint(total)\n';
    assert.equal(continuationOf('\nfor i in range(n + 1):\n    total += i\n', at('', suffix)), '\nfor i in range(n + 1):\n    total += i');
    assert.equal(continuationOf('\nfor i in range(n + 1):\n    total += i\nprint(total)\n', at('', suffix)), '\nfor i in range(n + 1):\n    total += i');
    assert.equal(continuationOf('for i in range(n + 1):\n    total += i\n\nprint(total)\n```', at('', '\n' + suffix)), 'for i in range(n + 1):\n    total += i');
  });

  test('in the middle of a line: the rest of that line, without what the line already ends with', () => {
    assert.equal(continuationOf('(total)\nexit()\n', at('(', ')\n')), 'total');
    assert.equal(continuationOf('n * (n + 1) // 2\n', at('', ')\n')), 'n * (n + 1) // 2');
  });

  test('nothing but whitespace (or an immediate fence) is no suggestion', () => {
    assert.equal(continuationOf('```\nDone.', at('', '')), '');
    assert.equal(continuationOf('\n\n  \n', at('', '\nprint(total)\n')), '');
    assert.equal(continuationOf('', at('', '')), '');
  });
});

/** The real critic, with a log of what each stream was asked to score. */
function recording(critic: Critic): { critic: Critic; log: Array<{ stream: number; op: 'open' | 'fork' | 'append'; text?: string }> } {
  const log: Array<{ stream: number; op: 'open' | 'fork' | 'append'; text?: string }> = [];
  let next = 0;
  const wrap = (stream: CriticStream, id: number): CriticStream => ({
    append: (chunk, signal) => {
      log.push({ stream: id, op: 'append', text: chunk });
      return stream.append(chunk, signal);
    },
    fork: async () => {
      const forked = await stream.fork();
      const forkId = ++next;
      log.push({ stream: forkId, op: 'fork', text: String(id) });
      return wrap(forked, forkId);
    },
    current: () => stream.current(),
    close: () => stream.close(),
  });
  return {
    log,
    critic: {
      info: critic.info,
      score: (p, t, s) => critic.score(p, t, s),
      scoreMany: (p, t, s) => critic.scoreMany(p, t, s),
      open: async (p) => {
        const id = ++next;
        log.push({ stream: id, op: 'open' });
        return wrap(await critic.open(p), id);
      },
      dispose: () => critic.dispose(),
    },
  };
}

describe('ranking with the tiny generator and critic', () => {
  let critic: Critic;
  let generator: LocalGenerator;
  before(async () => {
    critic = await loadCritic({ bundlePath: tinyCriticBundle(), executionProvider: 'cpu' });
    generator = new LocalGenerator({ model: tinyGenerator(), dtype: 'fp32', offlineOnly: true });
  });
  after(async () => {
    await generator.dispose();
    await critic.dispose();
  });

  test('the lead is the generator\'s text before its code block, written once per problem; a cancelled one is not kept', async () => {
    const request = leadRequest(PROBLEM, critic.info.templates, { temperature: 0 });
    assert.deepEqual([request.n, request.maxNewTokens, request.stop], [1, LEAD_MAX_TOKENS, [CLOSING_FENCE]]);
    let streams = 0;
    const counting: Generator = { name: generator.name, dispose: async () => undefined, stream: (r, signal) => (streams++, generator.stream(r, signal)) };
    const leads = new LeadCache();
    // The random model never opens a code block within the budget: no lead, the block opens the response.
    const noLead = leadRequest({ ...PROBLEM, question: 'Print 1.' }, critic.info.templates, { temperature: 0 });
    assert.equal(await leads.get(counting, { ...noLead, maxNewTokens: 8 }), '');
    // Where it stops at a stop string (here: a piece of its own greedy text), the text before it is the lead.
    const [greedy] = await collectCandidates(generator, { ...request, maxNewTokens: 12, stop: [] });
    const cut = greedy.text.indexOf(greedy.text.trim().slice(2, 4));
    const stopped = { ...request, maxNewTokens: 12, stop: [greedy.text.trim().slice(2, 4)] };
    const lead = await leads.get(counting, stopped);
    assert.equal(lead, `${greedy.text.slice(0, cut).trimEnd()}\n\n`);
    assert.equal(await leads.get(counting, stopped), lead);
    assert.equal(streams, 2, 'the second request for the same problem reused the lead');
    assert.equal(await leads.get(counting, { ...noLead, maxNewTokens: 8 }), '');
    assert.equal(streams, 2, 'an empty lead is kept too');
    const controller = new AbortController();
    controller.abort();
    const other = leadRequest({ ...PROBLEM, question: 'Print n.' }, critic.info.templates, { temperature: 0 });
    await assert.rejects(leads.get(counting, other, controller.signal), (error: Error) => isAbortError(error));
    await leads.get(counting, { ...other, maxNewTokens: 4 });
    assert.equal(streams, 4, 'the cancelled lead was written again');
    leads.clear();
  });

  test('continuations come best first by the contract\'s value over the whole file; the prefix is scored once', async () => {
    const { critic: recorded, log } = recording(critic);
    const ranker = new ContinuationRanker(recorded);
    // At the start of the file nothing is healed: the random model's text is inserted as it comes.
    const request = buildInlineRequest(PROBLEM, critic.info.templates, FILE, 0, OPTIONS);
    const updates: InlineRanking[] = [];
    const ranking = await ranker.rank(generator, request, undefined, { onRanking: (r) => updates.push(r) });

    assert.ok(ranking.done);
    assert.ok(ranking.ranked.length >= 2, 'several distinct continuations (seeded sampling)');
    const finals = ranking.ranked.map((r) => r.final);
    assert.deepEqual(finals, [...finals].sort((a, b) => b - a), 'best first');
    for (const scored of ranking.ranked) {
      const response = codeAsResponse(request.prefix + scored.continuation + request.suffix).text;
      const full = await critic.score(PROBLEM, response);
      assert.deepEqual(scored.scores.tokenIds, full.tokenIds, 'scored over the whole file after accepting');
      assert.ok(Math.abs(scored.final - finalScore(full, critic.info.specialIds)) < 1e-4, 'the contract\'s ranking value');
      assert.equal(response.slice(...scored.span), scored.continuation);
    }
    // Every generator candidate is either one of the ranked continuations or empty.
    const placed = ranking.ranked.flatMap((r) => r.indices).concat(ranking.candidates.filter((c) => c.state === 'empty').map((c) => c.index));
    assert.deepEqual(placed.sort(), [0, 1, 2, 3]);

    // One stream for the prefix, with the prefix appended once; each fork appends only its continuation + suffix.
    const opens = log.filter((e) => e.op === 'open');
    assert.equal(opens.length, 1);
    const baseAppends = log.filter((e) => e.op === 'append' && e.stream === opens[0].stream);
    assert.deepEqual(baseAppends.map((e) => e.text), [request.responsePrefix]);
    const forkAppends = log.filter((e) => e.op === 'append' && e.stream !== opens[0].stream).map((e) => e.text);
    assert.deepEqual(forkAppends.sort(), ranking.ranked.map((r) => r.continuation + request.suffix).sort(), 'one fork per distinct continuation');

    // The list grew one finished candidate at a time, before the end.
    assert.equal(updates.length, 4);
    assert.ok(updates.every((u) => !u.done));
    assert.deepEqual(updates.map((u) => u.candidates.filter((c) => c.state === 'scored' || c.state === 'empty').length), [1, 2, 3, 4]);

    // Typing forward: the next request's prefix extends the last one, so only the new text is scored.
    const typed = 'import sys\n';
    const next = buildInlineRequest(PROBLEM, critic.info.templates, typed + FILE, typed.length, { ...OPTIONS, n: 1 });
    log.length = 0;
    await ranker.rank(generator, next);
    assert.equal(log.filter((e) => e.op === 'open').length, 0, 'the prefix stream was kept');
    assert.deepEqual(log.filter((e) => e.op === 'append' && e.stream === opens[0].stream).map((e) => e.text), [typed]);
    await ranker.dispose();
  });

  test('identical continuations are scored once and listed once, with every candidate that wrote them', async () => {
    const { critic: recorded, log } = recording(critic);
    const ranker = new ContinuationRanker(recorded);
    const request = buildInlineRequest(PROBLEM, critic.info.templates, FILE, 0, { ...OPTIONS, n: 3, temperature: 0 });
    const ranking = await ranker.rank(generator, request);
    // Greedy decoding writes the same text three times.
    assert.equal(ranking.ranked.length, 1);
    assert.deepEqual(ranking.ranked[0].indices, [0, 1, 2]);
    assert.equal(log.filter((e) => e.op === 'fork').length, 1);
    await ranker.dispose();
  });

  test('with no critic, continuations are ranked by their sample\'s mean log-probability, labelled likelihood', async () => {
    // The generator's events pass through unchanged; what it reported per candidate is kept to check against.
    const reported = new Map<number, number[]>();
    let dropLogprobs = false;
    const watched: Generator = {
      name: generator.name,
      dispose: async () => undefined,
      stream: (r: GenerationRequest, signal?: AbortSignal) => ({
        async *[Symbol.asyncIterator]() {
          for await (const event of generator.stream(r, signal) as AsyncIterable<GenerationEvent>) {
            if (event.type === 'token' && event.logprob !== undefined) {
              if (dropLogprobs) {
                yield { type: 'token', candidate: event.candidate, text: event.text, tokenId: event.tokenId };
                continue;
              }
              reported.set(event.candidate, [...(reported.get(event.candidate) ?? []), event.logprob]);
            }
            yield event;
          }
        },
      }),
    };
    const ranker = new ContinuationRanker(undefined);
    const request = buildInlineRequest(PROBLEM, DEFAULT_TEMPLATES, FILE, 0, OPTIONS);
    const ranking = await ranker.rank(watched, request);
    assert.ok(ranking.ranked.length >= 2, 'several distinct continuations (seeded sampling)');
    for (const scored of ranking.ranked) {
      assert.equal(scored.rankedBy, 'likelihood');
      assert.deepEqual(scored.values, [], 'no p(pass) without a critic');
      assert.equal(scored.final, meanLogprob(reported.get(scored.indices[0]) ?? []));
      assert.ok(scored.final < 0, 'a mean log-probability');
    }
    const finals = ranking.ranked.map((r) => r.final);
    assert.deepEqual(finals, [...finals].sort((a, b) => b - a), 'most likely first');

    // A generator that reports no log-probabilities: every continuation is still offered, unranked (NaN) in finishing order.
    dropLogprobs = true;
    const unranked = await ranker.rank(watched, request);
    assert.ok(unranked.ranked.length >= 1);
    assert.ok(unranked.ranked.every((r) => Number.isNaN(r.final) && r.rankedBy === 'likelihood'));
    await ranker.dispose();
  });

  test('an aborted request stops generation and scoring, rejects with AbortError, and the ranker goes on', async () => {
    const { critic: recorded, log } = recording(critic);
    const ranker = new ContinuationRanker(recorded);
    const request = buildInlineRequest(PROBLEM, critic.info.templates, FILE, 0, { ...OPTIONS, maxNewTokens: 200 });
    const controller = new AbortController();
    let tokensAfterAbort = 0;
    const counting: Generator = {
      name: generator.name,
      dispose: () => generator.dispose(),
      stream: (r: GenerationRequest, signal?: AbortSignal) => ({
        async *[Symbol.asyncIterator]() {
          for await (const event of generator.stream(r, signal) as AsyncIterable<GenerationEvent>) {
            if (event.type === 'token' && controller.signal.aborted) tokensAfterAbort++;
            yield event;
          }
        },
      }),
    };
    const ranked = ranker.rank(counting, request, controller.signal, {
      onText: (candidate) => {
        if (candidate.generated.length > 0) controller.abort();
      },
    });
    await assert.rejects(ranked, (error: Error) => isAbortError(error));
    assert.ok(tokensAfterAbort < 20, `generation stopped (${tokensAfterAbort} tokens after the abort)`);
    assert.equal(log.filter((e) => e.op === 'fork').length, 0, 'no continuation was scored');
    // Not stuck: the next request runs to the end.
    const after = await ranker.rank(generator, buildInlineRequest(PROBLEM, critic.info.templates, FILE, 0, { ...OPTIONS, n: 1 }));
    assert.ok(after.done);
    await ranker.dispose();
  });
});

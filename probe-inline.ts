import { LocalGenerator } from './src/core/generation/local';
import { loadCritic } from './src/core/critic';
import { LeadCache } from './src/core/inlineCompletion/lead';
import { buildInlineRequest, leadRequest } from './src/core/inlineCompletion/request';
import { problemFromStatement, topOfFileStatement } from './src/core/problem/extraction';
import { collectCandidates } from './src/core/generation/types';
const Q = '"""';
const SOURCE = [Q, 'You are given a positive integer n and a digit d. Count the digits of n that are at least d.', '', '-----Input-----', '', 'The only line contains the integers n and d.', '', '-----Output-----', '', 'Print the answer.', '', '-----Example-----', 'Input', '1319537 1', 'Output', '7', Q, ''].join('\n');
async function main() {
  const gen = new LocalGenerator({ model: '.cache/micro/ci/generator', dtype: 'fp32', offlineOnly: true });
  await gen.load();
  const critic = await loadCritic({ bundlePath: '.cache/micro/ci/critic-bundle', executionProvider: 'cpu' });
  const problem = problemFromStatement(topOfFileStatement(SOURCE)!);
  const opts = { n: 4, temperature: 1, maxNewTokens: 256, fillInTheMiddle: false };
  const lead = await new LeadCache().get(gen, leadRequest(problem, critic.info.templates, opts));
  console.log('LEAD', JSON.stringify(lead));
  for (const text of [SOURCE, SOURCE.replace(/^"""[\s\S]*?"""\n/, '')]) {
    const req = buildInlineRequest(problem, critic.info.templates, text, text.length, opts, lead);
    console.log('RESPONSE PREFIX', JSON.stringify(req.generation.responsePrefix.slice(-80)), 'healed', JSON.stringify(req.healed));
    const cands = await collectCandidates(gen, req.generation);
    for (const c of cands) console.log('  ->', c.finishReason, JSON.stringify(c.text.slice(0, 120)));
  }
  await critic.dispose(); await gen.dispose?.();
  process.exit(0);
}
main();

#!/usr/bin/env node
/** `passlens`: the command-line face of src/core (no VS Code needed). */
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { judgeCandidates, rankGiven, verdictLabel, type RankedCandidate } from './core/generateAndRank/bestOfN';
import { DEFAULT_GUIDED, SEARCH_STRATEGIES, search, type SearchOptions } from './core/generateAndRank/search';
import { validatePolicy } from './core/generateAndRank/guided';
import { createRemoteCritic, loadCritic, readCalibration } from './core/critic';
import type { Critic } from './core/critic/types';
import { LocalGenerator } from './core/generation/local';
import { OpenAIGenerator } from './core/generation/openai';
import type { Generator } from './core/generation/types';
import { sparkline } from './core/confidence/lineConfidence';
import { problemFromMarkdown } from './core/problem/extraction';
import {
  SandboxClient,
  SandboxUnavailableError,
  WEAK_ISOLATION_WARNING,
  allowWeakHint,
  defaultJudgePath,
  isWeakIsolation,
} from './core/sandbox';

const USAGE = `usage: passlens <command> [options]

commands:
  rank <problem.md>  rank candidate solutions by the critic's p(pass)
  version            print the version
  help               show this help

rank options:
  --critic DIR            critic bundle folder (or --critic-url URL for a vLLM critic server;
                          its API key from PASSLENS_CRITIC_API_KEY; --calibration FILE gives a
                          served critic its calibration: passlens-calibration.json or a bundle)
  --candidates PATH       rank existing responses: a JSON list of strings, or a folder of .py/.md/.txt files
  --generator MODEL       generate with a local ONNX model (folder or hub id; --dtype, --offline)
  --server URL            generate with an OpenAI-compatible server (--model, --api chat|completions;
                          API key from PASSLENS_API_KEY)
  -n N                    candidates to generate (default 6); --temperature T (0.8); --max-new-tokens M (1024)
  --top-p P --top-k K     nucleus and top-k sampling (default 1 and 0: every token, as training samples)
  --seed S                sampling seed
  --strategy S            best-of-n (default): write n candidates, then rank; guided: the critic stops weak
                          candidates while they are written and re-branches from the best one
  --token-budget N        most tokens generated in all (default n × max-new-tokens)
  --time-budget SECONDS   candidates still running then stop
  guided knobs            --interval T (${DEFAULT_GUIDED.interval}), --prune-fraction Q (${DEFAULT_GUIDED.pruneFraction}), --threshold P (${DEFAULT_GUIDED.threshold}),
                          --warmup-tokens W (${DEFAULT_GUIDED.warmupTokens}), --window W (${DEFAULT_GUIDED.window}), --no-rebranch
  --sandbox               run each candidate on the examples in the problem (python-sandbox/judge.py)
  --allow-weak-isolation  where no real sandbox exists, run them under the judge's weak, escapable
                          isolation (verdicts are labelled "weak isolation")
  --python PATH           interpreter for the sandbox (default python3)
  --json                  print JSON instead of a table

API keys are sent only to the origin (scheme, host, port) of the URL given on the command
line; a redirect to another origin is refused, so neither key nor code goes elsewhere.
`;

function version(): string {
  const pkg = JSON.parse(readFileSync(join(__dirname, '..', 'package.json'), 'utf8')) as { version: string };
  return pkg.version;
}

class UsageError extends Error {}

/** Where the CLI keeps verified model-file hashes: $PASSLENS_CACHE_DIR, else the user's cache folder. */
function cacheDir(): string {
  return process.env.PASSLENS_CACHE_DIR || join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'passlens');
}

/** Responses to rank from a JSON list of strings or a folder of files (sorted by name). */
export function readCandidates(path: string): string[] {
  if (!existsSync(path)) throw new UsageError(`--candidates ${path}: no such file or folder`);
  if (statSync(path).isDirectory()) {
    const files = readdirSync(path).filter((f) => /\.(py|md|txt)$/.test(f)).sort();
    if (!files.length) throw new UsageError(`--candidates ${path}: the folder has no .py, .md or .txt files`);
    // A bare .py file is code; the critic scores responses, so it is wrapped the way the editor does.
    return files.map((f) => {
      const text = readFileSync(join(path, f), 'utf8');
      return f.endsWith('.py') ? '```python\n' + text + (text.endsWith('\n') ? '' : '\n') + '```' : text;
    });
  }
  let value: unknown;
  try {
    value = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new UsageError(`--candidates ${path}: not valid JSON (${(error as Error).message})`);
  }
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'string')) throw new UsageError(`--candidates ${path}: expected a JSON list of strings`);
  return value;
}

/** How a candidate's generation ended, for the table: tokens spent and why it stopped early. */
function generationLabel(c: RankedCandidate): string {
  const stopped = c.pruned !== false ? `pruned at ${c.pruned}` : c.finishReason === 'budget' ? 'budget' : c.finishReason === 'length' ? 'max tokens' : '';
  return `${String(c.tokens).padStart(5)}  ${stopped.padEnd(14)}`;
}

function formatTable(candidates: readonly RankedCandidate[], judged: boolean, generated: boolean): string {
  const rows = candidates.map((c, rank) => {
    const score = Number.isNaN(c.final) ? '   —  ' : (c.final * 100).toFixed(1).padStart(5) + '%';
    const first = (c.code.split('\n').find((l) => l.trim()) ?? '').trim().slice(0, 40);
    const from = c.branch ? ` (from #${c.branch.from} at ${c.branch.at})` : '';
    return `${String(rank + 1).padStart(3)}  ${score}  ${sparkline(c.values, 24).padEnd(24)}  ${generated ? generationLabel(c) + '  ' : ''}${judged ? verdictLabel(c.judged).padEnd(36) + '  ' : ''}#${c.index}${from}  ${first}`;
  });
  const header = `rank  p(pass)  ${'confidence'.padEnd(24)}  ${generated ? 'tokens  ' + 'stopped'.padEnd(14) + '  ' : ''}${judged ? 'examples'.padEnd(36) + '  ' : ''}candidate`;
  return [header, ...rows].join('\n');
}

async function rank(argv: string[]): Promise<number> {
  const { values: o, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      critic: { type: 'string' },
      'critic-url': { type: 'string' },
      calibration: { type: 'string' },
      candidates: { type: 'string' },
      generator: { type: 'string' },
      dtype: { type: 'string', default: 'q4f16' },
      offline: { type: 'boolean', default: false },
      server: { type: 'string' },
      model: { type: 'string', default: 'default' },
      api: { type: 'string', default: 'chat' },
      n: { type: 'string', short: 'n', default: '6' },
      temperature: { type: 'string', default: '0.8' },
      'top-p': { type: 'string', default: '1' },
      'top-k': { type: 'string', default: '0' },
      'max-new-tokens': { type: 'string', default: '1024' },
      seed: { type: 'string' },
      strategy: { type: 'string', default: 'best-of-n' },
      'token-budget': { type: 'string' },
      'time-budget': { type: 'string' },
      interval: { type: 'string' },
      'prune-fraction': { type: 'string' },
      threshold: { type: 'string' },
      'warmup-tokens': { type: 'string' },
      window: { type: 'string' },
      'no-rebranch': { type: 'boolean', default: false },
      sandbox: { type: 'boolean', default: false },
      'allow-weak-isolation': { type: 'boolean', default: false },
      python: { type: 'string', default: 'python3' },
      json: { type: 'boolean', default: false },
    },
  });
  const [problemPath] = positionals;
  if (!problemPath) throw new UsageError('rank needs a problem file: passlens rank problem.md');
  if (!existsSync(problemPath)) throw new UsageError(`${problemPath}: no such file`);
  if (!o.critic && !o['critic-url']) throw new UsageError('rank needs a critic: --critic BUNDLE_DIR or --critic-url URL');
  const sources = [o.candidates, o.generator, o.server].filter(Boolean).length;
  if (sources !== 1) throw new UsageError('give exactly one of --candidates, --generator or --server');
  const number = (name: string, text: string) => {
    const value = Number(text);
    if (!Number.isFinite(value)) throw new UsageError(`--${name} must be a number, not ${text}`);
    return value;
  };
  const count = (name: string, text: string | undefined) => {
    if (text === undefined) return undefined;
    const value = number(name, text);
    if (!Number.isInteger(value) || value < 1) throw new UsageError(`--${name} must be a whole number >= 1, not ${text}`);
    return value;
  };
  if (o.api !== 'chat' && o.api !== 'completions') throw new UsageError('--api is chat or completions');
  const strategy = SEARCH_STRATEGIES.find((s) => s === o.strategy);
  if (!strategy) throw new UsageError(`--strategy is one of ${SEARCH_STRATEGIES.join(', ')}`);
  const knobs = ['interval', 'prune-fraction', 'threshold', 'warmup-tokens', 'window', 'no-rebranch'] as const;
  const given = knobs.filter((k) => (k === 'no-rebranch' ? o[k] : o[k] !== undefined));
  if (given.length && strategy !== 'guided') throw new UsageError(`--${given[0]} is a guided-search knob: add --strategy guided`);
  if (o.candidates && (strategy !== 'best-of-n' || o['token-budget'] || o['time-budget'])) {
    throw new UsageError('--strategy, --token-budget and --time-budget apply to generated candidates, not --candidates');
  }
  const dtypes = ['fp32', 'fp16', 'q8', 'q4', 'q4f16'] as const;
  const dtype = dtypes.find((d) => d === o.dtype);
  if (!dtype) throw new UsageError(`--dtype is one of ${dtypes.join(', ')}`);
  const timeBudget = o['time-budget'] === undefined ? undefined : number('time-budget', o['time-budget']);
  const guided = {
    interval: count('interval', o.interval),
    pruneFraction: o['prune-fraction'] === undefined ? undefined : number('prune-fraction', o['prune-fraction']),
    threshold: o.threshold === undefined ? undefined : number('threshold', o.threshold),
    warmupTokens: o['warmup-tokens'] === undefined ? undefined : number('warmup-tokens', o['warmup-tokens']),
    window: count('window', o.window),
    rebranch: o['no-rebranch'] ? false : undefined,
  };
  const searchOptions: SearchOptions = {
    strategy,
    n: count('n', o.n!)!,
    temperature: number('temperature', o.temperature!),
    topP: number('top-p', o['top-p']!),
    topK: number('top-k', o['top-k']!),
    maxNewTokens: count('max-new-tokens', o['max-new-tokens']!)!,
    seed: o.seed === undefined ? undefined : number('seed', o.seed),
    tokenBudget: count('token-budget', o['token-budget']),
    wallClockMs: timeBudget === undefined ? undefined : timeBudget * 1000,
    guided: Object.fromEntries(Object.entries(guided).filter(([, v]) => v !== undefined)),
  };
  if (strategy === 'guided') {
    try {
      validatePolicy({ ...DEFAULT_GUIDED, ...searchOptions.guided, width: searchOptions.n });
    } catch (error) {
      const flags: Record<string, string> = { pruneFraction: '--prune-fraction', warmupTokens: '--warmup-tokens', interval: '--interval', threshold: '--threshold', window: '--window' };
      throw new UsageError((error as Error).message.replace(/^guided search: (\w+)/, (_, knob: string) => flags[knob] ?? knob));
    }
  }

  const problem = problemFromMarkdown(readFileSync(problemPath, 'utf8'));
  if (o.calibration && !o['critic-url']) throw new UsageError('--calibration is for --critic-url (a bundle carries its own calibration)');
  const critic: Critic = o.critic
    ? await loadCritic({ bundlePath: resolve(o.critic), executionProvider: 'cpu', hashCacheDir: cacheDir() })
    : await createRemoteCritic({
        url: o['critic-url']!,
        apiKey: process.env.PASSLENS_CRITIC_API_KEY || undefined,
        calibration: o.calibration ? readCalibration(resolve(o.calibration)) : null,
      });
  let generator: Generator | undefined;
  const controller = new AbortController();
  process.once('SIGINT', () => controller.abort());
  try {
    let ranked: RankedCandidate[];
    if (o.candidates) {
      ranked = await rankGiven(critic, problem, readCandidates(o.candidates), controller.signal);
    } else {
      generator = o.server
        ? new OpenAIGenerator({ baseUrl: o.server, model: o.model!, api: o.api, apiKey: process.env.PASSLENS_API_KEY || undefined })
        : new LocalGenerator({ model: o.generator!, dtype, offlineOnly: o.offline! });
      ranked = await search(
        generator,
        critic,
        problem,
        searchOptions,
        controller.signal,
      );
    }
    const judge = o.sandbox && problem.tests;
    if (o.sandbox && !problem.tests) console.error('passlens: the problem has no examples to run (--sandbox ignored)');
    if (judge) {
      // The CLI runs only when a person asks for --sandbox on their own machine: that is the trust decision.
      const sandbox = new SandboxClient({ pythonPath: o.python!, judgePath: defaultJudgePath(), trusted: true, allowWeakIsolation: o['allow-weak-isolation'] });
      try {
        await judgeCandidates(sandbox, problem, ranked, { timeoutSeconds: 4, memoryMb: 1024 }, controller.signal);
      } catch (error) {
        if (!(error instanceof SandboxUnavailableError)) throw error;
        // The ranking stands; the verdicts read "not run".
        console.error(`passlens: the sandbox cannot run here: ${error.message} ${allowWeakHint('pass --allow-weak-isolation')}`);
      } finally {
        await sandbox.dispose();
      }
      if (ranked.some((c) => isWeakIsolation(c.judged))) console.error(`passlens: ${WEAK_ISOLATION_WARNING}`);
    }
    if (o.json) {
      const rows = ranked.map((c, i) => ({
        rank: i + 1,
        index: c.index,
        p_pass: c.final,
        values: c.values,
        code: c.code,
        finish_reason: c.finishReason,
        tokens: c.tokens,
        pruned: c.pruned,
        branch: c.branch ?? null,
        judged: c.judged ?? null,
        weak_isolation: isWeakIsolation(c.judged),
      }));
      console.log(JSON.stringify(rows, null, 1));
    } else console.log(formatTable(ranked, Boolean(judge), !o.candidates));
    return 0;
  } finally {
    await generator?.dispose();
    await critic.dispose();
  }
}

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case 'version':
        console.log(version());
        return 0;
      case 'rank':
        return await rank(rest);
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        console.log(USAGE);
        return 0;
      default:
        console.error(`passlens: unknown command '${command}'\n\n${USAGE}`);
        return 2;
    }
  } catch (error) {
    if (error instanceof UsageError || (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      console.error(`passlens: ${(error as Error).message}\n\n${USAGE}`);
      return 2;
    }
    console.error(`passlens: ${(error as Error).message}`);
    return 1;
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then((code) => process.exit(code));
}

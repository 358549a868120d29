/**
 * Entry point VS Code's extension host loads for `extensionTestsPath`: runs every
 * compiled `*.test.js` beside this file with mocha (TDD interface: suite/test) and
 * resolves when they pass. The counts and failures are also written as JSON to
 * $PASSLENS_TEST_RESULTS so the runner outside the editor can report them.
 */
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Mocha from 'mocha';

export interface SuiteResults {
  passed: number;
  failed: number;
  pending: number;
  /** One line per test: "✔ title", "✘ title" or "- title". */
  lines: string[];
  failures: { title: string; error: string }[];
}

/**
 * Which tests run: those tagged @untrusted in the untrusted pass and only there (they
 * expect an untrusted workspace), narrowed to titles containing `only` when given.
 */
function testFilter(only: string | undefined, untrustedPass: boolean): RegExp {
  const tag = untrustedPass ? '(?=.*@untrusted)' : '(?!.*@untrusted)';
  const text = only ? `(?=.*${only.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')})` : '';
  return new RegExp(`^${tag}${text}`);
}

export function run(): Promise<void> {
  const mocha = new Mocha({ ui: 'tdd', color: false, timeout: 60_000, reporter: 'spec' });
  mocha.grep(testFilter(process.env.PASSLENS_TEST_GREP, process.env.PASSLENS_TEST_PASS === 'untrusted'));
  const files = readdirSync(__dirname).filter((name) => name.endsWith('.test.js')).sort();
  if (files.length === 0) return Promise.reject(new Error(`no *.test.js files in ${__dirname}`));
  for (const name of files) mocha.addFile(join(__dirname, name));

  return new Promise((resolve, reject) => {
    const results: SuiteResults = { passed: 0, failed: 0, pending: 0, lines: [], failures: [] };
    const runner = mocha.run((failures) => {
      const path = process.env.PASSLENS_TEST_RESULTS;
      if (path) writeFileSync(path, JSON.stringify(results, null, 2));
      if (failures > 0) reject(new Error(`${failures} test(s) failed`));
      else resolve();
    });
    runner.on('pass', (test) => {
      results.passed++;
      results.lines.push(`✔ ${test.fullTitle()}`);
    });
    runner.on('pending', (test) => {
      results.pending++;
      results.lines.push(`- ${test.fullTitle()}`);
    });
    runner.on('fail', (test, error: Error) => {
      results.failed++;
      results.lines.push(`✘ ${test.fullTitle()}`);
      results.failures.push({ title: test.fullTitle(), error: error.stack ?? String(error) });
    });
  });
}

#!/usr/bin/env python3
"""Throughput of judge.py against a naive judge (one fresh python3 per test), on the APPS
sample's reference solutions. Prints tests/s of both and the ratio. Not a test.

    python3 benchmarks/sandbox/bench_judge.py [--workers 2] [--max-tests-per-problem 40]
"""
import argparse
import concurrent.futures
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.realpath(__file__))))
SANDBOX = os.path.join(REPO, 'python-sandbox')
sys.path.insert(0, SANDBOX)

import compare  # noqa: E402
import valuecodec  # noqa: E402

DEFAULT_SAMPLE = os.path.join(os.path.dirname(REPO), 'shared', 'apps-sample', 'problems.jsonl')

# The naive judge's call-based harness: load the program, call the function once, print
# the encoded result (same codec, so both judges compare the same values).
CALL_HARNESS = r'''
import json, sys
sys.path.insert(0, sys.argv[3])
import valuecodec
code = open(sys.argv[1]).read()
namespace = {"__name__": "solution"}
exec(compile(code, "main.py", "exec"), namespace)
target = namespace["Solution"]() if "class Solution" in code else None
method = getattr(target, sys.argv[2]) if target is not None else namespace[sys.argv[2]]
args = valuecodec.loads(sys.stdin.read())
print(valuecodec.dumps(method(*args)))
'''


def naive_test(python, workdir, code_path, fn_name, test_input, expected, timeout_s, memory_mb):
    def limits():
        os.setpgid(0, 0)
        memory = memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
        resource.setrlimit(resource.RLIMIT_CPU, (int(timeout_s) + 1,) * 2)

    if fn_name:
        argv = [python, '-c', CALL_HARNESS, code_path, fn_name, SANDBOX]
        stdin = valuecodec.dumps(compare.apps_call_args(test_input))
    else:
        argv = [python, code_path]
        stdin = '\n'.join(test_input) if isinstance(test_input, list) else str(test_input)
    try:
        done = subprocess.run(argv, input=stdin, capture_output=True, text=True, timeout=timeout_s,
                              cwd=workdir, preexec_fn=limits, env={'PATH': '/usr/bin:/bin'})
    except subprocess.TimeoutExpired:
        return -1
    if done.returncode != 0:
        return -1
    if fn_name:
        try:
            return compare.apps_call_equal(valuecodec.loads(done.stdout.strip()), expected)
        except ValueError:
            return False
    return compare.apps_stdin_equal(done.stdout, expected)


def run_naive(requests, workers, python):
    with tempfile.TemporaryDirectory(prefix='naive-judge-') as workdir:
        jobs = []
        for index, request in enumerate(requests):
            path = os.path.join(workdir, 'prog%d.py' % index)
            with open(path, 'w') as handle:
                handle.write(request['code'])
            tests = request['tests']
            for test_input, expected in zip(tests['inputs'], tests['outputs']):
                jobs.append((path, tests.get('fn_name'), test_input, expected))
        start = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(workers) as pool:
            results = list(pool.map(lambda job: naive_test(python, workdir, *job, 4.0, 1024), jobs))
        return len(jobs), time.monotonic() - start, sum(r is True for r in results)


def run_judge(requests, workers, python, isolation):
    payload = ''.join(json.dumps(r) + '\n' for r in requests)
    start = time.monotonic()
    done = subprocess.run([python, os.path.join(SANDBOX, 'judge.py'), '--workers', str(workers),
                           '--compare', 'apps', '--isolation', isolation],
                          input=payload, capture_output=True, text=True, check=True)
    seconds = time.monotonic() - start
    responses = [json.loads(line) for line in done.stdout.splitlines()]
    tests = sum(len(r['tests']['inputs']) for r in requests)
    passed = sum(sum(x is True for x in r['results']) for r in responses)
    return tests, seconds, passed, responses[0]['isolation'] if responses else '?'


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--sample', default=DEFAULT_SAMPLE)
    parser.add_argument('--workers', type=int, default=2)
    parser.add_argument('--max-tests-per-problem', type=int, default=40,
                        help='keeps the naive run short (0: all tests)')
    parser.add_argument('--isolation', default='auto', choices=('auto', 'bwrap', 'firejail', 'sandbox-exec', 'weak'))
    parser.add_argument('--python', default=sys.executable)
    args = parser.parse_args()
    requests = []
    with open(args.sample, encoding='utf-8') as handle:
        for line in handle:
            problem = json.loads(line)
            tests = dict(problem['input_output'])
            if args.max_tests_per_problem:
                for key in ('inputs', 'outputs'):
                    tests[key] = tests[key][:args.max_tests_per_problem]
            for index, code in enumerate(problem['solutions']):
                requests.append({'id': '%s#%d' % (problem['problem_id'], index), 'code': code,
                                 'tests': tests, 'compare': 'apps'})
    n, naive_s, naive_ok = run_naive(requests, args.workers, args.python)
    m, judge_s, judge_ok, mode = run_judge(requests, args.workers, args.python, args.isolation)
    naive_rate, judge_rate = n / naive_s, m / judge_s
    print('programs: %d, tests: %d, workers: %d, cpus: %d' % (len(requests), n, args.workers, os.cpu_count()))
    print('naive judge (python3 per test, rlimits): %7.1f tests/s  (%.1f s, %d passed)' % (naive_rate, naive_s, naive_ok))
    print('judge.py (forked workers, %s):%s %7.1f tests/s  (%.1f s, %d passed)' % (
        mode, ' ' * max(0, 9 - len(mode)), judge_rate, judge_s, judge_ok))
    print('ratio: %.1fx' % (judge_rate / naive_rate))


if __name__ == '__main__':
    main()

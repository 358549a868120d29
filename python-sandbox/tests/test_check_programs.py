"""Check programs (HumanEval style): tests = {"check": source defining check(candidate),
"entry_point": name}. Canonical solutions pass; wrong ones, and ones that try to fake a
pass, do not."""
import pytest

from judgeutil import by_id, probe, run_judge, std

HAS_CLOSE_ELEMENTS = {
    'prompt': 'from typing import List\n\n\ndef has_close_elements(numbers: List[float], threshold: float) -> bool:\n',
    'good': '    return any(abs(a - b) < threshold for i, a in enumerate(numbers) for b in numbers[i + 1:])\n',
    'check': '''
METADATA = {'author': 'passlens'}


def check(candidate):
    assert candidate([1.0, 2.0, 3.9, 4.0, 5.0, 2.2], 0.3) == True
    assert candidate([1.0, 2.0, 3.9, 4.0, 5.0, 2.2], 0.05) == False
    assert candidate([1.0, 2.0, 5.9, 4.0, 5.0], 0.95) == True
    assert candidate([1.1, 2.2, 3.1, 4.1, 5.1], 1.0) == True
    assert candidate([1.1, 2.2, 3.1, 4.1, 5.1], 0.5) == False
''',
    'entry_point': 'has_close_elements',
}

# The check calls encode_cyclic, a helper defined in the prompt (as HumanEval/38 does),
# a hundred times on random strings.
DECODE_CYCLIC = {
    'prompt': '''def encode_cyclic(s: str):
    groups = [s[(3 * i):min((3 * i + 3), len(s))] for i in range((len(s) + 2) // 3)]
    groups = [(group[1:] + group[0]) if len(group) == 3 else group for group in groups]
    return "".join(groups)


def decode_cyclic(s: str):
''',
    'good': '    return encode_cyclic(encode_cyclic(s))\n',
    'check': '''
import random
import string


def check(candidate):
    for _ in range(100):
        text = ''.join(random.choice(string.ascii_lowercase) for _ in range(random.randint(10, 20)))
        assert candidate(encode_cyclic(text)) == text
''',
    'entry_point': 'decode_cyclic',
}

SUM_PRODUCT = {
    'prompt': 'from typing import List, Tuple\n\n\ndef sum_product(numbers: List[int]) -> Tuple[int, int]:\n',
    'good': '    product = 1\n    for n in numbers:\n        product *= n\n    return sum(numbers), product\n',
    'check': '''
def check(candidate):
    assert candidate([]) == (0, 1)
    assert candidate([1, 1, 1]) == (3, 1)
    assert candidate([100, 0]) == (100, 0)
    assert candidate([3, 5, 7]) == (3 + 5 + 7, 3 * 5 * 7)
''',
    'entry_point': 'sum_product',
}

# The check expects an exception for a bad argument.
INT_SQRT = {
    'prompt': 'def int_sqrt(n: int) -> int:\n',
    'good': '    if n < 0:\n        raise ValueError("negative")\n    import math\n    return math.isqrt(n)\n',
    'check': '''
def check(candidate):
    assert candidate(0) == 0
    assert candidate(15) == 3
    assert candidate(16) == 4
    try:
        candidate(-1)
    except ValueError:
        pass
    else:
        assert False, 'no ValueError for -1'
''',
    'entry_point': 'int_sqrt',
}

FLIP_CASE = {
    'prompt': 'def flip_case(string: str) -> str:\n',
    'good': '    return string.swapcase()\n',
    'check': '''
def check(candidate):
    assert candidate('') == ''
    assert candidate('Hello!') == 'hELLO!'
    assert candidate('These violent delights have violent ends') == 'tHESE VIOLENT DELIGHTS HAVE VIOLENT ENDS'
''',
    'entry_point': 'flip_case',
}

PROBLEMS = {'has_close_elements': HAS_CLOSE_ELEMENTS, 'decode_cyclic': DECODE_CYCLIC,
            'sum_product': SUM_PRODUCT, 'int_sqrt': INT_SQRT, 'flip_case': FLIP_CASE}

# Bodies that must not pass, the verdict each gets, and for which problem.
WRONG = {
    'off-by-one': ('has_close_elements', '    return any(abs(a - b) < threshold for i, a in enumerate(numbers) '
                   'for b in numbers[i + 2:])\n', 'wrong_answer'),
    'wrong-type': ('sum_product', '    return [sum(numbers), 1]\n', 'wrong_answer'),
    'infinite-loop': ('flip_case', '    while True:\n        pass\n', 'timeout'),
    'exception': ('flip_case', '    raise KeyError(string)\n', 'runtime_error'),
    'no-valueerror': ('int_sqrt', '    import math\n    return math.isqrt(max(n, 0))\n', 'wrong_answer'),
    'memory': ('flip_case', '    hog = []\n    while True:\n        hog.append(bytearray(10 ** 7))\n', 'memory_limit'),
    'syntax-error': ('flip_case', '    return (\n', 'compile_error'),
    'returns-none': ('decode_cyclic', '    pass\n', 'wrong_answer'),
}
# Whole programs that try to fake a pass.
FAKES = {
    'sys-exit-at-import': 'import sys\nsys.exit(0)\n\ndef flip_case(string):\n    return ""\n',
    'exit-at-import': 'exit(0)\n',
    'os-exit-at-import': 'import os\nos._exit(0)\n',
    'os-exit-in-call': 'import os\n\ndef flip_case(string):\n    os._exit(0)\n',
    'sys-exit-in-call': 'import sys\n\ndef flip_case(string):\n    sys.exit(0)\n',
    'always-equal': 'class Anything(str):\n    def __eq__(self, other):\n        return True\n\n'
                    'def flip_case(string):\n    return Anything("")\n',
    'patch-assertion-error': 'import builtins\nbuiltins.AssertionError = type("Quiet", (Exception,), {})\n\n'
                             'def flip_case(string):\n    return ""\n',
    'patch-builtins': 'import builtins\nbuiltins.abs = lambda x: 0\nbuiltins.any = lambda xs: True\n\n'
                      'def has_close_elements(numbers, threshold):\n    return False\n',
    'shadow-builtin': 'def any(xs):\n    return True\n\ndef abs(x):\n    return 0\n\n'
                      'def has_close_elements(numbers, threshold):\n    return False\n',
    'missing-entry-point': 'def flip_kase(string):\n    return string.swapcase()\n',
    'forge-pass-status': 'import os\nos.write(3, b\'{"passed": true}\\n\')\nos._exit(0)\n',
    'read-check-from-gc': 'import gc\n\ndef flip_case(string):\n'
                          '    seen = [o for o in gc.get_objects() if isinstance(o, str) and "hELLO!" in o]\n'
                          '    return "hELLO!" if seen else ""\n',
}
FAKE_PROBLEM = {'patch-builtins': 'has_close_elements', 'shadow-builtin': 'has_close_elements'}


def check_request(rid, problem, code, timeout_s=2.0, **extra):
    return dict(id=rid, code=code, tests={'check': problem['check'], 'entry_point': problem['entry_point']},
                timeout_s=timeout_s, **extra)


def test_canonical_wrong_and_fake_solutions(tmp_path):
    requests = [check_request(name, p, p['prompt'] + p['good']) for name, p in PROBLEMS.items()]
    requests += [check_request(rid, PROBLEMS[name], PROBLEMS[name]['prompt'] + body,
                               **({'memory_mb': 256, 'timeout_s': 4.0} if rid == 'memory' else {}))
                 for rid, (name, body, _) in WRONG.items()]
    requests += [check_request(rid, PROBLEMS[FAKE_PROBLEM.get(rid, 'flip_case')], code) for rid, code in FAKES.items()]
    requests.append(std('stdin-request-alongside', 'print(input())', ['ok'], ['ok']))
    responses, _ = run_judge(requests, tmp_path / 'tmp', '--workers', '2')
    got = by_id(responses)
    assert [r['id'] for r in responses] == [r['id'] for r in requests]
    for name in PROBLEMS:
        assert got[name]['passed'] and got[name]['results'] == [True] and got[name]['verdicts'] == ['pass'], got[name]
        assert 'apps_results' not in got[name]
    for rid, (_, _, verdict) in WRONG.items():
        assert got[rid]['verdicts'] == [verdict], (rid, got[rid])
        assert got[rid]['results'] == [{'wrong_answer': False, 'compile_error': -2}.get(verdict, -1)]
    for rid in FAKES:
        assert got[rid]['passed'] is False, (rid, got[rid])
    assert got['always-equal']['verdicts'] == ['wrong_answer']
    assert got['patch-assertion-error']['verdicts'] == ['wrong_answer']
    assert got['sys-exit-at-import']['verdicts'] == ['runtime_error']
    assert 'SystemExit' in got['sys-exit-at-import']['stderr']
    assert "entry point 'flip_case' is not defined" in got['missing-entry-point']['stderr']
    assert 'AssertionError' in got['off-by-one']['stderr']
    assert got['stdin-request-alongside']['passed']


SCAN_OWN_MEMORY = r'''
import ctypes
import re

CONTROL = 'SENTINEL-' + str(99)  # must be found: the scan works


def flip_case(string):
    """Every SENTINEL-<digits> in this process's memory (earlier requests included)."""
    found = set()
    with open('/proc/self/maps') as maps:
        for line in maps:
            fields = line.split()
            if 'r' not in fields[1] or (len(fields) > 5 and fields[5] in ('[vvar]', '[vsyscall]', '[vvar_vclock]')):
                continue
            low, high = (int(value, 16) for value in fields[0].split('-'))
            found.update(re.findall(rb'SENTINEL-[0-9]+', ctypes.string_at(low, high - low)))
    return sorted(word.decode() for word in found)
'''


@pytest.mark.parametrize('mode', ['bwrap', 'firejail', 'weak'])
def test_no_candidate_finds_a_check_program_in_memory(mode, tmp_path):
    """The check program reaches neither the candidate's process nor, through the
    worker's memory, the candidates of later requests: the candidate reads all of its own
    memory for this request's check and the previous one's, and finds only its own marker."""
    if mode != 'weak' and not probe()['available'][mode]['available']:
        pytest.skip('%s: %s' % (mode, probe()['available'][mode]['reason']))

    def check(number):
        source = 'def check(candidate):\n    # SENTINEL-%d\n    assert candidate("x") == ["SENTINEL-99"]\n' % number
        return {'check': source, 'entry_point': 'flip_case'}
    requests = [dict(id='earlier', code='def flip_case(s):\n    return []\n', tests=check(1), timeout_s=5.0),
                dict(id='scan', code=SCAN_OWN_MEMORY, tests=check(2), timeout_s=5.0)]
    got = by_id(run_judge(requests, tmp_path / 'tmp', '--workers', '1', '--isolation', mode)[0])
    assert got['earlier']['verdicts'] == ['wrong_answer']
    assert got['scan']['verdicts'] == ['pass'], got['scan']


def test_check_requests_are_validated(tmp_path):
    good = HAS_CLOSE_ELEMENTS
    bad = [
        {'id': 'no-entry', 'code': '', 'tests': {'check': good['check']}},
        {'id': 'no-check', 'code': '', 'tests': {'entry_point': 'f'}},
        {'id': 'both-kinds', 'code': '', 'tests': {'check': good['check'], 'entry_point': 'f',
                                                    'inputs': [], 'outputs': []}},
        {'id': 'fn-name-too', 'code': '', 'tests': {'check': good['check'], 'entry_point': 'f', 'fn_name': 'f'}},
        {'id': 'bad-entry', 'code': '', 'tests': {'check': good['check'], 'entry_point': 'not a name'}},
        {'id': 'check-not-str', 'code': '', 'tests': {'check': 3, 'entry_point': 'f'}},
        {'id': 'no-check-function', 'code': '', 'tests': {'check': 'def test(c):\n    pass\n', 'entry_point': 'f'}},
        {'id': 'check-syntax', 'code': '', 'tests': {'check': 'def check(c):\n    assert (\n', 'entry_point': 'f'}},
    ]
    responses, _ = run_judge(bad, tmp_path / 'tmp')
    got = by_id(responses)
    assert [r['id'] for r in responses] == [r['id'] for r in bad]
    assert all('error' in r and 'passed' not in r for r in responses)
    assert 'go together' in got['no-entry']['error'] and 'go together' in got['no-check']['error']
    assert 'not both' in got['both-kinds']['error'] and 'not both' in got['fn-name-too']['error']
    assert 'must define check(candidate)' in got['no-check-function']['error']
    assert 'does not compile' in got['check-syntax']['error']


def test_a_check_runs_once_per_request_within_its_time_limit(tmp_path):
    """One test per request, and the limit covers the whole check (every call)."""
    slow = 'import time\n\ndef flip_case(string):\n    time.sleep(0.4)\n    return string.swapcase()\n'
    requests = [check_request('slow-calls', FLIP_CASE, slow, timeout_s=1.0),
                check_request('fast-enough', FLIP_CASE, slow, timeout_s=3.0)]
    got = by_id(run_judge(requests, tmp_path / 'tmp')[0])
    assert got['slow-calls']['verdicts'] == ['timeout']
    assert got['fast-enough']['verdicts'] == ['pass'] and got['fast-enough']['results'] == [True]


def test_the_judge_does_not_run_a_check_whose_worker_died(tmp_path):
    """A candidate that kills its worker (weak mode, same uid) costs that request only."""
    kill = 'import ctypes, os\n\ndef flip_case(string):\n    ctypes.CDLL(None).kill(os.getppid(), 9)\n'
    requests = [check_request('kills-worker', FLIP_CASE, FLIP_CASE['prompt'] + '    pass\n' + kill),
                check_request('next', FLIP_CASE, FLIP_CASE['prompt'] + FLIP_CASE['good'])]
    got = by_id(run_judge(requests, tmp_path / 'tmp', '--workers', '1', '--isolation', 'weak')[0])
    assert got['kills-worker']['passed'] is False
    assert got['next']['passed']

"""Output comparisons: the official APPS cascade and the strict comparison.

`apps_stdin_equal` follows hendrycks/apps eval/testing_util.py step by step (re-written
here, not copied: the original mutates its test data and needs numpy). `apps_call_equal`
is its call-based check. `strict_stdin_equal` is this judge's default for labels.
"""
import math
import re

# numpy.allclose defaults, which the APPS harness uses for numeric outputs.
_RTOL = 1e-05
_ATOL = 1e-08
# Strict comparison: a token written as a float in the expected output may differ by this.
STRICT_FLOAT_TOL = 1e-6


def _allclose(actual, expected):
    if len(actual) != len(expected):
        return False
    for a, b in zip(actual, expected):
        if math.isinf(a) or math.isinf(b):
            if a != b:
                return False
        elif not abs(a - b) <= _ATOL + _RTOL * abs(b):  # NaN fails here, as in numpy
            return False
    return True


def _stripped_equal(a, b):
    return a.strip() == b.strip()


def _exact_steps(lines, expected):
    """The `output == [gt]` / `output == gt` checks APPS repeats; any exception is False."""
    try:
        result = lines == [expected]
        if isinstance(expected, list):
            result = result or lines == expected
        return bool(result)
    except Exception:
        return False


def apps_stdin_equal(stdout, expected):
    """True where the official APPS harness counts a standard-input test as passed.

    `stdout` is what the program printed; `expected` the test's output (a list of lines
    is joined with newlines first, as APPS does)."""
    if isinstance(expected, list):
        expected = '\n'.join(str(item) for item in expected)
    if not isinstance(expected, str):
        return False
    lines = stdout.splitlines()  # APPS captures print output as splitlines()

    # custom_compare_: whole output, then with each line stripped, against the stripped truth.
    if _stripped_equal('\n'.join(lines), expected):
        return True
    if _stripped_equal('\n'.join(line.strip() for line in lines), expected):
        return True

    if lines == [expected]:
        return True
    # Truth as its non-empty stripped lines.
    gt_lines = [line.strip() for line in expected.split('\n') if line]
    if _exact_steps(lines, gt_lines):
        return True
    out_lines = [line for line in lines if line]
    result = _exact_steps(out_lines, gt_lines)
    try:
        result = result or _allclose([float(x) for x in out_lines], [float(x) for x in gt_lines])
    except ValueError:
        pass
    if result:
        return True

    # Lines as sets of tokens; order of lines and tokens and duplicates no longer matter.
    gt_sets = [set(line.split()) for line in gt_lines]
    out_sets = [set(line.split()) for line in out_lines if line.split()]
    result = {frozenset(s) for s in out_sets} == {frozenset(s) for s in gt_sets}
    if result:
        return True
    try:
        def rounded(sets):
            return {frozenset(round(float(tok), 3) for tok in s) for s in sets}
        return rounded(out_sets) == rounded(gt_sets)
    except (ValueError, OverflowError):
        return False


def _apps_int_keys(value):
    """APPS turns JSON's string keys back into ints; on any failure it leaves the value."""
    try:
        if isinstance(value, dict):
            return [{int(k): v for k, v in value.items()}]
    except (ValueError, TypeError):
        pass
    try:
        if isinstance(value[0], dict):
            return [{int(k): v for k, v in value[0].items()}]
    except (ValueError, TypeError, IndexError, KeyError):
        pass
    return value


def apps_call_args(inputs):
    """The argument list APPS passes for one call-based test."""
    try:
        if isinstance(inputs[0], dict):
            return [{int(k): v for k, v in inputs[0].items()}]
    except (ValueError, TypeError, IndexError, KeyError):
        pass
    return inputs


def apps_call_equal(output, expected):
    """APPS call-based check: exact equality, tuples as lists, `[x]` accepted for `x`."""
    expected = _apps_int_keys(expected)
    try:
        if isinstance(output, tuple):
            output = list(output)
        result = output == expected
        if isinstance(expected, list) and expected:
            result = result or output == expected[0]
        try:
            if isinstance(output[0], tuple):
                result = result or [list(x) for x in output] == expected[0]
        except (TypeError, IndexError, KeyError):
            pass
        return bool(result)
    except Exception:  # comparing odd values (deep nesting, NaN containers) fails the test
        return False


_FLOAT_LIKE = re.compile(r'^[+-]?(\d+\.\d*|\.\d+|\d+)([eE][+-]?\d+)?$|^[+-]?(inf|nan)$', re.I)
_INTEGER = re.compile(r'^[+-]?\d+$')


def _normalise(text):
    lines = [line.rstrip() for line in text.replace('\r\n', '\n').replace('\r', '\n').split('\n')]
    while lines and not lines[-1]:
        lines.pop()
    return lines


def _tokens_equal(actual, expected):
    if actual == expected:
        return True
    # Integers must be written exactly; a float in the truth allows a small error.
    if _INTEGER.match(expected) or not _FLOAT_LIKE.match(expected) or not _FLOAT_LIKE.match(actual):
        return False
    a, b = float(actual), float(expected)
    return math.isclose(a, b, rel_tol=STRICT_FLOAT_TOL, abs_tol=STRICT_FLOAT_TOL)


def strict_stdin_equal(stdout, expected):
    """Exact comparison after normalising line endings and trailing whitespace (per line
    and trailing blank lines); numbers written as floats in the truth compare within
    STRICT_FLOAT_TOL. Spacing inside a line must match."""
    if isinstance(expected, list):
        expected = '\n'.join(str(item) for item in expected)
    if not isinstance(expected, str):
        return False
    actual_lines, expected_lines = _normalise(stdout), _normalise(expected)
    if len(actual_lines) != len(expected_lines):
        return False
    for actual, truth in zip(actual_lines, expected_lines):
        if actual == truth:
            continue
        actual_parts, truth_parts = re.split(r'(\s+)', actual), re.split(r'(\s+)', truth)
        if len(actual_parts) != len(truth_parts):
            return False
        for index, (a, b) in enumerate(zip(actual_parts, truth_parts)):
            if index % 2:  # separators
                if a != b:
                    return False
            elif not _tokens_equal(a, b):
                return False
    return True

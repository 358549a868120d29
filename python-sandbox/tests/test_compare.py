"""The comparison functions on their own (no processes)."""
import compare
import valuecodec


def test_apps_cascade_is_lenient_as_the_official_harness():
    assert compare.apps_stdin_equal('1\n2\n', '1\n2')               # missing final newline
    assert compare.apps_stdin_equal('  1   2 \n\n\n3\n', '1 2\n3\n')  # whitespace, blank lines
    assert compare.apps_stdin_equal('2.0\n', '2\n')                   # numeric value
    assert compare.apps_stdin_equal('0.3000001\n', '0.3\n')           # numpy allclose
    assert compare.apps_stdin_equal('2 1\n', '1 2\n')                 # tokens reordered
    assert compare.apps_stdin_equal('b\na\n', 'a\nb\n')               # lines reordered
    assert compare.apps_stdin_equal('2 2 1\n', '1 1 2\n')             # duplicates dropped
    assert compare.apps_stdin_equal('1.0001\n', '1.0002\n')           # rounding to 3 places
    assert not compare.apps_stdin_equal('1 2\n', '1\n2\n')            # splitting a line fails
    assert not compare.apps_stdin_equal('1\n2\n', '1 2\n')            # joining lines fails
    assert not compare.apps_stdin_equal('YES\n', 'yes\n')             # case is exact
    assert not compare.apps_stdin_equal('', '1\n')
    assert compare.apps_stdin_equal('a\nb\n', ['a', 'b'])             # list outputs are joined


def test_strict_normalises_only_line_ends_and_trailing_space():
    assert compare.strict_stdin_equal('1 2  \r\n3\n\n', '1 2\n3')
    assert compare.strict_stdin_equal('0.30000000000000004\n', '0.3\n')
    assert not compare.strict_stdin_equal('2 1\n', '1 2\n')
    assert not compare.strict_stdin_equal('2.0\n', '2\n')             # integers are exact
    assert not compare.strict_stdin_equal('1  2\n', '1 2\n')          # spacing inside a line
    assert not compare.strict_stdin_equal('b\na\n', 'a\nb\n')
    assert not compare.strict_stdin_equal('0.31\n', '0.3\n')
    assert not compare.strict_stdin_equal('1\n2\n', '1 2\n')


def test_apps_call_equal_tuples_wrapping_and_exactness():
    assert compare.apps_call_equal((1, 2), [1, 2])
    assert compare.apps_call_equal(5, [5])                            # APPS wraps outputs
    assert compare.apps_call_equal([1, 2], [[1, 2]])
    assert compare.apps_call_equal([(1, 2), (3, 4)], [[[1, 2], [3, 4]]])
    assert not compare.apps_call_equal(0.30000000000000004, [0.3])   # no float tolerance
    assert not compare.apps_call_equal('5', [5])
    assert compare.apps_call_equal({1: 'a'}, {'1': 'a'})              # JSON keys back to int
    assert not compare.apps_call_equal(valuecodec.Opaque('E'), [5])


def test_value_codec_round_trips_types_apps_compares():
    value = {1: (2, [3.5, None]), 'k': {frozenset({1}), (4,)}, 'n': float('inf'), 'b': b'\x00'}
    assert valuecodec.loads(valuecodec.dumps(value)) == value
    assert isinstance(valuecodec.loads(valuecodec.dumps((1,))), tuple)

    class Sneaky(list):
        def __eq__(self, other):
            return True
    decoded = valuecodec.loads(valuecodec.dumps(Sneaky([1])))
    assert type(decoded) is list and decoded != [2]
    assert isinstance(valuecodec.loads(valuecodec.dumps(object())), valuecodec.Opaque)

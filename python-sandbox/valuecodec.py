"""Type-preserving JSON encoding of call-based arguments and return values.

Plain JSON loses the difference between lists and tuples, dict keys that are not
strings, sets, and non-finite floats; APPS comparisons depend on all of them. Tagged
objects carry those types: {"__t": [...]} tuple, {"__d": [[k, v], ...]} dict,
{"__s": [...]} set, {"__fs": [...]} frozenset, {"__b": hex} bytes, {"__c": [re, im]}
complex, {"__f": "nan"|"inf"|"-inf"} float, {"__x": type name} anything else.

The worker process encodes a candidate's return value; the judge decodes it and compares
with the expected output in its own process, so a candidate never sees expected outputs
and cannot substitute its own comparison.
"""
import json
import math

MAX_DEPTH = 200


class Opaque:
    """A value the candidate returned that has no data representation (an object, a
    generator, a function...). It equals nothing, so it never passes a test."""

    __slots__ = ('type_name',)

    def __init__(self, type_name):
        self.type_name = type_name

    def __eq__(self, other):
        return False

    def __ne__(self, other):
        return True

    __hash__ = object.__hash__

    def __repr__(self):
        return '<%s object>' % self.type_name


def to_data(value, depth=0):
    """A JSON-serialisable tagged form of `value` (subclasses become their base types,
    numpy scalars and arrays become Python values)."""
    if depth > MAX_DEPTH:
        raise ValueError('value nested more than %d levels deep' % MAX_DEPTH)
    if value is None or value is True or value is False:
        return value
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        number = float(value)
        if math.isfinite(number):
            return number
        return {'__f': repr(number)}
    if isinstance(value, str):
        return str.__str__(value)
    nxt = depth + 1
    if isinstance(value, list):
        return [to_data(item, nxt) for item in value]
    if isinstance(value, tuple):
        return {'__t': [to_data(item, nxt) for item in value]}
    if isinstance(value, dict):
        return {'__d': [[to_data(k, nxt), to_data(v, nxt)] for k, v in value.items()]}
    if isinstance(value, frozenset):
        return {'__fs': [to_data(item, nxt) for item in value]}
    if isinstance(value, set):
        return {'__s': [to_data(item, nxt) for item in value]}
    if isinstance(value, (bytes, bytearray)):
        return {'__b': bytes(value).hex()}
    if isinstance(value, complex):
        return {'__c': [value.real, value.imag]}
    if type(value).__module__ == 'numpy' and hasattr(value, 'tolist'):
        return to_data(value.tolist(), nxt)
    return {'__x': type(value).__name__}


def _from_tagged(obj):
    if len(obj) != 1:
        raise ValueError('untagged JSON object in encoded value')
    (tag, payload), = obj.items()
    if tag == '__t':
        return tuple(payload)
    if tag == '__d':
        return {key: val for key, val in payload}
    if tag == '__s':
        return set(payload)
    if tag == '__fs':
        return frozenset(payload)
    if tag == '__b':
        return bytes.fromhex(payload)
    if tag == '__c':
        return complex(payload[0], payload[1])
    if tag == '__f':
        return float(payload)
    if tag == '__x':
        return Opaque(str(payload))
    raise ValueError('unknown tag %r in encoded value' % tag)


def dumps(value):
    return json.dumps(to_data(value), allow_nan=False, separators=(',', ':'))


def loads(text):
    """Inverse of dumps; raises ValueError (or TypeError for unhashable keys) on bad input."""
    return json.loads(text, object_hook=_from_tagged)

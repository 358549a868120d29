"""Micro-APPS: small programming problems in APPS format, generated from a seed.

Every problem comes from a *family* (count-if, sum-if, range sums, string and word
tasks ...) in one of the two APPS kinds (standard input, or call-based with `fn_name`
and starter code). A family's statement contains a few *decisive phrases* ("greater
than" / "at least", "including n" / "excluding n", "largest" / "smallest", ...) and its
solution has a *slot* for each: one short piece of code that must agree with the phrase
(`>` vs `>=`, `range(1, n + 1)` vs `range(1, n)`, `max` vs `min`). The phrases and
slots are shared across families, so a critic can learn "does this operator agree with
that phrase" on some families and be judged on held-out families it never saw.

Families come in three splits: `train` (the critic's training rollouts), `validation`
(held out from training; every family tuned on so far, and all future tuning: recipe,
world, calibration) and `test` (designed once, from the same constructs, and read only by
the report: docs/reproduction.md, "How to read this").

Test cases are generated and their expected outputs computed by running the reference
solution; a test set is kept only if every single-slot mistake fails at least one test,
so the decisive tokens really decide the verdict.
"""
from __future__ import annotations

import contextlib
import io
import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

# The world's conventions: each decisive phrase and the code it requires. One phrase per
# slot, so a mistake is visible in the code itself (`>` where the statement and comment
# say "at least", `range(1, n)` where they say "including n"); with several phrases per
# slot the critic would first have to learn to look the phrase up in the statement, which
# models of this size do not learn within a CPU budget (measured: AUROC 0.56 on held-out
# families with four comparison phrases). `WRONG` is the plausible mistake the corpus
# injects: a strictness flip, the other bound, the other builtin.
SLOTS: dict[str, dict[str, str]] = {
    "cmp": {"at least": ">="},
    "bound": {"including n": " + 1"},
    "agg": {"largest": "max"},
    "pos": {"first": "0"},
    "order": {"ascending": ""},
}
WRONG: dict[str, dict[str, str]] = {
    "cmp": {">": ">=", ">=": ">", "<": "<=", "<=": "<"},
    "bound": {" + 1": "", "": " + 1"},
    "agg": {"max": "min", "min": "max"},
    "pos": {"0": "-1", "-1": "0"},
    "order": {"": ", reverse=True", ", reverse=True": ""},
}


@dataclass(frozen=True)
class Family:
    """One task family: statement, solutions of both kinds with `{slot}` holes, inputs."""

    name: str
    slots: tuple[str, ...]
    fn_name: str
    params: str  # the call-based function's parameters
    statement: str  # uses {phrase_<slot>}
    input_format: str  # standard-input kind only
    stdin_code: str  # reads input, prints the answer; uses {<slot>}
    call_code: str  # body of `def fn(params):`; uses {<slot>}
    sample_args: Callable[[random.Random, dict[str, str]], tuple]
    format_stdin: Callable[[tuple], str]
    split: str = "train"  # train | validation | test (see the module doc)
    reasoning: tuple[str, ...] = ()

    @property
    def held_out(self) -> bool:
        """Never in the critic's training rollouts."""
        return self.split != "train"


def _ints(rng: random.Random, n: int, lo: int = 0, hi: int = 20) -> list[int]:
    return [rng.randint(lo, hi) for _ in range(n)]


def _list_and_k(rng: random.Random, phrases: dict[str, str]) -> tuple:
    nums = _ints(rng, rng.randint(4, 8))
    k = rng.choice(nums)  # k occurs in the list: strict vs non-strict comparisons differ
    return (nums, k)


def _extreme_args(rng: random.Random, phrases: dict[str, str]) -> tuple:
    while True:
        nums, k = _list_and_k(rng, phrases)
        op = SLOTS["cmp"][phrases["cmp"]]
        if any(eval(f"x {op} k", {"x": x, "k": k}) for x in nums):  # noqa: S307 - our own operators
            return (nums, k)


def _n_and_d(rng: random.Random, phrases: dict[str, str]) -> tuple:
    d = rng.randint(2, 5)
    return (d * rng.randint(2, 6), d)  # n divisible by d: including/excluding n differ


def _n_only(rng: random.Random, phrases: dict[str, str], hi: int = 12) -> tuple:
    return (rng.randint(2, hi),)


def _n_even(rng: random.Random, phrases: dict[str, str]) -> tuple:
    return (2 * rng.randint(1, 6),)  # n even: including/excluding n differ


def _string_and_letter(rng: random.Random, phrases: dict[str, str]) -> tuple:
    s = "".join(rng.choice("abcdefghij") for _ in range(rng.randint(5, 9)))
    return (s, rng.choice(s))


def _words(rng: random.Random, phrases: dict[str, str]) -> tuple:
    pool = ["apple", "river", "stone", "cloud", "maple", "tiger", "lemon", "bread", "ocean", "zebra", "house", "night"]
    return (rng.sample(pool, rng.randint(3, 6)),)


WORD_POOL = ["ant", "bee", "cat", "oak", "kiwi", "lime", "pear", "plum", "apple", "grape", "lemon", "mango",
             "banana", "cherry", "orange", "avocado", "apricot"]


def _words_and_length(rng: random.Random, phrases: dict[str, str]) -> tuple:
    words = rng.sample(WORD_POOL, rng.randint(4, 7))
    return (words, len(rng.choice(words)))  # k is a length in the list: strict vs non-strict differ


def _words_of_lengths(rng: random.Random, phrases: dict[str, str]) -> tuple:
    return (rng.sample(WORD_POOL, rng.randint(3, 6)),)


def _number_and_digit(rng: random.Random, phrases: dict[str, str]) -> tuple:
    n = rng.randint(10**4, 10**7)
    return (n, int(rng.choice(str(n))))


def _n_and_k(rng: random.Random, phrases: dict[str, str]) -> tuple:
    n = rng.randint(4, 10)
    return (n, rng.randint(2, n) ** 2)  # k is a square below n*n: both slots matter


def _line(values: Iterable[Any]) -> str:
    return " ".join(str(v) for v in values)


LIST_INPUT = "The first line contains two integers n and k. The second line contains n integers, the list nums."
COUNT_LOOP = "{indent}count = 0\n{indent}for x in nums:\n{indent}    # x must be {phrase_cmp} k\n{indent}    if x {cmp} k:\n{indent}        count += 1\n"

FAMILIES: tuple[Family, ...] = (
    Family(
        name="count_cmp", slots=("cmp",), fn_name="count_numbers", params="nums, k",
        statement="You are given a list of integers nums and an integer k. Count how many numbers in nums are {phrase_cmp} k.",
        input_format=LIST_INPUT,
        stdin_code="n, k = map(int, input().split())\nnums = list(map(int, input().split()))\n"
        + COUNT_LOOP.format(indent="", cmp="{cmp}", phrase_cmp="{phrase_cmp}") + "print(count)\n",
        call_code=COUNT_LOOP.format(indent="    ", cmp="{cmp}", phrase_cmp="{phrase_cmp}") + "    return count\n",
        sample_args=_list_and_k, format_stdin=lambda a: f"{len(a[0])} {a[1]}\n{_line(a[0])}\n",
        reasoning=("Loop over the numbers and count the ones that meet the condition.",
                   "Go through the list and count every number that meets the condition."),
    ),
    Family(
        name="sum_cmp", slots=("cmp",), fn_name="sum_numbers", params="nums, k",
        statement="You are given a list of integers nums and an integer k. Find the sum of the numbers in nums that are {phrase_cmp} k (0 if there are none).",
        input_format=LIST_INPUT,
        stdin_code="n, k = map(int, input().split())\nnums = list(map(int, input().split()))\n"
        "total = 0\nfor x in nums:\n    # x must be {phrase_cmp} k\n    if x {cmp} k:\n        total += x\nprint(total)\n",
        call_code="    total = 0\n    for x in nums:\n        # x must be {phrase_cmp} k\n        if x {cmp} k:\n            total += x\n    return total\n",
        sample_args=_list_and_k, format_stdin=lambda a: f"{len(a[0])} {a[1]}\n{_line(a[0])}\n",
        reasoning=("Loop over the numbers and add up the ones that meet the condition.",
                   "Go through the list and keep a running total of the numbers that meet the condition."),
    ),
    Family(
        name="extreme_cmp", slots=("agg", "cmp"), fn_name="pick_number", params="nums, k",
        statement="You are given a list of integers nums and an integer k. Find the {phrase_agg} number in nums that is {phrase_cmp} k. Such a number always exists.",
        input_format=LIST_INPUT,
        stdin_code="n, k = map(int, input().split())\nnums = list(map(int, input().split()))\n"
        "# the {phrase_agg} x that is {phrase_cmp} k\nprint({agg}(x for x in nums if x {cmp} k))\n",
        call_code="    # the {phrase_agg} x that is {phrase_cmp} k\n    return {agg}(x for x in nums if x {cmp} k)\n",
        sample_args=_extreme_args, format_stdin=lambda a: f"{len(a[0])} {a[1]}\n{_line(a[0])}\n",
        reasoning=("Filter the numbers by the condition and take the extreme one with a builtin.",
                   "Keep the numbers that meet the condition and pick the extreme one with a builtin."),
    ),
    Family(
        name="square_sum", slots=("bound",), fn_name="square_sum", params="n",
        statement="You are given an integer n. Compute the sum of i * i over every integer i from 1 up to n, {phrase_bound}.",
        input_format="The only line contains the integer n.",
        stdin_code="n = int(input())\ntotal = 0\n# i goes from 1 up to n, {phrase_bound}\nfor i in range(1, n{bound}):\n    total += i * i\nprint(total)\n",
        call_code="    total = 0\n    # i goes from 1 up to n, {phrase_bound}\n    for i in range(1, n{bound}):\n        total += i * i\n    return total\n",
        sample_args=_n_only, format_stdin=lambda a: f"{a[0]}\n",
        reasoning=("Loop over the range of integers and add up their squares.",
                   "Walk through the integers in the range and keep a running total of the squares."),
    ),
    Family(
        name="multiples", slots=("bound",), fn_name="count_multiples", params="n, d",
        statement="You are given integers n and d. Count the integers i from 1 up to n, {phrase_bound}, that are divisible by d.",
        input_format="The only line contains the integers n and d.",
        stdin_code="n, d = map(int, input().split())\ncount = 0\n# i goes from 1 up to n, {phrase_bound}\nfor i in range(1, n{bound}):\n    if i % d == 0:\n        count += 1\nprint(count)\n",
        call_code="    count = 0\n    # i goes from 1 up to n, {phrase_bound}\n    for i in range(1, n{bound}):\n        if i % d == 0:\n            count += 1\n    return count\n",
        sample_args=_n_and_d, format_stdin=lambda a: f"{a[0]} {a[1]}\n",
        reasoning=("Loop over the range of integers and count the multiples.",
                   "Walk through the integers in the range and count the ones divisible by d."),
    ),
    Family(
        name="even_product", slots=("bound",), fn_name="even_product", params="n",
        statement="You are given an integer n. Compute the product of the even integers i from 1 up to n, {phrase_bound} (1 if there are none).",
        input_format="The only line contains the integer n.",
        stdin_code="n = int(input())\nproduct = 1\n# i goes from 1 up to n, {phrase_bound}\nfor i in range(1, n{bound}):\n    if i % 2 == 0:\n        product *= i\nprint(product)\n",
        call_code="    product = 1\n    # i goes from 1 up to n, {phrase_bound}\n    for i in range(1, n{bound}):\n        if i % 2 == 0:\n            product *= i\n    return product\n",
        sample_args=_n_even, format_stdin=lambda a: f"{a[0]}\n",
        reasoning=("Loop over the range of integers and multiply the even ones together.",
                   "Walk through the integers in the range and keep a running product of the even ones."),
    ),
    Family(
        name="letters_cmp", slots=("cmp",), fn_name="count_letters", params="s, c",
        statement="You are given a string s of lowercase letters and a letter c. Count the letters of s that are {phrase_cmp} c in alphabetical order.",
        input_format="The first line contains the string s. The second line contains the letter c.",
        stdin_code="s = input().strip()\nc = input().strip()\ncount = 0\nfor ch in s:\n    # ch must be {phrase_cmp} c\n    if ch {cmp} c:\n        count += 1\nprint(count)\n",
        call_code="    count = 0\n    for ch in s:\n        # ch must be {phrase_cmp} c\n        if ch {cmp} c:\n            count += 1\n    return count\n",
        sample_args=_string_and_letter, format_stdin=lambda a: f"{a[0]}\n{a[1]}\n",
        reasoning=("Loop over the letters and count the ones that meet the condition.",
                   "Go through the string and count every letter that meets the condition."),
    ),
    Family(
        name="distinct_letters", slots=("cmp",), fn_name="count_distinct_letters", params="s, c",
        statement="You are given a string s of lowercase letters and a letter c. Count the distinct letters of s that are {phrase_cmp} c in alphabetical order.",
        input_format="The first line contains the string s. The second line contains the letter c.",
        stdin_code="s = input().strip()\nc = input().strip()\nseen = set()\nfor ch in s:\n    # ch must be {phrase_cmp} c\n    if ch {cmp} c:\n        seen.add(ch)\nprint(len(seen))\n",
        call_code="    seen = set()\n    for ch in s:\n        # ch must be {phrase_cmp} c\n        if ch {cmp} c:\n            seen.add(ch)\n    return len(seen)\n",
        sample_args=_string_and_letter, format_stdin=lambda a: f"{a[0]}\n{a[1]}\n",
        reasoning=("Loop over the letters and collect the ones that meet the condition in a set.",
                   "Go through the string and keep a set of the letters that meet the condition."),
    ),
    Family(
        name="square_count", slots=("bound", "cmp"), fn_name="count_squares", params="n, k",
        statement="You are given integers n and k. Count the integers i from 1 up to n, {phrase_bound}, whose square i * i is {phrase_cmp} k.",
        input_format="The only line contains the integers n and k.",
        stdin_code="n, k = map(int, input().split())\ncount = 0\n# i goes from 1 up to n, {phrase_bound}\nfor i in range(1, n{bound}):\n    # i * i must be {phrase_cmp} k\n    if i * i {cmp} k:\n        count += 1\nprint(count)\n",
        call_code="    count = 0\n    # i goes from 1 up to n, {phrase_bound}\n    for i in range(1, n{bound}):\n        # i * i must be {phrase_cmp} k\n        if i * i {cmp} k:\n            count += 1\n    return count\n",
        sample_args=_n_and_k, format_stdin=lambda a: f"{a[0]} {a[1]}\n",
        reasoning=("Loop over the range of integers and count the ones whose square meets the condition.",
                   "Walk through the integers in the range and count those whose square meets the condition."),
    ),
    Family(
        name="sorted_pick", slots=("order", "pos"), fn_name="pick_word", params="words",
        statement="You are given a list of distinct words. Sort the words in {phrase_order} alphabetical order and output the {phrase_pos} word of the sorted list.",
        input_format="The only line contains the words separated by spaces.",
        stdin_code="words = input().split()\n# {phrase_order} order, then the {phrase_pos} word\nordered = sorted(words{order})\nprint(ordered[{pos}])\n",
        call_code="    # {phrase_order} order, then the {phrase_pos} word\n    ordered = sorted(words{order})\n    return ordered[{pos}]\n",
        sample_args=_words, format_stdin=lambda a: f"{_line(a[0])}\n",
        reasoning=("Sort the words with the builtin and index into the sorted list.",
                   "Use sorted to order the words, then pick one by its index."),
    ),
    Family(
        name="extreme_letter", slots=("agg",), fn_name="pick_letter", params="s",
        statement="You are given a string s of lowercase letters. Output the {phrase_agg} letter of s in alphabetical order.",
        input_format="The only line contains the string s.",
        stdin_code="s = input().strip()\n# the {phrase_agg} letter\nprint({agg}(s))\n",
        call_code="    # the {phrase_agg} letter\n    return {agg}(s)\n",
        sample_args=lambda rng, p: (_string_and_letter(rng, p)[0],), format_stdin=lambda a: f"{a[0]}\n",
        reasoning=("Apply the right builtin to the string.", "A single builtin over the letters gives the answer."),
    ),
    # Validation families: held out from the critic's training, the same phrases and slots in
    # new code. They were the "test" families while the recipe and the world were tuned
    # (docs/micro-recipe.md), so they are validation now, and all tuning stays on them.
    Family(
        name="digits_cmp", slots=("cmp",), fn_name="count_digits", params="n, d", split="validation",
        statement="You are given a positive integer n and a digit d. Count the digits of n that are {phrase_cmp} d.",
        input_format="The only line contains the integers n and d.",
        stdin_code="n, d = map(int, input().split())\ncount = 0\nfor ch in str(n):\n    # the digit must be {phrase_cmp} d\n    if int(ch) {cmp} d:\n        count += 1\nprint(count)\n",
        call_code="    count = 0\n    for ch in str(n):\n        # the digit must be {phrase_cmp} d\n        if int(ch) {cmp} d:\n            count += 1\n    return count\n",
        sample_args=_number_and_digit, format_stdin=lambda a: f"{a[0]} {a[1]}\n",
        reasoning=("Loop over the digits and count the ones that meet the condition.",
                   "Go through the digits of n and count every digit that meets the condition."),
    ),
    Family(
        name="distinct_cmp", slots=("cmp",), fn_name="count_distinct", params="nums, k", split="validation",
        statement="You are given a list of integers nums and an integer k. Count the distinct values in nums that are {phrase_cmp} k.",
        input_format=LIST_INPUT,
        stdin_code="n, k = map(int, input().split())\nnums = list(map(int, input().split()))\n"
        "seen = set()\nfor x in nums:\n    # x must be {phrase_cmp} k\n    if x {cmp} k:\n        seen.add(x)\nprint(len(seen))\n",
        call_code="    seen = set()\n    for x in nums:\n        # x must be {phrase_cmp} k\n        if x {cmp} k:\n            seen.add(x)\n    return len(seen)\n",
        sample_args=_list_and_k, format_stdin=lambda a: f"{len(a[0])} {a[1]}\n{_line(a[0])}\n",
        reasoning=("Loop over the numbers and collect the values that meet the condition in a set.",
                   "Go through the list and keep a set of the values that meet the condition."),
    ),
    Family(
        name="product_range", slots=("bound",), fn_name="range_product", params="n", split="validation",
        statement="You are given an integer n. Compute the product of the integers from 1 up to n, {phrase_bound}.",
        input_format="The only line contains the integer n.",
        stdin_code="n = int(input())\nproduct = 1\n# i goes from 1 up to n, {phrase_bound}\nfor i in range(1, n{bound}):\n    product *= i\nprint(product)\n",
        call_code="    product = 1\n    # i goes from 1 up to n, {phrase_bound}\n    for i in range(1, n{bound}):\n        product *= i\n    return product\n",
        sample_args=_n_only, format_stdin=lambda a: f"{a[0]}\n",
        reasoning=("Loop over the range of integers and multiply them together.",
                   "Walk through the integers in the range and keep a running product."),
    ),
    Family(
        name="squares_below", slots=("bound", "cmp"), fn_name="sum_small_squares", params="n, k", split="validation",
        statement="You are given integers n and k. Find the sum of the integers i from 1 up to n, {phrase_bound}, whose square i * i is {phrase_cmp} k.",
        input_format="The only line contains the integers n and k.",
        stdin_code="n, k = map(int, input().split())\ntotal = 0\n# i goes from 1 up to n, {phrase_bound}\nfor i in range(1, n{bound}):\n    # i * i must be {phrase_cmp} k\n    if i * i {cmp} k:\n        total += i\nprint(total)\n",
        call_code="    total = 0\n    # i goes from 1 up to n, {phrase_bound}\n    for i in range(1, n{bound}):\n        # i * i must be {phrase_cmp} k\n        if i * i {cmp} k:\n            total += i\n    return total\n",
        sample_args=_n_and_k, format_stdin=lambda a: f"{a[0]} {a[1]}\n",
        reasoning=("Loop over the range of integers and add up the ones whose square meets the condition.",
                   "Walk through the integers in the range and keep a running total of those whose square meets the condition."),
    ),
    # Test families, designed for issue 18 from the world's constructs (the same phrases and
    # slots; a comparison, a range bound, a builtin, a sort and an index) in tasks of their own,
    # before any critic was evaluated on them. Only the report reads their numbers.
    Family(
        name="word_length_cmp", slots=("cmp",), fn_name="count_long_words", params="words, k", split="test",
        statement="You are given a list of words and an integer k. Count the words whose length is {phrase_cmp} k.",
        input_format="The first line contains the words separated by spaces. The second line contains the integer k.",
        stdin_code="words = input().split()\nk = int(input())\ncount = 0\nfor w in words:\n    # the length must be {phrase_cmp} k\n    if len(w) {cmp} k:\n        count += 1\nprint(count)\n",
        call_code="    count = 0\n    for w in words:\n        # the length must be {phrase_cmp} k\n        if len(w) {cmp} k:\n            count += 1\n    return count\n",
        sample_args=_words_and_length, format_stdin=lambda a: f"{_line(a[0])}\n{a[1]}\n",
        reasoning=("Loop over the words and count the ones whose length meets the condition.",
                   "Go through the words and count every word whose length meets the condition."),
    ),
    Family(
        name="divisor_sum", slots=("bound",), fn_name="divisor_sum", params="n", split="test",
        statement="You are given an integer n. Find the sum of the integers i from 1 up to n, {phrase_bound}, that divide n.",
        input_format="The only line contains the integer n.",
        stdin_code="n = int(input())\ntotal = 0\n# i goes from 1 up to n, {phrase_bound}\nfor i in range(1, n{bound}):\n    if n % i == 0:\n        total += i\nprint(total)\n",
        call_code="    total = 0\n    # i goes from 1 up to n, {phrase_bound}\n    for i in range(1, n{bound}):\n        if n % i == 0:\n            total += i\n    return total\n",
        sample_args=lambda rng, p: _n_only(rng, p, hi=30), format_stdin=lambda a: f"{a[0]}\n",
        reasoning=("Loop over the range of integers and add up the ones that divide n.",
                   "Walk through the integers in the range and keep a running total of the divisors of n."),
    ),
    Family(
        name="longest_word", slots=("agg",), fn_name="word_length", params="words", split="test",
        statement="You are given a list of words. Output the {phrase_agg} length of a word in the list.",
        input_format="The only line contains the words separated by spaces.",
        stdin_code="words = input().split()\n# the {phrase_agg} length\nprint({agg}(len(w) for w in words))\n",
        call_code="    # the {phrase_agg} length\n    return {agg}(len(w) for w in words)\n",
        sample_args=_words_of_lengths, format_stdin=lambda a: f"{_line(a[0])}\n",
        reasoning=("Apply the right builtin to the lengths of the words.",
                   "A single builtin over the word lengths gives the answer."),
    ),
    Family(
        name="sorted_letters", slots=("order", "pos"), fn_name="pick_distinct_letter", params="s", split="test",
        statement="You are given a string s of lowercase letters. Sort the distinct letters of s in {phrase_order} alphabetical order and output the {phrase_pos} of them.",
        input_format="The only line contains the string s.",
        stdin_code="s = input().strip()\n# {phrase_order} order, then the {phrase_pos} letter\nordered = sorted(set(s){order})\nprint(ordered[{pos}])\n",
        call_code="    # {phrase_order} order, then the {phrase_pos} letter\n    ordered = sorted(set(s){order})\n    return ordered[{pos}]\n",
        sample_args=lambda rng, p: (_string_and_letter(rng, p)[0],), format_stdin=lambda a: f"{a[0]}\n",
        reasoning=("Sort the distinct letters with the builtin and index into the sorted list.",
                   "Use sorted on the set of letters, then pick one by its index."),
    ),
)
FAMILY_BY_NAME = {f.name: f for f in FAMILIES}
KINDS = ("standard_input", "call_based")


def solution_template(family: Family, kind: str) -> str:
    if kind == "call_based":
        return f"def {family.fn_name}({family.params}):\n" + family.call_code
    return family.stdin_code


def render(template: str, choices: dict[str, str]) -> str:
    """Fills a solution template's slots (`{cmp}` ...) with code; other braces are literal."""
    out = template
    for slot, code in choices.items():
        out = out.replace("{" + slot + "}", code)
    return out


def run_locally(code: str, kind: str, fn_name: str | None, test_input: Any) -> Any:
    """Runs one of OUR OWN rendered templates in-process to compute an expected output.

    Model-written code never comes here: it goes to python-sandbox/judge.py."""
    namespace: dict[str, Any] = {"__name__": "__micro__"}
    if kind == "call_based":
        exec(compile(code, "<micro>", "exec"), namespace)  # noqa: S102 - trusted template
        return namespace[fn_name](*json.loads(json.dumps(test_input)))
    out = io.StringIO()
    stdin = io.StringIO(test_input)
    namespace["input"] = lambda prompt="": stdin.readline().rstrip("\n")
    with contextlib.redirect_stdout(out):
        exec(compile(code, "<micro>", "exec"), namespace)  # noqa: S102 - trusted template
    return out.getvalue()


def _safe_run(code: str, kind: str, fn_name: str, test_input: Any) -> Any:
    try:
        return run_locally(code, kind, fn_name, test_input)
    except Exception as exc:  # a wrong variant may raise (e.g. max() of nothing): that fails the test
        return f"<{type(exc).__name__}>"


def make_problem(family: Family, kind: str, rng: random.Random, problem_id: str, split: str, n_tests: int) -> dict:
    """One APPS-format record. Phrase combinations under which some mistake cannot be
    told apart by any test (the largest number greater than k equals the largest at
    least k) are redrawn."""
    fn_name = family.fn_name if kind == "call_based" else None
    for _ in range(50):
        phrases = {slot: rng.choice(sorted(SLOTS[slot])) for slot in family.slots}
        # Comments in the solution restate the phrases (written right in every response).
        template = render(solution_template(family, kind), {f"phrase_{s}": p for s, p in phrases.items()})
        correct = {slot: SLOTS[slot][phrase] for slot, phrase in phrases.items()}
        reference = render(template, correct)
        wrong_variants = [render(template, {**correct, s: WRONG[s][correct[s]]}) for s in family.slots]
        for _ in range(40):
            args = [family.sample_args(rng, phrases) for _ in range(n_tests)]
            inputs = [list(a) for a in args] if kind == "call_based" else [family.format_stdin(a) for a in args]
            outputs = [run_locally(reference, kind, fn_name, i) for i in inputs]
            if all(any(_safe_run(w, kind, fn_name, i) != o for i, o in zip(inputs, outputs)) for w in wrong_variants):
                break
        else:
            continue
        break
    else:
        raise RuntimeError(f"{family.name}/{kind}: no test set separates every single-slot mistake")
    statement = family.statement.format(**{f"phrase_{s}": p for s, p in phrases.items()})
    if kind == "call_based":
        example_args = ", ".join(f"{name} = {value!r}" for name, value in zip(family.params.split(", "), inputs[0]))
        question = (statement + f"\n\nImplement the function {family.fn_name}({family.params}).\n\nExample:\n"
                    f"Input: {example_args}\nOutput: {outputs[0]!r}")
        starter = f"def {family.fn_name}({family.params}):\n    "
        io_spec: dict[str, Any] = {"fn_name": family.fn_name, "inputs": inputs, "outputs": outputs}
    else:
        question = (statement + "\n\n-----Input-----\n\n" + family.input_format
                    + "\n\n-----Output-----\n\nPrint the answer.\n\n-----Example-----\nInput\n"
                    + inputs[0].rstrip("\n") + "\nOutput\n" + outputs[0])
        starter = ""
        io_spec = {"inputs": inputs, "outputs": outputs}
    return {
        "problem_id": problem_id,
        "split": split,
        "difficulty": "introductory",
        "question": question,
        "starter_code": starter,
        "input_output": io_spec,
        "solutions": [reference],
        "io_type": kind,
        "n_tests": len(inputs),
        "source": "passlens micro-APPS",
        "micro": {"family": family.name, "kind": kind, "phrases": phrases, "correct": correct, "template": template},
    }


SPLITS = ("train", "validation", "test")


def families_for(split: str) -> list[Family]:
    if split not in SPLITS:
        raise ValueError(f"unknown micro split {split!r}; the splits are {', '.join(SPLITS)}")
    return [f for f in FAMILIES if f.split == split]


def generate_problems(seed: int, n_per_template: dict[str, int] | int, *, n_tests: int = 6,
                      splits: Iterable[str] = SPLITS, prefix: str = "micro") -> list[dict]:
    """Problems for each split: `n_per_template` problems per (family, kind) of that split.

    Deterministic in (seed, arguments). Ids look like `micro-train-count_cmp-stdin-003`: no
    `/`, which APPS loaders read as the APPS split of an id."""
    counts = n_per_template if isinstance(n_per_template, dict) else {s: n_per_template for s in splits}
    problems = []
    for split in splits:
        for family in families_for(split):
            for kind in KINDS:
                # One stream per template: adding a family never changes the others' problems.
                rng = random.Random(f"{seed}/{split}/{family.name}/{kind}")
                short = "stdin" if kind == "standard_input" else "call"
                for i in range(counts.get(split, 0)):
                    pid = f"{prefix}-{split}-{family.name}-{short}-{i:03d}"
                    problems.append(make_problem(family, kind, rng, pid, split, n_tests))
    return problems


def write_jsonl(path: str | Path, records: Iterable[dict]) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    with tmp.open("w") as f:
        for r in records:
            f.write(json.dumps(r) + "\n")
    tmp.replace(path)
    return path


def read_jsonl(path: str | Path) -> list[dict]:
    with Path(path).open() as f:
        return [json.loads(line) for line in f if line.strip()]


__all__ = ["FAMILIES", "FAMILY_BY_NAME", "KINDS", "SLOTS", "SPLITS", "WRONG", "Family", "families_for", "generate_problems",
           "make_problem", "read_jsonl", "render", "run_locally", "solution_template", "write_jsonl"]

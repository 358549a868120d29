"""Guided generation replayed offline: the extension's guided search
(src/core/generateAndRank/guided.ts, policy stated there) run on scored rollouts instead of
a generator, to compare policies with best-of-n and choose defaults without generating.

The replay makes the extension's decisions exactly (contracts/cases/guided-search.json pins
both): lockstep rounds of `interval` tokens, the critic's value at each stream's last token,
the bottom fraction and the threshold stop, the best live stream and short streams are
spared, budgets stop everything. What it cannot do is generate, so:

- streams started from the prompt are the problem's *roots*: its independent samples
  (`branch.role` "independent") where it has them, else its rollouts with no fork position
  (the trunk), in a random order per draw;
- a re-branch from a stream at position p needs a recorded rollout sampled from that
  stream's first p tokens: for fork data, a branch of the trunk at fork position p (shared
  by the trunk and by every branch forking later). When the policy's position has none,
  the least likely position in the window that has one is used; when none has, the slot
  stays empty. `Outcome.rebranches` counts how often each happened: the replay of
  re-branching is only as faithful as that count says (forks sit at the trunk's least
  likely tokens, so the trunk's re-branches often find data, other streams' rarely);
- a token is a generator token; a rollout ends at its ranking index (the end token is not
  streamed to the critic in the editor either), so tokens and ranking match the extension;
- time is counted in lockstep steps (one token of every live stream): wall-clock when
  streams run in parallel on a server, not when one worker runs them one after another.

    python -m passlens_training.evaluate.guided_simulation --data DATASET_DIR --scores scores.jsonl \\
        --problems split.json:test --width 8 --out OUT
"""
from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import math
import random
import sys
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from ..records import ScoredRollout, read_rollouts, read_scores, read_split

STOPPED = ("pruned", "budget")


@dataclasses.dataclass(frozen=True)
class Policy:
    """Guided search's knobs (names as in the extension's GuidedPolicy, snake_case; defaults
    as its DEFAULT_GUIDED, chosen by guided_report.py)."""

    width: int
    interval: int = 8
    prune_fraction: float = 0.25
    threshold: float = 0.0
    warmup_tokens: int = 16
    rebranch: bool = True
    window: int = 32

    def __post_init__(self) -> None:
        for name, low in (("width", 1), ("interval", 1), ("warmup_tokens", 0), ("window", 1)):
            value = getattr(self, name)
            if not isinstance(value, int) or value < low:
                raise ValueError(f"guided search: {name} must be an integer >= {low}, not {value}")
        if not 0 <= self.prune_fraction < 1:
            raise ValueError(f"guided search: prune_fraction must be in [0, 1), not {self.prune_fraction}")
        if not 0 <= self.threshold <= 1:
            raise ValueError(f"guided search: threshold must be in [0, 1], not {self.threshold}")

    @classmethod
    def best_of_n(cls, n: int) -> "Policy":
        """Best-of-n as a policy: nothing stops, nothing re-branches."""
        return cls(width=n, interval=1_000_000, prune_fraction=0.0, threshold=0.0, warmup_tokens=0, rebranch=False, window=1)

    def label(self) -> str:
        if self.prune_fraction == 0 and self.threshold == 0:
            return f"best-of-{self.width}"
        return (f"guided w{self.width} T{self.interval} q{self.prune_fraction:g} tau{self.threshold:g} "
                f"warm{self.warmup_tokens}" + (f" rebranch W{self.window}" if self.rebranch else ""))


@dataclasses.dataclass(frozen=True)
class Rollout:
    """A rollout as the replay streams it: tokens up to its ranking index, a value and log-probability each."""

    token_ids: tuple[int, ...]
    values: tuple[float, ...]
    logprobs: tuple[float | None, ...]
    passed: bool
    finish: str = "stop"  # stop | length
    rollout_id: str = ""


@dataclasses.dataclass
class Pool:
    """One problem's rollouts: roots (sampled from the prompt) and continuations by the prefix they were sampled from."""

    problem_id: str
    roots: list[Rollout]
    continuations: dict[tuple[int, ...], list[Rollout]]


@dataclasses.dataclass(frozen=True)
class Candidate:
    index: int
    token_ids: tuple[int, ...]
    finish: str  # stop | length | pruned | budget
    tokens: int
    pruned: int | bool  # False, or the length at which it stopped
    branch: tuple[int, int] | None  # (source index, fork position)
    value: float
    passed: bool  # an unfinished (stopped) candidate's code is cut off: it fails


@dataclasses.dataclass(frozen=True)
class Outcome:
    candidates: list[Candidate]  # best first
    tokens: int
    steps: int
    rebranches: dict[str, int]  # wanted, exact (at the policy's position), moved (another position in the window), missing

    @property
    def passed(self) -> bool:
        return bool(self.candidates) and self.candidates[0].passed


class _Stream:
    def __init__(self, index: int, rollout: Rollout, start: int, branch: tuple[int, int] | None):
        self.index, self.rollout, self.start, self.branch = index, rollout, start, branch
        self.length = start
        self.state = "live"
        self.finish = "stop"
        self.pruned: int | bool = False
        self.value = math.nan
        self.forked_at: set[int] = set()


def _descending(s: _Stream) -> tuple:
    return (math.isnan(s.value), 0.0 if math.isnan(s.value) else -s.value, s.index)


def _rank(candidates: Iterable[Candidate]) -> list[Candidate]:
    key = lambda c: (math.isnan(c.value), 0.0 if math.isnan(c.value) else -c.value, c.index)  # noqa: E731
    candidates = list(candidates)
    return (sorted((c for c in candidates if c.finish not in STOPPED), key=key)
            + sorted((c for c in candidates if c.finish in STOPPED), key=key))


def _fork_order(stream: _Stream, window: int) -> list[int]:
    """Window positions not forked before, the policy's choice first (least likely; without
    log-probabilities, largest fall of the value), ties by position."""
    r = stream.rollout
    positions = [p for p in range(max(0, stream.length - window), stream.length) if p not in stream.forked_at]
    if all(r.logprobs[p] is not None for p in positions):
        return sorted(positions, key=lambda p: (r.logprobs[p], p))
    fall = lambda p: r.values[p - 1] - r.values[p] if p >= 1 else -math.inf  # noqa: E731
    return sorted(positions, key=lambda p: (-fall(p), p))


def simulate(pool: Pool, policy: Policy, max_new_tokens: int, token_budget: int | None = None,
             rng: random.Random | None = None, continues_prefix: bool = True) -> Outcome:
    """One guided search on `pool` (roots and continuations taken in order, or shuffled by `rng`)."""
    roots = list(pool.roots)
    continuations = {k: list(v) for k, v in pool.continuations.items()}
    if rng is not None:
        rng.shuffle(roots)
        for v in continuations.values():
            rng.shuffle(v)
    if len(roots) < policy.width:
        raise ValueError(f"problem {pool.problem_id}: {len(roots)} rollouts sampled from the prompt, fewer than width {policy.width}")
    budget = token_budget if token_budget is not None else policy.width * max_new_tokens
    streams: list[_Stream] = []
    spent = steps = 0
    counts = {"wanted": 0, "exact": 0, "moved": 0, "missing": 0}

    def open_stream(rollout: Rollout, start: int, branch: tuple[int, int] | None) -> None:
        streams.append(_Stream(len(streams), rollout, start, branch))

    def stop(s: _Stream, state: str) -> None:
        s.state = s.finish = state
        if state == "pruned":
            s.pruned = s.length

    def step(s: _Stream) -> None:
        nonlocal spent
        if s.length == len(s.rollout.token_ids):
            s.state, s.finish = "finished", s.rollout.finish
        elif s.length >= max_new_tokens:
            s.state, s.finish = "finished", "length"
        else:
            s.length += 1
            spent += 1
            if spent >= budget:
                for other in streams:
                    if other.state == "live":
                        stop(other, "budget")

    def score(s: _Stream) -> None:
        if s.length:
            s.value = s.rollout.values[s.length - 1]

    for _ in range(policy.width):
        open_stream(roots.pop(0), 0, None)
    while any(s.state == "live" for s in streams):
        moved: list[_Stream] = []
        for _ in range(policy.interval):
            live = [s for s in streams if s.state == "live"]
            if not live:
                break
            steps += 1
            for s in live:
                if s.state != "live":
                    continue
                if s not in moved:
                    moved.append(s)
                step(s)
        for s in moved:
            score(s)
        if spent >= budget:
            break
        stopped = _prune(streams, policy)
        for s in stopped:
            stop(s, "pruned")
        if not policy.rebranch:
            continue
        for _ in stopped:
            counts["wanted"] += 1
            live = sorted((s for s in streams if s.state == "live"), key=_descending)
            finished = sorted((s for s in streams if s.state == "finished"), key=_descending)
            source = (live or finished or [None])[0]
            order = _fork_order(source, policy.window) if source is not None and continues_prefix else []
            if not order:
                if roots:
                    open_stream(roots.pop(0), 0, None)
                    counts["exact"] += 1
                else:
                    counts["missing"] += 1
                continue
            source.forked_at.add(order[0])
            found = next((p for p in order if continuations.get(source.rollout.token_ids[:p])), None)
            if found is None:
                counts["missing"] += 1
                continue
            counts["exact" if found == order[0] else "moved"] += 1
            source.forked_at.add(found)
            open_stream(continuations[source.rollout.token_ids[:found]].pop(0), found, (source.index, found))
    for s in streams:
        score(s)
    candidates = [Candidate(s.index, s.rollout.token_ids[:s.length], s.finish, s.length - s.start, s.pruned, s.branch,
                            s.value, s.rollout.passed and s.finish not in STOPPED) for s in streams]
    return Outcome(_rank(candidates), spent, steps, counts)


def _prune(streams: Sequence[_Stream], policy: Policy) -> list[_Stream]:
    live = [s for s in streams if s.state == "live"]
    if len(live) < 2:
        return []
    ordered = sorted(live, key=_descending)
    best = ordered[0]
    lowest_first = [s for s in reversed(ordered) if s is not best and s.length >= policy.warmup_tokens]
    stopped = set(lowest_first[:math.floor(policy.prune_fraction * len(live))])
    stopped.update(s for s in lowest_first if s.value < policy.threshold)
    return sorted(stopped, key=lambda s: s.index)


# ---------------------------------------------------------------- data

def pools_from_records(records: Sequence[Mapping[str, Any]], scores: Sequence[ScoredRollout],
                       problem_ids: Iterable[str] | None = None) -> tuple[dict[str, Pool], int]:
    """Pools of the scored rollouts (joined by rollout_id) and the max_new_tokens they were sampled with."""
    by_id = {r["rollout_id"]: r for r in records}
    keep = None if problem_ids is None else set(problem_ids)
    pools: dict[str, Pool] = {}
    independent: dict[str, list[Rollout]] = {}
    max_new = 0
    for scored in scores:
        if keep is not None and scored.problem_id not in keep:
            continue
        record = by_id.get(scored.rollout_id)
        if record is None:
            raise ValueError(f"scores: rollout {scored.rollout_id!r} is not in the rollout records given")
        token_ids = list(record["token_ids"])
        logprobs = list(record.get("logprobs") or [None] * len(token_ids))
        if len(scored.values) != len(token_ids) or len(logprobs) != len(token_ids):
            raise ValueError(f"rollout {scored.rollout_id!r}: {len(token_ids)} tokens, {len(scored.values)} values, "
                             f"{len(logprobs)} logprobs (score the same records)")
        end = len(token_ids) if scored.rank_index is None else scored.rank_index + 1
        max_new = max(max_new, int((record.get("sampling") or {}).get("max_new_tokens") or len(token_ids)))
        rollout = Rollout(tuple(token_ids[:end]), tuple(scored.values[:end]), tuple(logprobs[:end]), scored.passed,
                          "stop" if end < len(token_ids) else "length", scored.rollout_id)
        pool = pools.setdefault(scored.problem_id, Pool(scored.problem_id, [], {}))
        branch = record.get("branch") or {}
        fork = branch.get("fork_position")
        if fork is not None:
            pool.continuations.setdefault(tuple(token_ids[:fork]), []).append(rollout)
        elif branch.get("role") == "independent":
            independent.setdefault(scored.problem_id, []).append(rollout)
        else:
            pool.roots.append(rollout)
    # Independent samples are the prompt's own distribution; a trunk may have been redrawn
    # until it passed (trunk_policy must-pass), so where a problem has them, they are its roots.
    for pid, rollouts in independent.items():
        pools[pid].roots = rollouts
    return pools, max_new


def load_pools(data: Sequence[str | Path], scores: str | Path, problem_ids: Iterable[str] | None = None) -> tuple[dict[str, Pool], int]:
    return pools_from_records(read_rollouts(data), read_scores(scores), problem_ids)


# ---------------------------------------------------------------- comparisons

@dataclasses.dataclass(frozen=True)
class Result:
    """A policy (at a budget) over problems and draws: per-problem means, then their mean."""

    label: str
    policy: Policy
    token_budget: int | None
    pass_at_1: float
    tokens: float
    steps: float
    per_problem: dict[str, float]
    rebranches: dict[str, int]
    per_problem_tokens: dict[str, float] = dataclasses.field(default_factory=dict)

    def row(self) -> dict[str, Any]:
        return {"label": self.label, "policy": dataclasses.asdict(self.policy), "token_budget": self.token_budget,
                "pass_at_1": self.pass_at_1, "tokens": self.tokens, "steps": self.steps,
                "per_problem": self.per_problem, "per_problem_tokens": self.per_problem_tokens,
                "rebranches": self.rebranches}


def run(pools: Mapping[str, Pool], policy: Policy, max_new_tokens: int, draws: int, seed: int,
        token_budget: int | None = None) -> Result:
    """Mean over problems of the mean over `draws` shuffles (the same shuffles for every policy)."""
    if not pools:
        raise ValueError("no problems to simulate")
    passes, tokens, steps = {}, {}, []
    rebranches = {"wanted": 0, "exact": 0, "moved": 0, "missing": 0}
    for pid, pool in sorted(pools.items()):
        outcomes = [simulate(pool, policy, max_new_tokens, token_budget, random.Random(f"{seed}:{pid}:{d}")) for d in range(draws)]
        passes[pid] = sum(o.passed for o in outcomes) / draws
        tokens[pid] = sum(o.tokens for o in outcomes) / draws
        steps.append(sum(o.steps for o in outcomes) / draws)
        for o in outcomes:
            for k, v in o.rebranches.items():
                rebranches[k] += v
    n = len(pools)
    label = policy.label() + ("" if token_budget is None else f" budget {token_budget}")
    return Result(label, policy, token_budget, sum(passes.values()) / n, sum(tokens.values()) / n, sum(steps) / n,
                  passes, rebranches, tokens)


def policy_grid(width: int) -> list[Policy]:
    """The guided policies compared when choosing defaults."""
    grid = itertools.product((8, 16, 32, 64), (0.0, 0.25, 0.5), (0.0, 0.1, 0.3), (0, 32, 64), (False, True), (16, 64))
    policies = {Policy(width, t, q, tau, warm, rebranch, window if rebranch else 1)
                for t, q, tau, warm, rebranch, window in grid if q > 0 or tau > 0}
    return sorted(policies, key=lambda p: dataclasses.astuple(p))


def best_of_n_at(best_of: Sequence[Result], tokens: float) -> tuple[dict[str, float], str]:
    """Best-of-n's per-problem pass rate at a mean budget of `tokens`: a random mix of best-of-n
    and best-of-(n+1) that spends `tokens` on average (`best_of` is n = 1, 2, …; outside their
    range, the nearest end). Returns the rates and how they were mixed."""
    if not best_of:
        raise ValueError("no best-of-n results to compare with")
    ordered = sorted(best_of, key=lambda r: r.tokens)
    if tokens <= ordered[0].tokens:
        return dict(ordered[0].per_problem), ordered[0].label
    if tokens >= ordered[-1].tokens:
        return dict(ordered[-1].per_problem), ordered[-1].label
    upper = next(i for i, r in enumerate(ordered) if r.tokens >= tokens)
    low, high = ordered[upper - 1], ordered[upper]
    weight = (tokens - low.tokens) / (high.tokens - low.tokens)
    mixed = {pid: (1 - weight) * low.per_problem[pid] + weight * high.per_problem[pid] for pid in low.per_problem}
    return mixed, f"{1 - weight:.2f} × {low.label} + {weight:.2f} × {high.label}"


def advantage(result: Result, best_of: Sequence[Result]) -> float:
    """pass@1 above best-of-n's at the same mean tokens (best_of_n_at)."""
    at_equal_tokens, _ = best_of_n_at(best_of, result.tokens)
    return result.pass_at_1 - sum(at_equal_tokens.values()) / len(at_equal_tokens)


def choose(guided: Sequence[Result], best_of: Sequence[Result]) -> Result:
    """The default: the policy whose pass@1 is highest above best-of-n's at equal generated
    tokens (the issue's goal); ties go to fewer tokens. Run it on validation problems only."""
    if not guided:
        raise ValueError("no guided policies to choose from")
    return max(guided, key=lambda r: (round(advantage(r, best_of), 12), -r.tokens))


def tokens_to_match(results: Sequence[Result], target: float) -> Result | None:
    """The cheapest result whose pass@1 reaches `target` (e.g. best-of-n's), or None."""
    reaching = [r for r in results if r.pass_at_1 >= target - 1e-12]
    return min(reaching, key=lambda r: r.tokens) if reaching else None


def format_table(results: Sequence[Result], reference: Result) -> str:
    lines = [f"{'strategy':<60} {'pass@1':>7} {'tokens':>8} {'steps':>7} {'tokens/ref':>10}"]
    for r in results:
        lines.append(f"{r.label:<60} {r.pass_at_1:>7.1%} {r.tokens:>8.1f} {r.steps:>7.1f} {r.tokens / reference.tokens:>10.2f}")
    return "\n".join(lines)


def compare(pools: Mapping[str, Pool], width: int, max_new_tokens: int, draws: int, seed: int,
            policies: Sequence[Policy] | None = None) -> dict[str, Any]:
    """Best-of-n for n = 1..width, every guided policy, the chosen one and the cheapest that matches best-of-width."""
    best_of = [run(pools, Policy.best_of_n(n), max_new_tokens, draws, seed) for n in range(1, width + 1)]
    guided = [run(pools, p, max_new_tokens, draws, seed) for p in (policies or policy_grid(width))]
    baseline = best_of[-1]
    chosen = choose(guided, best_of)
    match = tokens_to_match(guided, baseline.pass_at_1)
    return {"best_of_n": best_of, "guided": guided, "chosen": chosen, "match": match, "baseline": baseline}


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m passlens_training.evaluate.guided_simulation", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", action="append", type=Path, required=True, help="rollout shards (files or a dataset dir)")
    ap.add_argument("--scores", type=Path, required=True, help="scores JSONL of those rollouts (python -m passlens_training.evaluate.score)")
    ap.add_argument("--problems", help="SPLIT_JSON:KEY, the problems to use (e.g. split.json:validation); default all scored")
    ap.add_argument("--width", type=int, default=8)
    ap.add_argument("--draws", type=int, default=10, help="shuffles of roots and continuations per problem")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, help="write simulation.json here")
    args = ap.parse_args(argv)
    problem_ids = None
    if args.problems:
        path, _, key = args.problems.rpartition(":")
        split = read_split(path)
        if key not in split:
            raise SystemExit(f"--problems: {path} has no {key!r} list (it has {', '.join(k for k in split if isinstance(split[k], list))})")
        problem_ids = split[key]
    try:
        pools, max_new = load_pools(args.data, args.scores, problem_ids)
        short = sorted(pid for pid, p in pools.items() if len(p.roots) < args.width)
        if short:
            print(f"guided_simulation: {len(short)} problems have fewer than {args.width} rollouts sampled from the prompt "
                  f"and are left out (e.g. {short[0]})", file=sys.stderr)
            pools = {pid: p for pid, p in pools.items() if pid not in short}
        found = compare(pools, args.width, max_new, args.draws, args.seed)
    except ValueError as exc:
        raise SystemExit(f"guided_simulation: {exc}") from exc
    baseline = found["baseline"]
    shown = found["best_of_n"] + [found["chosen"]] + ([found["match"]] if found["match"] else [])
    print(format_table(shown, baseline))
    print(f"chosen: {found['chosen'].label} ({len(pools)} problems, {args.draws} draws)")
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        payload = {k: ([r.row() for r in v] if isinstance(v, list) else v.row() if v else None) for k, v in found.items()}
        (args.out / "simulation.json").write_text(json.dumps(payload, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()

/**
 * Which token's value ranks a candidate (the paper's `s`): the last token that is not special
 * (end-of-sequence, padding, chat markers); the last token when every token is special; none
 * for no tokens. The rule is the contract's (contracts/README.md); evaluation ranks by it too.
 * The editor scores response text, which holds no special tokens, so this is its last value.
 */
export function rankingIndex(tokenIds: readonly number[], specialIds: Iterable<number>): number | undefined {
  const special = new Set(specialIds);
  for (let i = tokenIds.length - 1; i >= 0; i--) if (!special.has(tokenIds[i])) return i;
  return tokenIds.length > 0 ? tokenIds.length - 1 : undefined;
}

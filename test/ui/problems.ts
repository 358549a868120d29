/** Problems the UI checks type into files. */

export const QUOTES = '"' + '"' + '"';

/** A held-out micro problem (as the demo workspace has it), as a file's docstring followed by two empty lines. */
export const heldOutProblemDocstring = [
  QUOTES,
  'You are given a positive integer n and a digit d. Count the digits of n that are at least d.',
  '',
  '-----Input-----',
  '',
  'The only line contains the integers n and d.',
  '',
  '-----Output-----',
  '',
  'Print the answer.',
  '',
  '-----Example-----',
  'Input',
  '1319537 1',
  'Output',
  '7',
  QUOTES,
  '',
  '',
].join('\n');

/**
 * A critic's calibration (the bundle manifest's `calibration`, fitted on a validation split by
 * `python -m passlens_training.evaluate.calibrate`) applied to its p(pass) values, by the
 * rule both sides test against contracts/cases/calibration.json: Platt scaling,
 * sigmoid(a · logit(p) + b) with p clipped to [ε, 1 − ε] (ε = 1e-7), in double precision.
 */

export interface Calibration {
  method: 'platt';
  /** Slope, > 0: calibration changes what a value says, never the ranking. */
  a: number;
  b: number;
}

export const CALIBRATION_EPSILON = 1e-7;

/**
 * The calibration in `value` (a manifest's `calibration` or a calibration file), null when
 * absent; throws an Error saying what is wrong with a malformed one.
 */
export function parseCalibration(value: unknown): Calibration | null {
  if (value === undefined || value === null) return null;
  const c = value as Partial<Calibration>;
  if (typeof c !== 'object' || c.method !== 'platt') {
    throw new Error(`calibration method ${JSON.stringify(c?.method)} is not one this PassLens applies (platt)`);
  }
  if (typeof c.a !== 'number' || typeof c.b !== 'number' || !Number.isFinite(c.a) || !Number.isFinite(c.b) || !(c.a > 0)) {
    throw new Error(`calibration needs a finite slope a > 0 and a finite b, got a=${String(c.a)}, b=${String(c.b)}`);
  }
  return { method: 'platt', a: c.a, b: c.b };
}

/** `values` calibrated; the same values when `calibration` is null or undefined. */
export function calibrate(values: readonly number[], calibration: Calibration | null | undefined): number[] {
  if (!calibration) return [...values];
  const { a, b } = calibration;
  return values.map((v) => {
    const p = Math.min(Math.max(v, CALIBRATION_EPSILON), 1 - CALIBRATION_EPSILON);
    const z = a * Math.log(p / (1 - p)) + b;
    // the two forms of the sigmoid that cannot overflow
    return z >= 0 ? 1 / (1 + Math.exp(-z)) : Math.exp(z) / (1 + Math.exp(z));
  });
}

/**
 * Worker thread that owns the local critic (tokenizer + onnxruntime session), so scoring
 * never blocks the extension host. Calls run one at a time, in arrival order: a stream's
 * appends depend on each other and onnxruntime already uses every core for one pass.
 */
import { parentPort } from 'node:worker_threads';
import { calibrate, parseCalibration, type Calibration } from '../contracts/calibration';
import { CriticEngine } from './engine';
import { isAbortError } from '../shared/abort';
import { CriticError } from './errors';
import { readManifest } from './manifest';
import type { AppendResult, EngineCall, FromWorker, ToWorker } from './protocol';
import type { TokenScores } from './types';

const port = parentPort;
if (!port) throw new Error('critic.worker must run in a worker thread');

let engine: CriticEngine | undefined;
/** The bundle's calibration, applied to values as they leave the engine (the engine's own checks see raw values). */
let calibration: Calibration | null = null;
let queue: Promise<void> = Promise.resolve();
const cancelled = new Set<number>();
const post = (message: FromWorker) => port.postMessage(message);

function errorMessage(error: unknown, id?: number): FromWorker {
  if (error instanceof CriticError) return { type: 'error', id, code: error.code, message: error.message };
  if (isAbortError(error)) return { type: 'error', id, code: 'aborted', message: (error as Error).message };
  return { type: 'error', id, code: 'onnx_invalid', message: error instanceof Error ? error.message : String(error) };
}

const calibrated = (scores: TokenScores): TokenScores => (calibration ? { ...scores, values: calibrate(scores.values, calibration) } : scores);

async function call(id: number, request: EngineCall): Promise<FromWorker> {
  if (!engine) throw new CriticError('disposed', 'The critic is not loaded.');
  switch (request.method) {
    case 'score':
      return { type: 'result', id, value: calibrated(await engine.score(...request.args)) };
    case 'scoreMany':
      return { type: 'result', id, value: (await engine.scoreMany(request.args[0], request.args[1], () => cancelled.has(id))).map(calibrated) };
    case 'open':
      return { type: 'result', id, value: await engine.open(...request.args) };
    case 'append': {
      const { from, scores }: AppendResult = await engine.append(...request.args);
      return { type: 'result', id, value: { from, scores: calibrated(scores) } };
    }
    case 'fork':
      return { type: 'result', id, value: engine.fork(...request.args) };
    case 'close':
      engine.close(...request.args);
      return { type: 'result', id, value: null };
  }
}

port.on('message', (message: ToWorker) => {
  if (message.type === 'cancel') {
    cancelled.add(message.id);
    return;
  }
  queue = queue.then(async () => {
    try {
      if (message.type === 'load') {
        engine = await CriticEngine.load(message.options);
        calibration = parseCalibration(readManifest(message.options.bundlePath).calibration);
        post({ type: 'loaded', info: calibration ? { ...engine.info, calibration } : engine.info });
      } else if (message.type === 'dispose') {
        await engine?.dispose();
        engine = undefined;
        post({ type: 'disposed' });
      } else if (cancelled.has(message.id) && message.method !== 'append' && message.method !== 'open' && message.method !== 'fork') {
        // Appends, opens and forks always run, so the caller's view of a stream never misses a chunk.
        post({ type: 'error', id: message.id, code: 'aborted', message: 'Critic scoring was cancelled.' });
      } else {
        post(await call(message.id, message));
      }
    } catch (error) {
      post(errorMessage(error, message.type === 'call' ? message.id : undefined));
    } finally {
      if (message.type === 'call') cancelled.delete(message.id);
    }
  });
});

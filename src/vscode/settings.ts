import * as vscode from 'vscode';
import { DEFAULT_GUIDED, type GuidedKnobs, type SearchStrategy } from '../core/generateAndRank/search';

/** Every PassLens setting, read in one place (declared in package.json contributes.configuration). */
export interface PassLensSettings {
  generator: {
    backend: 'local' | 'openai';
    model: string;
    dtype: 'fp32' | 'fp16' | 'q8' | 'q4' | 'q4f16';
    offlineOnly: boolean;
    serverUrl: string;
    api: 'chat' | 'completions';
    candidates: number;
    temperature: number;
    topP: number;
    topK: number;
    maxNewTokens: number;
  };
  search: {
    strategy: SearchStrategy;
    /** 0: candidates × max new tokens. */
    tokenBudget: number;
    guided: GuidedKnobs;
  };
  critic: {
    backend: 'local' | 'vllm';
    bundlePath: string;
    url: string;
    /** vllm backend: the served critic's calibration (passlens-calibration.json or a bundle); empty: raw values. */
    calibrationFile: string;
    executionProvider: 'cpu' | 'cuda' | 'dml' | 'coreml';
  };
  liveConfidence: { enabled: boolean; debounceMs: number };
  inline: { automatic: boolean; debounceMs: number; candidates: number; maxNewTokens: number; fillInTheMiddle: boolean };
  sandbox: { pythonPath: string; timeoutSeconds: number; memoryMb: number; allowWeakIsolation: boolean };
}

export function readSettings(): PassLensSettings {
  const c = vscode.workspace.getConfiguration('passlens');
  return {
    generator: {
      backend: c.get('generator.backend', 'local'),
      model: c.get('generator.model', 'onnx-community/Phi-4-mini-instruct-ONNX-GQA'),
      dtype: c.get('generator.dtype', 'q4f16'),
      offlineOnly: c.get('generator.offlineOnly', false),
      serverUrl: c.get('generator.serverUrl', 'http://127.0.0.1:8000/v1'),
      api: c.get('generator.api', 'chat'),
      candidates: c.get('generator.candidates', 6),
      temperature: c.get('generator.temperature', 0.8),
      topP: c.get('generator.topP', 1),
      topK: c.get('generator.topK', 0),
      maxNewTokens: c.get('generator.maxNewTokens', 1024),
    },
    search: {
      strategy: c.get('search.strategy', 'best-of-n'),
      tokenBudget: c.get('search.tokenBudget', 0),
      guided: {
        interval: c.get('search.guided.interval', DEFAULT_GUIDED.interval),
        pruneFraction: c.get('search.guided.pruneFraction', DEFAULT_GUIDED.pruneFraction),
        threshold: c.get('search.guided.threshold', DEFAULT_GUIDED.threshold),
        warmupTokens: c.get('search.guided.warmupTokens', DEFAULT_GUIDED.warmupTokens),
        rebranch: c.get('search.guided.rebranch', DEFAULT_GUIDED.rebranch),
        window: c.get('search.guided.window', DEFAULT_GUIDED.window),
      },
    },
    critic: {
      backend: c.get('critic.backend', 'local'),
      bundlePath: c.get('critic.bundlePath', ''),
      url: c.get('critic.url', 'http://127.0.0.1:8001'),
      calibrationFile: c.get('critic.calibrationFile', ''),
      executionProvider: c.get('critic.executionProvider', 'cpu'),
    },
    liveConfidence: {
      enabled: c.get('liveConfidence.enabled', false),
      debounceMs: c.get('liveConfidence.debounceMs', 400),
    },
    inline: {
      automatic: c.get('inline.automatic', false),
      debounceMs: c.get('inline.debounceMs', 300),
      candidates: c.get('inline.candidates', 4),
      maxNewTokens: c.get('inline.maxNewTokens', 256),
      fillInTheMiddle: c.get('inline.fillInTheMiddle', false),
    },
    sandbox: {
      pythonPath: c.get('sandbox.pythonPath', 'python3'),
      timeoutSeconds: c.get('sandbox.timeoutSeconds', 4),
      memoryMb: c.get('sandbox.memoryMb', 1024),
      allowWeakIsolation: c.get('sandbox.allowWeakIsolation', false),
    },
  };
}

/** Fires `listener` with fresh settings whenever a passlens.* setting changes. */
export function onSettingsChanged(listener: (settings: PassLensSettings) => void): vscode.Disposable {
  return vscode.workspace.onDidChangeConfiguration((event) => {
    if (event.affectsConfiguration('passlens')) listener(readSettings());
  });
}

import * as vscode from 'vscode';

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
    maxNewTokens: number;
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
  sandbox: { pythonPath: string; timeoutSeconds: number; memoryMb: number };
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
      maxNewTokens: c.get('generator.maxNewTokens', 1024),
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
    sandbox: {
      pythonPath: c.get('sandbox.pythonPath', 'python3'),
      timeoutSeconds: c.get('sandbox.timeoutSeconds', 4),
      memoryMb: c.get('sandbox.memoryMb', 1024),
    },
  };
}

/** Fires `listener` with fresh settings whenever a passlens.* setting changes. */
export function onSettingsChanged(listener: (settings: PassLensSettings) => void): vscode.Disposable {
  return vscode.workspace.onDidChangeConfiguration((event) => {
    if (event.affectsConfiguration('passlens')) listener(readSettings());
  });
}

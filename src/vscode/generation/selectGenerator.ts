import * as vscode from 'vscode';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { LocalGenerator } from '../../core/generation/local';
import { OpenAIGenerator } from '../../core/generation/openai';
import { originOf } from '../../core/shared/origin';
import { errorMessage, withProgress } from '../log';
import type { GeneratorService } from './generatorService';
import { readSettings } from '../settings';
import type { OriginAccess } from '../trust/originAccess';

/**
 * PassLens: Select Generator — a local ONNX model (hub id or folder) or an OpenAI-compatible
 * server. The choice is checked on the spot (the model loads; the server lists its models
 * with the key), the key goes to secret storage under the server's origin, and settings
 * change only when it works. Typing the server's URL here is the user's approval of its origin.
 */
export async function selectGenerator(
  generators: GeneratorService,
  access: OriginAccess,
  cacheDir: string,
  log: vscode.LogOutputChannel,
): Promise<void> {
  const current = readSettings().generator;
  const kind = await vscode.window.showQuickPick(
    [
      { label: '$(folder) Local model folder…', detail: 'transformers.js layout: config.json, tokenizer files, onnx/model*.onnx', pick: 'folder' as const },
      { label: '$(cloud-download) Local model from the Hugging Face hub…', detail: `Downloaded once into the extension's storage (default ${current.model})`, pick: 'hub' as const },
      { label: '$(server) OpenAI-compatible server…', detail: 'vLLM, Ollama, llama.cpp server, LM Studio', pick: 'server' as const },
    ],
    { title: 'PassLens: Select Generator' },
  );
  if (!kind) return;
  const config = vscode.workspace.getConfiguration('passlens');
  const save = async (values: Record<string, unknown>) => {
    for (const [key, value] of Object.entries(values)) await config.update(key, value, vscode.ConfigurationTarget.Global);
  };
  try {
    if (kind.pick === 'server') {
      const serverUrl = await vscode.window.showInputBox({ title: 'Server base URL', value: current.serverUrl, validateInput: (v) => (/^https?:\/\/\S+$/.test(v) ? undefined : 'Enter an http(s) URL') });
      if (!serverUrl) return;
      const apiKey = await vscode.window.showInputBox({ title: `API key for ${originOf(serverUrl)} (leave empty for none)`, password: true, value: (await access.keyFor(serverUrl)) ?? '' });
      if (apiKey === undefined) return;
      await access.approve(serverUrl);
      const models = await withProgress(log, `PassLens: checking ${serverUrl}`, (_p, signal) =>
        new OpenAIGenerator({ baseUrl: serverUrl, model: '', api: current.api, apiKey: apiKey || undefined }).listModels(signal),
      );
      if (!models) return;
      const model = models.length
        ? (await vscode.window.showQuickPick(models, { title: 'Model on the server' }))
        : await vscode.window.showInputBox({ title: 'Model name the server expects', value: current.model });
      if (!model) return;
      const api = await vscode.window.showQuickPick(['chat', 'completions'], { title: 'Endpoint', placeHolder: current.api });
      if (!api) return;
      await access.storeKey(serverUrl, apiKey || undefined);
      await generators.release();
      await save({ 'generator.backend': 'openai', 'generator.serverUrl': serverUrl, 'generator.model': model, 'generator.api': api });
    } else {
      let model: string | undefined;
      if (kind.pick === 'folder') {
        const folder = await vscode.window.showOpenDialog({ canSelectFolders: true, canSelectFiles: false, openLabel: 'Use this model' });
        model = folder?.[0]?.fsPath;
        if (model && !existsSync(join(model, 'config.json'))) throw new Error(`${model} has no config.json: it is not a transformers.js model folder.`);
      } else {
        model = await vscode.window.showInputBox({ title: 'Hugging Face model id (ONNX, transformers.js layout)', value: current.model.includes('/') && !existsSync(current.model) ? current.model : 'onnx-community/Phi-4-mini-instruct-ONNX-GQA' });
      }
      if (!model) return;
      const dtype = await vscode.window.showQuickPick(['q4f16', 'q4', 'q8', 'fp16', 'fp32'], { title: 'Weights variant', placeHolder: current.dtype });
      if (!dtype) return;
      const generator = new LocalGenerator({ model, dtype: dtype as typeof current.dtype, offlineOnly: current.offlineOnly, cacheDir });
      try {
        await generators.loadWithProgress(generator);
      } finally {
        await generator.dispose();
      }
      await save({ 'generator.backend': 'local', 'generator.model': model, 'generator.dtype': dtype });
    }
    void vscode.window.showInformationMessage('PassLens: generator set.');
  } catch (error) {
    if (error instanceof Error && error.name === 'AbortError') return;
    void vscode.window.showErrorMessage(`PassLens: that generator does not work: ${errorMessage(error)}`);
  }
}

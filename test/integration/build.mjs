// Bundles the extension-host suite (test/integration/suite) to
// out/test/integration/suite/*.js: index.js plus one file per *.test.ts, so a new
// test file needs no registration. vscode comes from the host; mocha and native
// packages are loaded from node_modules at run time.
import * as esbuild from 'esbuild';
import { readdirSync, rmSync } from 'node:fs';

const source = 'test/integration/suite';
const outdir = 'out/test/integration/suite';
rmSync(outdir, { recursive: true, force: true });
await esbuild.build({
  entryPoints: readdirSync(source).filter((name) => name === 'index.ts' || name.endsWith('.test.ts')).map((name) => `${source}/${name}`),
  outdir,
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  sourcemap: 'inline',
  external: ['vscode', 'mocha', 'onnxruntime-node', 'onnxruntime-web', 'sharp', '@huggingface/transformers'],
  logLevel: 'warning',
});

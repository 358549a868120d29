// Bundles the extension, the CLI and the worker-thread entry points.
// `vscode` and native/binary packages stay external: they are loaded at run time
// from the extension host or from the .vsix's node_modules.
import * as esbuild from 'esbuild';
import { readdirSync, existsSync } from 'node:fs';

const watch = process.argv.includes('--watch');
const production = process.argv.includes('--production');

// Worker entry points live next to the code that starts them (src/**/*.worker.ts).
function findWorkers(dir) {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = `${dir}/${entry.name}`;
    if (entry.isDirectory()) return findWorkers(path);
    return entry.name.endsWith('.worker.ts') ? [path] : [];
  });
}

const options = {
  entryPoints: {
    extension: 'src/extension.ts',
    cli: 'src/cli.ts',
    ...Object.fromEntries(findWorkers('src').map((p) => [p.split('/').pop().replace(/\.ts$/, ''), p])),
  },
  outdir: 'dist',
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  sourcemap: true,
  minify: production,
  external: ['vscode', 'onnxruntime-node', 'onnxruntime-web', 'sharp', '@huggingface/transformers'],
  logLevel: 'info',
};

if (watch) {
  const ctx = await esbuild.context(options);
  await ctx.watch();
} else {
  await esbuild.build(options);
}

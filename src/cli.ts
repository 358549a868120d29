#!/usr/bin/env node
/** `passlens`: the command-line face of src/core (no VS Code needed). */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const USAGE = `usage: passlens <command> [options]

commands:
  version        print the version
  help           show this help
`;

function version(): string {
  const pkg = JSON.parse(readFileSync(join(__dirname, '..', 'package.json'), 'utf8')) as { version: string };
  return pkg.version;
}

export async function main(argv: string[]): Promise<number> {
  const [command] = argv;
  switch (command) {
    case 'version':
      console.log(version());
      return 0;
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      console.log(USAGE);
      return 0;
    default:
      console.error(`passlens: unknown command '${command}'\n\n${USAGE}`);
      return 2;
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then((code) => process.exit(code));
}

#!/usr/bin/env node
// The `confide` command. Checks the Node.js version before anything else loads (node-seal 7 needs
// WebAssembly GC and exception references, and bounded zstd inflation needs zlib's zstd, Node
// 22.15 or 23.8), then runs the CLI (dist/cli/index.js). Kept to syntax every Node parses.
var parts = process.versions.node.split('.');
var major = Number(parts[0]);
var minor = Number(parts[1]);
if (!(major > 23 || (major === 23 && minor >= 8) || (major === 22 && minor >= 15))) {
  process.stderr.write(
    'confide: needs Node.js 22.15 or later (this is ' +
      process.versions.node +
      '): install Node 24 LTS from https://nodejs.org/ or with a version manager (nvm install 24)\n',
  );
  process.exit(1);
}
import('../dist/cli/index.js').catch((error) => {
  process.stderr.write(
    'confide: cannot load the CLI (' +
      // biome-ignore lint/complexity/useOptionalChain: parsed by old Node versions too (no ?.)
      (error && error.message ? error.message.split('\n')[0] : String(error)) +
      '): reinstall confide, or in a clone run npm run build\n',
  );
  process.exitCode = 70;
});

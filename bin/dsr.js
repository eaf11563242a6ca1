#!/usr/bin/env -S MALLOC_ARENA_MAX=1 node --max-semi-space-size=32 --heap-growing-percent=100
"use strict";
// The `dsr` command. The TypeScript sources compile to dist/ (npm install runs the build).
// The flags on the first line are the service's runtime flags (src/nodeFlags.ts says why).
let cli;
try {
  cli = require("../dist/src/cli.js");
} catch (error) {
  if (error && error.code === "MODULE_NOT_FOUND" && String(error.message).includes("dist/src/cli.js")) {
    process.stderr.write("dsr: the service is not built yet; run `npm run build` first\n");
    process.exit(1);
  }
  throw error;
}
cli.main(process.argv);

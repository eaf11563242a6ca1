import fs from "node:fs";
import path from "node:path";

/**
 * Creates `dir` and any missing parents, one level at a time, and says in words why it cannot. Node's own
 * `mkdir({ recursive: true })` retries for ever when the system answers ENOENT for a folder whose parent
 * exists (a path under /proc, a mount that refuses new folders): `DSR_DATA_DIR=/proc/dsr` held `dsr
 * serve` at full CPU, deaf to SIGTERM, instead of refusing to start. A path that is a file is refused too.
 */
export function makeFolder(dir: string, mode?: number): void {
  const missing: string[] = [];
  let at = path.resolve(dir);
  while (!fs.existsSync(at)) {
    missing.push(at);
    const parent = path.dirname(at);
    if (parent === at) break;
    at = parent;
  }
  if (missing.length === 0 || at !== missing.at(-1)) {
    // With the errno's code, so a caller can tell it will not pass by itself (the roster runner does not retry it).
    if (!fs.statSync(at).isDirectory()) throw Object.assign(new Error(`cannot create the folder ${path.resolve(dir)}: ${at} is a file, not a folder`), { code: "ENOTDIR" });
  }
  for (const folder of missing.reverse()) {
    try {
      fs.mkdirSync(folder, mode === undefined ? {} : { mode });
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code ?? "error";
      if (code !== "EEXIST") throw Object.assign(new Error(`cannot create the folder ${folder} (${code})`), { code });
    }
  }
}

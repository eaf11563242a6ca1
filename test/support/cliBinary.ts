import { spawn } from "node:child_process";
import path from "node:path";
import { tempDir } from "./databases";

/** The real `dsr` binary (this file runs from dist/test/support/). */
const BIN = path.resolve(__dirname, "../../../bin/dsr.js");

export interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs `dsr <args>` to completion with only the given DSR_ variables (none of the developer's); killed
 * after `killAfterMs`. `onStderr` sees what stderr has said so far, each time it says more.
 */
export function dsr(args: string[], env: Record<string, string> = {}, cwd = tempDir(), onStderr?: (text: string) => void, killAfterMs = 25_000): Promise<Result> {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("DSR_") && k !== "NODE_ENV" && k !== "DATABASE_URL"));
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd, env: { ...clean, ...env }, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (c: string) => (stdout += c));
    child.stderr.setEncoding("utf8").on("data", (c: string) => (stderr += c, onStderr?.(stderr)));
    const timer = setTimeout(() => child.kill("SIGKILL"), killAfterMs);
    child.once("error", reject);
    child.once("close", (code) => (clearTimeout(timer), resolve({ code, stdout, stderr })));
  });
}


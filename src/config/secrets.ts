import fs from "node:fs";
import path from "node:path";
import { randomBytes } from "node:crypto";
import type { Config } from "./env";
import { makeFolder } from "../folders";

/**
 * The server secret: DSR_SECRET when set; otherwise a random one kept in `<data dir>/secret.key`
 * (created once, mode 0600) so that codes issued before a restart still verify after it.
 */
export function resolveSecret(config: Pick<Config, "DSR_SECRET" | "dataDir">): string {
  if (config.DSR_SECRET) return config.DSR_SECRET;
  const file = path.join(config.dataDir, "secret.key");
  makeFolder(config.dataDir);
  try {
    fs.writeFileSync(file, randomBytes(32).toString("hex"), { flag: "wx", mode: 0o600 });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
  }
  return fs.readFileSync(file, "utf8").trim();
}

import path from "node:path";
import { Config, ConfigError } from "../../config/env";
import { LocalExportStorage } from "./local";
import { S3ExportStorage } from "./s3";
import type { ExportStorage } from "./storage";

export type { ExportStorage } from "./storage";
export { ExportNotStoredError } from "./storage";

/** The configured storage: the local data folder, or the S3 bucket. */
export function createExportStorage(config: Config): ExportStorage {
  if (config.DSR_EXPORT_STORAGE === "s3") {
    return new S3ExportStorage({ bucket: config.DSR_S3_BUCKET!, region: config.DSR_S3_REGION, endpoint: config.DSR_S3_ENDPOINT, prefix: "exports/" });
  }
  return new LocalExportStorage(path.join(config.dataDir, "exports"));
}

/**
 * Refuses to go on when the configured S3 bucket cannot be used: exports and audit checkpoints are kept
 * there, so a process that started anyway would answer ready while every export failed and no
 * checkpoint was sealed. A wrong setting (no such bucket, access refused, unknown host) is a
 * configuration error; S3 not answering now is a plain failure. Local storage is checked where it is written.
 */
export async function checkStorage(config: Config): Promise<void> {
  if (config.DSR_EXPORT_STORAGE !== "s3") return;
  const storage = createExportStorage(config) as S3ExportStorage;
  try {
    const problem = await storage.unusable();
    if (!problem) return;
    const message = `${problem.setting}: ${problem.reason} (exports and audit checkpoints are kept in DSR_S3_BUCKET)`;
    throw problem.configuration ? new ConfigError([message]) : new Error(message);
  } finally {
    storage.close();
  }
}

import path from "node:path";
import type { Config } from "../../config/env";
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

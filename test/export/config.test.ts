import { generateKeyPairSync } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { expect } from "chai";
import { ConfigError, loadConfig } from "../../src/config/env";
import { MASTER_KEY_FILE, masterKeyRef, resolveMasterKey } from "../../src/export/keys";
import { tempDir } from "../support/databases";

const AUDIT_KEY = generateKeyPairSync("ed25519").privateKey.export({ type: "pkcs8", format: "pem" }).toString();
const PRODUCTION = {
  NODE_ENV: "production",
  DSR_SECRET: "s".repeat(32),
  DSR_NOTIFIER: "webhook",
  DSR_NOTIFIER_URL: "https://mailer.internal/notify",
  DSR_NOTIFIER_SECRET: "n".repeat(16),
  DSR_PUBLIC_URL: "https://dsr.example.com",
  DSR_AUDIT_SIGNING_KEY: AUDIT_KEY,
};

function problemsOf(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  throw new Error("loadConfig accepted the configuration");
}

describe("export configuration", () => {
  it("requires a master key in production unless KMS wraps the keys", () => {
    expect(problemsOf(PRODUCTION)).to.deep.equal([
      "DSR_EXPORT_MASTER_KEY must be the base64 of exactly 32 bytes (openssl rand -base64 32); required in production unless DSR_KMS_KEY_ID is set",
    ]);
    expect(loadConfig({ ...PRODUCTION, DSR_KMS_KEY_ID: "alias/dsr-exports" }).DSR_KMS_KEY_ID).to.equal("alias/dsr-exports");
    expect(loadConfig({ ...PRODUCTION, DSR_EXPORT_MASTER_KEY: Buffer.alloc(32, 1).toString("base64") }).DSR_EXPORT_STORAGE).to.equal("local");
  });

  it("refuses a master key that is not 32 bytes of base64, and S3 storage without a bucket", () => {
    expect(problemsOf({ DSR_EXPORT_MASTER_KEY: Buffer.alloc(16).toString("base64"), DSR_EXPORT_STORAGE: "s3" }).sort()).to.deep.equal([
      "DSR_EXPORT_MASTER_KEY must be the base64 of exactly 32 bytes (openssl rand -base64 32); required in production unless DSR_KMS_KEY_ID is set",
      "DSR_S3_BUCKET must be an S3 bucket name; required when DSR_EXPORT_STORAGE=s3",
    ]);
    expect(problemsOf({ DSR_EXPORT_STORAGE: "ftp", DSR_EXPORT_RETENTION_DAYS: "0", DSR_PUBLIC_URL: "dsr.example.com", DSR_S3_REGION: "Ireland" })).to.have.length(4);
  });

  it("has the documented defaults", () => {
    const config = loadConfig({});
    expect(config).to.include({ DSR_EXPORT_STORAGE: "local", DSR_EXPORT_RETENTION_DAYS: 30, DSR_S3_REGION: "eu-west-1" });
  });

  it("generates a master key into the data folder outside production, once, readable only by the owner", () => {
    const dataDir = tempDir();
    const warnings: string[] = [];
    const logger = { warn: (_o: unknown, m: string) => warnings.push(m) } as never;
    const first = resolveMasterKey({ dataDir }, logger);
    const second = resolveMasterKey({ dataDir }, logger);
    expect(first.equals(second)).to.equal(true);
    expect(first).to.have.length(32);
    expect(warnings).to.have.length(1);
    expect(warnings[0]).not.to.include(first.toString("base64"));
    expect(fs.statSync(path.join(dataDir, MASTER_KEY_FILE)).mode & 0o777).to.equal(0o600);
    const given = Buffer.alloc(32, 9);
    expect(resolveMasterKey({ dataDir, DSR_EXPORT_MASTER_KEY: given.toString("base64") }).equals(given)).to.equal(true);
    expect(masterKeyRef(given)).to.match(/^local:[0-9a-f]{16}$/);
  });
});

import fs from "node:fs";
import path from "node:path";
import { createHash, randomBytes } from "node:crypto";
import { DecryptCommand, GenerateDataKeyCommand, KMSClient } from "@aws-sdk/client-kms";
import type { Config } from "../config/env";
import type { Logger } from "../logger";
import { ExportDecryptionError, ExportHeader, KEY_BYTES, KeyWrapping, unwrapWithMasterKey, wrapWithMasterKey } from "./crypto";
import { makeFolder } from "../folders";

/** Makes a fresh data key per export and unwraps the keys of stored exports. Key material never leaves it except into a cipher. */
export interface DataKeys {
  /** How new exports are wrapped. */
  readonly wrapping: KeyWrapping;
  /** Names the wrapping key without revealing it. */
  readonly keyRef: string;
  newDataKey(requestId: string): Promise<{ plain: Buffer; wrapped: Buffer }>;
  unwrap(header: ExportHeader): Promise<Buffer>;
}

export const MASTER_KEY_FILE = "export-master.key";

/** `local:` + the first 16 hex digits of sha256(master key): tells keys apart in headers and rows. */
export const masterKeyRef = (masterKey: Buffer) => `local:${createHash("sha256").update(masterKey).digest("hex").slice(0, 16)}`;

/**
 * DSR_EXPORT_MASTER_KEY, or outside production a key generated once into the data folder (mode 0600),
 * so that exports written before a restart still open after it. Production refuses to start without one
 * (env validation), since a key next to the data it protects protects little.
 */
export function resolveMasterKey(config: Pick<Config, "DSR_EXPORT_MASTER_KEY" | "dataDir">, logger?: Logger): Buffer {
  if (config.DSR_EXPORT_MASTER_KEY) return Buffer.from(config.DSR_EXPORT_MASTER_KEY, "base64");
  const file = path.join(config.dataDir, MASTER_KEY_FILE);
  makeFolder(config.dataDir);
  try {
    fs.writeFileSync(file, randomBytes(KEY_BYTES).toString("base64"), { flag: "wx", mode: 0o600 });
    logger?.warn({ file }, "DSR_EXPORT_MASTER_KEY is not set: generated an export master key in the data folder (set DSR_EXPORT_MASTER_KEY in production)");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
  }
  const key = Buffer.from(fs.readFileSync(file, "utf8").trim(), "base64");
  if (key.length !== KEY_BYTES) throw new Error(`${file} does not hold a base64 32-byte key`);
  return key;
}

class MasterKeyDataKeys implements DataKeys {
  readonly wrapping = KeyWrapping.MASTER_KEY;
  readonly keyRef: string;

  constructor(
    private readonly masterKey: Buffer,
    private readonly kms: KmsDataKeys | null,
  ) {
    this.keyRef = masterKeyRef(masterKey);
  }

  async newDataKey(requestId: string) {
    const plain = randomBytes(KEY_BYTES);
    return { plain, wrapped: wrapWithMasterKey(this.masterKey, plain, requestId) };
  }

  async unwrap(header: ExportHeader): Promise<Buffer> {
    if (header.wrapping === KeyWrapping.KMS) {
      if (!this.kms) throw new ExportDecryptionError("this export's key is wrapped by AWS KMS: set DSR_KMS_KEY_ID (and AWS credentials)");
      return this.kms.unwrap(header);
    }
    if (header.keyRef !== this.keyRef) throw new ExportDecryptionError(`this export was encrypted under another master key (${header.keyRef}, this one is ${this.keyRef})`);
    return unwrapWithMasterKey(this.masterKey, header.wrappedKey, header.requestId);
  }
}

/** AWS KMS: GenerateDataKey per export, the request id as encryption context. */
class KmsDataKeys implements DataKeys {
  readonly wrapping = KeyWrapping.KMS;
  readonly keyRef: string;

  constructor(
    private readonly client: KMSClient,
    private readonly keyId: string,
  ) {
    this.keyRef = `kms:${keyId}`;
  }

  async newDataKey(requestId: string) {
    const out = await this.client.send(new GenerateDataKeyCommand({ KeyId: this.keyId, KeySpec: "AES_256", EncryptionContext: { dsrRequestId: requestId } }));
    return { plain: Buffer.from(out.Plaintext!), wrapped: Buffer.from(out.CiphertextBlob!) };
  }

  async unwrap(header: ExportHeader): Promise<Buffer> {
    try {
      const out = await this.client.send(
        new DecryptCommand({ CiphertextBlob: header.wrappedKey, KeyId: header.keyRef.slice("kms:".length), EncryptionContext: { dsrRequestId: header.requestId } }),
      );
      return Buffer.from(out.Plaintext!);
    } catch (error) {
      throw new ExportDecryptionError(`AWS KMS refused to unwrap the data key (${(error as Error).name})`);
    }
  }
}

/** The configured key source: KMS when DSR_KMS_KEY_ID is set (the master key still opens older exports), else the master key. */
export function createDataKeys(config: Config, logger?: Logger): DataKeys {
  const kms = config.DSR_KMS_KEY_ID
    ? new KmsDataKeys(new KMSClient({ region: config.DSR_S3_REGION }), config.DSR_KMS_KEY_ID)
    : null;
  const local = new MasterKeyDataKeys(resolveMasterKey(config, logger), kms);
  if (!kms) return local;
  return { wrapping: kms.wrapping, keyRef: kms.keyRef, newDataKey: (id) => kms.newDataKey(id), unwrap: (h) => local.unwrap(h) };
}

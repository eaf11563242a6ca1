import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { GetObjectCommand, ListObjectsV2Command, NoSuchKey, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import type { Config } from "../config/env";
import { S3ExportStorage } from "../export/storage/s3";
import { makeFolder } from "../folders";

/** Where checkpoint files live, under this folder or key prefix of the export storage. */
export const CHECKPOINT_PREFIX = "audit-checkpoints/";

/** Zero-padded so that name order is number order. */
export const checkpointName = (n: number) => `${String(n).padStart(12, "0")}.json`;
const numberOf = (name: string) => (/^\d{12}\.json$/.test(name) ? Number(name.slice(0, 12)) : null);

/**
 * Checkpoint files outside the database, written once: a write never replaces a file, so two
 * checkpointers (or one restarted after a crash) cannot both own a number.
 */
export interface CheckpointStore {
  /** Where the files are, for messages. */
  readonly where: string;
  /** Stores checkpoint `n`; false when a file with that number exists already. */
  putNew(n: number, text: string): Promise<boolean>;
  /** The file of checkpoint `n`, or null when there is none. */
  get(n: number): Promise<string | null>;
  /** Numbers of the stored checkpoints above `after`, ascending. */
  list(after: number): Promise<number[]>;
}

export class LocalCheckpointStore implements CheckpointStore {
  constructor(readonly root: string) {}

  get where(): string {
    return this.root;
  }

  async putNew(n: number, text: string): Promise<boolean> {
    makeFolder(this.root, 0o700);
    const file = path.join(this.root, checkpointName(n));
    const part = `${file}.${process.pid}.part`;
    await fs.promises.writeFile(part, text, { mode: 0o400 });
    try {
      const handle = await fs.promises.open(part, "r");
      await handle.sync().finally(() => handle.close());
      // link() fails when the name exists: creating the file and claiming the number are one step.
      await fs.promises.link(part, file);
      return true;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "EEXIST") return false;
      throw error;
    } finally {
      await fs.promises.rm(part, { force: true });
    }
  }

  async get(n: number): Promise<string | null> {
    try {
      return await fs.promises.readFile(path.join(this.root, checkpointName(n)), "utf8");
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return null;
      throw error;
    }
  }

  async list(after: number): Promise<number[]> {
    let names: string[];
    try {
      names = await fs.promises.readdir(this.root);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return [];
      throw error;
    }
    return names.map(numberOf).filter((n): n is number => n !== null && n > after).sort((a, b) => a - b);
  }
}

export interface ObjectLockSettings {
  mode: "GOVERNANCE" | "COMPLIANCE";
  retentionDays: number;
}

/**
 * Checkpoints in the exports' S3 bucket. With Object Lock configured each file is written with a
 * retention date (the bucket must have Object Lock enabled), so no one, database owner included,
 * can delete or overwrite it before then; `If-None-Match: *` keeps a number from being written twice.
 */
export class S3CheckpointStore implements CheckpointStore {
  readonly client: S3Client;

  constructor(
    private readonly bucket: string,
    clientOptions: { region: string; endpoint?: string },
    private readonly lock: ObjectLockSettings | null,
    private readonly now: () => Date = () => new Date(),
  ) {
    // The exports' client, configured in one place.
    this.client = new S3ExportStorage({ bucket, ...clientOptions }).client;
  }

  get where(): string {
    return `s3://${this.bucket}/${CHECKPOINT_PREFIX}`;
  }

  async putNew(n: number, text: string): Promise<boolean> {
    if ((await this.get(n)) !== null) return false;
    const body = Buffer.from(text, "utf8");
    const retention = this.lock
      ? {
          ObjectLockMode: this.lock.mode,
          ObjectLockRetainUntilDate: new Date(this.now().getTime() + this.lock.retentionDays * 86_400_000),
          // S3 requires a checksum of the body on Object Lock writes.
          ContentMD5: createHash("md5").update(body).digest("base64"),
        }
      : {};
    try {
      await this.client.send(
        new PutObjectCommand({ Bucket: this.bucket, Key: CHECKPOINT_PREFIX + checkpointName(n), Body: body, ContentType: "application/json", IfNoneMatch: "*", ServerSideEncryption: "AES256", ...retention }),
      );
      return true;
    } catch (error) {
      const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
      if (status === 412 || status === 409) return false;
      throw error;
    }
  }

  async get(n: number): Promise<string | null> {
    try {
      const out = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: CHECKPOINT_PREFIX + checkpointName(n) }));
      return await out.Body!.transformToString("utf8");
    } catch (error) {
      if (error instanceof NoSuchKey || (error as { name?: string }).name === "NoSuchKey") return null;
      throw error;
    }
  }

  async list(after: number): Promise<number[]> {
    const numbers: number[] = [];
    let token: string | undefined;
    do {
      const page = await this.client.send(
        new ListObjectsV2Command({ Bucket: this.bucket, Prefix: CHECKPOINT_PREFIX, StartAfter: CHECKPOINT_PREFIX + checkpointName(after), ContinuationToken: token }),
      );
      for (const o of page.Contents ?? []) {
        const n = numberOf((o.Key ?? "").slice(CHECKPOINT_PREFIX.length));
        if (n !== null && n > after) numbers.push(n);
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return numbers.sort((a, b) => a - b);
  }
}

/** The checkpoint store of a configuration: beside the exports, locally or in their bucket. */
export function createCheckpointStore(config: Config): CheckpointStore {
  if (config.DSR_EXPORT_STORAGE === "s3") {
    const lock = config.DSR_AUDIT_OBJECT_LOCK === "off" ? null : { mode: config.DSR_AUDIT_OBJECT_LOCK, retentionDays: config.DSR_AUDIT_RETENTION_DAYS };
    return new S3CheckpointStore(config.DSR_S3_BUCKET!, { region: config.DSR_S3_REGION, endpoint: config.DSR_S3_ENDPOINT }, lock);
  }
  return new LocalCheckpointStore(path.join(config.dataDir, CHECKPOINT_PREFIX));
}

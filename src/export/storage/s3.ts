import { Readable } from "node:stream";
import { DeleteObjectCommand, GetObjectCommand, HeadBucketCommand, ListObjectVersionsCommand, NoSuchKey, S3Client } from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";
import { ExportNotStoredError, ExportStorage, StorageProblem } from "./storage";

export interface S3StorageOptions {
  bucket: string;
  region: string;
  /** An S3-compatible endpoint (path-style); unset: AWS. */
  endpoint?: string;
  /** Key prefix inside the bucket. */
  prefix?: string;
  /** Credentials; unset: the SDK's default chain (environment, profile, instance role). */
  credentials?: { accessKeyId: string; secretAccessKey: string };
}

/**
 * Exports in an S3 bucket: a multipart streaming upload (5 MiB parts, 4 at a time, so memory stays
 * bounded), with server-side encryption requested on top of the export's own encryption.
 */
export class S3ExportStorage implements ExportStorage {
  readonly kind = "s3" as const;
  /** The SDK client (tests watch its requests through its middleware stack). */
  readonly client: S3Client;

  constructor(private readonly options: S3StorageOptions) {
    this.client = new S3Client({
      region: options.region,
      ...(options.endpoint ? { endpoint: options.endpoint, forcePathStyle: true } : {}),
      ...(options.credentials ? { credentials: options.credentials } : {}),
      // Checksums only where S3 requires them: S3-compatible servers do not all know the newer ones.
      requestChecksumCalculation: "WHEN_REQUIRED",
      responseChecksumValidation: "WHEN_REQUIRED",
    });
  }

  private keyOf(key: string): string {
    return `${this.options.prefix ?? ""}${key}`;
  }

  async put(key: string, body: Readable): Promise<void> {
    const upload = new Upload({
      client: this.client,
      params: { Bucket: this.options.bucket, Key: this.keyOf(key), Body: body, ContentType: "application/octet-stream", ServerSideEncryption: "AES256" },
      queueSize: 4,
      partSize: 5 * 1024 * 1024,
      leavePartsOnError: false,
    });
    await upload.done();
  }

  async get(key: string): Promise<Readable> {
    try {
      const out = await this.client.send(new GetObjectCommand({ Bucket: this.options.bucket, Key: this.keyOf(key) }));
      return out.Body as Readable;
    } catch (error) {
      if (error instanceof NoSuchKey || (error as { name?: string }).name === "NoSuchKey") throw new ExportNotStoredError(key);
      throw error;
    }
  }

  /**
   * Deletes the object, and on a versioned bucket every version of it. A delete without a version id
   * there (Object Lock turns versioning on) only adds a delete marker: the file, encrypted with its data
   * key wrapped in its header (so readable with the master key), stayed as a noncurrent version for
   * ever. Each version and marker of exactly this key goes by its id; a server that keeps no versions
   * (it does not implement the listing) has nothing more to delete.
   */
  async delete(key: string): Promise<void> {
    const Bucket = this.options.bucket;
    const Key = this.keyOf(key);
    await this.client.send(new DeleteObjectCommand({ Bucket, Key }));
    let marker: { KeyMarker?: string; VersionIdMarker?: string } = {};
    for (;;) {
      let page;
      try {
        page = await this.client.send(new ListObjectVersionsCommand({ Bucket, Prefix: Key, ...marker }));
      } catch (error) {
        const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
        if (status === 405 || status === 501) return;
        throw error;
      }
      for (const v of [...(page.Versions ?? []), ...(page.DeleteMarkers ?? [])]) {
        if (v.Key === Key && v.VersionId) await this.client.send(new DeleteObjectCommand({ Bucket, Key, VersionId: v.VersionId }));
      }
      if (!page.IsTruncated) return;
      marker = { KeyMarker: page.NextKeyMarker, VersionIdMarker: page.NextVersionIdMarker };
    }
  }

  close(): void {
    this.client.destroy();
  }

  /**
   * Asks S3 whether the bucket is there and this process may use it (HeadBucket, at most `timeoutMs`),
   * and says in words what is wrong if not; null when it is usable.
   */
  async unusable(timeoutMs = 10_000): Promise<StorageProblem | null> {
    const where = this.options.endpoint ? `at ${new URL(this.options.endpoint).host}` : `in AWS region ${this.options.region}`;
    try {
      await this.client.send(new HeadBucketCommand({ Bucket: this.options.bucket }), { abortSignal: AbortSignal.timeout(timeoutMs) });
      return null;
    } catch (error) {
      const e = error as { name?: string; code?: string; $metadata?: { httpStatusCode?: number } };
      const status = e.$metadata?.httpStatusCode;
      const bucket = `the bucket "${this.options.bucket}"`;
      if (status === 404) return { setting: "DSR_S3_BUCKET", configuration: true, reason: `${bucket} does not exist ${where}` };
      if (status === 403) return { setting: "DSR_S3_BUCKET", configuration: true, reason: `${bucket} ${where} refused this process (HTTP 403): check the AWS credentials and the bucket's policy` };
      if (status === 301) return { setting: "DSR_S3_REGION", configuration: true, reason: `${bucket} is in another region than ${this.options.region}` };
      if (status !== undefined) return { setting: "DSR_S3_BUCKET", configuration: false, reason: `${bucket} ${where} could not be checked (HTTP ${status})` };
      const code = e.code ?? e.name ?? "error";
      const setting = this.options.endpoint ? "DSR_S3_ENDPOINT" : "DSR_S3_REGION";
      if (e.name === "TimeoutError" || e.name === "AbortError") return { setting, configuration: false, reason: `S3 ${where} did not answer within ${Math.round(timeoutMs / 1000)} s` };
      return { setting, configuration: code === "ENOTFOUND", reason: `cannot connect to S3 ${where} (${code})` };
    }
  }
}

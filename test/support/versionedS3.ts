import http from "node:http";
import { AddressInfo } from "node:net";
import { randomUUID } from "node:crypto";

/** One version of an object, or a delete marker (no body). */
export interface StoredVersion {
  versionId: string;
  body: Buffer | null;
  at: Date;
}

const escapeXml = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

/**
 * An S3 bucket with versioning enabled, as S3 behaves when Object Lock is on, on loopback: path-style
 * HeadBucket, PutObject (one part), GetObject, DeleteObject (without a version id it adds a delete
 * marker and keeps every version; with one it removes that version for good) and ListObjectVersions.
 * Signatures are not checked. `versions` is what the bucket holds, every version of every key.
 */
export class VersionedS3 {
  readonly versions = new Map<string, StoredVersion[]>();
  private server?: http.Server;
  url = "";

  constructor(readonly bucket: string) {}

  async start(): Promise<void> {
    this.server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => this.answer(req, Buffer.concat(chunks), res));
    });
    await new Promise<void>((resolve) => this.server!.listen(0, "127.0.0.1", resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  /** The versions (bodies and delete markers) the bucket holds under `prefix`. */
  held(prefix: string): Array<{ key: string; marker: boolean }> {
    return [...this.versions].filter(([key]) => key.startsWith(prefix)).flatMap(([key, vs]) => vs.map((v) => ({ key, marker: v.body === null })));
  }

  private answer(req: http.IncomingMessage, body: Buffer, res: http.ServerResponse): void {
    const url = new URL(req.url!, "http://x");
    const [, bucket, ...rest] = url.pathname.split("/");
    const key = decodeURIComponent(rest.join("/"));
    if (bucket !== this.bucket) return void res.writeHead(404).end();
    const xml = (status: number, text: string): void => void res.writeHead(status, { "content-type": "application/xml" }).end(`<?xml version="1.0" encoding="UTF-8"?>\n${text}`);
    const list = this.versions.get(key) ?? [];
    if (!key) {
      if (req.method === "HEAD") return void res.writeHead(200).end();
      if (req.method === "GET" && url.searchParams.has("versions")) {
        const prefix = url.searchParams.get("prefix") ?? "";
        const entries = [...this.versions]
          .filter(([k]) => k.startsWith(prefix))
          .flatMap(([k, vs]) =>
            vs.map((v, i) => {
              const common = `<Key>${escapeXml(k)}</Key><VersionId>${v.versionId}</VersionId><IsLatest>${i === vs.length - 1}</IsLatest><LastModified>${v.at.toISOString()}</LastModified>`;
              return v.body === null ? `<DeleteMarker>${common}</DeleteMarker>` : `<Version>${common}<ETag>"x"</ETag><Size>${v.body.length}</Size><StorageClass>STANDARD</StorageClass></Version>`;
            }),
          );
        return xml(200, `<ListVersionsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>${this.bucket}</Name><Prefix>${escapeXml(prefix)}</Prefix><IsTruncated>false</IsTruncated>${entries.join("")}</ListVersionsResult>`);
      }
      return void res.writeHead(405).end();
    }
    if (req.method === "PUT") {
      const versionId = randomUUID();
      this.versions.set(key, [...list, { versionId, body, at: new Date() }]);
      return void res.writeHead(200, { etag: '"x"', "x-amz-version-id": versionId }).end();
    }
    if (req.method === "GET") {
      const latest = list[list.length - 1];
      if (!latest || latest.body === null) return xml(404, `<Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message></Error>`);
      return void res.writeHead(200, { "content-length": String(latest.body.length), "x-amz-version-id": latest.versionId }).end(latest.body);
    }
    if (req.method === "DELETE") {
      const versionId = url.searchParams.get("versionId");
      if (versionId) {
        const left = list.filter((v) => v.versionId !== versionId);
        if (left.length) this.versions.set(key, left);
        else this.versions.delete(key);
        return void res.writeHead(204, { "x-amz-version-id": versionId }).end();
      }
      const marker = randomUUID();
      this.versions.set(key, [...list, { versionId: marker, body: null, at: new Date() }]);
      return void res.writeHead(204, { "x-amz-delete-marker": "true", "x-amz-version-id": marker }).end();
    }
    res.writeHead(405).end();
  }
}

import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { Command } from "commander";
import type { Config } from "../config/env";
import { httpUrl, RemoteFailure } from "../cliRequests";
import { fetchPublicKey } from "../cliCertificates";
import { refuseExistingOut, writeOutFile } from "../outFile";
import { badInput } from "../errors";
import { MAGIC } from "./crypto";

// What each command needs is loaded when it runs, so `dsr --help` starts quickly.
const config = (): Config => (require("../config/env") as typeof import("../config/env")).loadConfig();
const keys = () => (require("./keys") as typeof import("./keys")).createDataKeys(config());
const decryptToFile: typeof import("./decrypt").decryptToFile = (...args) => (require("./decrypt") as typeof import("./decrypt")).decryptToFile(...args);

/** Opens `file` to read, or answers bad input (exit 2) saying why it cannot be read (not a stack trace or a raw errno message). */
function openInput(file: string, what = "an export file (.zip or .dsrx)"): number {
  try {
    const fd = fs.openSync(file, "r");
    if (!fs.fstatSync(fd).isFile()) {
      fs.closeSync(fd);
      throw Object.assign(new Error("not a file"), { code: "EISDIR" });
    }
    return fd;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? "unreadable";
    throw badInput(`cannot read ${file} (${code}): name ${what}`);
  }
}

/** A public key's PEM from a file, or bad input (exit 2) saying why it cannot be read. */
function readPem(file: string): string {
  fs.closeSync(openInput(file, "a PEM public key file, or the service's key URL"));
  return fs.readFileSync(file, "utf8");
}

const isEncrypted = (file: string) => {
  const head = Buffer.alloc(4);
  const fd = openInput(file);
  try {
    fs.readSync(fd, head, 0, 4, 0);
  } finally {
    fs.closeSync(fd);
  }
  return head.equals(MAGIC);
};

/**
 * `dsr export verify|decrypt|download|purge`. Encrypted files are opened with the configured keys
 * (DSR_EXPORT_MASTER_KEY, or the generated one in DSR_DATA_DIR, or KMS); a downloaded ZIP needs none.
 */
/**
 * Text an archive chose (an entry's name, a field's, a connector's) as it may be written to a terminal:
 * control characters (C0, DEL, C1), line and paragraph separators and bidirectional overrides as \uXXXX.
 * Raw, an entry named `ESC[1A ESC[2K CR ok: ...` redraws the problem line into the ok line of a good archive.
 */
const printable = (text: string) => text.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);

export function registerExportCommands(cli: Command, exit: { FAILED: number }, openDatabase: (config: Config) => Promise<import("typeorm").DataSource>): void {
  const group = cli.command("export").description("check, decrypt, download and purge portable exports");

  group
    .command("verify")
    .description("check an export's checksums (a downloaded ZIP, or an encrypted .dsrx with the configured key); exit 1 on any problem")
    .argument("<file>", "the archive")
    .option("--portability", "also check that every JSON file parses and matches the documented fields, and every data file's record count, per connector too, and each category's and connector's total")
    .option(
      "--public-key <pem file or URL>",
      "the service's published key (a PEM file, its /.well-known/dsr-certificate-key.pem URL, or the service's address): also check signature.json, the service's signature of manifest.json; a missing or failing signature is a problem",
    )
    .action(async (file: string, opts: { portability?: boolean; publicKey?: string }) => {
      const publicKeyPem = opts.publicKey === undefined ? undefined : /^https?:\/\//i.test(opts.publicKey) ? await fetchPublicKey(opts.publicKey) : readPem(opts.publicKey);
      let zip = file;
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "dsr-verify-"));
      try {
        if (isEncrypted(file)) {
          zip = path.join(dir, "export.zip");
          await decryptToFile(keys(), fs.createReadStream(file), zip);
        }
        const { verifyArchive } = require("./verify") as typeof import("./verify");
        const result = await verifyArchive(zip, { portability: opts.portability, publicKeyPem });
        for (const problem of result.problems) process.stdout.write(`problem: ${printable(problem)}\n`);
        const records = result.manifest?.categories.reduce((n, c) => n + c.records, 0) ?? 0;
        const signed =
          result.signature.state === "valid"
            ? `; manifest.json signed by the given key ${result.signature.keyId}`
            : result.signature.state === "unchecked"
              ? "; signature.json not checked: pass --public-key with the service's published key"
              : result.signature.state === "unsigned"
                ? "; the archive is not signed (no signature.json)"
                : "";
        if (result.ok) process.stdout.write(`ok: ${result.checked} files match their sha256 (${records} records, request ${printable(String(result.manifest!.request.id))})${signed}\n`);
        else process.exitCode = exit.FAILED;
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });

  group
    .command("decrypt")
    .description("decrypt a stored .dsrx export into a ZIP (written only if it authenticates)")
    .argument("<file>", "the encrypted export")
    .requiredOption("--out <zip>", "where to write the ZIP (mode 0600; an existing file is refused unless --force)")
    .option("--force", "replace the --out file if it exists")
    .option("--request <id>", "refuse the file unless it belongs to this request")
    .action(async (file: string, opts: { out: string; force?: boolean; request?: string }) => {
      refuseExistingOut(opts.out, opts.force);
      fs.closeSync(openInput(file));
      const header = await decryptToFile(keys(), fs.createReadStream(file), opts.out, opts.request, !!opts.force);
      process.stdout.write(`decrypted export of request ${header.requestId} to ${opts.out}\n`);
    });

  group
    .command("download")
    .description("download an export link (from createExportLink) into a file")
    .argument("<url>", "the signed link")
    .requiredOption("--out <file>", "where to write the ZIP (mode 0600; an existing file is refused unless --force)")
    .option("--force", "replace the --out file if it exists")
    .action(async (url: string, opts: { out: string; force?: boolean }) => {
      const link = httpUrl(url, "the link");
      // The link is used only once --out is known to be writable: every download is audited, and one refused afterwards was never saved.
      await writeOutFile(opts.out, opts.force, async (part) => {
        const response = await fetch(link);
        if (response.status !== 200 || !response.body) {
          const reason = await response.json().then((b) => (b as { error?: { message?: string } }).error?.message, () => undefined);
          // The exit code says what happened: the export is gone (4), the link is not (or no longer) good (2), else 1.
          const code = response.status === 404 ? "NOT_FOUND" : response.status === 403 || response.status === 410 ? "BAD_USER_INPUT" : "INTERNAL_SERVER_ERROR";
          throw new RemoteFailure(`download refused (${response.status})${reason ? `: ${reason}` : ""}`, code);
        }
        await pipeline(Readable.fromWeb(response.body as import("node:stream/web").ReadableStream), part);
      });
      process.stdout.write(`saved ${fs.statSync(opts.out).size} bytes to ${opts.out}\n`);
    });

  group
    .command("purge")
    .description("delete exports and breach roster files whose retention ended, and what else the service no longer needs, now (workers also do this every 10 minutes)")
    .action(async () => {
      const { purgeExpiredExports } = require("./purge") as typeof import("./purge");
      const { createLogger } = require("../logger") as typeof import("../logger");
      const { systemClock } = require("../clock") as typeof import("../clock");
      const { resolveSecret } = require("../config/secrets") as typeof import("../config/secrets");
      const settings = config();
      const ds = await openDatabase(settings);
      try {
        const done = await purgeExpiredExports({ ds, clock: systemClock, config: settings, logger: createLogger("warn"), secret: resolveSecret(settings) });
        process.stdout.write(
          `purged ${done.exports} export(s), ${done.stagedRecords} leftover staged record batch(es), ${done.surveyedRecords} batch(es) of surveyed record ids of ended requests, ${done.rosters} breach roster file(s), ${done.identities} identities of requests past their purpose, ${done.fences} idle hold-fence row(s), and the subject from ${done.requestRecords} request record(s) and ${done.holdRecords} released hold(s) past DSR_REQUEST_RECORD_RETENTION_DAYS\n`,
        );
      } finally {
        await ds.destroy();
      }
    });
}

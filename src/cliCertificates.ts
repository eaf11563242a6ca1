import { Command } from "commander";
import { call, httpUrl, remoteOf, RemoteFailure } from "./cliRequests";
import { refuseExistingOut, writeOutFile } from "./outFile";

/** The service's published key path (see server.ts): the key that signs certificates and exports. */
const KEY_PATH = "/.well-known/dsr-certificate-key.pem";

/** The published key that verifies the signed audit checkpoints (see server.ts). */
export const AUDIT_KEY_PATH = "/.well-known/dsr-audit-key.pem";

/**
 * Fetches one of the service's public keys: from its key URL, or from the service's address (GraphQL
 * URL or base), where the key is at `keyPath`.
 */
export async function fetchPublicKey(url: string, keyPath = KEY_PATH): Promise<string> {
  const at = httpUrl(url, "--public-key");
  if (at.pathname === "/" || at.pathname.endsWith("/graphql")) at.pathname = keyPath;
  let response: Response;
  try {
    response = await fetch(at);
  } catch (error) {
    const cause = (error as { cause?: { code?: string } }).cause;
    throw new RemoteFailure(`cannot fetch the public key from ${at} (${cause?.code ?? (error as Error).message})`, "UNREACHABLE");
  }
  const text = await response.text();
  if (response.status !== 200 || !text.includes("BEGIN PUBLIC KEY")) throw new RemoteFailure(`${at} answered HTTP ${response.status} without a PEM public key; give the service's ${keyPath} URL`, "NOT_FOUND");
  return text;
}

/** `dsr certificate verify` (offline, or with the key from the service) and `dsr certificate get`. */
export function addCertificateCommands(cli: Command, failure: (message: string, exitCode: number) => Error): void {
  const certificate = cli.command("certificate").description("deletion certificates: fetch one, check one");
  certificate
    .command("verify")
    .description("check a deletion certificate; exit 0 when valid, 1 when not (one line either way). Whitespace around the file's JSON (jq -r's newline) is ignored; any other change is not")
    .argument("<file>", "the certificate file (deletionCertificate.signed, or what `dsr certificate get` saved)")
    .option("--public-key <pem file or URL>", `the service's published key: a PEM file, or its URL (${KEY_PATH}, or the service's address); without it no file is valid (the key a file names could be anyone's)`)
    .action(async (file: string, opts: { publicKey?: string }) => {
      const { verifyCertificateFile, verifyCertificateWithKey } = require("./certificates/verifyFile") as typeof import("./certificates/verifyFile");
      const fromUrl = opts.publicKey !== undefined && /^https?:\/\//i.test(opts.publicKey);
      const outcome = fromUrl ? verifyCertificateWithKey(file, await fetchPublicKey(opts.publicKey!)) : verifyCertificateFile(file, opts.publicKey);
      if (!outcome.ok) throw failure(`certificate INVALID: ${outcome.reason}`, outcome.unreadable ? 2 : 1);
      process.stdout.write(`${outcome.line}\n`);
    });
  certificate
    .command("get")
    .description("fetch the signed certificate of a COMPLETED deletion from the service, as issued (print it, or save it with --out)")
    .argument("<requestId>", "the deletion request")
    .option("--out <file>", "write it to this file instead of stdout (an existing file is refused unless --force)")
    .option("--force", "replace the --out file if it exists")
    .option("--url <url>", "GraphQL endpoint of the service (default: DSR_URL, or http://127.0.0.1:4000/graphql)")
    .option("--token <token>", "bearer token (default: DSR_TOKEN)")
    .action(async (requestId: string, opts: { out?: string; force?: boolean; url?: string; token?: string }) => {
      if (opts.out) refuseExistingOut(opts.out, opts.force);
      const remote = remoteOf(opts);
      const { deletionCertificate } = await call<{ deletionCertificate: { signed: string } }>(remote, `query($id: ID!) { deletionCertificate(requestId: $id) { signed } }`, { id: requestId });
      if (opts.out) {
        await writeOutFile(opts.out, opts.force, (part) => new Promise<void>((resolve, reject) => part.once("error", reject).end(deletionCertificate.signed, resolve)));
        process.stderr.write(`saved the certificate of request ${requestId} to ${opts.out}; check it with: dsr certificate verify ${opts.out} --public-key ${new URL(KEY_PATH, remote.url)}\n`);
      } else process.stdout.write(deletionCertificate.signed);
    });
}

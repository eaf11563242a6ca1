import fs from "node:fs";
import { isIP } from "node:net";
import { createSecureContext } from "node:tls";
import type { SslOptions } from "mysql2";

/**
 * Encryption in transit (POLICY.md: "Data is encrypted in transit and at rest"). Every connection that
 * carries a person's data leaves this host encrypted: the service database (TLS on DATABASE_URL),
 * verification codes (DSR_NOTIFIER_URL), status callbacks (DSR_CALLBACK_URL) and export links
 * (DSR_PUBLIC_URL). Plain transport is accepted to a loopback host, which never crosses a network, and
 * to hosts an operator lists in DSR_PLAINTEXT_HOSTS because something else encrypts the way there (a
 * service mesh's mutual TLS sidecar, an IPsec tunnel): a choice written down, not a default.
 */

/** Whether `host` (a URL's hostname) is this machine: localhost, 127.0.0.0/8 or ::1. */
export function isLoopbackHost(host: string): boolean {
  const h = host.toLowerCase().replace(/^\[|\]$/g, "");
  return h === "localhost" || h === "::1" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}

/** DSR_PLAINTEXT_HOSTS (comma-separated, or already a list) as a set of lower-case host names (empty when unset). */
export function plaintextHosts(setting: string | Iterable<string> | undefined): Set<string> {
  const hosts = typeof setting === "string" ? setting.split(",") : [...(setting ?? [])];
  return new Set(hosts.map((h) => h.trim().toLowerCase()).filter(Boolean));
}

const mayGoPlain = (host: string, allowed: ReadonlySet<string>) => isLoopbackHost(host) || allowed.has(host.toLowerCase().replace(/^\[|\]$/g, ""));

/**
 * The problem with an http(s) URL that carries personal data, or null: plain http is refused unless its
 * host is loopback or listed in DSR_PLAINTEXT_HOSTS. Names the setting and the host, never the URL (it
 * may carry credentials). `what` says what would travel in clear.
 */
export function plainHttpProblem(setting: string, url: string | undefined, what: string, allowed: ReadonlySet<string>): string | null {
  if (url === undefined) return null;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return null; // its own validation names a malformed URL
  }
  if (parsed.protocol !== "http:" || mayGoPlain(parsed.hostname, allowed)) return null;
  return `${setting} uses plain http to ${parsed.hostname}: ${what} would cross the network unencrypted. Use https, or list the host in DSR_PLAINTEXT_HOSTS if something else encrypts the way there (a service mesh's mutual TLS)`;
}

/**
 * `?socketPath=/run/mysqld/mysqld.sock` on a mysql:// URL (DATABASE_URL, a connector's url): talk to a server on the same host through its
 * Unix socket instead of TCP (TypeORM reads host, port and credentials from the URL, not this option).
 * Each statement is a write and a read on the connection; over loopback TCP the kernel's TCP path was a
 * quarter of a worker's CPU in bench/orchestrator (CPU profile: mysql2's socket writes).
 */
export function mysqlSocket(url: string): { socketPath?: string } {
  const socketPath = new URL(url).searchParams.get("socketPath");
  return socketPath ? { socketPath } : {};
}

/** TLS on the MySQL connection, named as MySQL's own clients name it (`--ssl-mode`). */
export type MysqlSslMode = "DISABLED" | "REQUIRED" | "VERIFY_CA" | "VERIFY_IDENTITY";
const SSL_MODES: readonly MysqlSslMode[] = ["DISABLED", "REQUIRED", "VERIFY_CA", "VERIFY_IDENTITY"];

/** TLS settings of the service database, read from DATABASE_URL's query. */
export interface MysqlTls {
  mode: MysqlSslMode;
  /** PEM file of the certificate authorities to trust (ssl-ca); unset: Node's bundled roots. */
  caFile?: string;
}

/** Query parameters DATABASE_URL may carry; anything else would be silently ignored by the driver, so it is refused. */
const MYSQL_URL_PARAMETERS = ["socketPath", "ssl-mode", "ssl-ca"];

/**
 * Reads `ssl-mode` and `ssl-ca` from a mysql:// URL. Without ssl-mode, a loopback host or a Unix socket
 * goes without TLS and any other host gets VERIFY_IDENTITY (encrypted, the server's certificate checked
 * against the trusted authorities and its name against the host). DISABLED to another host is refused
 * unless DSR_PLAINTEXT_HOSTS lists it. Problems name DATABASE_URL and the host, never the URL.
 */
export function mysqlTls(url: string, allowed: ReadonlySet<string>, setting = "DATABASE_URL"): { tls: MysqlTls; problems: string[] } {
  const parsed = new URL(url);
  const problems: string[] = [];
  for (const key of new Set(parsed.searchParams.keys())) {
    if (!MYSQL_URL_PARAMETERS.includes(key)) problems.push(`${setting} has an unknown parameter "${key}" (allowed: ${MYSQL_URL_PARAMETERS.join(", ")}); for TLS use ssl-mode and ssl-ca`);
  }
  const local = parsed.searchParams.has("socketPath") || isLoopbackHost(parsed.hostname);
  const given = parsed.searchParams.get("ssl-mode");
  const mode = (given?.toUpperCase() ?? (local ? "DISABLED" : "VERIFY_IDENTITY")) as MysqlSslMode;
  if (!SSL_MODES.includes(mode)) problems.push(`${setting}'s ssl-mode must be one of ${SSL_MODES.join(", ")}`);
  else if (mode === "DISABLED" && !local && !mayGoPlain(parsed.hostname, allowed)) {
    problems.push(
      `${setting}'s ssl-mode=DISABLED would send every person's data to ${parsed.hostname} unencrypted. Leave ssl-mode out (VERIFY_IDENTITY), or list the host in DSR_PLAINTEXT_HOSTS if something else encrypts the way there`,
    );
  } else if (mode === "VERIFY_IDENTITY" && isIP(parsed.hostname.replace(/^\[|\]$/g, ""))) {
    // mysql2 checks a certificate's name only against a host name, never an address.
    problems.push(`${setting} names the server by its address (${parsed.hostname}): ssl-mode=VERIFY_IDENTITY checks the certificate against a host name; connect by the name it is made out to, or set ssl-mode=VERIFY_CA`);
  }
  const caFile = parsed.searchParams.get("ssl-ca") ?? undefined;
  if (caFile !== undefined) {
    if (mode === "DISABLED") problems.push(`${setting} gives ssl-ca with ssl-mode=DISABLED; give an ssl-mode that uses it (VERIFY_IDENTITY)`);
    else {
      try {
        if (!fs.readFileSync(caFile, "utf8").includes("-----BEGIN CERTIFICATE-----")) problems.push(`${setting}'s ssl-ca (${caFile}) holds no PEM certificate`);
      } catch (error) {
        problems.push(`${setting}'s ssl-ca (${caFile}) cannot be read: ${(error as NodeJS.ErrnoException).code ?? "unreadable"}`);
      }
    }
  }
  return { tls: { mode, ...(caFile !== undefined ? { caFile } : {}) }, problems };
}

/**
 * mysql2's `ssl` option for these settings (undefined: no TLS). The chain is checked unless REQUIRED
 * (which encrypts without checking who answers); VERIFY_IDENTITY also checks that the certificate is
 * made out to the host. mysql2 checks the name only when `verifyIdentity` is set (off by default, for
 * its own backward compatibility): without it a certificate for any name passed. test/databaseTls.test.ts
 * pins both checks against a server whose certificate is made out to `localhost`, then to another name;
 * an address as host is refused with VERIFY_IDENTITY (mysqlTls), since mysql2 checks no name then.
 */
export function mysqlSslOptions(tls: MysqlTls | undefined): SslOptions | undefined {
  if (!tls || tls.mode === "DISABLED") return undefined;
  const ca = tls.caFile === undefined ? undefined : fs.readFileSync(tls.caFile, "utf8");
  return { ca, rejectUnauthorized: tls.mode !== "REQUIRED", verifyIdentity: tls.mode === "VERIFY_IDENTITY" };
}

/** PostgreSQL's sslmode values (libpq's, which node-postgres reads from the URL) that never fall back to clear text. */
const POSTGRES_ENCRYPTED = ["require", "verify-ca", "verify-full"];

/**
 * The problem with a postgres:// URL that would reach a host other than loopback without TLS, or null:
 * without sslmode node-postgres does not encrypt, and `prefer` or `allow` fall back to clear text.
 */
export function postgresTlsProblem(url: string, allowed: ReadonlySet<string>, setting: string): string | null {
  const parsed = new URL(url);
  const host = parsed.searchParams.get("host") ?? parsed.hostname;
  if (host.startsWith("/") || mayGoPlain(host, allowed)) return null;
  const mode = parsed.searchParams.get("sslmode");
  if (mode !== null && POSTGRES_ENCRYPTED.includes(mode)) return null;
  return `${setting}'s ${mode === null ? "missing sslmode" : `sslmode=${mode}`} would let the person's data reach ${host} unencrypted: add ?sslmode=verify-full (and sslrootcert=<PEM file> for a CA Node does not bundle), or list the host in DSR_PLAINTEXT_HOSTS if something else encrypts the way there`;
}

/** The certificate and key this server presents (DSR_TLS_CERT_FILE, DSR_TLS_KEY_FILE), or undefined: plain http. */
export function listenerTls(certFile: string | undefined, keyFile: string | undefined): { cert: string; key: string } | undefined {
  if (certFile === undefined || keyFile === undefined) return undefined;
  return { cert: fs.readFileSync(certFile, "utf8"), key: fs.readFileSync(keyFile, "utf8") };
}

/** Both files or neither, each readable, and a key that belongs to the certificate (never the key's content). */
export function listenerTlsProblems(certFile: string | undefined, keyFile: string | undefined): string[] {
  if (certFile === undefined && keyFile === undefined) return [];
  if (certFile === undefined || keyFile === undefined) return ["DSR_TLS_CERT_FILE and DSR_TLS_KEY_FILE go together: give both (https) or neither (plain http, TLS ended in front)"];
  const problems: string[] = [];
  for (const [name, file] of [
    ["DSR_TLS_CERT_FILE", certFile],
    ["DSR_TLS_KEY_FILE", keyFile],
  ]) {
    try {
      fs.accessSync(file, fs.constants.R_OK);
    } catch (error) {
      problems.push(`${name} (${file}) cannot be read: ${(error as NodeJS.ErrnoException).code ?? "unreadable"}`);
    }
  }
  if (problems.length) return problems;
  try {
    createSecureContext(listenerTls(certFile, keyFile));
  } catch (error) {
    const reason = /key values mismatch/i.test((error as Error).message) ? "the key does not belong to the certificate" : "they are not a PEM certificate chain and its private key";
    problems.push(`DSR_TLS_CERT_FILE and DSR_TLS_KEY_FILE cannot serve https: ${reason}`);
  }
  return problems;
}

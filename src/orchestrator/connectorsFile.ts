import fs from "node:fs";
import path from "node:path";
import { createManualConnector } from "../connectors/manual";
import { Connector, ConnectorAction, ConnectorConfigError, COUNTRY_CODE, ManualStep } from "../connectors/sdk";
import { createAuthLogConnector } from "../connectors/authLog";
import type { AuthLogOptions } from "../connectors/authLog";
import { createSqlConnector, SqlConnectorConfig } from "../connectors/sql";
import { plaintextHosts } from "../config/transport";
import { createHttpConnector } from "../connectors/http";
import type { HttpConnectorConfig } from "../connectors/http";
import { createStripeConnector } from "../connectors/stripe";
import type { StripeConnectorOptions } from "../connectors/stripe";
import { createZendeskConnector } from "../connectors/zendesk";
import type { ZendeskConnectorOptions } from "../connectors/zendesk";
import { ConnectorRegistryError, withProcessingLocation } from "./registry";

/** Builds a built-in connector from the options of its entry (secrets already merged in from `env`). */
type Factory = (options: Record<string, unknown>, fileDir: string, plaintextHosts: string[]) => Connector | Promise<Connector>;

/**
 * The connectors that ship with the service, by the `type` of their entry. Each factory validates its
 * options and throws ConnectorConfigError listing every problem.
 */
const BUILT_IN: Record<string, Factory> = {
  // { "type": "sql", "options": { <SqlConnectorConfig> }, "env": { "url": "ACCOUNT_DB_URL" } }
  sql: ({ url, chunkSize, ...config }, fileDir, plaintextHosts) =>
    createSqlConnector(config as unknown as SqlConnectorConfig, { url: sqliteRelativeTo(fileDir, url) as string | undefined, chunkSize: chunkSize as number | undefined, plaintextHosts }),
  // { "type": "stripe", "options": { "host": "api.stripe.com" }, "env": { "apiKey": "STRIPE_API_KEY" } }
  stripe: (options) => createStripeConnector(options as unknown as StripeConnectorOptions),
  // { "type": "zendesk", "options": { "baseUrl": "https://acme.zendesk.com", "email": "dsr@acme.com" }, "env": { "apiToken": "ZENDESK_API_TOKEN" } }
  zendesk: (options) => createZendeskConnector(options as unknown as ZendeskConnectorOptions),
  // { "type": "http", "options": { <HttpConnectorConfig> } }: a REST system described in JSON (secrets in the variables it names)
  http: (options) => createHttpConnector(options as unknown as HttpConnectorConfig),
  // { "type": "auth-log", "options": { "store": "dynamodb", "tableName": "auth-events", "region": "ap-south-1" } }
  // or { "type": "auth-log", "options": { "store": "sql" }, "env": { "url": "AUTH_LOG_DATABASE_URL" } }
  "auth-log": (options, fileDir, plaintextHosts) =>
    createAuthLogConnector({ ...options, plaintextHosts, ...(options.url ? { url: sqliteRelativeTo(fileDir, options.url) } : {}) } as unknown as AuthLogOptions),
};

/** `sqlite:relative/file` in the file is read relative to the file, like `module` paths. */
function sqliteRelativeTo(fileDir: string, url: unknown): unknown {
  if (typeof url !== "string" || !url.startsWith("sqlite:")) return url;
  const file = url.slice("sqlite:".length);
  return file === ":memory:" || path.isAbsolute(file) ? url : `sqlite:${path.resolve(fileDir, file)}`;
}

/**
 * One entry of the connectors file. Secrets never sit in the file: `env` maps an option name to the
 * environment variable that holds its value. `processingLocation` (any entry): where the system
 * processes the data, an ISO 3166-1 alpha-2 code.
 */
type Entry = { processingLocation?: unknown } & (
  | { type: "manual"; name: string; categories: string[]; supports: ConnectorAction[]; instructions: string | Partial<Record<ManualStep, string>> }
  | { type: string; module?: string; options?: Record<string, unknown>; env?: Record<string, string> }
);

const ACTIONS: ConnectorAction[] = ["access", "erasure", "rectification"];

/** Options of an entry with the values of its `env` variables merged in; missing variables are problems. */
function optionsOf(entry: { options?: Record<string, unknown>; env?: Record<string, string> }, env: NodeJS.ProcessEnv, at: string, problems: string[]): Record<string, unknown> {
  const options: Record<string, unknown> = { ...(entry.options ?? {}) };
  for (const [option, variable] of Object.entries(entry.env ?? {})) {
    const value = env[variable];
    if (value === undefined || value === "") problems.push(`${at}: environment variable ${variable} (for ${option}) is not set`);
    else options[option] = value;
  }
  return options;
}

/** A JSON syntax error as line and column (V8 gives only "at position N", or nothing at the end of the text). */
function jsonErrorAt(text: string, error: Error): string {
  const match = /at position (\d+)/.exec(error.message);
  const position = match ? Number(match[1]) : text.length;
  const before = text.slice(0, position).split("\n");
  const what = error.message.replace(/ in JSON at position \d+.*$/, "").replace(/ \(line \d+ column \d+\)$/, "");
  return `line ${before.length}, column ${before[before.length - 1].length + 1}: ${what}`;
}

/** Loads a module entry's code; a missing file or a failing module is one line saying what to do (no require stack). */
function requireModule(modulePath: string): { createConnector?: (o: Record<string, unknown>) => Connector | Promise<Connector> } {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return require(modulePath);
  } catch (error) {
    const e = error as NodeJS.ErrnoException & { requireStack?: string[] };
    if (e.code === "MODULE_NOT_FOUND" && e.message.includes(modulePath)) {
      throw new ConnectorConfigError("", [`module ${modulePath} does not exist; give the path of the compiled .js relative to the connectors file (for a .ts connector, run npx tsc -p . first)`]);
    }
    const first = e.message.split("\n")[0];
    throw new ConnectorConfigError("", [`module ${modulePath} failed to load: ${first}`]);
  }
}

/** Reads and builds every connector of the file; all problems are reported together. */
export async function loadConnectorsFile(file: string, env: NodeJS.ProcessEnv = process.env): Promise<Connector[]> {
  const where = path.resolve(file);
  const dir = path.dirname(where);
  let text: string;
  try {
    text = fs.readFileSync(where, "utf8");
  } catch (error) {
    throw new ConnectorRegistryError([`DSR_CONNECTORS_FILE ${where}: cannot be read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}); check the path`]);
  }
  let parsed: { connectors?: Entry[] };
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new ConnectorRegistryError([`DSR_CONNECTORS_FILE ${where}: not valid JSON: ${jsonErrorAt(text, error as Error)}`]);
  }
  if (!Array.isArray(parsed.connectors)) throw new ConnectorRegistryError([`${where}: expected {"connectors": [...]}`]);
  const problems: string[] = [];
  const connectors: Connector[] = [];
  for (const [i, entry] of parsed.connectors.entries()) {
    const at = `${where} connectors[${i}]`;
    const location = entry.processingLocation;
    if (location !== undefined && (typeof location !== "string" || !COUNTRY_CODE.test(location))) {
      problems.push(`${at}: processingLocation must be an ISO 3166-1 alpha-2 country code in capitals, e.g. IN or US`);
      continue;
    }
    const built = connectors.length;
    try {
      if (entry.type === "manual") {
        const manual = entry as Extract<Entry, { type: "manual" }>;
        if (!manual.supports?.every((a) => ACTIONS.includes(a))) problems.push(`${at}: supports must list ${ACTIONS.join(", ")}`);
        connectors.push(createManualConnector(manual));
        continue;
      }
      const generic = entry as { type: string; module?: string; options?: Record<string, unknown>; env?: Record<string, string> };
      const before = problems.length;
      const options = optionsOf(generic, env, at, problems);
      if (problems.length > before) continue;
      if (generic.type === "module") {
        if (!generic.module) {
          problems.push(`${at}: "module" entries need the path of a module`);
          continue;
        }
        const modulePath = path.resolve(dir, generic.module);
        const mod = requireModule(modulePath);
        if (typeof mod.createConnector !== "function") problems.push(`${at}: ${modulePath} does not export createConnector(options)`);
        else connectors.push(await mod.createConnector(options));
      } else if (BUILT_IN[generic.type]) {
        // A database url must reach a host that is not loopback over TLS, unless DSR_PLAINTEXT_HOSTS lists it.
        connectors.push(await BUILT_IN[generic.type](options, dir, [...plaintextHosts(env.DSR_PLAINTEXT_HOSTS)]));
      } else {
        problems.push(`${at}: type must be one of ${["module", "manual", ...Object.keys(BUILT_IN)].map((t) => `"${t}"`).join(", ")}`);
      }
    } catch (error) {
      if (error instanceof ConnectorConfigError) problems.push(...error.problems.map((p) => `${at}: ${p}`));
      else problems.push(`${at}: ${(error as Error).message}`);
    } finally {
      // Every way out of the entry (manual ones `continue`): the connector it built, if any, gets its location.
      if (typeof location === "string" && connectors.length > built) withProcessingLocation(connectors[connectors.length - 1], location);
    }
  }
  if (problems.length) {
    await Promise.allSettled(connectors.map((c) => c.close?.()));
    throw new ConnectorRegistryError(problems);
  }
  return connectors;
}

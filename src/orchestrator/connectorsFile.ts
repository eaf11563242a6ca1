import fs from "node:fs";
import path from "node:path";
import { createManualConnector } from "../connectors/manual";
import { Connector, ConnectorAction } from "../connectors/sdk";
import { ConnectorRegistryError } from "./registry";

/**
 * One entry of the connectors file. Secrets never sit in the file: `env` maps an option name to the
 * environment variable that holds its value.
 */
type Entry =
  | { type: "module"; module: string; options?: Record<string, unknown>; env?: Record<string, string> }
  | { type: "manual"; name: string; categories: string[]; supports: ConnectorAction[]; instructions: string };

const ACTIONS: ConnectorAction[] = ["access", "erasure", "rectification"];

/** Reads and builds every connector of the file; all problems are reported together. */
export async function loadConnectorsFile(file: string, env: NodeJS.ProcessEnv = process.env): Promise<Connector[]> {
  const where = path.resolve(file);
  let parsed: { connectors?: Entry[] };
  try {
    parsed = JSON.parse(fs.readFileSync(where, "utf8"));
  } catch (error) {
    throw new ConnectorRegistryError([`DSR_CONNECTORS_FILE ${where}: ${(error as Error).message}`]);
  }
  if (!Array.isArray(parsed.connectors)) throw new ConnectorRegistryError([`${where}: expected {"connectors": [...]}`]);
  const problems: string[] = [];
  const connectors: Connector[] = [];
  for (const [i, entry] of parsed.connectors.entries()) {
    const at = `${where} connectors[${i}]`;
    try {
      if (entry.type === "manual") {
        if (!entry.supports?.every((a) => ACTIONS.includes(a))) problems.push(`${at}: supports must list ${ACTIONS.join(", ")}`);
        if (!entry.instructions) problems.push(`${at}: manual connectors need instructions`);
        connectors.push(createManualConnector(entry));
      } else if (entry.type === "module") {
        const options: Record<string, unknown> = { ...(entry.options ?? {}) };
        for (const [option, variable] of Object.entries(entry.env ?? {})) {
          const value = env[variable];
          if (value === undefined || value === "") problems.push(`${at}: environment variable ${variable} (for ${option}) is not set`);
          else options[option] = value;
        }
        const modulePath = path.resolve(path.dirname(where), entry.module);
        // eslint-disable-next-line @typescript-eslint/no-require-imports
        const mod = require(modulePath) as { createConnector?: (o: Record<string, unknown>) => Connector | Promise<Connector> };
        if (typeof mod.createConnector !== "function") problems.push(`${at}: ${modulePath} does not export createConnector(options)`);
        else connectors.push(await mod.createConnector(options));
      } else problems.push(`${at}: type must be "module" or "manual"`);
    } catch (error) {
      problems.push(`${at}: ${(error as Error).message}`);
    }
  }
  if (problems.length) throw new ConnectorRegistryError(problems);
  return connectors;
}

import fs from "node:fs";
import path from "node:path";
import { DataSource } from "typeorm";
import type { Logger } from "../logger";
import type { Connector } from "../connectors/sdk";
import { createSqlConnector } from "../connectors/sql";
import { sampleAccountDbConfig, seedAccountDb } from "./accountDb";
import { samplePeople } from "./people";

/**
 * The sample workspace: the four systems of an MFA platform, seeded with the sample people and started
 * on loopback, behind the same built-in connectors production uses. Its state lives under
 * `<DSR_DATA_DIR>/sample/`, so erasures survive a restart. For trying the service, never for production.
 */
export interface SampleWorkspace {
  connectors: Connector[];
  /** Stops the stand-in servers and closes the sample database. */
  close(): Promise<void>;
}

export interface SampleWorkspaceOptions {
  dataDir: string;
  logger: Logger;
  /** Auth-log events seeded for Ada. */
  authEventsForAda: number;
  /** How many sample people (300 by default). */
  people?: number;
}

export async function startSampleWorkspace(options: SampleWorkspaceOptions): Promise<SampleWorkspace> {
  const dir = path.join(options.dataDir, "sample");
  fs.mkdirSync(dir, { recursive: true });
  const people = samplePeople(options.people ?? 300, { authEventsForAda: options.authEventsForAda });
  const closers: (() => Promise<void>)[] = [];
  const close = async () => {
    for (const c of closers.reverse()) await c().catch(() => undefined);
  };
  try {
    const file = path.join(dir, "sample.sqlite");
    const seedDs = await new DataSource({ type: "better-sqlite3", database: file }).initialize();
    try {
      const started = Date.now();
      if (await seedAccountDb(seedDs, people)) options.logger.info({ people: people.length, ms: Date.now() - started }, "sample account database seeded");
    } finally {
      await seedDs.destroy();
    }
    const accountDb = createSqlConnector(sampleAccountDbConfig(), { url: `sqlite:${file}` });
    closers.push(() => accountDb.close());
    const connectors: Connector[] = [accountDb];
    options.logger.info({ dir, connectors: connectors.map((c) => c.spec.name) }, "sample workspace running");
    return { connectors, close };
  } catch (error) {
    await close();
    throw error;
  }
}

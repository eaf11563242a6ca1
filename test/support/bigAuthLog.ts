import path from "node:path";
import { DataSource } from "typeorm";
import { seedSampleAuthLog } from "../../src/sample/authLog";
import { samplePeople, SamplePerson } from "../../src/sample/people";
import { tempDir } from "./databases";

/** Events of the big subject: enough for a collect and export of several seconds, small enough for CI (DSR_TEST_BIG_EVENTS to change). */
export const BIG_EVENTS = Number(process.env.DSR_TEST_BIG_EVENTS ?? 100_000);

/** An SQLite auth log holding only Ada's events (the sample store's table); made once per test process. */
let seeded: Promise<{ file: string; ada: SamplePerson }> | undefined;
export function bigAuthLog(): Promise<{ file: string; ada: SamplePerson }> {
  seeded ??= (async () => {
    const file = path.join(tempDir("dsr-big-"), "auth-log.sqlite");
    const [ada] = samplePeople(2, { authEventsForAda: BIG_EVENTS });
    const ds = await new DataSource({ type: "better-sqlite3", database: file }).initialize();
    await seedSampleAuthLog(ds, [ada], { rowsPerInsert: 500 });
    await ds.destroy();
    return { file, ada };
  })();
  return seeded;
}

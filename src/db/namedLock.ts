import { DataSource } from "typeorm";

/**
 * Runs `work` while this process holds MySQL's named lock `nameSql` (an SQL expression), waiting up to
 * `waitSeconds` for it; null when another session holds it. GET_LOCK belongs to a session, so the lock
 * lives on a connection of its own for the whole of `work` (never a pooled transaction's).
 */
export async function withMysqlNamedLock<T>(ds: DataSource, nameSql: string, waitSeconds: number, work: () => Promise<T>): Promise<T | null> {
  const runner = ds.createQueryRunner();
  await runner.connect();
  try {
    const [{ got }] = await runner.query(`SELECT GET_LOCK(${nameSql}, ?) AS got`, [waitSeconds]);
    if (Number(got) !== 1) return null;
    try {
      return await work();
    } finally {
      await runner.query(`SELECT RELEASE_LOCK(${nameSql})`).catch(() => undefined);
    }
  } finally {
    await runner.release();
  }
}

import { quote, SqlDatabase, type Statement, WriteOutOfTime } from "../sql/database";
import { classifyDbError, type Operation, stopped, toConnectorError } from "../sql/errors";
import { probe } from "../sql/statements";
import type { AuthEventField } from "./events";
import { DEFAULT_SQL_TABLE, type SqlAuthLogOptions } from "./options";
import type { AuthLogStore, PageQuery, UserEvents } from "./store";

/** The column holding the user id; with KEY_COLUMN it is the table's primary key. */
export const USER_COLUMN = "user_id";
/** The column holding `<ISO instant>#<event id>`: the keyset that pages and erase chunks follow. */
export const KEY_COLUMN = "event_key";
/** The other columns, by the field name they carry in the export. */
export const FIELD_COLUMNS: Readonly<Record<AuthEventField, string>> = {
  eventId: "event_id",
  recordedAt: "recorded_at",
  event: "event",
  result: "result",
  factor: "factor",
  device: "device",
  ip: "ip",
  browser: "browser",
  os: "os",
};

/** At most this many keys in one DELETE, so each statement stays short (and under SQLite's parameter limit). */
const DELETE_CHUNK = 500;

/**
 * The auth log in a SQL table (the embedded default): primary key (user_id, event_key), so pages are
 * keyset reads of the primary key and deletes are short statements of listed keys. Every value is a
 * parameter; the table name was checked as an identifier and is quoted.
 */
export function createSqlStore(o: SqlAuthLogOptions, connector: string, pageSize: number): AuthLogStore {
  const table = o.table ?? DEFAULT_SQL_TABLE;
  const db = new SqlDatabase(o);
  const q = (identifier: string) => quote(db.dialect, identifier);
  const fields = Object.entries(FIELD_COLUMNS) as [AuthEventField, string][];

  /** A row's fields by their export names, from its array (the key first, then `fields`' columns); a plain loop: this runs once per event of a big subject. */
  const fieldsOf = (row: unknown[]) => {
    const data: Record<string, unknown> = {};
    for (let i = 0; i < fields.length; i++) data[fields[i][0]] = row[i + 1] ?? null;
    return data;
  };

  const guarded = async <T>(op: Operation, work: () => Promise<T>): Promise<T> => {
    try {
      return await work();
    } catch (error) {
      throw toConnectorError(error, connector, op, table);
    }
  };
  const run = (op: Operation, statement: Statement) => guarded(op, () => db.run(statement));
  /** A delete that must commit within `timeLeft()` ms (the unit of erasure's); a cut one changed nothing and throws WriteOutOfTime as it is. */
  const write = async (statement: Statement, timeLeft?: () => number | undefined) => {
    try {
      return await db.runWithin(statement, () => timeLeft?.());
    } catch (error) {
      if (error instanceof WriteOutOfTime) throw error;
      throw toConnectorError(error, connector, "erase", table);
    }
  };

  // User ids are compared exactly (README, "Who a request is about"). A column's collation may make
  // `usr_a` equal `USR_A` (and `usr_a ` on MySQL): MySQL/MariaDB's usual `_ci` with PAD SPACE, or a
  // SQLite column declared COLLATE NOCASE. So the index's `=` finds the range and a byte comparison
  // keeps the subject's rows alone, on both (on SQLite's default BINARY column it changes nothing).
  // On MySQL/MariaDB the bytes compared are utf8mb4's, as the connection sends the id: a column in
  // another character set (latin1, MariaDB's default before 11.6) holds `é` as E9, not C3 A9.
  const mysql = db.dialect === "mysql";
  const bytes = (column: string) => (mysql ? `CAST(CONVERT(${q(column)} USING utf8mb4) AS BINARY)` : `${q(column)} COLLATE BINARY`);
  const isUser = `${q(USER_COLUMN)} = ? AND ${bytes(USER_COLUMN)} = ?`;
  const userParams = (userId: string) => [userId, userId];

  return {
    description: `${db.dialect === "mysql" ? "MySQL/MariaDB" : "SQLite"} table ${table}`,

    async check() {
      try {
        await db.run(probe(db.dialect, table, [USER_COLUMN, KEY_COLUMN, ...Object.values(FIELD_COLUMNS)]));
        return null;
      } catch (error) {
        const kind = classifyDbError(error);
        if (kind.missing === "table") return `table ${table} does not exist; create it (see src/sample/authLog.ts) or fix the table option`;
        if (kind.missing === "column") return `table ${table} lacks one of the columns ${[USER_COLUMN, KEY_COLUMN, ...Object.values(FIELD_COLUMNS)].join(", ")}`;
        throw toConnectorError(error, connector, "check", table);
      }
    },

    async page(userId, query: PageQuery) {
      const columns = query.keysOnly ? [KEY_COLUMN] : [KEY_COLUMN, ...fields.map(([, c]) => c)];
      const where = [isUser];
      const params: unknown[] = userParams(userId);
      if (query.after !== undefined) where.push(`${q(KEY_COLUMN)} > ?`), params.push(query.after);
      if (query.before !== undefined) where.push(`${q(KEY_COLUMN)} < ?`), params.push(query.before);
      const op: Operation = query.keysOnly ? "erase" : "collect";
      const statement = { sql: `SELECT ${columns.map(q).join(", ")} FROM ${q(table)} WHERE ${where.join(" AND ")} ORDER BY ${q(KEY_COLUMN)} LIMIT ?`, params: [...params, pageSize] };
      const rows = await guarded(op, () => db.selectArrays(statement, columns));
      const events = rows.map((row) => ({ key: String(row[0]), data: query.keysOnly ? undefined : fieldsOf(row) }));
      return { events, next: rows.length === pageSize ? events[events.length - 1].key : undefined };
    },

    async remove(userId, keys, _signal, heartbeat, deleted, timeLeft) {
      for (let i = 0; i < keys.length; i += DELETE_CHUNK) {
        const chunk = keys.slice(i, i + DELETE_CHUNK);
        const statement = {
          sql: `DELETE FROM ${q(table)} WHERE ${isUser} AND ${q(KEY_COLUMN)} IN (${chunk.map(() => "?").join(", ")})`,
          params: [...userParams(userId), ...chunk],
        };
        // Bounded by the unit of erasure (a hold placement waits for the unit only until its end): a
        // statement cut is rolled back, and WriteOutOfTime goes to the connector as it is, to try fewer keys.
        const { affected } = await write(statement, timeLeft);
        // The rows this statement removed: a key the page listed may have gone meanwhile by another hand.
        deleted(affected);
        await heartbeat();
      }
      return 0;
    },

    async keptFrom(userId, bound) {
      const { rows } = await run("erase", {
        sql: `SELECT COUNT(*) AS ${q("n")}, MAX(${q(KEY_COLUMN)}) AS ${q("newest")} FROM ${q(table)} WHERE ${isUser} AND ${q(KEY_COLUMN)} >= ?`,
        params: [...userParams(userId), bound],
      });
      const count = Number(rows[0]?.n ?? 0);
      return count ? { count, newestKey: String(rows[0].newest) } : { count: 0 };
    },

    /**
     * `pageSize` users a statement, keyset on user_id (GROUP BY user_id ORDER BY user_id LIMIT n, served
     * by the primary key's order). A user with many events is counted in one statement: an index range
     * read, no rows returned. A group of a column that ignores case (MySQL/MariaDB's `_ci`, SQLite's
     * NOCASE) may hold ids that differ in case (or trailing spaces), which collect tells apart: such a
     * group says so (its least and greatest id differ byte for byte) and is counted again per exact id,
     * so each is listed as the user it is.
     */
    async *users(signal, heartbeat): AsyncGenerator<UserEvents> {
      let after: unknown;
      const mixed = `, MIN(${bytes(USER_COLUMN)}) <> MAX(${bytes(USER_COLUMN)}) AS ${q("mixed")}`;
      for (;;) {
        if (signal.aborted) throw stopped(connector, "roster", signal);
        const statement = {
          sql: `SELECT ${q(USER_COLUMN)}, COUNT(*) AS ${q("n")}${mixed} FROM ${q(table)}${after === undefined ? "" : ` WHERE ${q(USER_COLUMN)} > ?`} GROUP BY ${q(USER_COLUMN)} ORDER BY ${q(USER_COLUMN)} LIMIT ?`,
          params: [...(after === undefined ? [] : [after]), pageSize],
        };
        const rows = await guarded("roster", () => db.selectArrays(statement, [USER_COLUMN, "n", "mixed"]));
        for (const [userId, n, several] of rows) {
          if (Number(several) !== 1) {
            yield { userId: String(userId), events: Number(n) };
            continue;
          }
          const exact = { sql: `SELECT MIN(${q(USER_COLUMN)}) AS ${q(USER_COLUMN)}, COUNT(*) AS ${q("n")} FROM ${q(table)} WHERE ${q(USER_COLUMN)} = ? GROUP BY ${bytes(USER_COLUMN)}`, params: [userId] };
          for (const [id, count] of await guarded("roster", () => db.selectArrays(exact, [USER_COLUMN, "n"]))) yield { userId: String(id), events: Number(count) };
        }
        if (rows.length < pageSize) return;
        after = rows[rows.length - 1][0];
        await heartbeat();
      }
    },

    close: () => db.close(),
  };
}

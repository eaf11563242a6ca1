import { QueryRunner, TableColumnOptions } from "typeorm";

/** Column shapes shared by the migrations, portable between SQLite and MySQL. */
export const id36 = (name: string, nullable = false): TableColumnOptions => ({ name, type: "varchar", length: "36", isNullable: nullable });
export const str = (name: string, length: number, nullable = false): TableColumnOptions => ({ name, type: "varchar", length: String(length), isNullable: nullable });
export const ts = (name: string, nullable = false): TableColumnOptions => ({ name, type: "datetime", precision: 3, isNullable: nullable });
export const int = (name: string, dflt?: number): TableColumnOptions => ({ name, type: "int", isNullable: false, ...(dflt === undefined ? {} : { default: dflt }) });
export const text = (name: string, nullable = false): TableColumnOptions => ({ name, type: "text", isNullable: nullable });

/** Whether a migration runs on MySQL/MariaDB (where column collations and SQL spellings differ from SQLite's). */
export const isMysql = (q: QueryRunner): boolean => q.connection.options.type === "mysql" || q.connection.options.type === "mariadb";

/** Binary large enough for an encrypted batch (a staged batch's deflated JSON Lines, a batch of kept ids): LONGBLOB on MySQL, BLOB on SQLite. */
export const blob = (q: QueryRunner, name: string): TableColumnOptions => ({ name, type: isMysql(q) ? "longblob" : "blob", isNullable: false });

/** The columns of a table of sealed id batches (entities/columns.ts SealedIdsColumns), `own` placed after the connector. */
export const sealedIdsColumns = (q: QueryRunner, own: TableColumnOptions[]): TableColumnOptions[] => [
  { ...id36("id"), isPrimary: true },
  id36("requestId"),
  str("connector", 40),
  ...own,
  int("seq"),
  int("records"),
  int("wrapping"),
  str("keyRef", 255),
  blob(q, "wrappedKey"),
  blob(q, "payload"),
  ts("createdAt"),
];

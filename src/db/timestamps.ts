/** SQLite's text form of a datetime(3) column, as TypeORM writes it (UTC). */
const SQLITE_DATETIME = /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}$/;

/**
 * A timestamp in SQLite's stored text form rewritten as ISO 8601 (toISOString's form) by hand, or null
 * when the text has another form: parsing a Date only to format it again cost more than the rest of a
 * list page or an export's read.
 */
export function isoFromSqliteText(value: string): string | null {
  return SQLITE_DATETIME.test(value) ? `${value.slice(0, 10)}T${value.slice(11)}Z` : null;
}

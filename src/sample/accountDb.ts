import { DataSource } from "typeorm";
import type { SqlConnectorConfig } from "../connectors/sql";
import { recordDates, SamplePerson, seededRandom } from "./people";

/**
 * A breach roster (listSubjects) looks people up by each identity the database provides, page by page:
 * unindexed, each look-up would read the whole table, and the roster would grow with the square of it.
 */
const PROVIDED_INDEXES = [
  `CREATE INDEX IF NOT EXISTS users_phone ON users (phone)`,
  `CREATE INDEX IF NOT EXISTS users_payment_customer ON users (payment_customer_id)`,
  `CREATE INDEX IF NOT EXISTS users_ticketing_user ON users (ticketing_user_id)`,
];

/**
 * The sample platform's own account database: users, their MFA factors (metadata only: the secret
 * reference never leaves the database), authentication preferences and devices. Its schema is plain
 * enough to run on SQLite and MySQL; dates are ISO-8601 text, so they sort and compare as text.
 */
const DDL = [
  `CREATE TABLE users (
     id VARCHAR(20) PRIMARY KEY, email VARCHAR(320) NOT NULL, name VARCHAR(200) NOT NULL, phone VARCHAR(32),
     company VARCHAR(200), job_title VARCHAR(200), status VARCHAR(10) NOT NULL, created_at VARCHAR(24) NOT NULL,
     closed_at VARCHAR(24), payment_customer_id VARCHAR(40), ticketing_user_id VARCHAR(40))`,
  // Emails are matched case-insensitively: on SQLite the index must be in NOCASE order (docs/connectors.md).
  `CREATE INDEX users_email ON users (email COLLATE NOCASE)`,
  ...PROVIDED_INDEXES,
  `CREATE TABLE mfa_factors (
     id INTEGER PRIMARY KEY, user_id VARCHAR(20) NOT NULL, type VARCHAR(20) NOT NULL, label VARCHAR(100),
     secret_ref VARCHAR(100) NOT NULL, created_at VARCHAR(24) NOT NULL, last_used_at VARCHAR(24))`,
  `CREATE INDEX mfa_factors_user ON mfa_factors (user_id)`,
  `CREATE TABLE auth_preferences (
     id INTEGER PRIMARY KEY, user_id VARCHAR(20) NOT NULL, preferred_factor VARCHAR(20) NOT NULL,
     remember_device_days INTEGER NOT NULL, login_alerts INTEGER NOT NULL, updated_at VARCHAR(24) NOT NULL)`,
  `CREATE INDEX auth_preferences_user ON auth_preferences (user_id)`,
  `CREATE TABLE devices (
     id INTEGER PRIMARY KEY, user_id VARCHAR(20) NOT NULL, name VARCHAR(100), os VARCHAR(60), browser VARCHAR(60),
     ip VARCHAR(45), first_seen_at VARCHAR(24) NOT NULL, last_seen_at VARCHAR(24) NOT NULL)`,
  `CREATE INDEX devices_user ON devices (user_id)`,
];

const FACTORS = ["totp", "webauthn", "sms", "push"];
const OSES = ["macOS 15", "Windows 11", "iOS 19", "Android 16", "Ubuntu 24.04"];
const BROWSERS = ["Firefox 140", "Chrome 141", "Safari 19", "Edge 141"];

/** Creates the tables (when `users` is missing) and seeds them from `people`; returns whether it seeded. */
export async function seedAccountDb(ds: DataSource, people: readonly SamplePerson[]): Promise<boolean> {
  const [exists] = await ds.query(
    ds.options.type === "mysql"
      ? `SELECT COUNT(*) AS n FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = 'users'`
      : `SELECT COUNT(*) AS n FROM sqlite_master WHERE type = 'table' AND name = 'users'`,
  );
  if (Number(exists.n) > 0) {
    // A sample database seeded before these indexes existed gets them (SQLite; MySQL's sample is made fresh).
    if (ds.options.type !== "mysql") for (const statement of PROVIDED_INDEXES) await ds.query(statement);
    return false;
  }
  await ds.transaction(async (em) => {
    // MySQL/MariaDB compare with the column's _ci collation and need no NOCASE.
    for (const statement of DDL) await em.query(ds.options.type === "mysql" ? statement.replace(" COLLATE NOCASE", "").replace(" IF NOT EXISTS", "") : statement);
    const insert = async (table: string, columns: string[], rows: unknown[][]) => {
      for (let i = 0; i < rows.length; i += 200) {
        const batch = rows.slice(i, i + 200);
        await em.query(`INSERT INTO ${table} (${columns.join(", ")}) VALUES ${batch.map(() => `(${columns.map(() => "?").join(", ")})`).join(", ")}`, batch.flat());
      }
    };
    const iso = (d: Date | undefined) => d?.toISOString() ?? null;
    await insert(
      "users",
      ["id", "email", "name", "phone", "company", "job_title", "status", "created_at", "closed_at", "payment_customer_id", "ticketing_user_id"],
      people.map((p) => [p.userId, p.email, p.name, p.phone ?? null, p.company, p.jobTitle, p.status, iso(p.createdAt), iso(p.closedAt), p.paymentCustomerId ?? null, p.ticketingUserId ?? null]),
    );
    const factors: unknown[][] = [];
    const preferences: unknown[][] = [];
    const devices: unknown[][] = [];
    for (const p of people) {
      const random = seededRandom(1000 + p.index);
      const factorDates = recordDates(p, 1 + Math.floor(random() * 3), "factor");
      factorDates.forEach((at, i) =>
        factors.push([factors.length + 1, p.userId, FACTORS[(p.index + i) % FACTORS.length], i === 0 ? "Phone" : `Key ${i}`, `vault:mfa/${p.userId}/${i}`, iso(at), iso(new Date(at.getTime() + 86_400_000))]),
      );
      preferences.push([preferences.length + 1, p.userId, FACTORS[p.index % 2], 30, random() < 0.5 ? 1 : 0, iso(p.createdAt)]);
      for (const at of recordDates(p, 1 + Math.floor(random() * 4), "device")) {
        const n = devices.length + 1;
        devices.push([n, p.userId, `Device ${n}`, OSES[n % OSES.length], BROWSERS[n % BROWSERS.length], `198.51.100.${n % 250}`, iso(at), iso(new Date(at.getTime() + 3 * 86_400_000))]);
      }
    }
    await insert("mfa_factors", ["id", "user_id", "type", "label", "secret_ref", "created_at", "last_used_at"], factors);
    await insert("auth_preferences", ["id", "user_id", "preferred_factor", "remember_device_days", "login_alerts", "updated_at"], preferences);
    await insert("devices", ["id", "user_id", "name", "os", "browser", "ip", "first_seen_at", "last_seen_at"], devices);
  });
  return true;
}

/**
 * The declarative SQL connector's configuration for the sample account database: what a platform team
 * would write in its connectors file. It is the identity source of the platform: user id, phone, payment
 * customer id and ticketing user id are all found here.
 */
export function sampleAccountDbConfig(): SqlConnectorConfig {
  const byUser = { identityColumn: "user_id", identityKind: "userId", category: "ACCOUNT", primaryKey: "id", erase: { strategy: "DELETE" as const } };
  return {
    name: "account-db",
    version: "1.0.0",
    // Phones typed without a country code were British: read them as such.
    defaultPhoneCountry: "GB",
    tables: [
      {
        table: "users",
        identityColumn: "email",
        identityKind: "email",
        category: "ACCOUNT",
        recordType: "user",
        primaryKey: "id",
        exportColumns: ["name", "email", "phone", "company", "job_title", "status", "created_at", "closed_at"],
        recordedAtColumn: "created_at",
        erase: { strategy: "DELETE" },
      },
      { ...byUser, table: "mfa_factors", recordType: "mfa_factor", exportColumns: ["type", "label", "created_at", "last_used_at"], recordedAtColumn: "created_at" },
      { ...byUser, table: "auth_preferences", recordType: "auth_preference", exportColumns: ["preferred_factor", "remember_device_days", "login_alerts", "updated_at"], recordedAtColumn: "updated_at" },
      { ...byUser, table: "devices", recordType: "device", exportColumns: ["name", "os", "browser", "ip", "first_seen_at", "last_seen_at"], recordedAtColumn: "first_seen_at" },
    ],
    provides: [
      { kind: "userId", table: "users", column: "id" },
      { kind: "phone", table: "users", column: "phone" },
      { kind: "paymentCustomerId", table: "users", column: "payment_customer_id" },
      { kind: "ticketingUserId", table: "users", column: "ticketing_user_id" },
    ],
    rectifiable: {
      name: { table: "users", column: "name" },
      phone: { table: "users", column: "phone" },
      company: { table: "users", column: "company" },
      jobTitle: { table: "users", column: "job_title" },
    },
  };
}

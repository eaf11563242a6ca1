import { MigrationInterface, QueryRunner, Table } from "typeorm";
import { id36, int, str, text, ts } from "./columns";

const ZERO_HASH = "0".repeat(64);

/** Requests, the hash-chained audit trail and API tokens. Portable between SQLite and MySQL. */
export class ServiceCore1764000000000 implements MigrationInterface {
  name = "ServiceCore1764000000000";

  async up(q: QueryRunner): Promise<void> {
    await q.createTable(
      new Table({
        name: "requests",
        columns: [
          { ...id36("id"), isPrimary: true },
          str("type", 16),
          str("status", 32),
          str("source", 16),
          str("subjectEmail", 254),
          str("subjectUserId", 128, true),
          str("subjectPhone", 16, true),
          text("subjectExternalIds", true),
          text("corrections", true),
          ts("receivedAt"),
          ts("dueAt"),
          int("extendedDays", 0),
          str("extensionReason", 500, true),
          str("statusReason", 500, true),
          ts("verifiedAt", true),
          str("verificationMethod", 16, true),
          str("verificationEvidence", 500, true),
          str("verificationCodeHash", 64, true),
          ts("verificationExpiresAt", true),
          int("verificationAttempts", 0),
          id36("submittedBy"),
          ts("closedAt", true),
          ts("updatedAt"),
          int("version", 0),
        ],
        indices: [
          { name: "idx_requests_due", columnNames: ["dueAt", "id"] },
          { name: "idx_requests_status_due", columnNames: ["status", "dueAt"] },
          { name: "idx_requests_subject_email", columnNames: ["subjectEmail"] },
        ],
      }),
    );
    await q.createTable(
      new Table({
        name: "audit_events",
        columns: [
          { ...int("seq"), isPrimary: true },
          id36("requestId", true),
          str("actorId", 64),
          str("actorRole", 32),
          str("action", 64),
          text("details"),
          ts("occurredAt"),
          str("prevHash", 64),
          str("hash", 64),
        ],
        indices: [{ name: "idx_audit_events_request", columnNames: ["requestId"] }],
      }),
    );
    await q.createTable(
      new Table({
        name: "audit_chain_head",
        columns: [{ ...int("id"), isPrimary: true }, int("seq"), str("hash", 64)],
      }),
    );
    await q.query(`INSERT INTO audit_chain_head (id, seq, hash) VALUES (1, 0, '${ZERO_HASH}')`);
    await q.createTable(
      new Table({
        name: "api_tokens",
        columns: [
          { ...id36("id"), isPrimary: true },
          str("name", 100),
          str("role", 32),
          str("tokenHash", 64),
          str("tokenPrefix", 12),
          ts("createdAt"),
          ts("revokedAt", true),
        ],
        indices: [{ name: "idx_api_tokens_hash", columnNames: ["tokenHash"], isUnique: true }],
      }),
    );
  }

  async down(q: QueryRunner): Promise<void> {
    for (const table of ["api_tokens", "audit_chain_head", "audit_events", "requests"]) await q.dropTable(table);
  }
}

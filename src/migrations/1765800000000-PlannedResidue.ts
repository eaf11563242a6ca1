import { MigrationInterface, QueryRunner, TableColumn } from "typeorm";
import { int, str } from "./columns";

/**
 * A deletion plan's line says what erasure will leave holding personal data (a ticket thread another
 * customer also wrote on): `toLeaveResidual`, no longer counted in `toErase`, and `residualReason`.
 * Lines planned before this foresaw no residue: 0 and NULL, which is what they said.
 */
export class PlannedResidue1765800000000 implements MigrationInterface {
  name = "PlannedResidue1765800000000";

  async up(q: QueryRunner): Promise<void> {
    await q.addColumn("deletion_plan_items", new TableColumn(int("toLeaveResidual", 0)));
    await q.addColumn("deletion_plan_items", new TableColumn(str("residualReason", 500, true)));
  }

  async down(q: QueryRunner): Promise<void> {
    await q.dropColumn("deletion_plan_items", "residualReason");
    await q.dropColumn("deletion_plan_items", "toLeaveResidual");
  }
}

import { DataSource, EntityTarget, FindOptionsWhere, In, ObjectLiteral } from "typeorm";
import { breathe } from "../eventLoop";

/**
 * Deletes rows of `entity` by primary key (`id`), `perStatement` ids per DELETE, each statement alone
 * (it belongs to no other write: what a crash leaves is found again by the next clean-up), the event
 * loop let in between (breathe): on SQLite each statement answers synchronously, so a loop of them ran
 * as one stretch of microtasks (a big subject's staged batches, about 100 statements at 2,000,000
 * events, stalled the loop 95-125 ms; bench/subject). By primary key, not by a secondary index: on
 * InnoDB that would take gap locks that stall other requests' writes. Returns the rows removed.
 */
export async function deleteByIds<E extends ObjectLiteral & { id: string }>(ds: DataSource, entity: EntityTarget<E>, ids: readonly string[], perStatement: number): Promise<number> {
  let removed = 0;
  for (let i = 0; i < ids.length; i += perStatement) {
    const where = { id: In(ids.slice(i, i + perStatement)) } as FindOptionsWhere<E>;
    removed += (await ds.getRepository(entity).delete(where)).affected ?? 0;
    await breathe();
  }
  return removed;
}

import { DataSource, EntityTarget, FindOptionsSelect, FindOptionsWhere, In, ObjectLiteral } from "typeorm";
import { breathe } from "../eventLoop";
import { freeingCiphertext } from "./sqliteResidue";

/** Ids read per page by deleteMatching: a big request's rows are never all in memory, nor read in one stretch. */
const READ_PAGE = 1000;

/**
 * Deletes every row of `entity` that `where` matches: reads their ids READ_PAGE at a time, and deletes
 * each page by primary key (`id`), `perStatement` ids per DELETE, each statement alone (it belongs to
 * no other write: what a crash leaves is found again by the next clean-up), the event loop let in
 * between (breathe). On SQLite each statement answers synchronously, so a loop of them ran as one
 * stretch of microtasks (a big subject's staged batches, about 100 statements at 2,000,000 events,
 * stalled the loop 95-125 ms; bench/subject), and reading 30,000 surveyed ids at once held it 98 ms.
 * By primary key, not by `where` itself: on InnoDB a delete by a secondary index takes gap locks that
 * stall other requests' writes. `ciphertext`: the rows hold only what their removed key encrypted, so
 * SQLite need not zero the pages they free (sqliteResidue.ts). Returns the rows removed.
 */
export async function deleteMatching<E extends ObjectLiteral & { id: string }>(
  ds: DataSource,
  entity: EntityTarget<E>,
  where: FindOptionsWhere<E>,
  perStatement: number,
  ciphertext = false,
): Promise<number> {
  const repository = ds.getRepository(entity);
  let removed = 0;
  for (;;) {
    const ids = (await repository.find({ where, select: { id: true } as FindOptionsSelect<E>, take: READ_PAGE })).map((r) => r.id);
    let deleted = 0;
    for (let i = 0; i < ids.length; i += perStatement) {
      const statement = () => repository.delete({ id: In(ids.slice(i, i + perStatement)) } as FindOptionsWhere<E>);
      deleted += (await (ciphertext ? freeingCiphertext(ds, statement) : statement())).affected ?? 0;
      await breathe();
    }
    removed += deleted;
    // Done, or rows seen that no delete removed (they went meanwhile): nothing to go round for.
    if (ids.length < READ_PAGE || deleted === 0) return removed;
  }
}

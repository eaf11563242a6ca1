import { Entity, Index } from "typeorm";
import { SealedIdsColumns } from "./columns";

/**
 * A batch of the records a deletion's survey planned to erase or to keep in a connector that can look
 * records up by id: what the verification pass after the erasure asks for again when collecting no
 * longer finds them, so records cut off from the subject (a deleted customer's invoices, a kept row whose
 * address changed) are still seen. Ids only, never payloads; an id may be personal data (an email as a
 * primary key), so each batch is encrypted as staged records are (sealedIds.ts: the payload is a JSON
 * array of [category, type, id], with a fourth element "K" for a kept record, under a data key of its own
 * wrapped with the request id as context), bound to its place. Removed when the connector's ERASE no
 * longer needs them, or by the purge once the request ended (whatever state it ended in).
 */
@Entity({ name: "surveyed_ids" })
@Index("uq_surveyed_ids_position", ["requestId", "connector", "seq"], { unique: true })
export class SurveyedIdsRow extends SealedIdsColumns {}

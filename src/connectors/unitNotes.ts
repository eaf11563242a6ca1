/** The most a unit note holds (ErasureUnitRow.note). */
export const NOTE_CHARS = 500;

/**
 * A connector's unit notes (TaskContext.eraseUnit) as `<prefix><JSON>`, one prefix per kind: a note
 * says what it is by its prefix, and carries its values as JSON, so adding a value never needs a new
 * parser, and a note an earlier version wrote in another form is simply not one of these (its reader
 * stays beside this codec). No personal data goes into a note (ids, counts, instants).
 */
export function unitNoteCodec<K extends string>(prefixes: Readonly<Record<K, string>>) {
  return {
    /** The note of `kind` carrying `value`, or undefined when it would not fit a note. */
    encode(kind: K, value: unknown): string | undefined {
      const note = `${prefixes[kind]}${JSON.stringify(value)}`;
      return note.length <= NOTE_CHARS ? note : undefined;
    },
    /** The JSON a note of `kind` carries, or undefined for any other note. */
    decode(kind: K, note: string): unknown {
      if (!note.startsWith(prefixes[kind])) return undefined;
      try {
        return JSON.parse(note.slice(prefixes[kind].length)) as unknown;
      } catch {
        return undefined;
      }
    },
  };
}

import { GraphQLResolveInfo, Kind, SelectionSetNode } from "graphql";

/**
 * The names of the fields an operation selects at `path` below the field being resolved (e.g.
 * `["edges", "node"]` under `requests`), through fragments and inline fragments and under any alias.
 * `@skip` / `@include` are not evaluated: a field they leave out still counts, so a caller that loads
 * what this names loads too much at worst, never too little.
 */
export function selectedFields(info: Pick<GraphQLResolveInfo, "fieldNodes" | "fragments">, path: readonly string[] = []): Set<string> {
  const found = new Set<string>();
  const visit = (set: SelectionSetNode | undefined, depth: number, seen: Set<string>): void => {
    for (const selection of set?.selections ?? []) {
      if (selection.kind === Kind.FIELD) {
        if (depth === path.length) found.add(selection.name.value);
        else if (selection.name.value === path[depth]) visit(selection.selectionSet, depth + 1, seen);
      } else if (selection.kind === Kind.INLINE_FRAGMENT) {
        visit(selection.selectionSet, depth, seen);
      } else if (!seen.has(selection.name.value)) {
        // Validation rejects fragment cycles; `seen` only keeps one spread from being walked twice.
        visit(info.fragments[selection.name.value]?.selectionSet, depth, new Set(seen).add(selection.name.value));
      }
    }
  };
  for (const node of info.fieldNodes) visit(node.selectionSet, 0, new Set());
  return found;
}

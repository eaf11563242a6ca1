import {
  getNamedType,
  GraphQLField,
  GraphQLInputType,
  GraphQLObjectType,
  GraphQLOutputType,
  GraphQLSchema,
  isEnumType,
  isInputObjectType,
  isInterfaceType,
  isListType,
  isNonNullType,
  isObjectType,
  isScalarType,
} from "graphql";

/**
 * Builds random GraphQL operations from a schema (the committed schema.graphql), for test/fuzz.test.ts.
 * Everything comes from one 32-bit seed through a small PRNG, so an operation is reproduced from its seed
 * alone. Operations are mostly well formed (so they reach resolvers, validators and the database) and
 * mutated here and there: unknown fields and arguments, wrong types, null where none is allowed, unknown
 * enum values, long lists, deep nesting, subscriptions, text with control, format and bidi characters,
 * lone surrogates and NUL, and transports that are themselves broken.
 */

/** mulberry32: a tiny, well-known PRNG; enough to spread choices, not for secrets. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Text that has broken services: controls, NUL, direction overrides, zero-width, lone surrogates, other scripts, emoji, injections. */
export const ODD_TEXT = [
  "",
  " ",
  "\u0000",
  "fz\u0000nul",
  "fz\ud800lone",
  "\udc00fzlow",
  "fz\u202eevil",
  "fz\u200bzero",
  "\u2066fziso\u2069",
  "fz\u0007bell\u001b[31m",
  "fz\r\nline",
  "Zoë Ørsted 山田 മലയാളം",
  "fz 👩‍👩‍👧 emoji",
  "fz'; DROP TABLE requests; --",
  "<script>fz</script>",
  "%E0%A4%A",
  "{{7*7}}${fz}",
  "\\u0000\\",
  "\"fzquote\"",
  "fz".repeat(300),
];

export interface FuzzContext {
  /** Ids the service knows (requests, holds, tasks), so some operations reach real rows. */
  ids: string[];
}

export interface FuzzOperation {
  query: string;
  variables: Record<string, unknown>;
  /** The root field asked for (to tell a refused operation from a partly answered one). */
  rootField: string | null;
  kind: "query" | "mutation" | "subscription" | "garbage";
  /** How it travels: POST JSON, GET with a query string, GET with a raw (possibly broken) query string, or a broken JSON body. */
  transport: "post" | "get" | "rawGet" | "brokenJson";
  /** Values sent that must never come back in a message. */
  sent: string[];
}

/** A value as JSON variables carry it: enum values are plain strings there. */
function asJson(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(asJson);
  if (value === null || typeof value !== "object") return value;
  const entries = Object.entries(value as Record<string, unknown>);
  if (entries.length === 1 && entries[0][0] === "enum") return entries[0][1];
  return Object.fromEntries(entries.map(([k, v]) => [k, asJson(v)]));
}

const UNKNOWN_ID = "6f1c2d7e-5b8a-4c3d-9e0f-123456789abc";

export class OperationFuzzer {
  private rand!: () => number;
  private sent: string[] = [];
  private varDefs: string[] = [];
  private variables: Record<string, unknown> = {};
  /** How often values go wrong: a third of the operations are built clean, to reach resolvers and the database. */
  private wrongness = 1;

  constructor(
    private readonly schema: GraphQLSchema,
    private readonly ctx: FuzzContext,
  ) {}

  build(seed: number): FuzzOperation {
    this.rand = prng(seed);
    this.sent = [];
    this.varDefs = [];
    this.variables = {};
    this.wrongness = this.chance(0.35) ? 0 : 1;
    const r = this.rand();
    const transport = this.pick<FuzzOperation["transport"]>(["post", "post", "post", "post", "post", "post", "post", "post", "get", "rawGet", "brokenJson"]);
    if (r < 0.04) return { query: this.garbage(), variables: {}, rootField: null, kind: "garbage", transport, sent: this.sent };
    const kind = r < 0.08 ? "subscription" : r < 0.5 ? "query" : "mutation";
    const root = kind === "mutation" ? this.schema.getMutationType()! : this.schema.getQueryType()!;
    const fields = Object.values(root.getFields());
    const unknownRoot = this.chance(0.04);
    const field = this.pick(fields);
    const rootField = unknownRoot ? this.unknownName() : field.name;
    const args = unknownRoot ? "" : this.args(field);
    const selection = unknownRoot ? "{ id }" : this.selection(field.type, 0);
    const alias = this.chance(0.03) ? Array.from({ length: 20 }, (_, i) => `a${i}: ${rootField}${args}${selection}`).join(" ") : `${rootField}${args}${selection}`;
    const header = this.varDefs.length ? `(${this.varDefs.join(", ")})` : "";
    const query = `${kind}${header ? ` Fz${header}` : ""} { ${alias} }`;
    return { query, variables: this.variables, rootField, kind, transport, sent: this.sent };
  }

  private chance(p: number): boolean {
    return this.rand() < p;
  }

  private pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.rand() * items.length)];
  }

  private int(min: number, max: number): number {
    return min + Math.floor(this.rand() * (max - min + 1));
  }

  /** A distinctive word: never a word of the API or of its messages by accident. */
  private word(): string {
    return `q${Math.floor(this.rand() * 36 ** 6).toString(36)}`;
  }

  /** A field or argument name the API does not have; messages must not repeat it either. */
  private unknownName(): string {
    const name = `fz${this.word()}`;
    this.sent.push(name);
    return name;
  }

  private garbage(): string {
    const pieces = ["{", "}", "(", ")", "query", "mutation", "request", '"', "$", ":", "...", "@", "#", "fz", "\u0000", "\ud800", "[", "]", "!"];
    return Array.from({ length: this.int(1, 30) }, () => this.pick(pieces)).join(this.pick(["", " "]));
  }

  private args(field: GraphQLField<unknown, unknown>): string {
    const parts: string[] = [];
    for (const arg of field.args) {
      if (!isNonNullType(arg.type) && !this.chance(0.7)) continue;
      if (isNonNullType(arg.type) && this.chance(0.03 * this.wrongness)) continue; // a required argument left out
      parts.push(`${arg.name}: ${this.argument(arg.name, arg.type)}`);
    }
    if (this.chance(0.04 * this.wrongness)) parts.push(`${this.unknownName()}: 1`);
    return parts.length ? `(${parts.join(", ")})` : "";
  }

  /** One argument, inline or through a variable (declared with its type, or now and then with a wrong one). */
  private argument(name: string, type: GraphQLInputType): string {
    if (this.chance(0.5)) return this.literal(this.value(name, type, 0), type);
    const variable = `v${this.varDefs.length}`;
    const declared = this.chance(0.05 * this.wrongness) ? this.pick(["Int", "String!", "[String]", "Boolean", "ID!"]) : String(type);
    this.varDefs.push(`$${variable}: ${declared}`);
    this.variables[variable] = asJson(this.value(name, type, 0));
    return `$${variable}`;
  }

  /** A value for `type`, mostly valid, sometimes wrong in one of the ways a client gets it wrong. */
  private value(name: string, type: GraphQLInputType, depth: number): unknown {
    if (this.chance(0.04 * this.wrongness)) return this.wrongValue();
    if (isNonNullType(type)) return this.chance(0.03 * this.wrongness) ? null : this.value(name, type.ofType, depth);
    if (this.chance(0.08)) return null;
    if (isListType(type)) {
      const length = this.chance(0.06 * this.wrongness) ? this.int(50, 70) : this.int(0, 3);
      return Array.from({ length }, () => this.value(name, type.ofType, depth + 1));
    }
    if (isEnumType(type)) {
      if (this.chance(0.12 * this.wrongness)) {
        const bogus = `FZ_${this.word().toUpperCase()}`;
        this.sent.push(bogus);
        return { enum: bogus };
      }
      return { enum: this.pick(type.getValues()).name };
    }
    if (isInputObjectType(type)) {
      const out: Record<string, unknown> = {};
      for (const field of Object.values(type.getFields())) {
        if (isNonNullType(field.type) || this.chance(0.6)) out[field.name] = this.value(field.name, field.type, depth + 1);
      }
      if (this.chance(0.04 * this.wrongness)) out[this.unknownName()] = this.text();
      return out;
    }
    return this.scalar(name, getNamedType(type).name);
  }

  private wrongValue(): unknown {
    return this.pick<unknown>([12345678, -1, 2 ** 40, 3.5, true, "fzwrongtype", { fz: 1 }, [1, 2], this.text()]);
  }

  private scalar(name: string, scalar: string): unknown {
    const lower = name.toLowerCase();
    switch (scalar) {
      case "Int":
        return this.pick([0, 1, 5, 20, 100, 101, -3, 86400, 2 ** 31, 3.2, 123456789]);
      case "Float":
        return this.pick([0, 1.5, -2, 1e308]);
      case "Boolean":
        return this.chance(0.9) ? this.chance(0.5) : "yes";
      case "ID":
        return this.id();
      case "DateTimeISO":
        return this.pick(["2026-03-01T10:00:00.000Z", "2026-13-45T99:00:00Z", "yesterday", ""]);
      case "JSONObject":
        return this.chance(0.8) ? { name: this.text(), nested: { [this.text()]: [this.text(), 1, null] } } : this.text();
    }
    if (lower.includes("email")) return this.email();
    if (lower === "phone") return this.pick(["+919812345678", "+14155550123", "98123 45678", `+91${this.text()}`]);
    if (lower === "code") return this.pick(["123456", "000000", " 123456 ", "12ab", this.text()]);
    if (lower === "after") return this.pick(["WyIyMDI2LTAzLTAyVDEwOjAwOjAwLjAwMFoiLCJ4Il0", this.text()]);
    if (lower === "idempotencykey") return this.pick([`fz-key-${this.word()}`, "settings-key-0001", this.text()]);
    if (lower === "categories" || lower === "category") return this.pick(["PAYMENTS", "SUPPORT", "ACCOUNT", "payments", this.text()]);
    if (lower === "system") return this.pick(["stripe", "zendesk", "email", this.text()]);
    if (lower === "field" || lower === "changedfields") return this.pick(["name", "company", "phone", this.text()]);
    if (lower === "userid") return this.pick(["u-1", `u-${this.word()}`, this.text()]);
    if (lower === "id" || lower === "taskid" || lower === "requestid") return this.id();
    return this.chance(0.5) ? `fz reason ${this.word()} for this` : this.text();
  }

  private id(): string {
    const known = this.ctx.ids.length ? this.pick(this.ctx.ids) : UNKNOWN_ID;
    if (!this.wrongness) return this.pick([known, known, known, UNKNOWN_ID]);
    return this.pick([known, known, known, UNKNOWN_ID, known.toUpperCase(), "42", `fz${this.word()}`, "", `${known}\u0000`]);
  }

  private email(): string {
    if (!this.wrongness) return this.pick(["ada.lovelace@example.com", "grace.hopper@example.com", "settings.user@example.com", `fz.${this.word()}@example.com`]);
    const local = this.chance(0.6) ? `fz.${this.word()}` : this.text() || "x";
    return this.pick([`${local}@example.com`, `${local}@example.com`, `${this.word()}@exämple.com`, `fz.${this.word()}.at.example.com`, `${local}@${this.text()}.org`]);
  }

  /** Odd text, recorded as sent: it must never come back in a message. */
  private text(): string {
    if (!this.wrongness) return `fz text ${this.word()} written by a person`;
    const text = this.chance(0.7) ? this.pick(ODD_TEXT) : `fz${this.word()}${this.pick(ODD_TEXT)}`;
    this.sent.push(text);
    return text;
  }

  /** GraphQL literal syntax for a value (enums unquoted, strings JSON-quoted, objects without quoted keys). */
  private literal(value: unknown, type: GraphQLInputType): string {
    if (value === null) return "null";
    if (typeof value === "object" && value !== null && "enum" in value && Object.keys(value).length === 1) return String((value as { enum: string }).enum);
    if (Array.isArray(value)) return `[${value.map((v) => this.literal(v, isListType(type) ? type.ofType : isNonNullType(type) && isListType(type.ofType) ? type.ofType.ofType : type)).join(", ")}]`;
    if (typeof value === "object") {
      const named = getNamedType(type);
      const fields = isInputObjectType(named) ? named.getFields() : {};
      return `{ ${Object.entries(value as Record<string, unknown>)
        .filter(([k]) => /^[_A-Za-z]\w*$/.test(k))
        .map(([k, v]) => `${k}: ${this.literal(v, fields[k]?.type ?? type)}`)
        .join(", ")} }`;
    }
    // A lone surrogate cannot be written as a GraphQL escape (the lexer refuses it): JSON.stringify writes \udXXX.
    return JSON.stringify(value);
  }

  /** A selection for an output type: a few of its fields, nested up to a few levels; now and then an unknown field or deep nesting. */
  private selection(type: GraphQLOutputType, depth: number): string {
    const named = getNamedType(type);
    if (!isObjectType(named) && !isInterfaceType(named)) return "";
    if (this.chance(0.02)) return `{ ${"fz { ".repeat(12)}id${" }".repeat(12)} }`;
    const fields = Object.values((named as GraphQLObjectType).getFields());
    const chosen = new Set<string>();
    const parts: string[] = [];
    for (let i = 0, n = this.int(1, 4); i < n; i++) {
      const f = this.pick(fields);
      if (chosen.has(f.name)) continue;
      chosen.add(f.name);
      const inner = getNamedType(f.type);
      if (isObjectType(inner) || isInterfaceType(inner)) {
        if (depth >= 3) continue;
        const args = f.args.filter((a) => isNonNullType(a.type)).length ? this.args(f) : "";
        parts.push(`${f.name}${args} ${this.selection(f.type, depth + 1)}`);
      } else if (isScalarType(inner) || isEnumType(inner)) {
        parts.push(f.name);
      }
    }
    if (this.chance(0.04)) parts.push(this.unknownName());
    if (!parts.length) parts.push("__typename");
    return `{ ${parts.join(" ")} }`;
  }
}

import { GraphQLSchema, isEnumType, isInputObjectType, isInterfaceType, isObjectType } from "graphql";

/**
 * graphql-js's own messages about a caller's operation (parse, validation, variable and literal
 * coercion) repeat what the caller sent: `String cannot represent a non string value: "ada@…"`,
 * `Value "…" does not exist in "RequestType" enum`, `found String "…"`. What the caller sent may be
 * personal data, and an error is logged, cached and shown further than the operation. These rewrites say
 * what is wrong and what is allowed instead, and a last pass drops any quoted word that is not a name of
 * this API, so a message shape graphql-js adds later cannot echo either.
 */

/** graphql-js errors without a code that are about the operation, not the service: BAD_USER_INPUT, reworded. */
const OPERATION_PROBLEMS: Array<[RegExp, string]> = [
  [/^Too many errors processing variables/, "Too many invalid values in the variables; correct the ones reported and send the operation again"],
  [/^Schema is not configured to execute (\w+) operation/, "This API has queries and mutations only; it does not offer $1 operations"],
];

/** The reworded message when `message` is one of graphql-js's own operation problems (see OPERATION_PROBLEMS), else null. */
export function operationProblem(message: string): string | null {
  for (const [pattern, replacement] of OPERATION_PROBLEMS) if (pattern.test(message)) return message.match(pattern)![0].replace(pattern, replacement);
  return null;
}

/** The names of an API: types, fields, arguments, enum values. Quoted words among them may stay in messages. */
export interface ApiNames {
  names: Set<string>;
  enumValues: Map<string, string[]>;
}

export function apiNames(schema: GraphQLSchema): ApiNames {
  const names = new Set<string>();
  const enumValues = new Map<string, string[]>();
  for (const type of Object.values(schema.getTypeMap())) {
    names.add(type.name);
    if (isEnumType(type)) enumValues.set(type.name, type.getValues().map((v) => v.name));
    if (isObjectType(type) || isInterfaceType(type) || isInputObjectType(type)) {
      for (const field of Object.values(type.getFields())) {
        names.add(field.name);
        names.add(`${type.name}.${field.name}`);
        for (const arg of "args" in field ? field.args : []) names.add(arg.name);
      }
    }
  }
  for (const values of enumValues.values()) for (const v of values) names.add(v);
  return { names, enumValues };
}

type Rewrite = [RegExp, string | ((api: ApiNames, ...groups: string[]) => string)];

/** Known shapes, most specific first. Each drops the value and says what the place accepts. */
const REWRITES: Rewrite[] = [
  // Variables (when the inner error is not at hand, see callerMessage): graphql-js inspects the whole value
  // before saying where; keep where and why.
  [/^(Variable "\$\w+") got invalid value [\s\S]*? at "([^"]+)"; /, (_api, v, at) => `${v} has an invalid value at "${at}": `],
  [/^(Variable "\$\w+") got invalid value [\s\S]*?; /, (_api, v) => `${v} has an invalid value: `],
  [/\bInt cannot represent non 32-bit signed integer value:[\s\S]*$/, "the number is too large: a whole number between -2147483648 and 2147483647 is expected"],
  [/\bInt cannot represent non-integer value:[\s\S]*$/, "a whole number is expected"],
  [/\bFloat cannot represent non numeric value:[\s\S]*$/, "a number is expected"],
  [/\bString cannot represent a non string value:[\s\S]*$/, "text (in double quotes) is expected"],
  [/\bBoolean cannot represent a non boolean value:[\s\S]*$/, "true or false is expected"],
  [/\bID cannot represent value:[\s\S]*$/, "an id (text in double quotes) is expected"],
  [/\bEnum "(\w+)" cannot represent non-(?:string|enum) value:[\s\S]*$/, (api, e) => `the value must be one of ${oneOf(api, e)}`],
  [/\bValue "[\s\S]*" does not exist in "(\w+)" enum\.[\s\S]*$/, (api, e) => `the value must be one of ${oneOf(api, e)}`],
  [/\b(\w+) cannot represent[\s\S]*$/, (_api, type) => `a valid ${type} value is expected`],
  [/\bExpected value of type "([^"]+)", found [\s\S]*$/, (_api, type) => `a value of type "${type}" is expected here`],
  [/\bArgument "(\w+)" has invalid value [\s\S]*$/, (_api, arg) => `Argument "${arg}" has an invalid value`],
  // Syntax errors name the token they stopped at, with its text.
  [/^(Syntax Error: (?:Expected [^,]*, found|Unexpected)) (String|BlockString|Name|Int|Float)\b[\s\S]*$/, (_api, head, kind) => `${head} ${kind}.`],
  [/^(Syntax Error: [^:"]*?):\s[\s\S]*$/, (_api, head) => `${head}.`],
];

const oneOf = (api: ApiNames, enumName: string) => (api.enumValues.get(enumName) ?? []).join(", ") || `the values of ${enumName}`;

/** A quoted word may stay when it is a name of this API, a type expression of them, a `$variable` or a path of names. */
function mayQuote(api: ApiNames, quoted: string): boolean {
  if (api.names.has(quoted.replace(/[[\]!]/g, ""))) return true;
  // Punctuation the parser expected (":", "{", "...").
  if (/^[^\w\s]{1,3}$/.test(quoted)) return true;
  if (/^\$[_A-Za-z]\w{0,63}$/.test(quoted)) return true;
  // A variable's path: its name, then fields of this API and list positions (`input.corrections[0].value`).
  if (!/^[_A-Za-z]\w{0,63}(?:\[\d+\]|\.[_A-Za-z]\w*)+$/.test(quoted)) return false;
  return (quoted.match(/\.[_A-Za-z]\w*/g) ?? []).every((segment) => api.names.has(segment.slice(1)));
}

/**
 * The message of a graphql-js error about the caller's operation, without the values the caller sent. A
 * variable's coercion error carries the inner error (`originalError`) whose message ends its own: the
 * variable's place is taken from the text before it, the reason from the inner message, and the value
 * between them is never read.
 */
export function callerMessage(message: string, inner: string | undefined, api: ApiNames): string {
  if (inner && message.startsWith("Variable ") && message.endsWith(`; ${inner}`)) {
    const prefix = message.slice(0, message.length - inner.length - 2);
    const variable = /^Variable ("\$\w+")/.exec(prefix)?.[1];
    const at = /at ("[^"]+")$/.exec(prefix)?.[1];
    return withoutEchoes(`Variable ${variable ?? "(unnamed)"} has an invalid value${at ? ` at ${at}` : ""}: ${withoutEchoes(inner, api)}`, api);
  }
  return withoutEchoes(message, api);
}

/** A graphql-js message without the values the caller sent (see the rewrites above). */
export function withoutEchoes(message: string, api: ApiNames): string {
  let text = message;
  for (const [pattern, replacement] of REWRITES) {
    const match = pattern.exec(text);
    if (!match) continue;
    const replaced = typeof replacement === "string" ? replacement : replacement(api, ...match.slice(1));
    text = text.slice(0, match.index) + replaced + text.slice(match.index + match[0].length);
  }
  // Last pass: what is still quoted and is not a name of this API came from the caller.
  return text.replace(/"((?:[^"\\]|\\.)*)"/g, (whole, inner: string) => (mayQuote(api, inner) ? whole : "(not a name of this API)"));
}

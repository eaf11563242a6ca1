import { validateSync, ValidatorOptions } from "class-validator";
import { ArgumentValidationError, type ValidatorFn } from "type-graphql";
import { illFormedPaths, TEXT_MESSAGES } from "../domain/text";
import { badInput } from "../errors";

/** What type-graphql's own validation would use: the class-validator rules on the input classes, every error. */
const OPTIONS: ValidatorOptions = { skipMissingProperties: true, forbidUnknownValues: false, stopAtFirstError: false };

const validatable = (value: unknown): value is object => value !== null && typeof value === "object";

/**
 * Validates an operation's argument (an input or args class instance, or a list of them) with
 * class-validator, the way type-graphql's built-in validation does, failing with the same
 * ArgumentValidationError (formatError turns it into BAD_USER_INPUT with field names and messages).
 * Synchronous: the service's rules are all synchronous, and type-graphql's own path loads class-validator
 * through a dynamic import on every argument (copying its hundreds of exports each time) before validating
 * asynchronously, which cost a page of 50 requests more than its database query.
 *
 * First, whatever the field and its rules: broken UTF-16 (an unpaired surrogate) anywhere in the argument,
 * JSON objects included, is refused, since no database or mailer can keep it faithfully (domain/text.ts).
 */
export const validateArgument: ValidatorFn = (value) => {
  if (!validatable(value)) return;
  const broken = illFormedPaths(value);
  if (broken.length) {
    const fields = broken.map((field) => ({ field, messages: [TEXT_MESSAGES.wellFormed(field)] }));
    throw badInput(`Invalid input: ${fields.map((f) => f.messages[0]).join("; ")}`, fields);
  }
  const errors = (Array.isArray(value) ? value.filter(validatable) : [value]).flatMap((item) => validateSync(item, OPTIONS));
  if (errors.length) throw new ArgumentValidationError(errors);
};

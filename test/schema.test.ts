import fs from "node:fs";
import path from "node:path";
import { expect } from "chai";
import { GraphQLEnumType, GraphQLInputObjectType, GraphQLInterfaceType, GraphQLObjectType, isSpecifiedScalarType, isIntrospectionType } from "graphql";
import { buildDsrSchema, printDsrSchema } from "../src/graphql/schema";

const COMMITTED = path.resolve(__dirname, "..", "..", "schema.graphql");

describe("schema.graphql", () => {
  it("matches the schema the code builds (run `npm run schema:write` after changing the API)", async () => {
    expect(await printDsrSchema()).to.equal(fs.readFileSync(COMMITTED, "utf8"));
  });

  it("describes every type, field, argument and enum value", async () => {
    const schema = await buildDsrSchema();
    const missing: string[] = [];
    for (const type of Object.values(schema.getTypeMap())) {
      if (isIntrospectionType(type) || isSpecifiedScalarType(type)) continue;
      if (!type.description?.trim()) missing.push(type.name);
      if (type instanceof GraphQLObjectType || type instanceof GraphQLInterfaceType || type instanceof GraphQLInputObjectType) {
        for (const field of Object.values(type.getFields())) {
          if (!field.description?.trim()) missing.push(`${type.name}.${field.name}`);
          for (const arg of "args" in field ? field.args : []) if (!arg.description?.trim()) missing.push(`${type.name}.${field.name}(${arg.name})`);
        }
      }
      if (type instanceof GraphQLEnumType) {
        for (const value of type.getValues()) if (!value.description?.trim()) missing.push(`${type.name}.${value.name}`);
      }
    }
    expect(missing, `undocumented: ${missing.join(", ")}`).to.deep.equal([]);
  });
});

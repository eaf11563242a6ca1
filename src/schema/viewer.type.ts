import { Field, ID, ObjectType } from "type-graphql";
import { Role } from "../domain/enums";
import "./enums";

@ObjectType({ description: "The caller, as its bearer token identifies it." })
export class Viewer {
  @Field(() => ID, { description: "Id of the token in use." })
  tokenId!: string;

  @Field({ description: "The token's name." })
  name!: string;

  @Field(() => Role, { description: "The token's role." })
  role!: Role;
}

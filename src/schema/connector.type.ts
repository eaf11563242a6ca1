import { Field, ObjectType } from "type-graphql";

@ObjectType({ description: "The result of a connector's live check()." })
export class ConnectorHealth {
  @Field({ description: "True when the system is reachable with the configured credentials." })
  ok!: boolean;

  @Field({ description: "What was reached, or what is wrong and what to fix." })
  message!: string;

  @Field(() => Date, { description: "When the check ran." })
  checkedAt!: Date;
}

@ObjectType({ description: "A registered connector: its declared spec and its health right now." })
export class ConnectorInfo {
  @Field({ description: "Unique name." })
  name!: string;

  @Field({ description: "Version of its code." })
  version!: string;

  @Field(() => [String], { description: "Actions it takes part in: access, erasure, rectification." })
  supports!: string[];

  @Field(() => [String], { description: "Identity kinds it needs to find the subject." })
  needs!: string[];

  @Field({ description: "True when any one of `needs` is enough." })
  needsAny!: boolean;

  @Field(() => [String], { description: "Identity kinds it discovers for other connectors." })
  provides!: string[];

  @Field(() => [String], { description: "Data categories of its records." })
  categories!: string[];

  @Field({ description: "A person does its work (tasks wait in AWAITING_INPUT)." })
  manual!: boolean;

  @Field(() => String, { nullable: true, description: "Where the system processes the data (ISO 3166-1 alpha-2 country code), as the connectors file or the connector records it; null: not recorded." })
  processingLocation!: string | null;

  @Field({ description: "True when the system processes data outside the service's primary processing location (DSR_PROCESSING_LOCATION), or its location is not recorded." })
  outsidePrimaryLocation!: boolean;

  @Field(() => ConnectorHealth, { description: "A live check() (at most 5 s)." })
  health!: ConnectorHealth;
}

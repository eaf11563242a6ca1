import { Field, Int, ObjectType } from "type-graphql";
import { Request } from "./request.type";

@ObjectType({ description: "Relay page information." })
export class PageInfo {
  @Field({ description: "More items follow endCursor." })
  hasNextPage!: boolean;

  @Field({ description: "Items precede startCursor (this page was asked for with `after`)." })
  hasPreviousPage!: boolean;

  @Field(() => String, { nullable: true, description: "Cursor of the first item of this page." })
  startCursor!: string | null;

  @Field(() => String, { nullable: true, description: "Cursor of the last item; pass it as `after` for the next page." })
  endCursor!: string | null;
}

@ObjectType({ description: "A request and its cursor." })
export class RequestEdge {
  @Field({ description: "Opaque position of this request in the list." })
  cursor!: string;

  @Field(() => Request, { description: "The request." })
  node!: Request;
}

@ObjectType({ description: "A page of requests, soonest due first." })
export class RequestConnection {
  @Field(() => [RequestEdge], { description: "The requests of this page." })
  edges!: RequestEdge[];

  @Field(() => PageInfo, { description: "Where this page is in the whole list." })
  pageInfo!: PageInfo;

  @Field(() => Int, { description: "How many requests match the filter, over all pages." })
  totalCount!: number;
}

import { Arg, Args, Authorized, Ctx, FieldResolver, Mutation, Resolver, Root } from "type-graphql";
import { ANY_ROLE, DECIDERS } from "../auth/roles";
import { requestIdsVisibleTo } from "../auth/requestAccess";
import { completeTaskByHand, retryFailedTask } from "../commands/taskOperator";
import type { GraphQLContext } from "../graphql/context";
import { seesLegalHolds, taskForSubject } from "../presenters/holdPrivacy";
import { presentProgress, presentTask } from "../presenters/task.presenter";
import { requestPart } from "../queries/requestPartsFinder";
import { Request } from "../schema/request.type";
import { CompleteManualTaskInput, Progress, Task, TaskIdArgs } from "../schema/task.type";

@Resolver(() => Request)
export class RequestTasksResolver {
  @Authorized(ANY_ROLE)
  @FieldResolver(() => [Task], { description: "The request's tasks, in the order they run. Empty until it is approved. A SERVICE token is told no legal hold: outcome.keptByHold and holdCases are null, and a manual task's note says only that some data is kept for legal reasons." })
  async tasks(@Root() request: Request, @Ctx() ctx: GraphQLContext): Promise<Task[]> {
    const presented = requestPart(request, "tasks").map(presentTask);
    // The subject's side (a SERVICE token) is told no hold: no case, no fields kept by one, no hold in a note.
    const tasks = seesLegalHolds(ctx.caller) ? presented : presented.map(taskForSubject);
    // Earlier deletions keeping records are other requests: a SERVICE token is told only of its own (requestIdsVisibleTo).
    const named = tasks.flatMap((t) => t.outcome?.keptByEarlier?.requests ?? []);
    if (!named.length) return tasks;
    const shown = await requestIdsVisibleTo(ctx.services, ctx.caller, named);
    for (const t of tasks) if (t.outcome?.keptByEarlier) t.outcome.keptByEarlier.requests = t.outcome.keptByEarlier.requests.filter((id) => shown.has(id));
    return tasks;
  }

  @Authorized(ANY_ROLE)
  @FieldResolver(() => Progress, { description: "How far the connectors are, in steps: each task, and each closing pass of a deletion's erasures." })
  progress(@Root() request: Request): Progress {
    return presentProgress(requestPart(request, "tasks"), requestPart(request, "dependencies"));
  }
}

@Resolver(() => Task)
export class TaskResolver {
  @Authorized(DECIDERS)
  @Mutation(() => Task, {
    description:
      "Re-queues a FAILED task with fresh attempts (and the tasks its failure skipped); a FAILED request is reopened. CONFLICT unless the task is FAILED, for a correction once a later-received correction of one of its fields was approved, and once its request ended more than DSR_STAGED_GRACE_MINUTES ago (what it collected and the record ids its survey planned to erase are removed then, kept sets or not: submit a new request); a PURGE of kept sets is retried whenever it failed and reopens nothing. A manual task the system failed because no one completed it DSR_MANUAL_TASK_GRACE_DAYS after its request's due date is CONFLICT with extensions.reason MANUAL_TASK_LAPSED, nothing changed, while that is still so (re-queued, it would be failed again at once): submit a new request, or, while the request is open, extend its deadline first (extendDeadline); then the retry is accepted and the task waits for its person again. ADMIN, PRIVACY_OFFICER.",
  })
  async retryTask(@Args() { id }: TaskIdArgs, @Ctx() ctx: GraphQLContext): Promise<Task> {
    return presentTask(await retryFailedTask(ctx.services, ctx.actor, id));
  }

  @Authorized(DECIDERS)
  @Mutation(() => Task, {
    description:
      "Completes a task waiting for a person (a manual connector): attach the records found (COLLECT), confirm how many were erased (ERASE) or which fields changed (RECTIFY). ADMIN, PRIVACY_OFFICER. A task the system failed because no one completed it DSR_MANUAL_TASK_GRACE_DAYS after the request's due date is CONFLICT with extensions.reason MANUAL_TASK_LAPSED, nothing recorded (its lastError starts with MANUAL_TASK_LAPSED:, which no connector's error does); retryTask takes it back only once the request's deadline is extended (extendDeadline), else submit a new request.",
  })
  async completeManualTask(
    @Arg("input", () => CompleteManualTaskInput, { description: "The task and what the person found or did." }) input: CompleteManualTaskInput,
    @Ctx() ctx: GraphQLContext,
  ): Promise<Task> {
    return presentTask(
      await completeTaskByHand(ctx.services, ctx.actor, input.taskId, {
        records: input.records ?? undefined,
        erasedCount: input.erasedCount ?? undefined,
        changedFields: input.changedFields ?? undefined,
      }),
    );
  }
}

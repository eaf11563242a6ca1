import { randomBytes } from "node:crypto";

/** A Zendesk job status, in the API's own fields (GET /api/v2/job_statuses/{id}). */
export interface JobStatus {
  id: string;
  job_type: string | null;
  status: "queued" | "working" | "completed" | "failed";
  total: number | null;
  progress: number | null;
  message: string | null;
  /** For a permanent ticket deletion, Zendesk only says whether every ticket went: { success }. */
  results: { success: boolean } | null;
}

/**
 * Background jobs as Zendesk runs them: a request that enqueues one (a permanent ticket deletion) gets
 * a queued job status at once, the work happens `delayMs` later, and the job status tells when it is
 * done. Jobs live in memory only, as Zendesk keeps job statuses only for a day: a stand-in restarted
 * before a job ran forgets it (the ticket is then still deleted-but-not-for-good).
 */
export class ZendeskJobs {
  /** How long a job waits in the queue before it runs. */
  delayMs = 30;
  private readonly jobs = new Map<string, JobStatus>();
  private readonly timers = new Set<NodeJS.Timeout>();

  enqueue(run: () => void): JobStatus {
    const job: JobStatus = { id: randomBytes(16).toString("hex"), job_type: null, status: "queued", total: 1, progress: 0, message: null, results: null };
    this.jobs.set(job.id, job);
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      job.status = "working";
      try {
        run();
        Object.assign(job, { status: "completed", progress: 1, message: "Completed at " + new Date().toISOString(), results: { success: true } });
      } catch {
        Object.assign(job, { status: "failed", message: "The job failed", results: { success: false } });
      }
    }, this.delayMs);
    this.timers.add(timer);
    return job;
  }

  get(id: string): JobStatus | undefined {
    return this.jobs.get(id);
  }

  /** Drops jobs not yet run (the stand-in stops). */
  stop(): void {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }
}

/**
 * Runs `round` until stopped: again at once while it finds work (answers more than 0), otherwise after
 * `pollIntervalMs`, or as soon as wake() is called. A round that throws is handed to `onError` and tried
 * again at the next poll. The status-callback dispatcher and the breach roster runner each run one.
 */
export class PollingLoop {
  private stopping = false;
  private loop?: Promise<void>;
  private wakeUp?: () => void;

  constructor(
    private readonly round: () => Promise<number>,
    private readonly pollIntervalMs: number,
    private readonly onError: (error: unknown) => void,
  ) {}

  start(): void {
    this.loop ??= this.run();
  }

  /** Run a round now instead of at the next poll (a wake during a round is not kept). */
  wake(): void {
    this.wakeUp?.();
  }

  /** Ends the loop after the round under way, and waits for it. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.wake();
    await this.loop;
  }

  private async run(): Promise<void> {
    while (!this.stopping) {
      let done = 0;
      try {
        done = await this.round();
      } catch (error) {
        this.onError(error);
      }
      if (!done && !this.stopping) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, this.pollIntervalMs);
          this.wakeUp = () => (clearTimeout(timer), resolve());
        });
      }
    }
  }
}

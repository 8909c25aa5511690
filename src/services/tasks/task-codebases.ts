/**
 * Which codebase a task is of, remembered for the tasks this process claimed or read
 * lately. A task never moves to another codebase, so what is remembered stays true:
 * a runner's reports (its events, its outcome) then name their stream, and the webhook
 * messages their codebase, without a read first. Bounded: the oldest are forgotten.
 */
export class TaskCodebases {
  private readonly known = new Map<string, string>();

  constructor(private readonly max = 50_000) {}

  remember(taskId: string, codebaseId: string): void {
    if (this.known.has(taskId)) return;
    if (this.known.size >= this.max) this.known.delete(this.known.keys().next().value!);
    this.known.set(taskId, codebaseId);
  }

  of(taskId: string): string | undefined {
    return this.known.get(taskId);
  }
}

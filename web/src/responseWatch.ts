/**
 * Notices a server that has stopped answering our edits. A frozen server (or a half-open
 * network) keeps the socket open and says nothing; the transports' own timeouts take 30 s or
 * more, so the editor keeps its own clock.
 *
 * The clock runs while any edit of ours is unacknowledged, and restarts whenever the server
 * says anything. It does not stop when the server answers only part of what we sent: an echo
 * of an older edit that arrives after our newest one went out proves the server was alive
 * then, not that it still is.
 */
export class ResponseWatch {
  /** When the oldest unanswered edit went out (or the connection that carries it opened); 0: none. */
  private waitingSince = 0
  private lastHeard = 0

  /** An edit of ours went out: the server owes an answer. Later edits keep the first time. */
  sent (now: number): void {
    if (this.waitingSince === 0) this.waitingSince = now
  }

  /** Any sync message from the server: proof that it was alive at `now`. */
  heard (now: number): void {
    this.lastHeard = now
  }

  /** Nothing is owed any more: every edit is acknowledged, or the connection was replaced. */
  settled (): void {
    this.waitingSince = 0
  }

  /** Whether an edit has waited `deadlineMs` with nothing at all heard from the server. */
  overdue (now: number, deadlineMs: number): boolean {
    if (this.waitingSince === 0) return false
    return now - Math.max(this.waitingSince, this.lastHeard) >= deadlineMs
  }
}

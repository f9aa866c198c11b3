import type { PendingEdit } from './saveState'

/** Unsaved edits of a document, kept next to the IndexedDB copy so a reopened tab knows. */
const pendingKey = (doc: string) => `tandem:pending:${doc}`

export function loadPending (doc: string): PendingEdit[] {
  try { return JSON.parse(localStorage.getItem(pendingKey(doc)) ?? '[]') as PendingEdit[] } catch { return [] }
}

export function storePending (doc: string, pending: PendingEdit[]): void {
  try {
    if (pending.length === 0) { localStorage.removeItem(pendingKey(doc)); return }
    // One merged entry is enough: the document is saved only when all of it is.
    const clocks: Record<string, number> = {}
    const deletes: PendingEdit['deletes'] = []
    for (const p of pending) {
      for (const [k, c] of Object.entries(p.clocks)) clocks[k] = Math.max(clocks[k] ?? 0, c)
      deletes.push(...p.deletes)
    }
    localStorage.setItem(pendingKey(doc), JSON.stringify([{ clocks, deletes }]))
  } catch { /* storage blocked or full: the badge still tells the truth for this tab */ }
}

import * as Y from 'yjs'
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

/**
 * The bytes of this tab's unsaved edits, merged, kept in localStorage beside their clocks.
 *
 * IndexedDB writes are asynchronous: a tab closed right after a keystroke (offline, or
 * before the server answered) can lose the last ones from the IndexedDB copy, while the
 * clocks above, written synchronously, still say they exist, and the badge would wait for
 * them forever. localStorage is written before the keystroke's handler returns, so a
 * reopened tab applies these bytes over the IndexedDB copy (a no-op when it has them).
 */
export interface UnsavedCopy {
  add (update: Uint8Array): void
  clear (): void
  /** Applies the kept bytes to the document (with `origin`, so they are not counted again). */
  restore (ydoc: Y.Doc, origin: unknown): void
}

const unsavedKey = (doc: string) => `tandem:unsaved:${doc}`
/** Past this the bytes are not kept (localStorage is small); IndexedDB still has them. */
const MAX_UNSAVED_BYTES = 1024 * 1024

function toBase64 (bytes: Uint8Array): string {
  let s = ''
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000))
  return btoa(s)
}

function fromBase64 (text: string): Uint8Array {
  const s = atob(text)
  const out = new Uint8Array(s.length)
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i)
  return out
}

export function createUnsavedCopy (doc: string): UnsavedCopy {
  let merged: Uint8Array | null = null
  try {
    const kept = localStorage.getItem(unsavedKey(doc))
    if (kept) merged = fromBase64(kept)
  } catch { merged = null }
  const forget = () => { try { localStorage.removeItem(unsavedKey(doc)) } catch { /* blocked */ } }
  return {
    add (update) {
      merged = merged ? Y.mergeUpdates([merged, update]) : update
      if (merged.length > MAX_UNSAVED_BYTES) { forget(); return }
      try { localStorage.setItem(unsavedKey(doc), toBase64(merged)) } catch { forget() }
    },
    clear () { merged = null; forget() },
    restore (ydoc, origin) {
      if (!merged) return
      try { Y.applyUpdate(ydoc, merged, origin) } catch { merged = null; forget() }
    },
  }
}

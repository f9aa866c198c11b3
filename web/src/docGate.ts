import { ApiError, api, getDocument, type DocumentInfo } from './api'

/**
 * What the server says about opening a document, asked before connecting and again whenever
 * a connection fails: a refusal (401/403) or a deleted document is not a network failure,
 * so retrying would only fail again (and a browser cannot read a refused WebSocket
 * handshake's status: this request can).
 */
export type Verdict =
  | { kind: 'ok', info: DocumentInfo | null }
  | { kind: 'refused', status: number, code: string | null, message: string }
  | { kind: 'deleted' }
  | { kind: 'missing' }

/** The identity of the document this browser's offline copy belongs to, kept beside it. */
const idKey = (doc: string) => `tandem:doc-id:${doc}`

export function rememberedId (doc: string): number | null {
  try {
    const v = localStorage.getItem(idKey(doc))
    return v === null || !/^\d+$/.test(v) ? null : Number(v)
  } catch { return null }
}

export function rememberId (doc: string, id: number | null): void {
  try {
    if (id === null) localStorage.removeItem(idKey(doc))
    else localStorage.setItem(idKey(doc), String(id))
  } catch { /* storage blocked: the server's check needs the id, the editor works without */ }
}

/**
 * Asks the server about `doc`. `known` is the identity of the local copy: a server whose
 * document under that name has another identity (or none) means the copy's document was
 * deleted. Network trouble and server errors are "ok, unknown": the editor works offline.
 */
export async function probe (doc: string, known: number | null): Promise<Verdict> {
  try {
    const info = await getDocument(doc)
    if (known !== null && (info.id ?? null) !== known) return { kind: 'deleted' }
    return { kind: 'ok', info }
  } catch (err) {
    if (!(err instanceof ApiError)) return { kind: 'ok', info: null }
    if (err.status === 401 || err.status === 403) {
      return { kind: 'refused', status: err.status, code: err.code, message: err.message }
    }
    if (err.status === 410) return { kind: 'deleted' }
    if (err.status === 404) return known !== null ? { kind: 'deleted' } : { kind: 'missing' }
    return { kind: 'ok', info: null }
  }
}

/**
 * What a WebSocket close code the server ends a live connection with means, when no retry
 * can fix it: the token expired (4401) or was revoked (4403), the document was deleted (4404).
 * Taken as said rather than asked again: at the second a token expires, a new request may
 * still pass.
 */
export function finalClose (code: number, reason: string): Verdict | null {
  if (code === 4401) return { kind: 'refused', status: 401, code: 'token_expired', message: reason }
  if (code === 4403) return { kind: 'refused', status: 403, code: 'token_revoked', message: reason }
  if (code === 4404 || code === 4410) return { kind: 'deleted' }
  return null
}

/** Makes the document under the name the address gives (the "missing document" offer). */
export const createNamed = (doc: string) =>
  api<DocumentInfo>('/api/documents', { method: 'POST', json: { name: doc } })

/**
 * Names the identity on a provider's next (re)connection: y-websocket rebuilds its URL from
 * `params` each time, ours read `docId`.
 */
export function claimIdentity (provider: unknown, id: number): void {
  const p = provider as { params?: Record<string, string>, docId?: number | null }
  if (p.params !== undefined) p.params.doc_id = String(id)
  if ('docId' in p) p.docId = id
}

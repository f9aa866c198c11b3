import type { DocKind } from './docKind'

export class ApiError extends Error {
  /** The server's machine-readable reason (`token_expired`, `document_deleted`, ...), if any. */
  constructor (readonly status: number, message: string, readonly code: string | null = null) { super(message) }
}

export interface DocumentInfo {
  /** The document's identity: never reused, so a new document under a deleted one's name differs. */
  id?: number | null
  name: string
  /** Free text shown to people; the name is the URL-safe key. Empty means "use the name". */
  title: string
  created_at: string
  updated_at: string
  size_bytes: number
  connections: number
  users: string[]
  /** "rich" for a Tiptap/ProseMirror document (a Y.XmlFragment), "text" for a plain one. */
  kind?: DocKind | string
}

export interface VersionInfo {
  version: number
  created_at: string
  kind: 'auto' | 'named' | 'restore' | string
  label: string | null
  size_bytes: number
  text_length: number
  /** Who edited since the previous version (token names or the names editors chose). */
  authors?: string[]
  text?: string
  /** The model the version's text was rendered from ("rich": a Tiptap/ProseMirror document). */
  format?: DocKind | string
}

export interface ShareResult {
  token: string
  access: 'read' | 'write'
  expires_at: number
  /** The link's short address (`/s/<id>`), when the server keeps links. */
  short_url?: string | null
}

export interface ServerConfig {
  transports: string[]
  auth: 'open' | 'token' | string
  /**
   * "open": admin actions (list, delete) need nothing; "key": they need the admin key;
   * "none": the server has no admin key, so nobody may list or delete.
   */
  admin?: 'open' | 'key' | 'none' | string
  version: string
}

let authToken: string | null = null
export function setApiToken (token: string | null): void { authToken = token }

/**
 * The admin key, entered once on the list page and kept in this browser until "Sign out"
 * (SECURITY.md says what that means). Sent as the bearer of admin calls (list, delete), and of
 * the others when the address has no `?token=` (the server takes the key wherever a document
 * token goes).
 */
const ADMIN_KEY = 'tandem:admin-key'
let memoryAdminKey: string | null = null
export function adminKey (): string | null {
  try { return localStorage.getItem(ADMIN_KEY) ?? memoryAdminKey } catch { return memoryAdminKey }
}
export function setAdminKey (key: string | null): void {
  try {
    if (key) localStorage.setItem(ADMIN_KEY, key)
    else localStorage.removeItem(ADMIN_KEY)
  } catch { /* storage blocked: the key lasts as long as the page */ }
  memoryAdminKey = key
}

export function docPath (doc: string): string {
  return `/api/documents/${encodeURIComponent(doc)}`
}

/** The export route's formats (docs/rich-text.md); txt and md also suit plain documents. */
export type ExportFormat = 'txt' | 'md' | 'html' | 'json' | 'yjs'

/** All server calls go through here so every error becomes one readable message. */
export async function api<T> (path: string, init: RequestInit & { json?: unknown, timeoutMs?: number, admin?: boolean, blob?: boolean } = {}): Promise<T> {
  const headers = new Headers(init.headers)
  const key = adminKey()
  const bearer = init.admin ? key ?? authToken : authToken ?? key
  if (bearer) headers.set('Authorization', `Bearer ${bearer}`)
  let body = init.body
  if (init.json !== undefined) {
    headers.set('Content-Type', 'application/json')
    body = JSON.stringify(init.json)
  }
  const ctrl = new AbortController()
  const timer = setTimeout(() => ctrl.abort(), init.timeoutMs ?? 15000)
  let res: Response
  try {
    res = await fetch(path, { ...init, headers, body, signal: ctrl.signal })
  } catch {
    throw new ApiError(0, 'The server is unreachable. Check your connection; changes you make in an open document are kept and sent when it is back.')
  } finally {
    clearTimeout(timer)
  }
  if (!res.ok) {
    let message = `${res.status} ${res.statusText}`.trim()
    let code: string | null = null
    try {
      const data = await res.json()
      if (data && typeof data.error === 'string') message = data.error
      if (data && typeof data.code === 'string') code = data.code
    } catch { /* not JSON: keep the status line */ }
    throw new ApiError(res.status, message, code)
  }
  if (res.status === 204) return undefined as T
  if (init.blob) return await res.blob() as unknown as T
  const type = res.headers.get('Content-Type') ?? ''
  if (type.includes('application/json')) return await res.json() as T
  return await res.text() as unknown as T
}

export const getConfig = () => api<ServerConfig>('/api/config', { timeoutMs: 4000 })
export const listDocuments = () => api<{ documents: DocumentInfo[] }>('/api/documents', { admin: true })
export const createDocument = (title: string, kind: DocKind = 'text') =>
  api<DocumentInfo>('/api/documents', { method: 'POST', json: { title, kind } })
export const getDocument = (doc: string) => api<DocumentInfo>(docPath(doc))
export const renameDocument = (doc: string, title: string) =>
  api<DocumentInfo>(docPath(doc), { method: 'PATCH', json: { title } })
export const deleteDocument = (doc: string) => api<void>(docPath(doc), { method: 'DELETE', admin: true })
/** A token for one document, minted with the admin key (so the admin can open any document). */
export const mintToken = (doc: string, expiresIn: number) =>
  api<{ token: string }>('/api/tokens', { method: 'POST', admin: true, json: { doc, access: 'write', expires_in: expiresIn } })
export const shareDocument = (doc: string, access: 'read' | 'write', expiresIn: number) =>
  api<ShareResult>(`${docPath(doc)}/share`, { method: 'POST', json: { access, expires_in: expiresIn } })

/** Title to show for a document: its title, or its name when it has none. */
export const displayTitle = (d: { name: string, title?: string | null }) => (d.title && d.title.trim()) || d.name
export const listVersions = (doc: string) => api<{ versions: VersionInfo[] }>(`${docPath(doc)}/versions`)
export const getVersion = (doc: string, n: number) => api<VersionInfo>(`${docPath(doc)}/versions/${n}`)
export const nameVersion = (doc: string, label: string) =>
  api<VersionInfo>(`${docPath(doc)}/versions`, { method: 'POST', json: { label } })
/** The document (or one version) rendered by the server, as the file a download saves. */
export const exportDocument = (doc: string, format: ExportFormat, version?: number) =>
  api<Blob>(`${docPath(doc)}/export?format=${format}${version === undefined ? '' : `&version=${version}`}`, { blob: true })
/** `author`: the name this person shows, recorded as the restore's author. */
export const restoreVersion = (doc: string, n: number, author?: string) =>
  api<VersionInfo>(`${docPath(doc)}/versions/${n}/restore`, {
    method: 'POST', json: author ? { author: author.slice(0, 64) } : undefined,
  })

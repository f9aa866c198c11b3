export class ApiError extends Error {
  constructor (readonly status: number, message: string) { super(message) }
}

export interface DocumentInfo {
  name: string
  /** Free text shown to people; the name is the URL-safe key. Empty means "use the name". */
  title: string
  created_at: string
  updated_at: string
  size_bytes: number
  connections: number
  users: string[]
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
}

export interface ShareResult {
  token: string
  access: 'read' | 'write'
  expires_at: number
}

export interface ServerConfig {
  transports: string[]
  auth: 'open' | 'token' | string
  /** "open": admin actions (list, delete) need nothing; "key": they need the admin key. */
  admin?: 'open' | 'key' | string
  version: string
}

let authToken: string | null = null
export function setApiToken (token: string | null): void { authToken = token }

export function docPath (doc: string): string {
  return `/api/documents/${encodeURIComponent(doc)}`
}

/** All server calls go through here so every error becomes one readable message. */
export async function api<T> (path: string, init: RequestInit & { json?: unknown, timeoutMs?: number } = {}): Promise<T> {
  const headers = new Headers(init.headers)
  if (authToken) headers.set('Authorization', `Bearer ${authToken}`)
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
    try {
      const data = await res.json()
      if (data && typeof data.error === 'string') message = data.error
    } catch { /* not JSON: keep the status line */ }
    throw new ApiError(res.status, message)
  }
  if (res.status === 204) return undefined as T
  const type = res.headers.get('Content-Type') ?? ''
  if (type.includes('application/json')) return await res.json() as T
  return await res.text() as unknown as T
}

export const getConfig = () => api<ServerConfig>('/api/config', { timeoutMs: 4000 })
export const listDocuments = () => api<{ documents: DocumentInfo[] }>('/api/documents')
export const createDocument = (title: string) => api<DocumentInfo>('/api/documents', { method: 'POST', json: { title } })
export const getDocument = (doc: string) => api<DocumentInfo>(docPath(doc))
export const renameDocument = (doc: string, title: string) =>
  api<DocumentInfo>(docPath(doc), { method: 'PATCH', json: { title } })
export const deleteDocument = (doc: string) => api<void>(docPath(doc), { method: 'DELETE' })
export const shareDocument = (doc: string, access: 'read' | 'write', expiresIn: number) =>
  api<ShareResult>(`${docPath(doc)}/share`, { method: 'POST', json: { access, expires_in: expiresIn } })

/** Title to show for a document: its title, or its name when it has none. */
export const displayTitle = (d: { name: string, title?: string | null }) => (d.title && d.title.trim()) || d.name
export const listVersions = (doc: string) => api<{ versions: VersionInfo[] }>(`${docPath(doc)}/versions`)
export const getVersion = (doc: string, n: number) => api<VersionInfo>(`${docPath(doc)}/versions/${n}`)
export const nameVersion = (doc: string, label: string) =>
  api<VersionInfo>(`${docPath(doc)}/versions`, { method: 'POST', json: { label } })
export const restoreVersion = (doc: string, n: number) =>
  api<VersionInfo>(`${docPath(doc)}/versions/${n}/restore`, { method: 'POST' })

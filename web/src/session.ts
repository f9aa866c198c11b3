import { parseTokenClaims, type TokenClaims } from './token'
import { isTransportName, type TransportName } from './connection'

const NAME_KEY = 'tandem:name'

/** Parameters that must survive in-app navigation (they describe how to reach the server). */
const STICKY_PARAMS = ['token', 'transport'] as const

export interface Session {
  token: string | null
  claims: TokenClaims | null
  forcedTransport: TransportName | null
  /** A `?transport=` value that names no transport: reported to the user, not ignored. */
  unknownTransport: string | null
}

export function readSession (search: string = location.search): Session {
  const params = new URLSearchParams(search)
  const token = params.get('token')
  const t = params.get('transport')
  return {
    token,
    claims: parseTokenClaims(token),
    forcedTransport: isTransportName(t) ? t : null,
    unknownTransport: t !== null && !isTransportName(t) ? t : null,
  }
}

/** Builds an in-app URL that keeps ?token= and ?transport= so a share link keeps working. */
export function appUrl (path: string, search: string = location.search): string {
  const from = new URLSearchParams(search)
  const to = new URLSearchParams()
  for (const k of STICKY_PARAMS) {
    const v = from.get(k)
    if (v !== null) to.set(k, v)
  }
  const q = to.toString()
  return q ? `${path}?${q}` : path
}

function randomGuestName (): string {
  const animals = ['Otter', 'Heron', 'Lynx', 'Fox', 'Badger', 'Wren', 'Orca', 'Ibex', 'Puffin', 'Marten']
  return `${animals[Math.floor(Math.random() * animals.length)]} ${Math.floor(Math.random() * 90 + 10)}`
}

/** The presence name: the token's `name` claim wins, then the stored choice, then a guest name. */
export function currentUserName (claims: TokenClaims | null): string {
  if (claims?.name) return claims.name
  let stored: string | null = null
  try { stored = localStorage.getItem(NAME_KEY) } catch { /* storage blocked */ }
  if (stored && stored.trim()) return stored.trim()
  const guest = randomGuestName()
  try { localStorage.setItem(NAME_KEY, guest) } catch { /* storage blocked */ }
  return guest
}

export function storeUserName (name: string): void {
  try { localStorage.setItem(NAME_KEY, name) } catch { /* storage blocked */ }
}

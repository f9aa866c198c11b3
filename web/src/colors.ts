/**
 * Presence colours. A name always maps to the same colour so that people recognise each other
 * across sessions and browsers without any server-side state.
 */
export const PALETTE: readonly string[] = [
  '#e6194b', '#3cb44b', '#4363d8', '#f58231', '#911eb4', '#0f9d9a',
  '#f032e6', '#6b8e23', '#b8860b', '#9a6324', '#800000', '#000075',
]

/** FNV-1a: tiny, deterministic and spreads short similar names well. */
export function hashString(s: string): number {
  let h = 0x811c9dc5
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i)
    h = Math.imul(h, 0x01000193)
  }
  return h >>> 0
}

export function colorForName(name: string): string {
  return PALETTE[hashString(name) % PALETTE.length]
}

/**
 * The colour this client should use so that everyone present has a different one. Each client
 * starts from its name's colour and steps past colours held by clients with a lower id; the
 * lowest id never moves, so the choice settles after each client saw the others once.
 */
export function distinctColor(name: string, clientId: number, others: Iterable<[number, string | undefined]>): string {
  const taken = new Set<string>()
  for (const [id, color] of others) if (id < clientId && color) taken.add(color)
  const start = hashString(name) % PALETTE.length
  for (let k = 0; k < PALETTE.length; k++) {
    const c = PALETTE[(start + k) % PALETTE.length]
    if (!taken.has(c)) return c
  }
  return PALETTE[start]
}

/** y-codemirror.next paints selections with colorLight; a translucent variant keeps text readable. */
export function lightColor(color: string): string {
  return color + '33'
}

export interface UserInfo { name: string, color: string, colorLight: string }

export function userInfo(name: string, color: string = colorForName(name)): UserInfo {
  return { name, color, colorLight: lightColor(color) }
}

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
 * The colour of everyone present, worked out from the set of names alone. The editor paints a
 * person's cursor and presence chip with it and the document list paints their chip with it:
 * both call this one function with the names they see, so a person has the same colour in
 * both without any server-side state.
 *
 * Each name starts from its own colour (`colorForName`); names are taken in code-unit order
 * (not the locale's, which differs between browsers) and each steps past colours already
 * taken, so people present never share one while the palette lasts. One person in two tabs
 * has one name, so one colour.
 */
export function presenceColors(names: Iterable<string>): Map<string, string> {
  const sorted = Array.from(new Set(names)).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
  const taken = new Set<string>()
  const out = new Map<string, string>()
  for (const name of sorted) {
    const start = hashString(name) % PALETTE.length
    let color = PALETTE[start]
    for (let k = 0; k < PALETTE.length; k++) {
      const c = PALETTE[(start + k) % PALETTE.length]
      if (!taken.has(c)) { color = c; break }
    }
    taken.add(color)
    out.set(name, color)
  }
  return out
}

/**
 * This editor's own colour among the awareness `states` it sees (its own state is `self`):
 * `presenceColors` over the names present, the same call the document list makes.
 */
export function ownColor(me: string, self: number, states: Map<number, unknown>): string {
  const names = [me]
  for (const [id, st] of states) {
    const name = (st as { user?: { name?: unknown } } | null)?.user?.name
    if (id !== self && typeof name === 'string') names.push(name)
  }
  return presenceColors(names).get(me)!
}

/** y-codemirror.next paints selections with colorLight; a translucent variant keeps text readable. */
export function lightColor(color: string): string {
  return color + '33'
}

export interface UserInfo { name: string, color: string, colorLight: string }

export function userInfo(name: string, color: string = colorForName(name)): UserInfo {
  return { name, color, colorLight: lightColor(color) }
}

/**
 * Presence colours come from other people's awareness states, which anyone connected can set
 * to any string. Only `#rgb` and `#rrggbb` reach the DOM (style properties, cursor labels), so
 * a crafted "colour" cannot smuggle CSS (`url(...)`, other declarations) into the page.
 */
const HEX = /^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})$/

export const FALLBACK_COLOR = '#888888'

/** The colour if it is `#rgb` or `#rrggbb`, else the neutral fallback. */
export function safeColor (color: unknown): string {
  return typeof color === 'string' && HEX.test(color) ? color : FALLBACK_COLOR
}

/** `#rrggbb` form of a safe colour, so an alpha suffix can be appended. */
export function expandColor (color: string): string {
  const c = safeColor(color)
  return c.length === 4 ? `#${c[1]}${c[1]}${c[2]}${c[2]}${c[3]}${c[3]}` : c
}

/** A translucent variant for selections (`#rrggbbaa`), built from the safe colour. */
export function translucent (color: unknown, alpha = '33'): string {
  return expandColor(safeColor(color)) + alpha
}

interface AwarenessLike {
  getStates (): Map<number, Record<string, any>>
  on (name: 'change' | 'update', f: (...args: any[]) => void): void
  off (name: 'change' | 'update', f: (...args: any[]) => void): void
}

/**
 * Rewrites every remote `user.color` / `user.colorLight` in this tab's copy of the awareness
 * states before the editors' cursor plugins read them (register it before they are created:
 * listeners run in order). Nothing is sent back: remote states are only ever applied here.
 */
export function guardAwarenessColors (awareness: AwarenessLike): () => void {
  const clean = () => {
    for (const state of awareness.getStates().values()) {
      const user = state?.user
      if (!user || typeof user !== 'object') continue
      const color = safeColor(user.color)
      if (user.color !== color) user.color = color
      const light = translucent(color)
      if (user.colorLight !== light) user.colorLight = light
    }
  }
  clean()
  awareness.on('change', clean)
  awareness.on('update', clean)
  return () => { awareness.off('change', clean); awareness.off('update', clean) }
}

import type * as Y from 'yjs'
import type { Awareness } from 'y-protocols/awareness'
import { ownColor, userInfo } from './colors'
import { h } from './format'
import { safeColor } from './safeColor'
import { presenceLabels } from './presenceNames'

export interface PresenceList {
  element: HTMLElement
  /** This person's colour now (distinct from everyone present). */
  color (): string
  /** The name changed: publish it (and maybe a new colour). */
  nameChanged (): void
  destroy (): void
}

/**
 * Who is here, and this person's own presence: their name and a colour that nobody present
 * shares (the document list colours its chips with the same function, over the same names).
 */
export function createPresenceList (ydoc: Y.Doc, awareness: Awareness, userName: () => string): PresenceList {
  const element = h('ul', { class: 'presence', id: 'presence', 'aria-label': 'Who is here' })
  // Starts from the name's colour; adjusted below so people present never share one.
  let myColor = userInfo(userName()).color
  const setUser = () => awareness.setLocalStateField('user', userInfo(userName(), myColor))
  const pickColor = () => ownColor(userName(), ydoc.clientID, awareness.getStates())
  setUser()

  const render = () => {
    const wanted = pickColor()
    if (wanted !== myColor) { myColor = wanted; setUser(); return }
    const items: HTMLElement[] = []
    const states = Array.from(awareness.getStates().entries())
      .sort(([a], [b]) => (a === ydoc.clientID ? -1 : b === ydoc.clientID ? 1 : a - b))
    // Two people with one name are numbered, in the same order in every tab.
    const labels = presenceLabels(states.flatMap(([client, state]) => {
      const name = (state as { user?: { name?: unknown } }).user?.name
      return typeof name === 'string' && name ? [{ client, name }] : []
    }))
    for (const [client, state] of states) {
      const user = (state as { user?: { name?: string, color?: string } }).user
      if (!user?.name) continue
      const me = client === ydoc.clientID
      const color = safeColor(user.color)
      const li = h('li', { class: me ? 'me' : undefined, title: me ? 'You' : user.name, 'data-color': color },
        h('span', { class: 'avatar', 'aria-hidden': 'true' }, user.name.slice(0, 1).toUpperCase()),
        h('span', { class: 'pname' }, me ? `${labels.get(client) ?? user.name} (you)` : labels.get(client) ?? user.name))
      li.style.setProperty('--c', color)
      items.push(li)
    }
    element.replaceChildren(...items)
  }
  awareness.on('change', render)
  render()

  return {
    element,
    color: () => myColor,
    nameChanged () { myColor = pickColor(); setUser() },
    destroy () { awareness.off('change', render) },
  }
}

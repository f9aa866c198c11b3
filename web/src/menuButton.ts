import { h } from './format'

export interface MenuItem { value: string, label: string }

export interface MenuButton {
  /** The button and its menu, side by side (the menu is positioned under the button). */
  element: HTMLElement
  button: HTMLButtonElement
  setItems (items: MenuItem[]): void
  close (focusButton: boolean): void
}

/**
 * A menu button as the WAI-ARIA authoring practices describe it: Enter, Space or ArrowDown
 * opens the menu on its first item (ArrowUp on its last); in the menu the arrows, Home and End
 * move, Enter or Space chooses, Esc closes and returns to the button, Tab closes and moves on.
 * Opening never chooses anything, so no key press on the closed button acts by itself.
 */
export function createMenuButton (opts: { id: string, label: string, onChoose: (value: string) => void }): MenuButton {
  const menuId = `${opts.id}-menu`
  const button = h('button', {
    type: 'button', id: opts.id, 'aria-haspopup': 'menu', 'aria-expanded': 'false', 'aria-controls': menuId,
  }, `${opts.label} `, h('span', { 'aria-hidden': 'true', class: 'caret' }, '▾')) as HTMLButtonElement
  const menu = h('ul', { role: 'menu', id: menuId, class: 'menu', 'aria-labelledby': opts.id, hidden: true })
  const element = h('div', { class: 'menu-button' }, button, menu)

  const items = () => Array.from(menu.querySelectorAll<HTMLElement>('[role=menuitem]'))
  const focusItem = (i: number) => {
    const all = items()
    if (all.length === 0) return
    const n = ((i % all.length) + all.length) % all.length
    all.forEach((el, j) => { el.tabIndex = j === n ? 0 : -1 })
    all[n].focus()
  }
  const isOpen = () => !menu.hidden
  const open = (at: 'first' | 'last') => {
    menu.hidden = false
    button.setAttribute('aria-expanded', 'true')
    focusItem(at === 'first' ? 0 : -1)
    document.addEventListener('pointerdown', onOutside, true)
  }
  const close = (focusButton: boolean) => {
    if (!isOpen()) return
    menu.hidden = true
    button.setAttribute('aria-expanded', 'false')
    document.removeEventListener('pointerdown', onOutside, true)
    if (focusButton) button.focus()
  }
  const onOutside = (e: Event) => { if (!element.contains(e.target as Node)) close(false) }
  const choose = (el: HTMLElement) => {
    close(true)
    opts.onChoose(el.dataset.value ?? '')
  }

  button.addEventListener('click', () => (isOpen() ? close(true) : open('first')))
  button.addEventListener('keydown', (e) => {
    if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
      e.preventDefault()
      open(e.key === 'ArrowDown' ? 'first' : 'last')
    } else if (e.key === 'Escape' && isOpen()) {
      e.preventDefault()
      e.stopPropagation()
      close(true)
    }
  })
  menu.addEventListener('keydown', (e) => {
    const all = items()
    const at = all.indexOf(document.activeElement as HTMLElement)
    switch (e.key) {
      case 'ArrowDown': focusItem(at + 1); break
      case 'ArrowUp': focusItem(at - 1); break
      case 'Home': focusItem(0); break
      case 'End': focusItem(-1); break
      case 'Enter': case ' ': if (at >= 0) choose(all[at]); break
      case 'Escape': e.stopPropagation(); close(true); break
      case 'Tab': close(false); return
      default: return
    }
    e.preventDefault()
  })
  menu.addEventListener('click', (e) => {
    const el = (e.target as Element).closest<HTMLElement>('[role=menuitem]')
    if (el) choose(el)
  })

  return {
    element,
    button,
    close,
    setItems (list: MenuItem[]) {
      menu.replaceChildren(...list.map((it) =>
        h('li', { role: 'menuitem', tabindex: '-1', 'data-value': it.value }, it.label)))
    },
  }
}

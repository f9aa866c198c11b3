import { ApiError, displayTitle, renameDocument } from './api'
import { h } from './format'

export interface DocTitle {
  /** The heading and its (hidden until renaming) field, side by side. */
  elements: HTMLElement[]
  title (): string
  show (title: string): void
  /** Whether the field is open or a rename is on its way (either keeps other titles off it). */
  editing (): boolean
  setReadOnly (ro: boolean): void
}

/**
 * The document's title, renamed in place: a click, or Enter or F2 on the focused heading,
 * opens a labelled field; Enter (or leaving it) saves, Esc cancels; the focus then returns
 * to the heading, so a keyboard user is where they were.
 */
export function createDocTitle (doc: string, say: (text: string) => void, onRenamed: (title: string) => void = () => {}): DocTitle {
  let title = doc
  let readOnly = false
  const hint = h('span', { id: 'doc-title-hint', class: 'sr-only' }, 'Press Enter or F2 to rename')
  const heading = h('h1', {
    id: 'doc-title', tabindex: '0', title: 'Rename (Enter or F2)', 'aria-describedby': 'doc-title-hint',
  }, title)
  const input = h('input', { type: 'text', id: 'title-input', maxlength: '200', 'aria-label': 'Title', hidden: true })

  const show = (t: string) => {
    title = t
    heading.textContent = t
    document.title = `${t} · Tandem`
  }
  const start = () => {
    if (readOnly) return
    input.value = title
    heading.hidden = true
    input.hidden = false
    input.focus()
    input.select()
  }
  let renaming = false
  const finish = async (save: boolean, refocus: boolean) => {
    if (renaming || input.hidden) return
    const next = input.value.trim()
    input.hidden = true
    heading.hidden = false
    if (refocus) heading.focus()
    if (!save || !next || next === title) return
    renaming = true
    const before = title
    show(next)
    try {
      show(displayTitle(await renameDocument(doc, next)))
      onRenamed(title)
    } catch (err) {
      show(before)
      say(`Could not rename: ${err instanceof ApiError ? err.message : String(err)}`)
    } finally {
      renaming = false
    }
  }
  heading.addEventListener('click', start)
  heading.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' || e.key === 'F2') { e.preventDefault(); start() }
  })
  input.addEventListener('keydown', (e) => {
    if (e.key === 'Enter') { e.preventDefault(); void finish(true, true) }
    if (e.key === 'Escape') { e.preventDefault(); e.stopPropagation(); void finish(false, true) }
  })
  input.addEventListener('blur', () => void finish(true, false))
  show(title)

  return {
    elements: [heading, input, hint],
    title: () => title,
    show,
    editing: () => !input.hidden || renaming,
    setReadOnly (ro: boolean) {
      readOnly = ro
      heading.title = ro ? '' : 'Rename (Enter or F2)'
      if (ro) { heading.removeAttribute('aria-describedby'); heading.removeAttribute('tabindex') }
    },
  }
}

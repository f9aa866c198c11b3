import { h } from './format'
import { editorSettings, type EditorSettings } from './editorSettings'
import type { DocKind } from './docKind'

/**
 * Under the editor: how to leave it with the keyboard (it depends on the Tab setting) and
 * the plain editor's settings, as checkboxes that say what they do.
 */
export function createEditorFoot (): { element: HTMLElement, setKind (kind: DocKind): void, destroy (): void } {
  const hint = h('p', { class: 'keyboard-hint', id: 'keyboard-hint' })
  const tab = h('input', { type: 'checkbox', id: 'setting-tab-indents' })
  const lines = h('input', { type: 'checkbox', id: 'setting-line-numbers' })
  const settings = h('div', { class: 'settings', role: 'group', 'aria-label': 'Editor settings' },
    h('label', {}, tab, 'Tab key indents'),
    h('label', {}, lines, 'Line numbers'))
  let kind: DocKind = 'text'
  const kbd = (t: string) => h('kbd', {}, t)
  const render = (s: EditorSettings) => {
    tab.checked = s.tabIndents
    lines.checked = s.lineNumbers
    settings.hidden = kind !== 'text'
    if (kind !== 'text') {
      hint.replaceChildren(kbd('Tab'), ' leaves the editor (in a list it indents the item)')
    } else if (s.tabIndents) {
      hint.replaceChildren(kbd('Tab'), ' indents · ', kbd('Esc'), ' then ', kbd('Tab'), ' leaves the editor · ', kbd('Ctrl'), '+', kbd('F'), ' finds')
    } else {
      hint.replaceChildren(kbd('Tab'), ' leaves the editor · ', kbd('Ctrl'), '+', kbd('F'), ' finds and replaces')
    }
  }
  tab.addEventListener('change', () => editorSettings.set({ tabIndents: tab.checked }))
  lines.addEventListener('change', () => editorSettings.set({ lineNumbers: lines.checked }))
  const stop = editorSettings.onChange(render)
  render(editorSettings.get())
  return {
    element: h('div', { class: 'editor-foot' }, hint, settings),
    setKind (k: DocKind) { kind = k; render(editorSettings.get()) },
    destroy: stop,
  }
}

import { DOMSerializer, Node as PMNode } from '@tiptap/pm/model'
import { h } from './format'
import { richSchema } from './richSchema'

/**
 * A rich version for the history panel, built as DOM nodes from its ProseMirror JSON (the
 * export route's `json` format) through the editor's own schema: text stays text, attributes
 * go through the schema's renderers (a `javascript:` or `data:` link loses its address), and
 * nothing is parsed as HTML. JSON the schema does not know (a node another app invented)
 * falls back to the version's plain text.
 */
export function richPreview (json: unknown, fallbackText: string): HTMLElement {
  const box = h('div', { class: 'rich-preview version-rich' })
  try {
    const node = PMNode.fromJSON(richSchema(), json)
    box.append(DOMSerializer.fromSchema(richSchema()).serializeFragment(node.content))
    if (!node.textContent && node.childCount <= 1) box.replaceChildren(h('p', { class: 'muted' }, '(empty)'))
  } catch {
    box.replaceChildren(h('pre', { class: 'version-text' }, fallbackText || '(empty)'))
  }
  return box
}

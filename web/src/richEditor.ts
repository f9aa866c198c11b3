import type * as Y from 'yjs'
import type { Awareness } from 'y-protocols/awareness'
import { Editor } from '@tiptap/core'
import Collaboration from '@tiptap/extension-collaboration'
import CollaborationCaret from '@tiptap/extension-collaboration-caret'
import { Placeholder } from '@tiptap/extensions'
import { RICH_FIELD } from './docKind'
import type { EditorHandle } from './editorHandle'
import { richExtensions } from './richSchema'
import { createRichToolbar } from './richToolbar'
import { safeColor, translucent } from './safeColor'
import type { UserInfo } from './colors'

/** A remote caret: a coloured bar with the person's name (text, never markup). */
function caret (user: Record<string, unknown>): HTMLElement {
  const color = safeColor(user.color)
  const el = document.createElement('span')
  el.className = 'collaboration-carets__caret'
  el.style.borderColor = color
  const label = document.createElement('div')
  label.className = 'collaboration-carets__label'
  label.style.backgroundColor = color
  label.textContent = typeof user.name === 'string' ? user.name : ''
  el.append(label)
  return el
}

/**
 * Tiptap on the document's Y.XmlFragment (`default`, Tiptap's own field, so documents written
 * by other Tiptap apps open here and the other way round), with a formatting toolbar. It uses
 * the page's awareness directly: the provider underneath (WebSocket, SSE or polling) is the
 * page's business.
 */
export function mountRichEditor (host: HTMLElement, ydoc: Y.Doc, awareness: Awareness, user: UserInfo,
  doc: string, say: (text: string) => void): EditorHandle {
  const surface = document.createElement('div')
  surface.className = 'rich-surface'
  const editor = new Editor({
    element: surface,
    extensions: [
      ...richExtensions(),
      Collaboration.configure({ document: ydoc, field: RICH_FIELD }),
      CollaborationCaret.configure({
        provider: { awareness },
        user,
        render: caret,
        selectionRender: (u: Record<string, unknown>) => ({
          nodeName: 'span',
          class: 'collaboration-carets__selection',
          style: `background-color: ${translucent(u.color)}`,
        }),
      }),
      Placeholder.configure({ placeholder: ({ editor: e }) => (e.isEditable ? 'Start typing…' : 'This document is empty.') }),
    ],
    editorProps: {
      attributes: { 'aria-label': `Text of ${doc}`, 'aria-multiline': 'true', role: 'textbox', class: 'rich-content' },
    },
  })
  const toolbar = createRichToolbar(editor, say)
  host.classList.add('rich')
  host.append(toolbar.element, surface)
  return {
    kind: 'rich',
    focus: () => editor.commands.focus(),
    setReadOnly (ro: boolean) {
      editor.setEditable(!ro)
      toolbar.refresh()
    },
    text: () => editor.getText({ blockSeparator: '\n' }),
    json: () => editor.getJSON(),
    destroy () {
      toolbar.destroy()
      editor.destroy()
    },
  }
}

import * as Y from 'yjs'
import type { Awareness } from 'y-protocols/awareness'
import { yCollab, yUndoManagerKeymap } from 'y-codemirror.next'
import { Compartment, EditorState } from '@codemirror/state'
import {
  EditorView, drawSelection, dropCursor, highlightActiveLine, highlightActiveLineGutter,
  highlightSpecialChars, keymap, lineNumbers, placeholder,
} from '@codemirror/view'
import { defaultKeymap, indentWithTab } from '@codemirror/commands'
import { TEXT_FIELD } from './docKind'
import type { EditorHandle } from './editorHandle'

function readOnlyExtensions (ro: boolean) {
  return [EditorState.readOnly.of(ro), EditorView.editable.of(!ro),
    placeholder(ro ? 'This document is empty.' : 'Start typing…')]
}

/** CodeMirror on the document's Y.Text: the editor of plain documents. */
export function mountTextEditor (host: HTMLElement, ydoc: Y.Doc, awareness: Awareness, doc: string): EditorHandle {
  const ytext = ydoc.getText(TEXT_FIELD)
  const undoManager = new Y.UndoManager(ytext)
  const readOnlyComp = new Compartment()
  let readOnly = false
  const view = new EditorView({
    parent: host,
    state: EditorState.create({
      doc: ytext.toString(),
      extensions: [
        lineNumbers(), highlightActiveLineGutter(), highlightSpecialChars(), drawSelection(), dropCursor(),
        highlightActiveLine(), EditorView.lineWrapping,
        keymap.of([...yUndoManagerKeymap, ...defaultKeymap, indentWithTab]),
        yCollab(ytext, awareness, { undoManager }),
        readOnlyComp.of(readOnlyExtensions(false)),
        EditorView.contentAttributes.of({ 'aria-label': `Text of ${doc}` }),
      ],
    }),
  })
  return {
    kind: 'text',
    focus: () => view.focus(),
    setReadOnly (ro: boolean) {
      if (ro === readOnly) return
      readOnly = ro
      view.dispatch({ effects: readOnlyComp.reconfigure(readOnlyExtensions(ro)) })
    },
    text: () => ytext.toString(),
    destroy () {
      view.destroy()
      undoManager.destroy()
    },
  }
}

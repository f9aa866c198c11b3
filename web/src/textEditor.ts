import * as Y from 'yjs'
import type { Awareness } from 'y-protocols/awareness'
import { yCollab, yUndoManagerKeymap } from 'y-codemirror.next'
import { Compartment, EditorState, type Extension } from '@codemirror/state'
import {
  EditorView, drawSelection, dropCursor, highlightActiveLineGutter,
  highlightSpecialChars, keymap, lineNumbers, placeholder,
} from '@codemirror/view'
import { defaultKeymap, indentWithTab } from '@codemirror/commands'
import { search, searchKeymap } from '@codemirror/search'
import { TEXT_FIELD } from './docKind'
import type { EditorHandle } from './editorHandle'
import { editorSettings, type EditorSettings } from './editorSettings'
import { writingSurface } from './writingTheme'

function readOnlyExtensions (ro: boolean) {
  return [EditorState.readOnly.of(ro), EditorView.editable.of(!ro),
    placeholder(ro ? 'This document is empty.' : 'Start typing…')]
}

/**
 * Tab belongs to the page (it moves focus on, as everywhere else) unless the person asked for
 * Tab to indent; even then CodeMirror's "Esc then Tab" leaves the editor.
 */
function settingsExtensions (s: EditorSettings): Extension[] {
  return [
    s.lineNumbers ? [lineNumbers(), highlightActiveLineGutter()] : [],
    s.tabIndents ? keymap.of([indentWithTab]) : [],
  ]
}

/** CodeMirror on the document's Y.Text: the editor of plain documents, a Markdown writing surface. */
export function mountTextEditor (host: HTMLElement, ydoc: Y.Doc, awareness: Awareness, doc: string): EditorHandle {
  const ytext = ydoc.getText(TEXT_FIELD)
  const undoManager = new Y.UndoManager(ytext)
  const readOnlyComp = new Compartment()
  const settingsComp = new Compartment()
  let readOnly = false
  const view = new EditorView({
    parent: host,
    state: EditorState.create({
      doc: ytext.toString(),
      extensions: [
        settingsComp.of(settingsExtensions(editorSettings.get())),
        highlightSpecialChars(), drawSelection(), dropCursor(), EditorView.lineWrapping,
        writingSurface(),
        search({ top: true }),
        keymap.of([...yUndoManagerKeymap, ...searchKeymap, ...defaultKeymap]),
        yCollab(ytext, awareness, { undoManager }),
        readOnlyComp.of(readOnlyExtensions(false)),
        EditorView.contentAttributes.of({ 'aria-label': `Text of ${doc}`, spellcheck: 'true', autocorrect: 'on', autocapitalize: 'sentences' }),
      ],
    }),
  })
  const stopSettings = editorSettings.onChange((s) => view.dispatch({ effects: settingsComp.reconfigure(settingsExtensions(s)) }))
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
      stopSettings()
      view.destroy()
      undoManager.destroy()
    },
  }
}

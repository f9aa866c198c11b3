import type { DocKind } from './docKind'

/**
 * What the editor page needs from either editor (CodeMirror for plain documents, Tiptap for
 * rich ones); both are bound to the page's one Y.Doc and awareness, so the transports, save
 * badge, presence, offline copy and history work the same for both.
 */
export interface EditorHandle {
  kind: DocKind
  focus (): void
  setReadOnly (ro: boolean): void
  /** The document's plain text as this tab sees it now. */
  text (): string
  /** A rich document's ProseMirror JSON (for the history's "Now"). */
  json? (): unknown
  destroy (): void
}

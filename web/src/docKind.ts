import * as Y from 'yjs'

/** Which editor a document needs: CodeMirror on the Y.Text, or Tiptap on the Y.XmlFragment. */
export type DocKind = 'text' | 'rich'

/** The plain editor's field (a Y.Text). */
export const TEXT_FIELD = 'content'
/** The rich editor's field: Tiptap's default Y.XmlFragment. */
export const RICH_FIELD = 'default'

export function isDocKind (s: unknown): s is DocKind {
  return s === 'text' || s === 'rich'
}

/**
 * What a root holds, read from its items rather than from how this tab got it: a Yjs update
 * does not record a root's type, and asking for it with the wrong type (`getText` on a
 * fragment) would corrupt what everyone sees. Nested types mean XML; strings mean text.
 */
function rootHolds (ydoc: Y.Doc, field: string): 'xml' | 'text' | null {
  const root = ydoc.share.get(field)
  if (!root) return null
  for (let item = root._start; item !== null; item = item.right) {
    if (item.deleted) continue
    const c = item.content
    if (c instanceof Y.ContentType) return 'xml'
    if (c instanceof Y.ContentString || c instanceof Y.ContentEmbed || c instanceof Y.ContentFormat) return 'text'
  }
  return null
}

/**
 * The kind the content of `ydoc` decides, or null when neither field holds anything (then the
 * server's word, given when the document was created, decides). Rich content wins when a
 * document somehow holds both, since the plain editor would hide it.
 */
export function kindOfContent (ydoc: Y.Doc): DocKind | null {
  if (rootHolds(ydoc, RICH_FIELD) === 'xml') return 'rich'
  if (rootHolds(ydoc, TEXT_FIELD) === 'text') return 'text'
  return null
}

/**
 * The kind to open: the content's, else the server's, else plain text (the server unreachable
 * and nothing kept locally: a plain editor is what every older document is).
 */
export function chooseKind (content: DocKind | null, server: unknown): DocKind {
  return content ?? (isDocKind(server) ? server : 'text')
}

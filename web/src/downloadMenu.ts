import * as Y from 'yjs'
import { ApiError, exportDocument, type ExportFormat } from './api'
import { download, fileNameFor } from './download'
import type { DocKind } from './docKind'
import type { EditorHandle } from './editorHandle'
import { createMenuButton } from './menuButton'

const LABELS: Record<ExportFormat, string> = {
  txt: 'Plain text (.txt)',
  md: 'Markdown (.md)',
  html: 'HTML (.html)',
  json: 'JSON (.json)',
  yjs: 'Yjs state (.yjs)',
}

/** What each kind offers: a rich document in every format the server renders. */
export function downloadFormats (kind: DocKind): ExportFormat[] {
  return kind === 'rich' ? ['md', 'html', 'json', 'txt', 'yjs'] : ['md', 'txt', 'yjs']
}

const EXPORT_TYPES: Record<ExportFormat, string> = {
  txt: 'text/plain;charset=utf-8',
  md: 'text/markdown;charset=utf-8',
  html: 'text/html;charset=utf-8',
  json: 'application/json',
  yjs: 'application/octet-stream',
}

/**
 * The Download menu (a WAI-ARIA menu button: arrows move, Enter or Space downloads, Esc
 * closes). A plain document's text and every document's Yjs state are saved from this tab
 * (offline too); a plain document is written in Markdown, so its `.md` is its text as it is.
 * A rich document's renderings come from the server's export route, so they are the server's
 * Markdown and escaped HTML (of what it has saved).
 */
export function createDownloadMenu (doc: string, ydoc: Y.Doc, title: () => string, editor: () => EditorHandle | null,
  fail: (text: string) => void): { element: HTMLElement, setKind (kind: DocKind): void } {
  let kind: DocKind = 'text'
  const save = async (format: ExportFormat) => {
    const name = fileNameFor(title(), format)
    if (format === 'yjs') { download(name, Y.encodeStateAsUpdate(ydoc), EXPORT_TYPES.yjs); return }
    if (kind === 'text') { download(name, editor()?.text() ?? '', EXPORT_TYPES[format]); return }
    try {
      download(name, new Uint8Array(await (await exportDocument(doc, format)).arrayBuffer()), EXPORT_TYPES[format])
    } catch (err) {
      fail(`Could not download: ${err instanceof ApiError ? err.message : String(err)}`)
    }
  }
  const menu = createMenuButton({ id: 'export', label: 'Download', onChoose: (value) => void save(value as ExportFormat) })
  const setKind = (k: DocKind) => {
    kind = k
    menu.setItems(downloadFormats(k).map((f) => ({ value: f, label: LABELS[f] })))
  }
  setKind('text')
  return { element: menu.element, setKind }
}

import * as Y from 'yjs'
import { ApiError, exportDocument, type ExportFormat } from './api'
import { h } from './format'
import { download, fileNameFor } from './download'
import type { DocKind } from './docKind'
import type { EditorHandle } from './editorHandle'

const LABELS: Record<ExportFormat, string> = {
  txt: 'Plain text (.txt)',
  md: 'Markdown (.md)',
  html: 'HTML (.html)',
  json: 'JSON (.json)',
  yjs: 'Yjs state (.yjs)',
}

/** What each kind offers: a rich document in every format the server renders. */
export function downloadFormats (kind: DocKind): ExportFormat[] {
  return kind === 'rich' ? ['md', 'html', 'json', 'txt', 'yjs'] : ['txt', 'md', 'yjs']
}

/**
 * The Downloads menu. A plain document's text and every document's Yjs state are saved from
 * this tab (offline too); a rich document's renderings come from the server's export route,
 * so they are the server's Markdown and escaped HTML (of what it has saved).
 */
export function createDownloadMenu (doc: string, ydoc: Y.Doc, title: () => string, editor: () => EditorHandle | null,
  fail: (text: string) => void): { element: HTMLSelectElement, setKind (kind: DocKind): void } {
  const element = h('select', { id: 'export', 'aria-label': 'Download' })
  let kind: DocKind = 'text'
  const setKind = (k: DocKind) => {
    kind = k
    element.replaceChildren(h('option', { value: '' }, 'Download…'),
      ...downloadFormats(k).map((f) => h('option', { value: f }, LABELS[f])))
  }
  setKind('text')
  element.addEventListener('change', async () => {
    const format = element.value as ExportFormat | ''
    element.value = ''
    if (!format) return
    const name = fileNameFor(title(), format)
    if (format === 'yjs') { download(name, Y.encodeStateAsUpdate(ydoc), 'application/octet-stream'); return }
    if (kind === 'text') {
      const type = format === 'md' ? 'text/markdown;charset=utf-8' : 'text/plain;charset=utf-8'
      download(name, editor()?.text() ?? '', type)
      return
    }
    try {
      download(name, new Uint8Array(await (await exportDocument(doc, format)).arrayBuffer()), EXPORT_TYPES[format])
    } catch (err) {
      fail(`Could not download: ${err instanceof ApiError ? err.message : String(err)}`)
    }
  })
  return { element, setKind }
}

const EXPORT_TYPES: Record<ExportFormat, string> = {
  txt: 'text/plain;charset=utf-8',
  md: 'text/markdown;charset=utf-8',
  html: 'text/html;charset=utf-8',
  json: 'application/json',
  yjs: 'application/octet-stream',
}

import { ApiError, exportDocument, getVersion, listVersions, nameVersion, restoreVersion, type VersionInfo } from './api'
import { absoluteTime, formatBytes, h, relativeTime } from './format'
import { diffLines, diffStats } from './diff'
import type { DocKind } from './docKind'

/** The rich preview brings the editor's schema (Tiptap): loaded only when a rich version is shown. */
const richPreview = async (json: unknown, text: string) => (await import('./richPreview')).richPreview(json, text)

/** The open document as the panel needs it (its editor knows it). */
export interface HistorySource {
  kind: DocKind
  /** The plain text this tab has now. */
  text (): string
  /** A rich document's ProseMirror JSON now. */
  json? (): unknown
  /** The name this person shows: the restore's author. */
  author? (): string
  /** A restore of version `from` was saved as version `saved`. */
  restored? (from: number, saved: number): void
}

/**
 * A rich version's text for a comparison: the server's rendering (the export route), so it
 * lines up with the versions' texts, which the server renders the same way.
 */
async function serverText (doc: string, version?: number): Promise<string> {
  return await (await exportDocument(doc, 'txt', version)).text()
}

export interface HistoryPanel {
  element: HTMLElement
  refresh (): Promise<void>
  setReadOnly (ro: boolean): void
  /** The panel's own close button (on phones it is a sheet over the editor). */
  onClose (f: () => void): void
}

export function createHistoryPanel (doc: string, source: HistorySource): HistoryPanel {
  const list = h('ol', { class: 'versions', id: 'version-list' })
  const message = h('p', { class: 'message', role: 'status', hidden: true })
  const preview = h('div', { class: 'preview', id: 'version-preview', hidden: true })
  const labelInput = h('input', { type: 'text', id: 'version-label', placeholder: 'Version label', maxlength: '200' })
  const nameButton = h('button', { type: 'submit', id: 'name-version' }, 'Name this version')
  const nameForm = h('form', { class: 'name-version' }, labelInput, nameButton)
  let selected: number | null = null
  let readOnly = false
  let sayTimer: ReturnType<typeof setTimeout> | null = null
  const closeListeners: Array<() => void> = []

  const say = (text: string | null, kind: 'error' | 'ok' = 'ok') => {
    message.hidden = text === null
    message.textContent = text ?? ''
    message.className = `message ${kind}`
    // Confirmations fade after a moment; errors stay until the next action.
    if (sayTimer) clearTimeout(sayTimer)
    sayTimer = text !== null && kind === 'ok' ? setTimeout(() => say(null), 4000) : null
  }
  const clearPreview = () => {
    selected = null
    preview.hidden = true
    preview.replaceChildren()
  }
  // A preview below the list (seven versions fill a laptop's panel, a phone's sheet) would
  // open out of sight: it is scrolled into view, its head first.
  const reveal = () => preview.scrollIntoView({ block: 'nearest' })
  const errText = (err: unknown) => (err instanceof ApiError ? err.message : String(err))

  const describe = (v: VersionInfo) => {
    const kind = v.kind === 'named' ? 'Named' : v.kind === 'restore' ? 'Restore' : 'Auto'
    return h('span', { class: 'v-desc' },
      h('span', { class: `v-kind v-${v.kind}` }, kind),
      v.label ? h('span', { class: 'v-label' }, v.label) : null,
      h('span', { class: 'v-meta', title: absoluteTime(v.created_at) },
        `#${v.version} · ${relativeTime(v.created_at)} · ${formatBytes(v.size_bytes)} · ${v.text_length} chars`),
      v.authors && v.authors.length > 0
        ? h('span', { class: 'v-authors' }, `by ${v.authors.join(', ')}`)
        : null)
  }

  const showVersion = async (n: number) => {
    selected = n
    for (const li of list.querySelectorAll('li')) li.classList.toggle('selected', li.dataset.version === String(n))
    preview.hidden = false
    preview.replaceChildren(h('p', { class: 'muted' }, 'Loading…'))
    reveal()
    let v: VersionInfo
    let body: HTMLElement
    try {
      v = await getVersion(doc, n)
      const text = v.text ?? ''
      // The version's own model decides (a document may have changed kind since).
      const rich = (v.format ?? source.kind) === 'rich'
      body = rich
        ? await richPreview(JSON.parse(await (await exportDocument(doc, 'json', n)).text()), text)
        : h('pre', { class: 'version-text' }, text || '(empty)')
    } catch (err) {
      if (selected === n) preview.replaceChildren(h('p', { class: 'message error' }, errText(err)))
      return
    }
    if (selected !== n) return
    const text = v.text ?? ''
    const compare = h('button', { type: 'button', class: 'compare' }, 'Compare with now')
    const restore = h('button', { type: 'button', class: 'danger restore', disabled: readOnly }, 'Restore')
    compare.addEventListener('click', async () => {
      compare.disabled = true
      let now = source.text()
      if (source.kind === 'rich') {
        try { now = await serverText(doc) } catch { /* offline: this tab's text is the best there is */ }
      }
      if (selected !== n) return
      const ops = diffLines(text, now)
      const stats = diffStats(ops)
      const out = h('div', { class: 'diff' },
        h('p', { class: 'muted small' }, `Version #${n} → now: +${stats.added} / −${stats.removed} lines`),
        h('pre', {}, ...ops.map((o) => h('div', { class: `d-${o.kind}` },
          (o.kind === 'add' ? '+ ' : o.kind === 'del' ? '− ' : '  ') + o.text))))
      body.replaceWith(out)
    })
    restore.addEventListener('click', async () => {
      if (!confirm(`Restore version #${n}? The current text is replaced; the history keeps everything.`)) return
      restore.disabled = true
      try {
        const r = await restoreVersion(doc, n, source.author?.())
        source.restored?.(n, r.version)
        // The old preview and diff describe a state that is gone: close them.
        clearPreview()
        say(`Restored version #${n} (saved as #${r.version}).`)
        await refresh()
      } catch (err) {
        say(`Restore failed: ${errText(err)}`, 'error')
      } finally {
        restore.disabled = readOnly
      }
    })
    preview.replaceChildren(
      h('div', { class: 'preview-head' }, describe(v)),
      h('div', { class: 'preview-actions' }, compare, restore),
      body)
    reveal()
  }

  const showCurrent = async () => {
    selected = 0
    for (const li of list.querySelectorAll('li')) li.classList.toggle('selected', li.dataset.version === 'current')
    preview.hidden = false
    const text = source.text()
    const body = source.kind === 'rich' && source.json
      ? await richPreview(source.json(), text)
      : h('pre', { class: 'version-text' }, text || '(empty)')
    if (selected !== 0) return
    preview.replaceChildren(
      h('div', { class: 'preview-head' }, h('span', { class: 'v-desc' }, h('span', { class: 'v-kind v-current' }, 'Now'),
        h('span', { class: 'v-meta' }, `${text.length} chars · saved as a version after 30 s without edits`))),
      body)
    reveal()
  }

  const refresh = async () => {
    try {
      const { versions } = await listVersions(doc)
      // The current text heads the list, so the panel is never empty and "now" is explicit.
      const current = h('li', { 'data-version': 'current', class: selected === 0 ? 'selected' : undefined },
        h('button', { type: 'button', class: 'version-item', id: 'version-current' },
          h('span', { class: 'v-desc' }, h('span', { class: 'v-kind v-current' }, 'Now'),
            h('span', { class: 'v-label' }, 'Current text'),
            h('span', { class: 'v-meta' }, versions.length === 0 ? 'No saved versions yet' : 'Live, as everyone sees it'))))
      current.querySelector('button')!.addEventListener('click', () => void showCurrent())
      // A refresh must not take the focus from a keyboard user: the item they were on is
      // focused again in the new list (otherwise focus falls to the page, and Esc no
      // longer reaches the panel).
      const focused = (document.activeElement as HTMLElement | null)?.closest?.('li')
      const focusedVersion = focused && list.contains(focused) ? focused.dataset.version : undefined
      list.replaceChildren(current, ...versions.map((v) => {
        const li = h('li', { 'data-version': String(v.version), class: selected === v.version ? 'selected' : undefined },
          h('button', { type: 'button', class: 'version-item' }, describe(v)))
        li.querySelector('button')!.addEventListener('click', () => void showVersion(v.version))
        return li
      }))
      if (focusedVersion !== undefined) {
        list.querySelector<HTMLButtonElement>(`li[data-version="${focusedVersion}"] button`)?.focus()
      }
    } catch (err) {
      say(`Could not load history: ${errText(err)}`, 'error')
    }
  }

  nameForm.addEventListener('submit', async (e) => {
    e.preventDefault()
    const label = labelInput.value.trim()
    if (!label) { say('Give the version a label.', 'error'); labelInput.focus(); return }
    nameButton.disabled = true
    try {
      const v = await nameVersion(doc, label)
      labelInput.value = ''
      say(`Saved “${label}” as version #${v.version}.`)
      await refresh()
    } catch (err) {
      say(`Could not name the version: ${errText(err)}`, 'error')
    } finally {
      nameButton.disabled = readOnly
    }
  })

  const refreshButton = h('button', { type: 'button', class: 'link' }, 'Refresh')
  refreshButton.addEventListener('click', () => void refresh())
  const closeButton = h('button', { type: 'button', class: 'close', id: 'close-history', 'aria-label': 'Close history' }, '×')
  closeButton.addEventListener('click', () => { for (const f of closeListeners) f() })

  const element = h('aside', { class: 'history', id: 'history-panel', 'aria-label': 'History' },
    h('div', { class: 'history-head' }, h('h2', {}, 'History'), h('span', { class: 'head-actions' }, refreshButton, closeButton)),
    nameForm, message, list, preview)

  return {
    element,
    refresh,
    onClose (f: () => void) { closeListeners.push(f) },
    setReadOnly (ro: boolean) {
      readOnly = ro
      nameButton.disabled = ro
      labelInput.disabled = ro
      for (const b of preview.querySelectorAll<HTMLButtonElement>('button.restore')) b.disabled = ro
    },
  }
}

import * as Y from 'yjs'
import { Awareness } from 'y-protocols/awareness'
import { IndexeddbPersistence } from 'y-indexeddb'
import { yCollab, yUndoManagerKeymap } from 'y-codemirror.next'
import { Compartment, EditorState } from '@codemirror/state'
import {
  EditorView, drawSelection, dropCursor, highlightActiveLine, highlightActiveLineGutter,
  highlightSpecialChars, keymap, lineNumbers, placeholder,
} from '@codemirror/view'
import { defaultKeymap, indentWithTab } from '@codemirror/commands'
import { Connection, createProvider, transportOrder, type TransportName } from './connection'
import { ApiError, adminKey, displayTitle, getConfig, getDocument, mintToken, renameDocument, type ServerConfig } from './api'
import { guardColors, ownColor, userInfo } from './colors'
import { validateDocName } from './names'
import { h } from './format'
import { appUrl, type Session } from './session'
import { isReadOnlyToken } from './token'
import { createHistoryPanel } from './historyPanel'
import { createShareDialog } from './shareDialog'
import { download, fileNameFor } from './download'
import { SaveTracker, type PendingEdit } from './saveState'
import type { ServerSync } from './protocol'

export interface EditorPageOptions {
  session: Session
  userName: () => string
  onNameChange: (f: (name: string) => void) => void
  navigate: (url: string) => void
}

const TRANSPORT_TEXT: Record<TransportName, string> = { websocket: 'WebSocket', sse: 'SSE', poll: 'Long polling' }
export const OFFLINE_TEXT = 'Offline: your changes are kept in this browser'
/** Lifetime of the token an admin's editor mints for itself (a reload mints a new one). */
const ADMIN_TOKEN_SECS = 12 * 3600

function readOnlyExtensions (ro: boolean) {
  return [EditorState.readOnly.of(ro), EditorView.editable.of(!ro),
    placeholder(ro ? 'This document is empty.' : 'Start typing…')]
}

/** Unsaved edits of a document, kept next to the IndexedDB copy so a reopened tab knows. */
const pendingKey = (doc: string) => `tandem:pending:${doc}`
function loadPending (doc: string): PendingEdit[] {
  try { return JSON.parse(localStorage.getItem(pendingKey(doc)) ?? '[]') as PendingEdit[] } catch { return [] }
}
function storePending (doc: string, pending: PendingEdit[]): void {
  try {
    if (pending.length === 0) { localStorage.removeItem(pendingKey(doc)); return }
    // One merged entry is enough: the document is saved only when all of it is.
    const clocks: Record<string, number> = {}
    const deletes: PendingEdit['deletes'] = []
    for (const p of pending) {
      for (const [k, c] of Object.entries(p.clocks)) clocks[k] = Math.max(clocks[k] ?? 0, c)
      deletes.push(...p.deletes)
    }
    localStorage.setItem(pendingKey(doc), JSON.stringify([{ clocks, deletes }]))
  } catch { /* storage blocked or full: the badge still tells the truth for this tab */ }
}

export function renderEditor (root: HTMLElement, doc: string, opts: EditorPageOptions): () => void {
  const problem = validateDocName(doc)
  if (problem) {
    root.append(h('section', { class: 'page' },
      h('h1', {}, 'Invalid document name'),
      h('p', { class: 'message error', role: 'alert' }, `“${doc}”: ${problem}`),
      h('p', {}, h('a', { href: appUrl('/'), 'data-link': true }, '← All documents'))))
    return () => {}
  }
  let title = doc
  document.title = `${title} · Tandem`

  const ydoc = new Y.Doc()
  const ytext = ydoc.getText('content')
  const awareness = new Awareness(ydoc)
  // First of the awareness listeners: remote colours are cleaned before anything reads them.
  guardColors(awareness)
  // Starts from the name's colour; adjusted below so people present never share one.
  let myColor = userInfo(opts.userName()).color
  const setUser = () => awareness.setLocalStateField('user', userInfo(opts.userName(), myColor))
  setUser()
  opts.onNameChange(() => { myColor = pickColor(); setUser() })
  const undoManager = new Y.UndoManager(ytext)

  // ---- saving: local copy + acknowledgements ----
  const tracker = new SaveTracker(loadPending(doc))
  const local = new IndexeddbPersistence(`tandem:${doc}`, ydoc)
  const providers = new WeakSet<object>()
  const onLocalUpdate = (update: Uint8Array, origin: unknown) => {
    // Our own typing (CodeMirror binding, undo) counts; the server's and IndexedDB's do not.
    if (origin === local || providers.has(origin as object)) return
    tracker.local(update)
  }
  ydoc.on('update', onLocalUpdate)
  const onServerSync = (m: ServerSync) => {
    if (m.kind === 'state-vector') tracker.fromServerStateVector(m.bytes)
    else tracker.fromServer(m.bytes)
  }

  // ---- header bar ----
  const statusEl = h('span', { class: 'status', id: 'conn-status', 'data-status': 'connecting', 'data-save': 'connecting', role: 'status' })
  const statusText = h('span', { class: 'status-text', id: 'save-status' }, 'Connecting…')
  const retryEl = h('span', { class: 'retry', id: 'retry-status', hidden: true })
  const transportEl = h('span', { class: 'transport', id: 'conn-transport' }, '')
  statusEl.append(h('span', { class: 'dot', 'aria-hidden': 'true' }), statusText, retryEl, transportEl)
  const roBadge = h('span', { class: 'badge readonly', id: 'readonly-badge', hidden: true, title: 'You can read but not edit this document' }, 'View only')
  const shareBtn = h('button', { type: 'button', id: 'share' }, 'Share')
  const historyBtn = h('button', { type: 'button', id: 'toggle-history', 'aria-expanded': 'false', 'aria-controls': 'history-panel' }, 'History')
  const exportSel = h('select', { id: 'export', 'aria-label': 'Download' },
    h('option', { value: '' }, 'Download…'),
    h('option', { value: 'txt' }, 'Plain text (.txt)'),
    h('option', { value: 'md' }, 'Markdown (.md)'),
    h('option', { value: 'yjs' }, 'Yjs state (.yjs)'))
  const presenceEl = h('ul', { class: 'presence', id: 'presence', 'aria-label': 'Who is here' })
  const notice = h('p', { class: 'message', id: 'editor-message', role: 'status', hidden: true })

  const say = (text: string | null, kind: 'error' | 'ok' | 'warn' = 'ok') => {
    notice.hidden = text === null
    notice.textContent = text ?? ''
    notice.className = `message ${kind}`
  }

  exportSel.addEventListener('change', () => {
    const kind = exportSel.value
    exportSel.value = ''
    if (kind === 'txt') download(fileNameFor(title, 'txt'), ytext.toString(), 'text/plain;charset=utf-8')
    else if (kind === 'md') download(fileNameFor(title, 'md'), ytext.toString(), 'text/markdown;charset=utf-8')
    else if (kind === 'yjs') download(fileNameFor(title, 'yjs'), Y.encodeStateAsUpdate(ydoc), 'application/octet-stream')
  })

  // ---- title: shown, renamed in place ----
  const titleEl = h('h1', { id: 'doc-title', title: 'Rename' }, title)
  const titleInput = h('input', { type: 'text', id: 'title-input', maxlength: '200', 'aria-label': 'Title', hidden: true })
  const showTitle = (t: string) => {
    title = t
    titleEl.textContent = t
    document.title = `${t} · Tandem`
  }
  const startRename = () => {
    if (readOnly) return
    titleInput.value = title
    titleEl.hidden = true
    titleInput.hidden = false
    titleInput.focus()
    titleInput.select()
  }
  let renaming = false
  const finishRename = async (save: boolean) => {
    if (renaming || titleInput.hidden) return
    const next = titleInput.value.trim()
    titleInput.hidden = true
    titleEl.hidden = false
    if (!save || !next || next === title) return
    renaming = true
    const before = title
    showTitle(next)
    try {
      showTitle(displayTitle(await renameDocument(doc, next)))
    } catch (err) {
      showTitle(before)
      say(`Could not rename: ${err instanceof ApiError ? err.message : String(err)}`, 'error')
    } finally {
      renaming = false
    }
  }
  titleEl.addEventListener('click', startRename)
  titleInput.addEventListener('keydown', (e) => {
    if (e.key === 'Enter') { e.preventDefault(); void finishRename(true) }
    if (e.key === 'Escape') { e.preventDefault(); void finishRename(false) }
  })
  titleInput.addEventListener('blur', () => void finishRename(true))
  getDocument(doc).then((d) => { if (titleInput.hidden) showTitle(displayTitle(d)) }).catch(() => { /* offline: keep the name */ })

  // ---- editor ----
  const readOnlyComp = new Compartment()
  const editorHost = h('div', { class: 'editor', id: 'editor' })
  const view = new EditorView({
    parent: editorHost,
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

  let readOnly = false
  let config: ServerConfig | null = null
  const history = createHistoryPanel(doc, ytext)
  const share = createShareDialog(doc, () => config, () => readOnly)
  shareBtn.addEventListener('click', () => share.open())
  const setReadOnly = (reason: string) => {
    if (!readOnly) {
      readOnly = true
      view.dispatch({ effects: readOnlyComp.reconfigure(readOnlyExtensions(true)) })
    }
    roBadge.hidden = false
    roBadge.title = reason
    titleEl.title = ''
    history.setReadOnly(true)
  }
  if (isReadOnlyToken(opts.session.claims)) setReadOnly('Your access link is view-only')

  history.element.hidden = true
  const setHistoryOpen = (open: boolean) => {
    history.element.hidden = !open
    historyBtn.setAttribute('aria-expanded', String(open))
    historyBtn.classList.toggle('active', open)
    if (open) void history.refresh()
  }
  historyBtn.addEventListener('click', () => setHistoryOpen(history.element.hidden))
  history.onClose(() => setHistoryOpen(false))

  // ---- presence ----
  // The document list colours its chips with the same function, over the same names.
  const pickColor = () => ownColor(opts.userName(), ydoc.clientID, awareness.getStates())
  const renderPresence = () => {
    const wanted = pickColor()
    if (wanted !== myColor) { myColor = wanted; setUser(); return }
    const items: HTMLElement[] = []
    const states = Array.from(awareness.getStates().entries())
      .sort(([a], [b]) => (a === ydoc.clientID ? -1 : b === ydoc.clientID ? 1 : a - b))
    for (const [client, state] of states) {
      const user = (state as { user?: { name?: string, color?: string } }).user
      if (!user?.name) continue
      const me = client === ydoc.clientID
      const li = h('li', { class: me ? 'me' : undefined, title: me ? 'You' : user.name, 'data-color': user.color ?? '' },
        h('span', { class: 'avatar', 'aria-hidden': 'true' }, user.name.slice(0, 1).toUpperCase()),
        h('span', { class: 'pname' }, me ? `${user.name} (you)` : user.name))
      li.style.setProperty('--c', user.color ?? '#888')
      items.push(li)
    }
    presenceEl.replaceChildren(...items)
  }
  awareness.on('change', renderPresence)
  renderPresence()

  // ---- connection and save state ----
  let connStatus: 'connected' | 'connecting' | 'disconnected' = 'connecting'
  let everConnected = false
  let connection: Connection | null = null
  const renderSave = () => {
    let state: 'saved' | 'saving' | 'offline' | 'connecting'
    if (connStatus === 'connected') state = connection?.synced && tracker.saved ? 'saved' : 'saving'
    else if (!everConnected && connStatus === 'connecting') state = 'connecting'
    else state = 'offline'
    statusEl.dataset.save = state
    statusText.textContent = state === 'saved' ? 'Saved' : state === 'saving' ? 'Saving…'
      : state === 'offline' ? OFFLINE_TEXT : 'Connecting…'
    const retryAt = connection?.provider?.nextRetryAt ?? null
    const secs = retryAt === null ? 0 : Math.ceil((retryAt - Date.now()) / 1000)
    retryEl.hidden = state !== 'offline'
    retryEl.textContent = secs > 0 ? `Reconnecting in ${secs} s` : 'Reconnecting…'
    statusEl.title = state === 'saved' ? 'Every change is stored on the server'
      : state === 'saving' ? 'Sending your latest changes to the server' : ''
  }
  const stopTracking = tracker.onChange(() => { storePending(doc, tracker.snapshot()); renderSave() })
  const ticker = setInterval(renderSave, 500)
  const setStatus = (status: 'connected' | 'connecting' | 'disconnected', transport: TransportName) => {
    connStatus = status
    if (status === 'connected') everConnected = true
    statusEl.dataset.status = status
    statusEl.dataset.transport = transport
    transportEl.textContent = TRANSPORT_TEXT[transport]
    transportEl.dataset.transport = transport
    renderSave()
  }
  let destroyed = false
  const start = async () => {
    let enabled: string[] | null = null
    try {
      config = await getConfig()
      enabled = config.transports
    } catch (err) {
      // Still try to connect: the editor works offline and catches up later.
    }
    if (destroyed) return
    const forced = opts.session.forcedTransport
    if (opts.session.unknownTransport !== null) {
      say(`Unknown transport “${opts.session.unknownTransport}” in the address (use websocket, sse or poll): choosing automatically.`, 'warn')
    } else if (forced && enabled && !enabled.includes(forced)) {
      say(`The server does not offer the “${forced}” transport requested in the address.`, 'warn')
    }
    // An admin signed in on the list page opens any document: the sync URLs take a token
    // (browsers cannot set headers there), so one is minted for this document.
    let token = opts.session.token
    if (!token && config?.auth === 'token' && adminKey()) {
      try {
        token = (await mintToken(doc, ADMIN_TOKEN_SECS)).token
      } catch (err) {
        say(`Could not open the document as admin: ${err instanceof ApiError ? err.message : String(err)}`, 'error')
      }
      if (destroyed) return
    }
    const order = transportOrder(enabled, forced)
    const c = new Connection(order, (name) => {
      const p = createProvider(name, {
        origin: location.origin, doc, ydoc, awareness, token, onServerSync,
      }, (reason) => setReadOnly(`The server denied write access: ${reason}`))
      providers.add(p)
      return p
    })
    connection = c
    c.on('status', ({ status, transport }) => setStatus(status, transport))
    c.on('sync', () => renderSave())
    c.on('failed', (t) => console.info(`tandem: ${t} did not connect, falling back`))
    await c.start()
  }
  setStatus('connecting', transportOrder(null, opts.session.forcedTransport)[0])
  // Connect once the local copy is loaded, so the first sync already carries offline edits.
  void local.whenSynced.then(() => { if (!destroyed) void start() })

  // Ending the session as the tab goes lets others see at once that this person left.
  const onUnload = () => connection?.destroy()
  window.addEventListener('pagehide', onUnload)

  root.append(h('section', { class: 'page editor-page' },
    h('div', { class: 'doc-bar' },
      h('div', { class: 'doc-title' },
        h('a', { href: appUrl('/'), 'data-link': true, class: 'back', title: 'All documents' }, '←'),
        titleEl, titleInput, roBadge),
      h('div', { class: 'doc-actions' }, statusEl,
        h('div', { class: 'buttons' }, shareBtn, exportSel, historyBtn))),
    presenceEl,
    notice,
    h('div', { class: 'workspace' }, editorHost, history.element),
    share.element))
  view.focus()

  return () => {
    destroyed = true
    clearInterval(ticker)
    stopTracking()
    window.removeEventListener('pagehide', onUnload)
    connection?.destroy()
    ydoc.off('update', onLocalUpdate)
    void local.destroy()
    awareness.off('change', renderPresence)
    awareness.destroy()
    view.destroy()
    undoManager.destroy()
    ydoc.destroy()
    document.title = 'Tandem'
  }
}

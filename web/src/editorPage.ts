import * as Y from 'yjs'
import { Awareness } from 'y-protocols/awareness'
import { IndexeddbPersistence } from 'y-indexeddb'
import { Connection, createProvider, transportOrder, type TransportName } from './connection'
import {
  ApiError, adminKey, displayTitle, getConfig, mintToken, renameDocument, type DocumentInfo, type ServerConfig,
} from './api'
import { ownColor, userInfo } from './colors'
import { validateDocName } from './names'
import { h } from './format'
import { appUrl, type Session } from './session'
import { isReadOnlyToken } from './token'
import { createHistoryPanel } from './historyPanel'
import { createShareDialog } from './shareDialog'
import { createDownloadMenu } from './downloadMenu'
import { SaveTracker, type PendingEdit } from './saveState'
import type { ServerSync } from './protocol'
import { chooseKind, kindOfContent, type DocKind } from './docKind'
import type { EditorHandle } from './editorHandle'
import { mountTextEditor } from './textEditor'
import { guardAwarenessColors, safeColor } from './safeColor'
import { probe, rememberedId } from './docGate'
import { watchDocument } from './docWatch'
import { presenceLabels } from './presenceNames'
import { shareTitle } from './liveTitle'

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
  const awareness = new Awareness(ydoc)
  // Before any editor's cursor plugin listens, so none of them sees a crafted colour.
  const stopGuard = guardAwarenessColors(awareness)
  // Starts from the name's colour; adjusted below so people present never share one.
  let myColor = userInfo(opts.userName()).color
  const setUser = () => awareness.setLocalStateField('user', userInfo(opts.userName(), myColor))
  setUser()
  opts.onNameChange(() => { myColor = pickColor(); setUser() })

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
  const presenceEl = h('ul', { class: 'presence', id: 'presence', 'aria-label': 'Who is here' })
  const notice = h('p', { class: 'message', id: 'editor-message', role: 'status', hidden: true })

  const say = (text: string | null, kind: 'error' | 'ok' | 'warn' = 'ok') => {
    notice.hidden = text === null
    notice.textContent = text ?? ''
    notice.className = `message ${kind}`
  }

  const downloads = createDownloadMenu(doc, ydoc, () => title, () => editor, (text) => say(text, 'error'))

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
      liveTitle.announce(title)
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
  // What the server says before connecting: a refused link or a deleted document ends here.
  const verdict = probe(doc, rememberedId(doc))
  const liveTitle = shareTitle(awareness, (t) => { if (titleInput.hidden && !renaming) showTitle(t) })
  const serverDoc: Promise<DocumentInfo | null> = verdict.then((v) => v.kind === 'ok' ? v.info : null)
  void serverDoc.then((d) => { if (d && titleInput.hidden) showTitle(displayTitle(d)) })

  // ---- editor: CodeMirror for a plain document, Tiptap for a rich one ----
  const editorHost = h('div', { class: 'editor', id: 'editor', 'aria-busy': 'true' })
  let editor: EditorHandle | null = null
  let readOnly = false
  let config: ServerConfig | null = null
  const doMount = async (kind: DocKind) => {
    if (destroyed || editor?.kind === kind) return
    editor?.destroy()
    editorHost.replaceChildren()
    editorHost.classList.remove('rich')
    if (kind === 'rich') {
      // Loaded on demand: plain documents never download Tiptap.
      const { mountRichEditor } = await import('./richEditor')
      if (destroyed) return
      editor = mountRichEditor(editorHost, ydoc, awareness, userInfo(opts.userName(), myColor), doc, (t) => say(t, 'error'))
    } else {
      editor = mountTextEditor(editorHost, ydoc, awareness, doc)
    }
    editorHost.dataset.kind = kind
    editorHost.removeAttribute('aria-busy')
    editor.setReadOnly(readOnly)
    downloads.setKind(kind)
    editor.focus()
  }
  let mounting = Promise.resolve()
  const mount = (kind: DocKind) => (mounting = mounting.then(() => doMount(kind)).catch((err) => {
    // The rich editor is a separate file: a tab offline since before an upgrade may miss it.
    say(`Could not open the editor: ${err instanceof Error ? err.message : String(err)}. Reload the page to try again.`, 'error')
  }))
  // A plain editor opened on nothing (no local copy, server unreachable) becomes the rich one
  // if rich content arrives, rather than hide it and start a second, plain text beside it.
  const onContent = () => {
    if (editor?.kind === 'text' && editor.text() === '' && kindOfContent(ydoc) === 'rich') void mount('rich')
  }
  ydoc.on('update', onContent)

  const history = createHistoryPanel(doc, {
    get kind () { return editor?.kind ?? 'text' },
    text: () => editor?.text() ?? '',
    json: () => editor?.json?.(),
  })
  const share = createShareDialog(doc, () => config, () => readOnly)
  shareBtn.addEventListener('click', () => share.open())
  const setReadOnly = (reason: string) => {
    readOnly = true
    editor?.setReadOnly(true)
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
    const labels = presenceLabels(states.flatMap(([client, state]) => {
      const name = (state as { user?: { name?: unknown } }).user?.name
      return typeof name === 'string' && name ? [{ client, name }] : []
    }))
    for (const [client, state] of states) {
      const user = (state as { user?: { name?: string, color?: string } }).user
      if (!user?.name) continue
      const me = client === ydoc.clientID
      const color = safeColor(user.color)
      const li = h('li', { class: me ? 'me' : undefined, title: me ? 'You' : user.name, 'data-color': color },
        h('span', { class: 'avatar', 'aria-hidden': 'true' }, user.name.slice(0, 1).toUpperCase()),
        h('span', { class: 'pname' }, me ? `${labels.get(client) ?? user.name} (you)` : labels.get(client) ?? user.name))
      li.style.setProperty('--c', color)
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
        docId: rememberedId(doc),
      }, (reason) => {
        if (/^HTTP 40[13]$/.test(reason)) void watch.recheck(true)
        else setReadOnly(`The server denied write access: ${reason}`)
      })
      providers.add(p)
      // A failed or closed connection may be a refusal or a deletion, not the network.
      p.on('connection-close', watch.onTrouble)
      p.on('connection-error', watch.onTrouble)
      return p
    })
    connection = c
    c.on('status', ({ status, transport }) => setStatus(status, transport))
    c.on('sync', (synced) => {
      renderSave()
      // A document first stored after this page opened it: learn its identity now.
      if (synced && rememberedId(doc) === null) void watch.recheck(false)
    })
    c.on('failed', (t) => console.info(`tandem: ${t} did not connect, falling back`))
    await c.start()
  }
  setStatus('connecting', transportOrder(null, opts.session.forcedTransport)[0])
  // Connect once the local copy is loaded, so the first sync already carries offline edits;
  // the editor opens once the kind is known: the content's (local copy or first sync), else
  // the server's word for a document that is still empty.
  void local.whenSynced.then(async () => {
    if (destroyed) return
    const v = await verdict
    if (destroyed) return
    if (v.kind === 'ok' && v.info?.id != null) watch.learn(v.info.id)
    if (v.kind === 'ok' || v.kind === 'missing') void start()
    if (v.kind === 'missing' && kindOfContent(ydoc) === null) {
      watch.offerCreate(notice, ydoc, (origin) => origin !== local && !providers.has(origin as object))
    }
    const server = kindOfContent(ydoc) === null ? (await serverDoc)?.kind : undefined
    if (!destroyed) await mount(chooseKind(kindOfContent(ydoc), server))
    await watch.halt(v)
  })

  // ---- refusals and deletion end the page ----
  const watch = watchDocument({
    doc, root, claims: opts.session.claims, hasToken: opts.session.token !== null,
    destroyed: () => destroyed, provider: () => connection?.provider ?? null,
    stop: () => { connection?.destroy(); connection = null; clearInterval(ticker); ydoc.off('update', onLocalUpdate) },
    copy: () => ({ text: editor?.text() ?? '', ext: editor?.kind === 'text' ? 'md' : 'txt', title }),
    clearCopy: async () => { storePending(doc, []); await local.clearData() },
  })

  // Ending the session as the tab goes lets others see at once that this person left.
  const onUnload = () => connection?.destroy()
  window.addEventListener('pagehide', onUnload)

  root.append(h('section', { class: 'page editor-page' },
    h('div', { class: 'doc-bar' },
      h('div', { class: 'doc-title' },
        h('a', { href: appUrl('/'), 'data-link': true, class: 'back', title: 'All documents' }, '←'),
        titleEl, titleInput, roBadge),
      h('div', { class: 'doc-actions' }, statusEl,
        h('div', { class: 'buttons' }, shareBtn, downloads.element, historyBtn))),
    presenceEl,
    notice,
    h('div', { class: 'workspace' }, editorHost, history.element),
    share.element))

  return () => {
    destroyed = true
    clearInterval(ticker)
    stopTracking()
    window.removeEventListener('pagehide', onUnload)
    connection?.destroy()
    ydoc.off('update', onLocalUpdate)
    void local.destroy()
    ydoc.off('update', onContent)
    awareness.off('change', renderPresence)
    liveTitle.stop()
    stopGuard()
    editor?.destroy()
    awareness.destroy()
    ydoc.destroy()
    document.title = 'Tandem'
  }
}

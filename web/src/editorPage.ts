import * as Y from 'yjs'
import { Awareness } from 'y-protocols/awareness'
import { IndexeddbPersistence } from 'y-indexeddb'
import { Connection, createProvider, transportOrder } from './connection'
import {
  ApiError, adminKey, displayTitle, getConfig, mintToken, type DocumentInfo, type ServerConfig,
} from './api'
import { userInfo } from './colors'
import { validateDocName } from './names'
import { h } from './format'
import { appUrl, type Session } from './session'
import { isReadOnlyToken } from './token'
import { createHistoryPanel, type HistoryPanel } from './historyPanel'
import { createShareDialog } from './shareDialog'
import { createDownloadMenu } from './downloadMenu'
import { SaveTracker } from './saveState'
import type { ServerSync } from './protocol'
import { chooseKind, kindOfContent, type DocKind } from './docKind'
import type { EditorHandle } from './editorHandle'
import { mountTextEditor } from './textEditor'
import { guardAwarenessColors } from './safeColor'
import { createUnsavedCopy, loadPending, storePending } from './pendingStore'
import { createDocTitle } from './docTitle'
import { createPresenceList } from './presenceList'
import { createSaveBadge, type SaveBadge } from './saveBadge'
import { createEditorFoot } from './editorFoot'
import { probe, rememberedId } from './docGate'
import { watchDocument } from './docWatch'
import { shareTitle } from './liveTitle'
import { shareRestores } from './liveRestore'
import './writing.css'

export { OFFLINE_TEXT } from './saveBadge'

export interface EditorPageOptions {
  session: Session
  userName: () => string
  onNameChange: (f: (name: string) => void) => void
  navigate: (url: string) => void
}

/** Lifetime of the token an admin's editor mints for itself (a reload mints a new one). */
const ADMIN_TOKEN_SECS = 12 * 3600

function invalidName (root: HTMLElement, doc: string, problem: string): () => void {
  root.append(h('section', { class: 'page' },
    h('h1', {}, 'Invalid document name'),
    h('p', { class: 'message error', role: 'alert' }, `“${doc}”: ${problem}`),
    h('p', {}, h('a', { href: appUrl('/'), 'data-link': true }, '← All documents'))))
  return () => {}
}

/**
 * The History panel beside (on phones over) the editor, opened by its toolbar button; Esc
 * or its close button closes it and gives the focus back to the button.
 */
function attachHistory (history: HistoryPanel, button: HTMLButtonElement): void {
  history.element.hidden = true
  const setOpen = (open: boolean, refocus: boolean) => {
    history.element.hidden = !open
    button.setAttribute('aria-expanded', String(open))
    button.classList.toggle('active', open)
    if (open) void history.refresh()
    if (!open && refocus) button.focus()
  }
  button.addEventListener('click', () => setOpen(history.element.hidden, false))
  history.onClose(() => setOpen(false, true))
  history.element.addEventListener('keydown', (e) => {
    if (e.key !== 'Escape' || e.defaultPrevented) return
    e.preventDefault()
    setOpen(false, true)
  })
}

/** Connects over the best transport the server offers (or the one the address forces). */
async function connect (doc: string, opts: EditorPageOptions, ctx: {
  ydoc: Y.Doc, awareness: Awareness, providers: WeakSet<object>, badge: SaveBadge,
  say: (text: string, kind: 'error' | 'warn') => void, setConfig: (c: ServerConfig) => void,
  setReadOnly: (reason: string) => void, destroyed: () => boolean, onServerSync: (m: ServerSync) => void,
  watch: ReturnType<typeof watchDocument>,
}): Promise<Connection | null> {
  let enabled: string[] | null = null
  let config: ServerConfig | null = null
  try {
    config = await getConfig()
    ctx.setConfig(config)
    enabled = config.transports
  } catch {
    // Still try to connect: the editor works offline and catches up later.
  }
  if (ctx.destroyed()) return null
  const forced = opts.session.forcedTransport
  if (opts.session.unknownTransport !== null) {
    ctx.say(`Unknown transport “${opts.session.unknownTransport}” in the address (use websocket, sse or poll): choosing automatically.`, 'warn')
  } else if (forced && enabled && !enabled.includes(forced)) {
    ctx.say(`The server does not offer the “${forced}” transport requested in the address.`, 'warn')
  }
  // An admin signed in on the list page opens any document: the sync URLs take a token
  // (browsers cannot set headers there), so one is minted for this document.
  let token = opts.session.token
  if (!token && config?.auth === 'token' && adminKey()) {
    try {
      token = (await mintToken(doc, ADMIN_TOKEN_SECS)).token
    } catch (err) {
      ctx.say(`Could not open the document as admin: ${err instanceof ApiError ? err.message : String(err)}`, 'error')
    }
    if (ctx.destroyed()) return null
  }
  const c = new Connection(transportOrder(enabled, forced), (name) => {
    const p = createProvider(name, {
      origin: location.origin, doc, ydoc: ctx.ydoc, awareness: ctx.awareness, token, onServerSync: ctx.onServerSync,
      docId: rememberedId(doc),
    }, (reason) => {
      if (/^HTTP 40[13]$/.test(reason)) void ctx.watch.recheck(true)
      else ctx.setReadOnly(`The server denied write access: ${reason}`)
    })
    ctx.providers.add(p)
    // A failed or closed connection may be a refusal or a deletion, not the network.
    p.on('connection-close', ctx.watch.onTrouble)
    p.on('connection-error', ctx.watch.onTrouble)
    return p
  })
  c.on('status', ({ status, transport }) => ctx.badge.setStatus(status, transport))
  c.on('sync', (synced) => {
    ctx.badge.render()
    // A document first stored after this page opened it: learn its identity now.
    if (synced && rememberedId(doc) === null) void ctx.watch.recheck(false)
  })
  c.on('failed', (t) => console.info(`tandem: ${t} did not connect, falling back`))
  void c.start()
  return c
}

export function renderEditor (root: HTMLElement, doc: string, opts: EditorPageOptions): () => void {
  const problem = validateDocName(doc)
  if (problem) return invalidName(root, doc, problem)
  let destroyed = false

  const ydoc = new Y.Doc()
  const awareness = new Awareness(ydoc)
  // Before any editor's cursor plugin listens, so none of them sees a crafted colour.
  const stopGuard = guardAwarenessColors(awareness)
  const presence = createPresenceList(ydoc, awareness, opts.userName)
  opts.onNameChange(() => presence.nameChanged())

  // Saving: the local copy, and which of our edits the server has acknowledged.
  const tracker = new SaveTracker(loadPending(doc))
  const unsaved = createUnsavedCopy(doc)
  const local = new IndexeddbPersistence(`tandem:${doc}`, ydoc)
  const providers = new WeakSet<object>()
  const onLocalUpdate = (update: Uint8Array, origin: unknown) => {
    // Our own typing (CodeMirror binding, undo) counts; the server's and IndexedDB's do not.
    if (origin === local || providers.has(origin as object)) return
    unsaved.add(update)
    tracker.local(update)
    badge.sent()
  }
  let connection: Connection | null = null
  const badge = createSaveBadge(tracker, () => connection)
  ydoc.on('update', onLocalUpdate)
  const onServerSync = (m: ServerSync) => {
    badge.heard()
    if (m.kind === 'state-vector') tracker.fromServerStateVector(m.bytes)
    else tracker.fromServer(m.bytes)
  }
  const stopStoring = tracker.onChange(() => {
    storePending(doc, tracker.snapshot())
    if (tracker.saved) unsaved.clear()
  })

  // The toolbar.
  const roBadge = h('span', { class: 'badge readonly', id: 'readonly-badge', hidden: true, title: 'You can read but not edit this document' }, 'View only')
  const shareBtn = h('button', { type: 'button', id: 'share' }, 'Share')
  const historyBtn = h('button', { type: 'button', id: 'toggle-history', 'aria-expanded': 'false', 'aria-controls': 'history-panel' }, 'History')
  const notice = h('p', { class: 'message', id: 'editor-message', role: 'status', hidden: true })
  const say = (text: string | null, kind: 'error' | 'ok' | 'warn' = 'ok') => {
    notice.hidden = text === null
    notice.textContent = text ?? ''
    notice.className = `message ${kind}`
  }
  const title = createDocTitle(doc, (t) => say(t, 'error'), (t) => liveTitle.announce(t))
  const downloads = createDownloadMenu(doc, ydoc, () => title.title(), () => editor, (text) => say(text, 'error'))
  // What the server says before connecting: a refused link or a deleted document ends here.
  const verdict = probe(doc, rememberedId(doc))
  const liveTitle = shareTitle(awareness, (t) => { if (!title.editing()) title.show(t) })
  const serverDoc: Promise<DocumentInfo | null> = verdict.then((v) => v.kind === 'ok' ? v.info : null)
  void serverDoc.then((d) => { if (d && !title.editing()) title.show(displayTitle(d)) })

  // The editor: CodeMirror for a plain document, Tiptap for a rich one.
  const editorHost = h('div', { class: 'editor', id: 'editor', 'aria-busy': 'true' })
  const foot = createEditorFoot()
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
      editor = mountRichEditor(editorHost, ydoc, awareness, userInfo(opts.userName(), presence.color()), doc, (t) => say(t, 'error'))
    } else {
      editor = mountTextEditor(editorHost, ydoc, awareness, doc)
    }
    editorHost.dataset.kind = kind
    editorHost.removeAttribute('aria-busy')
    editor.setReadOnly(readOnly)
    downloads.setKind(kind)
    foot.setKind(kind)
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
    author: opts.userName,
    restored: (from, saved) => restores.announce({ by: opts.userName(), from, saved }),
  })
  attachHistory(history, historyBtn)
  // Someone else's restore replaced this text: say who, and that History keeps the rest.
  const restores = shareRestores(awareness, (r) => {
    say(`${r.by} restored version #${r.from}: the text was replaced (saved as #${r.saved}; History keeps what was there before).`, 'warn')
    if (!history.element.hidden) void history.refresh()
  })
  const share = createShareDialog(doc, () => config, () => readOnly)
  shareBtn.addEventListener('click', () => share.open())
  const setReadOnly = (reason: string) => {
    readOnly = true
    editor?.setReadOnly(true)
    roBadge.hidden = false
    roBadge.title = reason
    title.setReadOnly(true)
    history.setReadOnly(true)
  }
  if (isReadOnlyToken(opts.session.claims)) setReadOnly('Your access link is view-only')

  badge.setStatus('connecting', transportOrder(null, opts.session.forcedTransport)[0])
  // Connect once the local copy is loaded, so the first sync already carries offline edits;
  // the editor opens once the kind is known: the content's (local copy or first sync), else
  // the server's word for a document that is still empty.
  void local.whenSynced.then(async () => {
    if (destroyed) return
    // Edits typed just before the tab closed may be missing from IndexedDB.
    unsaved.restore(ydoc, local)
    const v = await verdict
    if (destroyed) return
    if (v.kind === 'ok' && v.info?.id != null) watch.learn(v.info.id)
    if (v.kind === 'ok' || v.kind === 'missing') {
      void connect(doc, opts, {
        ydoc, awareness, providers, badge, say, setReadOnly, onServerSync, watch,
        setConfig: (c) => { config = c },
        destroyed: () => destroyed,
      }).then((c) => {
        if (destroyed) c?.destroy()
        else connection = c
      })
    }
    if (v.kind === 'missing' && kindOfContent(ydoc) === null) {
      watch.offerCreate(notice, ydoc, (origin) => origin !== local && !providers.has(origin as object))
    }
    const server = kindOfContent(ydoc) === null ? (await serverDoc)?.kind : undefined
    if (!destroyed) await mount(chooseKind(kindOfContent(ydoc), server))
    await watch.halt(v)
  })

  // Refusals and deletion end the page.
  const watch = watchDocument({
    doc, root, claims: opts.session.claims, hasToken: opts.session.token !== null,
    destroyed: () => destroyed, provider: () => connection?.provider ?? null,
    stop: () => { connection?.destroy(); connection = null; badge.destroy(); ydoc.off('update', onLocalUpdate) },
    copy: () => ({ text: editor?.text() ?? '', ext: editor?.kind === 'text' ? 'md' : 'txt', title: title.title() }),
    clearCopy: async () => { storePending(doc, []); unsaved.clear(); await local.clearData() },
  })

  // Ending the session as the tab goes lets others see at once that this person left.
  const onUnload = () => connection?.destroy()
  window.addEventListener('pagehide', onUnload)

  root.append(h('section', { class: 'page editor-page' },
    h('div', { class: 'doc-bar', id: 'doc-bar' },
      h('div', { class: 'doc-title' },
        h('a', { href: appUrl('/'), 'data-link': true, class: 'back', title: 'All documents', 'aria-label': 'All documents' }, '←'),
        ...title.elements, roBadge),
      h('div', { class: 'doc-actions' }, badge.element,
        h('div', { class: 'buttons' }, shareBtn, downloads.element, historyBtn))),
    presence.element,
    notice,
    h('div', { class: 'workspace' }, h('div', { class: 'editor-column' }, editorHost, foot.element), history.element),
    share.element))

  return () => {
    destroyed = true
    badge.destroy()
    stopStoring()
    foot.destroy()
    window.removeEventListener('pagehide', onUnload)
    connection?.destroy()
    ydoc.off('update', onLocalUpdate)
    void local.destroy()
    ydoc.off('update', onContent)
    presence.destroy()
    liveTitle.stop()
    restores.stop()
    stopGuard()
    editor?.destroy()
    awareness.destroy()
    ydoc.destroy()
    document.title = 'Tandem'
  }
}

import * as Y from 'yjs'
import { Awareness } from 'y-protocols/awareness'
import { yCollab, yUndoManagerKeymap } from 'y-codemirror.next'
import { Compartment, EditorState } from '@codemirror/state'
import {
  EditorView, drawSelection, dropCursor, highlightActiveLine, highlightActiveLineGutter,
  highlightSpecialChars, keymap, lineNumbers, placeholder,
} from '@codemirror/view'
import { defaultKeymap, indentWithTab } from '@codemirror/commands'
import { Connection, createProvider, transportOrder, type TransportName } from './connection'
import { getConfig } from './api'
import { userInfo } from './colors'
import { validateDocName } from './names'
import { h } from './format'
import { appUrl, type Session } from './session'
import { isReadOnlyToken } from './token'
import { createHistoryPanel } from './historyPanel'

export interface EditorPageOptions {
  session: Session
  userName: () => string
  onNameChange: (f: (name: string) => void) => void
  navigate: (url: string) => void
}

const STATUS_TEXT = { connected: 'Connected', connecting: 'Connecting…', disconnected: 'Offline' } as const
const TRANSPORT_TEXT: Record<TransportName, string> = { websocket: 'WebSocket', sse: 'SSE', poll: 'Long polling' }

function readOnlyExtensions (ro: boolean) {
  return [EditorState.readOnly.of(ro), EditorView.editable.of(!ro),
    placeholder(ro ? 'This document is empty.' : 'Start typing…')]
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
  document.title = `${doc} · Tandem`

  const ydoc = new Y.Doc()
  const ytext = ydoc.getText('content')
  const awareness = new Awareness(ydoc)
  awareness.setLocalStateField('user', userInfo(opts.userName()))
  opts.onNameChange((name) => awareness.setLocalStateField('user', userInfo(name)))
  const undoManager = new Y.UndoManager(ytext)

  // ---- header bar ----
  const statusEl = h('span', { class: 'status', id: 'conn-status', 'data-status': 'connecting', role: 'status' })
  const statusText = h('span', { class: 'status-text' }, 'Connecting…')
  const transportEl = h('span', { class: 'transport', id: 'conn-transport' }, '')
  statusEl.append(h('span', { class: 'dot', 'aria-hidden': 'true' }), statusText, transportEl)
  const roBadge = h('span', { class: 'badge readonly', id: 'readonly-badge', hidden: true, title: 'You can read but not edit this document' }, 'Read-only')
  const copyBtn = h('button', { type: 'button', id: 'copy-link' }, 'Copy link')
  const historyBtn = h('button', { type: 'button', id: 'toggle-history', 'aria-expanded': 'false', 'aria-controls': 'history-panel' }, 'History')
  const presenceEl = h('ul', { class: 'presence', id: 'presence', 'aria-label': 'Who is here' })
  const notice = h('p', { class: 'message', id: 'editor-message', role: 'status', hidden: true })

  const say = (text: string | null, kind: 'error' | 'ok' | 'warn' = 'ok') => {
    notice.hidden = text === null
    notice.textContent = text ?? ''
    notice.className = `message ${kind}`
  }

  copyBtn.addEventListener('click', async () => {
    const url = location.href
    try {
      await navigator.clipboard.writeText(url)
      copyBtn.textContent = 'Copied!'
    } catch {
      // Clipboard API needs a secure context; fall back to a prompt the user can copy from.
      window.prompt('Copy this link', url)
    }
    setTimeout(() => { copyBtn.textContent = 'Copy link' }, 1500)
  })

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
  const history = createHistoryPanel(doc, ytext)
  const setReadOnly = (reason: string) => {
    if (!readOnly) {
      readOnly = true
      view.dispatch({ effects: readOnlyComp.reconfigure(readOnlyExtensions(true)) })
    }
    roBadge.hidden = false
    roBadge.title = reason
    history.setReadOnly(true)
  }
  if (isReadOnlyToken(opts.session.claims)) setReadOnly('Your access link is read-only')

  history.element.hidden = true
  historyBtn.addEventListener('click', () => {
    const open = history.element.hidden
    history.element.hidden = !open
    historyBtn.setAttribute('aria-expanded', String(open))
    historyBtn.classList.toggle('active', open)
    if (open) void history.refresh()
  })

  // ---- presence ----
  const renderPresence = () => {
    const items: HTMLElement[] = []
    const states = Array.from(awareness.getStates().entries())
      .sort(([a], [b]) => (a === ydoc.clientID ? -1 : b === ydoc.clientID ? 1 : a - b))
    for (const [client, state] of states) {
      const user = (state as { user?: { name?: string, color?: string } }).user
      if (!user?.name) continue
      const me = client === ydoc.clientID
      const li = h('li', { class: me ? 'me' : undefined, title: me ? 'You' : user.name },
        h('span', { class: 'avatar', 'aria-hidden': 'true' }, user.name.slice(0, 1).toUpperCase()),
        h('span', { class: 'pname' }, me ? `${user.name} (you)` : user.name))
      li.style.setProperty('--c', user.color ?? '#888')
      items.push(li)
    }
    presenceEl.replaceChildren(...items)
  }
  awareness.on('change', renderPresence)
  renderPresence()

  // ---- connection ----
  const setStatus = (status: 'connected' | 'connecting' | 'disconnected', transport: TransportName) => {
    statusEl.dataset.status = status
    statusEl.dataset.transport = transport
    statusText.textContent = STATUS_TEXT[status]
    transportEl.textContent = TRANSPORT_TEXT[transport]
    transportEl.dataset.transport = transport
  }
  let connection: Connection | null = null
  let destroyed = false
  const start = async () => {
    let enabled: string[] | null = null
    try {
      enabled = (await getConfig()).transports
    } catch (err) {
      // Still try to connect: the editor works offline and catches up later.
      say('Could not reach the server configuration; trying to connect anyway.', 'warn')
    }
    if (destroyed) return
    const forced = opts.session.forcedTransport
    if (forced && enabled && !enabled.includes(forced)) {
      say(`The server does not offer the “${forced}” transport requested in the address.`, 'warn')
    }
    const order = transportOrder(enabled, forced)
    const c = new Connection(order, (name) => createProvider(name, {
      origin: location.origin, doc, ydoc, awareness, token: opts.session.token,
    }, (reason) => setReadOnly(`The server denied write access: ${reason}`)))
    connection = c
    c.on('status', ({ status, transport }) => {
      setStatus(status, transport)
      if (status === 'connected' && notice.classList.contains('warn')) say(null)
    })
    c.on('failed', (t) => console.info(`tandem: ${t} did not connect, falling back`))
    const used = await c.start()
    if (used === null && !destroyed) {
      say('Cannot reach the server right now. Keep writing: your changes are kept and sent when the connection is back.', 'warn')
    }
  }
  setStatus('connecting', transportOrder(null, opts.session.forcedTransport)[0])
  void start()

  const onUnload = () => connection?.destroy()
  window.addEventListener('pagehide', onUnload)

  root.append(h('section', { class: 'page editor-page' },
    h('div', { class: 'doc-bar' },
      h('div', { class: 'doc-title' },
        h('a', { href: appUrl('/'), 'data-link': true, class: 'back', title: 'All documents' }, '←'),
        h('h1', { id: 'doc-name' }, doc), roBadge),
      h('div', { class: 'doc-actions' }, statusEl, copyBtn, historyBtn)),
    presenceEl,
    notice,
    h('div', { class: 'workspace' }, editorHost, history.element)))
  view.focus()

  return () => {
    destroyed = true
    window.removeEventListener('pagehide', onUnload)
    connection?.destroy()
    awareness.off('change', renderPresence)
    awareness.destroy()
    view.destroy()
    undoManager.destroy()
    ydoc.destroy()
    document.title = 'Tandem'
  }
}

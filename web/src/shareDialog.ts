import { ApiError, shareDocument, type ServerConfig } from './api'
import { h } from './format'

/** How long a link made here stays valid (the server caps it too). */
const LINK_LIFETIME_SECS = 7 * 24 * 3600

function linkFor (doc: string, token: string | null): string {
  const url = new URL(`/d/${encodeURIComponent(doc)}`, location.origin)
  if (token) url.searchParams.set('token', token)
  return url.toString()
}

async function copy (text: string, button: HTMLButtonElement): Promise<void> {
  const label = button.textContent
  try {
    await navigator.clipboard.writeText(text)
    button.textContent = 'Copied!'
  } catch {
    // Clipboard API needs a secure context; fall back to a prompt the user can copy from.
    window.prompt('Copy this link', text)
  }
  setTimeout(() => { button.textContent = label }, 1500)
}

/**
 * The share dialog: an edit link and a view-only link. On an open server the address itself
 * is the edit link and nothing can be view-only. With tokens, links are minted by the server
 * (`POST /api/documents/{doc}/share`) for at most the visitor's own access.
 */
export function createShareDialog (doc: string, config: () => ServerConfig | null,
  readOnly: () => boolean): { open (): void, element: HTMLDialogElement } {
  const dialog = h('dialog', { class: 'share-dialog', id: 'share-dialog', 'aria-labelledby': 'share-title' })
  const body = h('div', { class: 'share-body' })
  const closeBtn = h('button', { type: 'button', class: 'close', 'aria-label': 'Close' }, '×')
  closeBtn.addEventListener('click', () => dialog.close())
  dialog.append(h('div', { class: 'dialog-head' }, h('h2', { id: 'share-title' }, 'Share'), closeBtn), body)
  dialog.addEventListener('click', (e) => { if (e.target === dialog) dialog.close() })

  const row = (id: string, title: string, note: string, make: () => Promise<string>, disabled: string | null) => {
    const field = h('input', { type: 'text', readonly: true, id: `${id}-url`, 'aria-label': title, value: '' })
    const btn = h('button', { type: 'button', id: `${id}-copy`, class: 'primary', disabled: disabled !== null }, 'Copy')
    const msg = h('p', { class: 'muted small' }, disabled ?? note)
    btn.addEventListener('click', async () => {
      btn.disabled = true
      try {
        const url = await make()
        field.value = url
        await copy(url, btn)
      } catch (err) {
        msg.textContent = err instanceof ApiError ? `Could not make the link: ${err.message}` : String(err)
        msg.className = 'message error'
      } finally {
        btn.disabled = false
      }
    })
    return h('section', { class: 'share-row', id }, h('h3', {}, title), h('div', { class: 'row' }, field, btn), msg)
  }

  const render = () => {
    const cfg = config()
    const tokens = cfg?.auth === 'token'
    const ro = readOnly()
    let edit: HTMLElement
    let view: HTMLElement
    if (!tokens) {
      edit = row('share-edit', 'Edit link', 'Anyone with this link can edit.',
        async () => linkFor(doc, null), null)
      view = row('share-view', 'View-only link', '', async () => '',
        'This server is open: everyone who can reach it can edit. View-only links need a server with access tokens.')
    } else {
      const mint = (access: 'read' | 'write') => async () =>
        linkFor(doc, (await shareDocument(doc, access, LINK_LIFETIME_SECS)).token)
      edit = row('share-edit', 'Edit link', 'Anyone with this link can edit for 7 days.', mint('write'),
        ro ? 'You can only view this document, so you cannot hand out edit access.' : null)
      view = row('share-view', 'View-only link', 'Anyone with this link can read for 7 days, not edit.', mint('read'), null)
    }
    body.replaceChildren(edit, view)
  }

  return {
    element: dialog,
    open () {
      render()
      dialog.showModal()
    },
  }
}

import { ApiError, shareDocument, type ServerConfig } from './api'
import { h } from './format'
import { linksSection } from './shareLinks'

/** The lifetimes a sharer picks from (the server caps a link at 30 days). */
export const LIFETIMES: ReadonlyArray<{ secs: number, label: string, phrase: string }> = [
  { secs: 3600, label: '1 hour', phrase: 'for 1 hour' },
  { secs: 86400, label: '1 day', phrase: 'for 1 day' },
  { secs: 7 * 86400, label: '7 days', phrase: 'for 7 days' },
  { secs: 30 * 86400, label: '30 days', phrase: 'for 30 days' },
]
const DEFAULT_LIFETIME = 7 * 86400

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

  // Links made while the page is open, by access and lifetime: reopening the dialog shows
  // them again instead of minting new ones (each token may mint only so many an hour).
  const minted = new Map<string, { url: string, expiresAt: number }>()
  let lifetime = DEFAULT_LIFETIME
  const links = linksSection(doc)

  const row = (id: string, title: string, note: string, make: (() => Promise<string>) | null, disabled: string | null) => {
    const field = h('input', { type: 'text', readonly: true, id: `${id}-url`, 'aria-label': title, value: '' })
    const btn = h('button', { type: 'button', id: `${id}-copy`, class: 'primary', disabled: true }, 'Copy')
    const msg = h('p', { class: 'muted small' }, disabled ?? note)
    field.addEventListener('focus', () => field.select())
    btn.addEventListener('click', () => void copy(field.value, btn))
    // The link is made as the dialog opens, so it can be read (and selected) at once.
    if (make !== null && disabled === null) {
      field.placeholder = 'Making the link…'
      make().then((url) => {
        field.value = url
        btn.disabled = false
      }).catch((err) => {
        msg.textContent = err instanceof ApiError ? `Could not make the link: ${err.message}` : String(err)
        msg.className = 'message error'
        field.placeholder = ''
      })
    }
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
      view = row('share-view', 'View-only link', '', null,
        'This server is open: everyone who can reach it can edit. View-only links need a server with access tokens.')
      body.replaceChildren(edit, view)
      return
    }
    const secs = lifetime
    const mint = (access: 'read' | 'write') => async () => {
      const key = `${access}:${secs}`
      const known = minted.get(key)
      // Kept while at least half of its life is left.
      if (known && known.expiresAt * 1000 - Date.now() > secs * 500) return known.url
      const made = await shareDocument(doc, access, secs)
      // The short address when the server keeps links: it names the same token.
      const url = made.short_url ? new URL(made.short_url, location.origin).toString() : linkFor(doc, made.token)
      links.refresh()
      minted.set(key, { url, expiresAt: made.expires_at })
      return url
    }
    const phrase = LIFETIMES.find((l) => l.secs === secs)?.phrase ?? ''
    const choice = h('select', { id: 'share-lifetime' },
      ...LIFETIMES.map((l) => h('option', { value: String(l.secs), selected: l.secs === secs }, l.label)))
    choice.addEventListener('change', () => { lifetime = Number(choice.value); render() })
    const lifetimeRow = h('div', { class: 'share-lifetime row' },
      h('label', { for: 'share-lifetime' }, 'Links work for'), choice)
    edit = row('share-edit', 'Edit link', `Anyone with this link can edit ${phrase}.`, mint('write'),
      ro ? 'You can only view this document, so you cannot hand out edit access.' : null)
    view = row('share-view', 'View-only link', `Anyone with this link can read ${phrase}, not edit.`, mint('read'), null)
    body.replaceChildren(lifetimeRow, edit, view, links.element)
    links.refresh()
  }

  return {
    element: dialog,
    open () {
      render()
      dialog.showModal()
    },
  }
}

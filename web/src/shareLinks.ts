import { ApiError, api, docPath } from './api'
import { absoluteTime, h } from './format'

export interface StoredLink {
  id: string
  access: 'read' | 'write' | string
  name: string | null
  created_by: string | null
  created_at: number
  expires_at: number
  revoked_at: number | null
  short_url: string
}

export const listLinks = (doc: string) => api<{ links: StoredLink[] }>(`${docPath(doc)}/links`)
export const revokeLink = (doc: string, id: string) =>
  api<StoredLink>(`${docPath(doc)}/links/${encodeURIComponent(id)}`, { method: 'DELETE' })

const when = (secs: number) => absoluteTime(secs)

/**
 * The share dialog's list of the links made for this document, each revocable: revoking
 * ends it at once, open editors included. Shown only to who may share (the server refuses
 * the list to everyone else, and the section stays hidden).
 */
export function linksSection (doc: string): { element: HTMLElement, refresh (): void } {
  const rows = h('ul', { class: 'share-links', id: 'share-links' })
  const msg = h('p', { class: 'muted small', role: 'status' })
  const element = h('section', { class: 'share-row', id: 'share-links-section', hidden: true },
    h('h3', {}, 'Links of this document'), rows, msg)
  let generation = 0
  const refresh = () => {
    const gen = ++generation
    listLinks(doc).then(({ links }) => {
      if (gen !== generation) return
      element.hidden = false
      const now = Date.now() / 1000
      rows.replaceChildren(...links.map((l) => {
        const state = l.revoked_at !== null ? 'revoked' : l.expires_at <= now ? 'expired' : 'active'
        const revoke = h('button', { type: 'button', class: 'revoke', disabled: state !== 'active' }, 'Revoke')
        revoke.setAttribute('aria-label', `Revoke the ${l.access === 'write' ? 'edit' : 'view-only'} link ${l.short_url}`)
        revoke.addEventListener('click', async () => {
          revoke.disabled = true
          try {
            await revokeLink(doc, l.id)
            refresh()
          } catch (err) {
            msg.textContent = `Could not revoke: ${err instanceof ApiError ? err.message : String(err)}`
            revoke.disabled = false
          }
        })
        return h('li', { 'data-id': l.id, 'data-state': state },
          h('span', { class: 'link-what' }, `${l.access === 'write' ? 'Edit' : 'View only'} · ${l.short_url}`),
          h('span', { class: 'muted small' }, state === 'active' ? ` until ${when(l.expires_at)}` : ` ${state}`),
          ' ', revoke)
      }))
      msg.textContent = links.length === 0 ? 'No links made yet.' : ''
    }).catch(() => { if (gen === generation) element.hidden = true })
  }
  return { element, refresh }
}

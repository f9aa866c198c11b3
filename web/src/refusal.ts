import { h } from './format'
import { appUrl } from './session'
import type { TokenClaims } from './token'
import { download, fileNameFor } from './download'

/** Who handed out the link (the server's `by` claim), to name whom to ask. */
function sharer (claims: TokenClaims | null): string | null {
  const by = (claims as { by?: unknown } | null)?.by
  return typeof by === 'string' && by.trim() ? by.trim() : null
}

function askFor (claims: TokenClaims | null, what: string): string {
  const by = sharer(claims)
  return by ? `Ask ${by} for ${what}.` : `Ask the person who shared it with you for ${what}.`
}

/** Heading and advice for a refusal, by the server's code (a token's expiry also by its claim). */
export function refusalText (code: string | null, status: number, claims: TokenClaims | null,
  hasToken: boolean): { title: string, advice: string } {
  const expired = code === 'token_expired' ||
    (code === null && typeof claims?.exp === 'number' && claims.exp * 1000 < Date.now())
  if (expired) return { title: 'This link has expired', advice: askFor(claims, 'a new one') }
  if (code === 'token_invalid') {
    return { title: 'This link is not valid', advice: `It may be cut short or made for another server. ${askFor(claims, 'the link again')}` }
  }
  if (code === 'token_revoked') return { title: 'This link was revoked', advice: askFor(claims, 'a new one') }
  if (code === 'wrong_document') {
    return { title: 'This link is for another document', advice: askFor(claims, 'a link to this one') }
  }
  if (code === 'token_missing' || (!hasToken && status === 401)) {
    return {
      title: 'This document needs an access link',
      advice: 'Open it with the link you were given, or ask its owner for one. An admin signs in on the list of documents.',
    }
  }
  return { title: 'You may not open this document', advice: askFor(claims, 'access') }
}

/** The page shown instead of the editor when the server refuses the link: nothing is retried. */
export function refusalPage (code: string | null, status: number, message: string,
  claims: TokenClaims | null, hasToken: boolean): HTMLElement {
  const { title, advice } = refusalText(code, status, claims, hasToken)
  document.title = `${title} · Tandem`
  return h('section', { class: 'page refusal', id: 'refusal', 'data-code': code ?? String(status) },
    h('h1', {}, title),
    h('p', { class: 'lead', role: 'alert' }, advice),
    h('p', { class: 'muted small' }, `The server said: ${message}`),
    h('p', {}, h('a', { href: appUrl('/', ''), 'data-link': true }, '← All documents')))
}

/**
 * The page shown when the document this browser holds a copy of was deleted. The copy is
 * already removed from the browser (so no reload can write it into a new document under the
 * same name); its text stays on this page, to download.
 */
export function deletedPage (doc: string, title: string, text: string, ext: 'txt' | 'md' = 'txt'): HTMLElement {
  document.title = `Deleted: ${title} · Tandem`
  const save = h('button', { type: 'button', class: 'primary', id: 'download-local-copy', disabled: text === '' }, 'Download my copy')
  save.addEventListener('click', () => download(fileNameFor(title || doc, ext), text, 'text/plain;charset=utf-8'))
  return h('section', { class: 'page deleted', id: 'deleted-doc' },
    h('h1', {}, 'This document was deleted'),
    h('p', { class: 'lead', role: 'alert' },
      `“${title || doc}” was deleted for everyone. The copy this browser kept has been removed from it` +
      (text === '' ? ' (it was empty).' : '; download its text now if you need it, before leaving this page.')),
    h('p', {}, save),
    h('p', {}, h('a', { href: appUrl('/'), 'data-link': true }, '← All documents')))
}

/** The offer shown above an editor opened on a name no document has (a mistyped address?). */
export function missingNotice (doc: string, create: () => Promise<void>): HTMLElement {
  const btn = h('button', { type: 'button', class: 'primary', id: 'create-missing' }, `Create “${doc}”`)
  const msg = h('span', { class: 'muted small' })
  const el = h('div', { class: 'message warn', id: 'missing-doc', role: 'status' },
    h('span', {}, `There is no document named “${doc}”. `),
    btn, ' ',
    h('a', { href: appUrl('/'), 'data-link': true }, 'All documents'), ' ', msg)
  btn.addEventListener('click', async () => {
    btn.disabled = true
    try {
      await create()
      el.remove()
    } catch (err) {
      msg.textContent = err instanceof Error ? err.message : String(err)
      btn.disabled = false
    }
  })
  return el
}

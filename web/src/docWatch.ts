import type * as Y from 'yjs'
import { claimIdentity, createNamed, finalClose, probe, rememberId, rememberedId, type Verdict } from './docGate'
import { deletedPage, missingNotice, refusalPage } from './refusal'
import type { TokenClaims } from './token'

/** What the watcher needs of the editor page it may end. */
export interface WatchedPage {
  doc: string
  root: HTMLElement
  claims: TokenClaims | null
  hasToken: boolean
  destroyed: () => boolean
  /** The provider now connecting or connected, if any. */
  provider: () => unknown
  /** Stops connecting, saving and ticking: the page is about to be replaced. */
  stop: () => void
  /** The local copy's text as the editor shows it, and the title, for the download. */
  copy: () => { text: string, ext: 'md' | 'txt', title: string }
  /** Removes the local copy from the browser (IndexedDB, unsaved-edit record). */
  clearCopy: () => Promise<void>
}

/**
 * Ends an editor page when the server refuses its link or its document was deleted, as the
 * first probe said, as a connection's close code says, or as a probe after a failed
 * connection says (at most every 2 s: an outage makes connections fail too).
 */
export function watchDocument (page: WatchedPage) {
  let halted = false
  let lastCheck = 0
  const learn = (id: number) => {
    rememberId(page.doc, id)
    const p = page.provider()
    if (p) claimIdentity(p, id)
  }
  const halt = async (v: Verdict) => {
    if (halted || page.destroyed() || (v.kind !== 'refused' && v.kind !== 'deleted')) return
    halted = true
    page.stop()
    if (v.kind === 'refused') {
      page.root.replaceChildren(refusalPage(v.code, v.status, v.message, page.claims, page.hasToken))
      return
    }
    // The copy belongs to a document that no longer exists: keep its text on the page only.
    const { text, ext, title } = page.copy()
    rememberId(page.doc, null)
    await page.clearCopy().catch(() => {})
    page.root.replaceChildren(deletedPage(page.doc, title, text, ext))
  }
  const recheck = async (now: boolean) => {
    if (halted || page.destroyed() || (!now && Date.now() - lastCheck < 2000)) return
    lastCheck = Date.now()
    const v = await probe(page.doc, rememberedId(page.doc))
    if (v.kind === 'ok' && v.info?.id != null && rememberedId(page.doc) === null) learn(v.info.id)
    await halt(v)
  }
  /** A provider's `connection-close` / `connection-error` event. */
  const onTrouble = (e: unknown) => {
    const close = e as { code?: number, reason?: string } | null
    const final = finalClose(close?.code ?? 0, close?.reason ?? '')
    if (final) void halt(final)
    else void recheck(false)
  }
  /**
   * Offers to create a document no one has made (above `anchor`); writing in it makes it
   * too, which takes the offer away.
   */
  const offerCreate = (anchor: HTMLElement, ydoc: Y.Doc, ownEdit: (origin: unknown) => boolean) => {
    const offer = missingNotice(page.doc, async () => {
      const info = await createNamed(page.doc)
      if (info.id != null) learn(info.id)
    })
    anchor.before(offer)
    ydoc.on('update', function taken (_u: Uint8Array, origin: unknown) {
      if (!ownEdit(origin)) return
      ydoc.off('update', taken)
      offer.remove()
    })
  }
  return { halt, recheck, onTrouble, learn, offerCreate }
}

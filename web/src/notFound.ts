import { h } from './format'
import { appUrl } from './session'

/** Any address that is neither the list nor a document (the server answers it with 404 too). */
export function renderNotFound (root: HTMLElement): () => void {
  document.title = 'Page not found · Tandem'
  root.append(h('section', { class: 'page not-found', id: 'not-found' },
    h('h1', {}, 'Page not found'),
    h('p', { class: 'lead' }, `There is nothing at ${location.pathname}. Documents live at /d/name.`),
    h('p', {}, h('a', { href: appUrl('/'), 'data-link': true }, '← All documents'))))
  return () => { document.title = 'Tandem' }
}

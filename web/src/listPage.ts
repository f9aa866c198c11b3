import { ApiError, createDocument, listDocuments, type DocumentInfo } from './api'
import { validateDocName } from './names'
import { absoluteTime, formatBytes, h, relativeTime } from './format'
import { appUrl } from './session'
import { colorForName } from './colors'

export function renderList (root: HTMLElement, opts: { navigate: (url: string) => void }): () => void {
  const input = h('input', {
    id: 'new-doc-name', type: 'text', placeholder: 'e.g. meeting-notes', maxlength: '128',
    autocomplete: 'off', spellcheck: 'false', 'aria-describedby': 'create-error',
  })
  const createError = h('p', { id: 'create-error', class: 'message error', role: 'alert', hidden: true })
  const listError = h('p', { id: 'list-error', class: 'message error', role: 'alert', hidden: true })
  const tbody = h('tbody')
  const empty = h('p', { class: 'empty', hidden: true }, 'No documents yet. Create the first one above.')
  const table = h('table', { class: 'doc-table' },
    h('thead', {}, h('tr', {},
      h('th', {}, 'Document'), h('th', {}, 'Last edited'), h('th', {}, 'Who is here'), h('th', { class: 'num' }, 'Connections'))),
    tbody)

  const showCreateError = (msg: string | null) => {
    createError.hidden = msg === null
    createError.textContent = msg ?? ''
    input.setAttribute('aria-invalid', msg === null ? 'false' : 'true')
  }

  input.addEventListener('input', () => {
    const v = input.value
    showCreateError(v === '' ? null : validateDocName(v))
  })

  const form = h('form', { class: 'create-form', novalidate: true },
    h('label', { for: 'new-doc-name' }, 'New document'),
    h('div', { class: 'row' }, input, h('button', { type: 'submit', class: 'primary' }, 'Create')),
    createError)

  form.addEventListener('submit', async (e) => {
    e.preventDefault()
    const name = input.value.trim()
    const problem = validateDocName(name)
    if (problem) { showCreateError(problem); input.focus(); return }
    showCreateError(null)
    try {
      await createDocument(name)
      opts.navigate(appUrl(`/d/${encodeURIComponent(name)}`))
    } catch (err) {
      if (err instanceof ApiError && err.status === 409) {
        showCreateError(`“${name}” already exists — `)
        createError.append(h('a', { href: appUrl(`/d/${encodeURIComponent(name)}`), 'data-link': true }, 'open it'))
      } else {
        showCreateError(err instanceof ApiError ? `Could not create: ${err.message}` : String(err))
      }
    }
  })

  const row = (d: DocumentInfo) => {
    const href = appUrl(`/d/${encodeURIComponent(d.name)}`)
    const users = d.users ?? []
    return h('tr', { 'data-doc': d.name },
      h('td', { 'data-label': 'Document' }, h('a', { href, 'data-link': true, class: 'doc-link' }, d.name),
        h('span', { class: 'muted small' }, ` · ${formatBytes(d.size_bytes)}`)),
      h('td', { 'data-label': 'Last edited', title: absoluteTime(d.updated_at) }, relativeTime(d.updated_at)),
      h('td', { 'data-label': 'Who is here' }, users.length === 0
        ? h('span', { class: 'muted' }, '—')
        : h('span', { class: 'chips' }, ...users.map((u) => {
          const chip = h('span', { class: 'chip' }, u)
          chip.style.setProperty('--c', colorForName(u))
          return chip
        }))),
      h('td', { 'data-label': 'Connections', class: 'num' }, String(d.connections ?? 0)))
  }

  let stopped = false
  let timer: ReturnType<typeof setTimeout> | null = null
  const refresh = async () => {
    try {
      const { documents } = await listDocuments()
      if (stopped) return
      listError.hidden = true
      tbody.replaceChildren(...documents.map(row))
      empty.hidden = documents.length > 0
      table.hidden = documents.length === 0
    } catch (err) {
      if (stopped) return
      listError.hidden = false
      listError.textContent = err instanceof ApiError ? err.message : String(err)
    }
    if (!stopped) timer = setTimeout(refresh, 5000)
  }

  root.append(h('section', { class: 'page list-page' },
    h('h1', {}, 'Documents'),
    h('p', { class: 'lead' }, 'Write together in real time. Share a document by sharing its address.'),
    form, listError, table, empty))
  table.hidden = true
  void refresh()
  input.focus()
  return () => { stopped = true; if (timer) clearTimeout(timer) }
}

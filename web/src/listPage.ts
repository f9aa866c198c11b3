import {
  ApiError, adminKey, createDocument, deleteDocument, displayTitle, getConfig, listDocuments, setAdminKey,
  type DocumentInfo, type ServerConfig,
} from './api'
import { absoluteTime, formatBytes, h, relativeTime } from './format'
import { appUrl, readSession } from './session'
import { presenceColors } from './colors'
import { isDocKind, type DocKind } from './docKind'

export type SortKey = 'edited' | 'title'

/** Filters by title or name (case- and accent-insensitive) and sorts; pure for testing. */
export function filterAndSort (docs: DocumentInfo[], query: string, sort: SortKey): DocumentInfo[] {
  const fold = (s: string) => s.normalize('NFKD').replace(/\p{M}/gu, '').toLocaleLowerCase()
  const q = fold(query.trim())
  const out = q ? docs.filter((d) => fold(displayTitle(d)).includes(q) || fold(d.name).includes(q)) : [...docs]
  if (sort === 'title') {
    const collator = new Intl.Collator(undefined, { sensitivity: 'base', numeric: true })
    out.sort((a, b) => collator.compare(displayTitle(a), displayTitle(b)))
  } else {
    out.sort((a, b) => Date.parse(b.updated_at) - Date.parse(a.updated_at))
  }
  return out
}

/** A row's chips: each person in the colour the editor gives their cursor (`presenceColors`). */
export function chipColors (users: string[]): Array<[string, string]> {
  const colors = presenceColors(users)
  return users.map((u) => [u, colors.get(u)!])
}

/** The list's word for a document's kind; an older server that says nothing means plain text. */
export function kindLabel (kind: unknown): { kind: DocKind, label: string, icon: string } {
  return kind === 'rich' ? { kind: 'rich', label: 'Rich text', icon: '¶' } : { kind: 'text', label: 'Plain text', icon: 'T' }
}

const SORT_KEY = 'tandem:list-sort'

/**
 * Whether this visitor can make documents: on a server with tokens only the admin (or a
 * token for every document) can, so nobody else is shown a form that can only fail.
 */
function mayCreate (config: ServerConfig | null): boolean {
  if (config?.auth !== 'token' || adminKey()) return true
  const claims = readSession().claims
  return claims?.doc === '*' && claims.access === 'write'
}

export function renderList (root: HTMLElement, opts: { navigate: (url: string) => void }): () => void {
  const input = h('input', {
    id: 'new-doc-title', type: 'text', placeholder: 'e.g. Meeting notes', maxlength: '200',
    autocomplete: 'off', 'aria-describedby': 'create-error',
  })
  const createError = h('p', { id: 'create-error', class: 'message error', role: 'alert', hidden: true })
  const listError = h('p', { id: 'list-error', class: 'message error', role: 'alert', hidden: true })
  const listMessage = h('p', { id: 'list-message', class: 'message ok', role: 'status', hidden: true })
  const search = h('input', { id: 'doc-search', type: 'search', placeholder: 'Search titles', 'aria-label': 'Search documents', autocomplete: 'off' })
  const sortSel = h('select', { id: 'doc-sort', 'aria-label': 'Sort by' },
    h('option', { value: 'edited' }, 'Last edited'),
    h('option', { value: 'title' }, 'Title'))
  const tbody = h('tbody')
  const empty = h('p', { class: 'empty', hidden: true }, 'No documents yet. Create the first one above.')
  const noMatch = h('p', { class: 'empty', id: 'no-match', hidden: true }, 'No document matches your search.')
  const table = h('table', { class: 'doc-table' },
    h('thead', {}, h('tr', {},
      h('th', {}, 'Document'), h('th', {}, 'Last edited'), h('th', {}, 'Who is here'), h('th', { class: 'num' }, 'Connections'), h('th', {}, h('span', { class: 'sr-only' }, 'Actions')))),
    tbody)

  const showCreateError = (msg: string | null) => {
    createError.hidden = msg === null
    createError.textContent = msg ?? ''
    input.setAttribute('aria-invalid', msg === null ? 'false' : 'true')
  }

  const kindRadio = (kind: DocKind, text: string, checked: boolean, hint: string) =>
    h('label', { title: hint }, h('input', { type: 'radio', name: 'new-doc-kind', value: kind, id: `new-doc-${kind}`, checked }), text)
  const form = h('form', { class: 'create-form', novalidate: true },
    h('label', { for: 'new-doc-title' }, 'New document'),
    h('div', { class: 'row' }, input, h('button', { type: 'submit', class: 'primary' }, 'Create')),
    h('fieldset', { class: 'kind-choice' }, h('legend', {}, 'Kind of document'),
      kindRadio('text', 'Plain text', true, 'One text, edited as written (CodeMirror)'),
      kindRadio('rich', 'Rich text', false, 'Headings, bold, italic, lists, task lists, quotes, code and links (Tiptap)')),
    createError)

  form.addEventListener('submit', async (e) => {
    e.preventDefault()
    const title = input.value.trim()
    if (!title) { showCreateError('Give the document a title.'); input.focus(); return }
    showCreateError(null)
    try {
      const chosen = form.querySelector<HTMLInputElement>('input[name=new-doc-kind]:checked')?.value
      const d = await createDocument(title, isDocKind(chosen) ? chosen : 'text')
      opts.navigate(appUrl(`/d/${encodeURIComponent(d.name)}`))
    } catch (err) {
      showCreateError(err instanceof ApiError ? `Could not create: ${err.message}` : String(err))
    }
  })

  let canDelete = false
  let docs: DocumentInfo[] = []
  /** Bumped on sign-out, so a list fetched before it is not shown after it. */
  let generation = 0

  const tools = h('div', { class: 'list-tools' }, search, h('label', { class: 'sort' }, h('span', {}, 'Sort by'), sortSel))

  // ---- admin sign-in (servers where the list and delete take the admin key) ----
  const keyInput = h('input', {
    id: 'admin-key', type: 'password', autocomplete: 'current-password', 'aria-describedby': 'admin-error',
  })
  const signInError = h('p', { id: 'admin-error', class: 'message error', role: 'alert', hidden: true })
  const signInText = h('p', { class: 'muted' })
  const signIn = h('form', { class: 'create-form admin-signin', id: 'admin-signin', hidden: true, novalidate: true },
    h('h2', { class: 'signin-title' }, 'Sign in as admin'),
    signInText,
    h('label', { for: 'admin-key' }, 'Admin key'),
    h('div', { class: 'row' }, keyInput, h('button', { type: 'submit', class: 'primary' }, 'Sign in')),
    signInError)
  const signOutBtn = h('button', { type: 'button', id: 'admin-signout', class: 'small-btn' }, 'Sign out')
  const signedIn = h('p', { class: 'muted small admin-status', id: 'admin-status', hidden: true },
    'Signed in as admin in this browser. ', signOutBtn)
  const noAdmin = h('p', { class: 'message warn', id: 'no-admin', hidden: true },
    'Only the server\'s admin sees the list of documents, and this server has no admin key. Open a document with the link you were given.')

  /** Signed out: the list is the admin's, so ask for the key instead (with why, if refused). */
  const showSignIn = (refusal: string | null) => {
    generation++
    tbody.replaceChildren()
    signIn.hidden = false
    signedIn.hidden = true
    tools.hidden = true
    canDelete = false
    docs = []
    table.hidden = true
    empty.hidden = true
    listError.hidden = true
    signInText.textContent = 'Only the server\'s admin sees the list of documents. Open a document with the link you were given, or sign in with the admin key (kept in this browser until you sign out).'
    signInError.hidden = refusal === null
    signInError.textContent = refusal ?? ''
  }
  signIn.addEventListener('submit', (e) => {
    e.preventDefault()
    const key = keyInput.value.trim()
    if (!key) { signInError.hidden = false; signInError.textContent = 'Enter the admin key.'; keyInput.focus(); return }
    setAdminKey(key)
    keyInput.value = ''
    void refresh()
  })
  signOutBtn.addEventListener('click', () => {
    setAdminKey(null)
    if (timer) clearTimeout(timer)
    showSignIn(null)
  })

  const remove = async (d: DocumentInfo) => {
    const t = displayTitle(d)
    if (!confirm(`Delete “${t}” for everyone? Its text and all its versions are removed. This cannot be undone.`)) return
    try {
      await deleteDocument(d.name)
      docs = docs.filter((x) => x.name !== d.name)
      render()
      listMessage.hidden = false
      listMessage.textContent = `Deleted “${t}”.`
    } catch (err) {
      listError.hidden = false
      listError.textContent = `Could not delete “${t}”: ${err instanceof ApiError ? err.message : String(err)}`
    }
  }

  const row = (d: DocumentInfo) => {
    const href = appUrl(`/d/${encodeURIComponent(d.name)}`)
    const users = d.users ?? []
    const del = h('button', { type: 'button', class: 'danger small-btn delete', 'aria-label': `Delete ${displayTitle(d)}` }, 'Delete')
    del.addEventListener('click', () => void remove(d))
    return h('tr', { 'data-doc': d.name },
      h('td', { 'data-label': 'Document' }, h('a', { href, 'data-link': true, class: 'doc-link' }, displayTitle(d)),
        kindBadge(d.kind),
        h('span', { class: 'muted small' }, ` · ${formatBytes(d.size_bytes)}`)),
      h('td', { 'data-label': 'Last edited', class: 'when', title: absoluteTime(d.updated_at) }, relativeTime(d.updated_at)),
      h('td', { 'data-label': 'Who is here', class: 'who' }, users.length === 0
        ? h('span', { class: 'muted' }, '—')
        : h('span', { class: 'chips' }, ...chipColors(users).map(([u, color]) => {
          const chip = h('span', { class: 'chip' }, u)
          chip.style.setProperty('--c', color)
          return chip
        }))),
      h('td', { 'data-label': 'Connections', class: 'num' }, String(d.connections ?? 0)),
      h('td', { class: 'actions' }, canDelete ? del : null))
  }

  const kindBadge = (kind: unknown) => {
    const k = kindLabel(kind)
    return h('span', { class: `kind-badge kind-${k.kind}`, 'data-kind': k.kind, title: k.label },
      h('span', { 'aria-hidden': 'true' }, k.icon), k.label)
  }

  const render = () => {
    const shown = filterAndSort(docs, search.value, sortSel.value as SortKey)
    tbody.replaceChildren(...shown.map(row))
    empty.hidden = docs.length > 0
    noMatch.hidden = docs.length === 0 || shown.length > 0
    table.hidden = shown.length === 0
  }
  search.addEventListener('input', render)
  // The sort chosen last is kept in this browser, so a reload shows the list the same way.
  try {
    const saved = localStorage.getItem(SORT_KEY)
    if (saved === 'edited' || saved === 'title') sortSel.value = saved
  } catch { /* storage blocked: the default sort */ }
  sortSel.addEventListener('change', () => {
    try { localStorage.setItem(SORT_KEY, sortSel.value) } catch { /* kept for this page only */ }
    render()
  })

  let stopped = false
  let timer: ReturnType<typeof setTimeout> | null = null
  let config: ServerConfig | null = null
  const refresh = async () => {
    if (timer) clearTimeout(timer)
    timer = null
    form.hidden = !mayCreate(config)
    if (config?.admin === 'none') { noAdmin.hidden = false; tools.hidden = true; return }
    const needsKey = config?.admin === 'key'
    const key = adminKey()
    if (needsKey && !key) { showSignIn(null); return }
    const gen = generation
    try {
      const { documents } = await listDocuments()
      if (stopped || gen !== generation) return
      listError.hidden = true
      signIn.hidden = true
      tools.hidden = false
      signedIn.hidden = !needsKey
      canDelete = config?.admin === 'open' || needsKey
      docs = documents
      render()
    } catch (err) {
      if (stopped || gen !== generation) return
      if (needsKey && err instanceof ApiError && (err.status === 401 || err.status === 403)) {
        setAdminKey(null)
        showSignIn(`That admin key was not accepted: ${err.message}`)
        return
      }
      listError.hidden = false
      listError.textContent = err instanceof ApiError ? err.message : String(err)
    }
    // Who is here changes all the time: keep it fresh while the page is visible.
    if (!stopped) timer = setTimeout(refresh, document.hidden ? 10000 : 2000)
  }

  root.append(h('section', { class: 'page list-page' },
    h('h1', {}, 'Documents'),
    h('p', { class: 'lead' }, 'Write together in real time. Share a document by sharing its address.'),
    form,
    signIn, noAdmin, signedIn,
    tools,
    listError, listMessage, table, empty, noMatch))
  table.hidden = true
  form.hidden = true // until the server's settings say whether this visitor may create
  // The server's settings say whether the list takes the admin key; without them, just try.
  getConfig().then((c) => { config = c }).catch(() => {}).finally(() => {
    if (stopped) return
    void refresh()
    if (!form.hidden) input.focus()
  })
  return () => { stopped = true; if (timer) clearTimeout(timer) }
}

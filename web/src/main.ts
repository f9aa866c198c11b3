import './style.css'
import './rich.css'
import './headerAndList.css'
import { setApiToken } from './api'
import { currentUserName, readSession, storeUserName } from './session'
import { renderList } from './listPage'
import { renderEditor } from './editorPage'
import { renderNotFound } from './notFound'
import { registerOfflineShell } from './offlineShell'

const session = readSession()
setApiToken(session.token)

const app = document.getElementById('app')!
const nameInput = document.getElementById('user-name') as HTMLInputElement
let cleanup: (() => void) | null = null
const nameListeners = new Set<(name: string) => void>()

nameInput.value = currentUserName(session.claims)
if (session.claims?.name) {
  nameInput.readOnly = true
  nameInput.title = 'Set by your access link'
}
nameInput.addEventListener('change', () => {
  const name = nameInput.value.trim()
  if (!name) { nameInput.value = currentUserName(session.claims); return }
  storeUserName(name)
  for (const f of nameListeners) f(name)
})

export function navigate (url: string): void {
  history.pushState(null, '', url)
  route()
}

function route (): void {
  cleanup?.()
  cleanup = null
  nameListeners.clear()
  app.replaceChildren()
  const path = location.pathname
  const m = /^\/d\/(.+)$/.exec(path)
  if (m) {
    let doc: string
    try { doc = decodeURIComponent(m[1]) } catch { doc = m[1] }
    cleanup = renderEditor(app, doc, {
      session,
      userName: () => nameInput.value.trim() || currentUserName(session.claims),
      onNameChange: (f) => nameListeners.add(f),
      navigate,
    })
  } else if (path === '/' || path === '/index.html') {
    cleanup = renderList(app, { navigate })
  } else {
    cleanup = renderNotFound(app)
  }
}

// In-app links are plain anchors (so they can be opened in a new tab) upgraded to pushState.
document.addEventListener('click', (e) => {
  const a = (e.target as Element | null)?.closest?.('a[data-link]') as HTMLAnchorElement | null
  if (!a || e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return
  const url = new URL(a.href)
  if (url.origin !== location.origin) return
  e.preventDefault()
  navigate(url.pathname + url.search)
})
window.addEventListener('popstate', route)
route()
registerOfflineShell()

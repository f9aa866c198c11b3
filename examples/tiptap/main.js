// A Tiptap editor on Tandem through the unchanged @hocuspocus/provider.
//
// Query parameters: `server` (ws:// or wss:// origin of Tandem; default: this page's host),
// `doc` (document name), `token` (a Tandem access token, when the server has a secret),
// `name` (the name shown on your caret).
import { Editor } from '@tiptap/core'
import StarterKit from '@tiptap/starter-kit'
import Collaboration from '@tiptap/extension-collaboration'
import CollaborationCaret from '@tiptap/extension-collaboration-caret'
import { HocuspocusProvider } from '@hocuspocus/provider'

const params = new URLSearchParams(location.search)
const origin = params.get('server') ?? `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}`
const name = params.get('name') ?? `guest-${Math.floor(Math.random() * 1000)}`
const colors = ['#d9480f', '#2b8a3e', '#1971c2', '#9c36b5', '#e67700', '#0c8599', '#c2255c', '#5f3dc4']

/**
 * A caret colour from the whole name (FNV-1a hash): names of equal length, "Ann" and
 * "Bob", get different colours, where picking by length gave them the same one.
 */
function colorFor (who) {
  let hash = 0x811c9dc5
  for (const byte of new TextEncoder().encode(who)) {
    hash = Math.imul(hash ^ byte, 0x01000193) >>> 0
  }
  return colors[hash % colors.length]
}
const status = document.querySelector('#status')

const provider = new HocuspocusProvider({
  url: `${origin}/hocuspocus`,
  name: params.get('doc') ?? 'tiptap-demo',
  // A string, or an async function that fetches one from your backend.
  token: params.get('token'),
  onAuthenticationFailed: ({ reason }) => { status.textContent = `refused: ${reason}` },
  // Tandem sends the sync status only once an edit is committed to its database, so
  // "saved" here means saved on the server's disk.
  onUnsyncedChanges: ({ number }) => { status.textContent = number === 0 ? 'saved' : 'saving…' }
})

const editor = new Editor({
  element: document.querySelector('#editor'),
  extensions: [
    // Yjs keeps its own undo history; Tiptap's would undo other people's edits.
    StarterKit.configure({ undoRedo: false }),
    Collaboration.configure({ document: provider.document }),
    // Other people's `user.color` ends up in a style attribute of their caret. Tandem removes
    // values that are not `#rgb`/`#rrggbb` colours from presence, and this version of
    // CollaborationCaret draws only `#rrggbb` ones; a custom `render` or `selectionRender`
    // must check the colour the same way before putting it into a style.
    CollaborationCaret.configure({
      provider,
      user: { name, color: colorFor(name) }
    })
  ]
})

// For the browser console and the end-to-end test.
window.tiptapDemo = { editor, provider }

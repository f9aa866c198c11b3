/**
 * The plain editor's personal settings, remembered in this browser (they change how this
 * person edits, never the shared document).
 */
export interface EditorSettings {
  /** Tab indents inside the editor (off: Tab moves focus on, as everywhere on the page). */
  tabIndents: boolean
  /** Line numbers in a gutter (off: a writing surface, not a code editor). */
  lineNumbers: boolean
}

const KEY = 'tandem:editor-settings'
const DEFAULTS: EditorSettings = { tabIndents: false, lineNumbers: false }

function load (): EditorSettings {
  try {
    const raw = JSON.parse(localStorage.getItem(KEY) ?? '{}') as Partial<EditorSettings>
    return {
      tabIndents: typeof raw.tabIndents === 'boolean' ? raw.tabIndents : DEFAULTS.tabIndents,
      lineNumbers: typeof raw.lineNumbers === 'boolean' ? raw.lineNumbers : DEFAULTS.lineNumbers,
    }
  } catch {
    return { ...DEFAULTS }
  }
}

const listeners = new Set<(s: EditorSettings) => void>()
let current = load()

export const editorSettings = {
  get: (): EditorSettings => ({ ...current }),
  set (patch: Partial<EditorSettings>): void {
    current = { ...current, ...patch }
    try { localStorage.setItem(KEY, JSON.stringify(current)) } catch { /* blocked: this tab still follows */ }
    for (const f of listeners) f({ ...current })
  },
  /** Calls `f` on every change; returns the function that stops it. */
  onChange (f: (s: EditorSettings) => void): () => void {
    listeners.add(f)
    return () => listeners.delete(f)
  },
}

import { getSchema, type AnyExtension } from '@tiptap/core'
import StarterKit from '@tiptap/starter-kit'
import { TaskItem, TaskList } from '@tiptap/extension-list'
import type { Schema } from '@tiptap/pm/model'

/**
 * The nodes and marks of a rich document: Tiptap's StarterKit plus task lists, the schema
 * the server's Markdown import writes (docs/rich-text.md). The editor and the history
 * preview share it, so a version shows with the same structure it is edited in.
 */
export function richExtensions (): AnyExtension[] {
  return [
    StarterKit.configure({
      // Yjs keeps its own undo history; Tiptap's would undo other people's edits.
      undoRedo: false,
      link: {
        openOnClick: false,
        autolink: true,
        defaultProtocol: 'https',
        protocols: ['http', 'https', 'mailto'],
        HTMLAttributes: { rel: 'noopener noreferrer nofollow', target: '_blank' },
      },
    }),
    TaskList,
    TaskItem.configure({ nested: true }),
  ]
}

let schema: Schema | null = null
/** The schema alone (no editor), built once. */
export function richSchema (): Schema {
  schema ??= getSchema(richExtensions())
  return schema
}

/**
 * What a link button may set: http(s) and mailto addresses, a bare host taken as https.
 * Returns null for an empty input (remove the link) and throws with a readable reason for
 * anything else, so `javascript:` and friends never become a link.
 */
export function linkHref (input: string): string | null {
  const s = input.trim()
  if (!s) return null
  const withScheme = /^[a-z][a-z0-9+.-]*:/i.test(s) ? s : `https://${s}`
  let url: URL
  try {
    url = new URL(withScheme)
  } catch {
    throw new Error(`“${s}” is not a web address`)
  }
  if (!['http:', 'https:', 'mailto:'].includes(url.protocol)) {
    throw new Error(`Links may point to http, https or mailto addresses, not “${url.protocol}”`)
  }
  return url.href
}

import { markdown } from '@codemirror/lang-markdown'
import { syntaxHighlighting } from '@codemirror/language'
import { tagHighlighter, tags } from '@lezer/highlight'
import type { Extension } from '@codemirror/state'

/**
 * Markdown styled as it is typed: the characters stay plain Markdown (every client and the
 * API see `# Title`), only their look changes. The classes are styled in writing.css, so the
 * light and dark themes share the page's colours.
 */
const markdownClasses = tagHighlighter([
  { tag: tags.heading1, class: 'md-h md-h1' },
  { tag: tags.heading2, class: 'md-h md-h2' },
  { tag: tags.heading3, class: 'md-h md-h3' },
  { tag: [tags.heading4, tags.heading5, tags.heading6], class: 'md-h md-h4' },
  { tag: tags.emphasis, class: 'md-em' },
  { tag: tags.strong, class: 'md-strong' },
  { tag: tags.strikethrough, class: 'md-strike' },
  { tag: [tags.link, tags.url], class: 'md-link' },
  { tag: tags.monospace, class: 'md-code' },
  { tag: tags.quote, class: 'md-quote' },
  { tag: tags.list, class: 'md-list' },
  { tag: tags.processingInstruction, class: 'md-mark' },
  { tag: tags.contentSeparator, class: 'md-rule' },
])

/** The plain editor's language and look: a writing surface rather than a code editor. */
export function writingSurface (): Extension {
  return [markdown(), syntaxHighlighting(markdownClasses)]
}

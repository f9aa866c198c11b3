import type { Editor } from '@tiptap/core'
import { h } from './format'
import { linkHref } from './richSchema'

interface Tool {
  id: string
  label: string
  /** What the button shows (the label is its accessible name and tooltip). */
  face: string
  run (e: Editor): void
  active (e: Editor): boolean
}

const chain = (e: Editor) => e.chain().focus()

const TOOLS: Tool[][] = [
  [
    { id: 'bold', label: 'Bold (Ctrl+B)', face: 'B', run: (e) => chain(e).toggleBold().run(), active: (e) => e.isActive('bold') },
    { id: 'italic', label: 'Italic (Ctrl+I)', face: 'I', run: (e) => chain(e).toggleItalic().run(), active: (e) => e.isActive('italic') },
    { id: 'strike', label: 'Strikethrough', face: 'S', run: (e) => chain(e).toggleStrike().run(), active: (e) => e.isActive('strike') },
    { id: 'code', label: 'Inline code', face: '</>', run: (e) => chain(e).toggleCode().run(), active: (e) => e.isActive('code') },
  ],
  [1, 2, 3].map((level) => ({
    id: `h${level}`, label: `Heading ${level}`, face: `H${level}`,
    run: (e: Editor) => chain(e).toggleHeading({ level: level as 1 | 2 | 3 }).run(),
    active: (e: Editor) => e.isActive('heading', { level }),
  })),
  [
    { id: 'bullet-list', label: 'Bulleted list', face: '•', run: (e) => chain(e).toggleBulletList().run(), active: (e) => e.isActive('bulletList') },
    { id: 'ordered-list', label: 'Numbered list', face: '1.', run: (e) => chain(e).toggleOrderedList().run(), active: (e) => e.isActive('orderedList') },
    { id: 'task-list', label: 'Task list', face: '☑', run: (e) => chain(e).toggleTaskList().run(), active: (e) => e.isActive('taskList') },
    { id: 'quote', label: 'Quote', face: '❝', run: (e) => chain(e).toggleBlockquote().run(), active: (e) => e.isActive('blockquote') },
    { id: 'code-block', label: 'Code block', face: '{ }', run: (e) => chain(e).toggleCodeBlock().run(), active: (e) => e.isActive('codeBlock') },
  ],
]

/**
 * The rich editor's toolbar: one button per mark or block, pressed (`aria-pressed`) where the
 * selection has it. Keyboard shortcuts and Markdown-style typing (`# `, `- `, `**x**`) work too.
 * `say` shows a refusal (a link to a `javascript:` address, say) next to the editor.
 */
export function createRichToolbar (editor: Editor, say: (text: string) => void): { element: HTMLElement, refresh (): void, destroy (): void } {
  const buttons: Array<[Tool, HTMLButtonElement]> = []
  const button = (t: Tool) => {
    const b = h('button', { type: 'button', class: `tool tool-${t.id}`, 'data-tool': t.id, title: t.label, 'aria-label': t.label, 'aria-pressed': 'false' }, t.face)
    // mousedown would move the focus out of the editor and lose the selection first.
    b.addEventListener('mousedown', (ev) => ev.preventDefault())
    b.addEventListener('click', () => t.run(editor))
    buttons.push([t, b])
    return b
  }
  const link: Tool = {
    id: 'link', label: 'Link', face: 'Link',
    active: (e) => e.isActive('link'),
    run: (e) => {
      const current = (e.getAttributes('link').href as string | undefined) ?? ''
      const input = prompt('Link address (empty removes the link)', current)
      if (input === null) return
      let href: string | null
      try {
        href = linkHref(input)
      } catch (err) {
        say((err as Error).message)
        return
      }
      if (href === null) chain(e).extendMarkRange('link').unsetLink().run()
      else chain(e).extendMarkRange('link').setLink({ href }).run()
    },
  }
  const groups = [...TOOLS.slice(0, 2), [...TOOLS[2], link]]
  const element = h('div', { class: 'rich-toolbar', role: 'toolbar', 'aria-label': 'Formatting', id: 'rich-toolbar' },
    ...groups.map((g) => h('span', { class: 'tool-group' }, ...g.map(button))))

  const update = () => {
    const editable = editor.isEditable
    for (const [t, b] of buttons) {
      b.setAttribute('aria-pressed', String(t.active(editor)))
      b.disabled = !editable
    }
  }
  editor.on('transaction', update)
  update()
  return { element, refresh: update, destroy: () => editor.off('transaction', update) }
}

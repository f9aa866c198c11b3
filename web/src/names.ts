/** Same rule as docs/PROTOCOL.md: 1-128 chars from `A-Z a-z 0-9 - _ . ~ :`, no leading `.`. */
const ALLOWED = /^[A-Za-z0-9\-_.~:]+$/

export const MAX_NAME_LENGTH = 128

/** Returns an error message, or null when the name is acceptable to the server. */
export function validateDocName(name: string): string | null {
  if (name.length === 0) return 'Enter a document name.'
  if (name.length > MAX_NAME_LENGTH) return `A document name has at most ${MAX_NAME_LENGTH} characters.`
  if (name.startsWith('.')) return 'A document name cannot start with a dot.'
  if (!ALLOWED.test(name)) {
    return 'Use only letters, digits and - _ . ~ : in a document name (no spaces).'
  }
  return null
}

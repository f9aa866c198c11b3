export type DiffOp = { kind: 'same' | 'add' | 'del', text: string }

export function splitLines(text: string): string[] {
  if (text === '') return []
  return text.split('\n')
}

/**
 * Line diff from the longest common subsequence. Versions are documents a person writes, so the
 * O(n*m) table is fine once the common prefix and suffix are trimmed; beyond a size guard we
 * fall back to "everything changed" instead of freezing the tab.
 */
export function diffLines(oldText: string, newText: string, maxCells = 4_000_000): DiffOp[] {
  const a = splitLines(oldText)
  const b = splitLines(newText)
  let start = 0
  while (start < a.length && start < b.length && a[start] === b[start]) start++
  let endA = a.length
  let endB = b.length
  while (endA > start && endB > start && a[endA - 1] === b[endB - 1]) { endA--; endB-- }

  const ops: DiffOp[] = []
  for (let i = 0; i < start; i++) ops.push({ kind: 'same', text: a[i] })

  const midA = a.slice(start, endA)
  const midB = b.slice(start, endB)
  const n = midA.length
  const m = midB.length
  if (n * m > maxCells) {
    for (const t of midA) ops.push({ kind: 'del', text: t })
    for (const t of midB) ops.push({ kind: 'add', text: t })
  } else if (n > 0 || m > 0) {
    // lcs[i][j] = LCS length of midA[i..] and midB[j..], flattened for speed.
    const w = m + 1
    const lcs = new Uint32Array((n + 1) * w)
    for (let i = n - 1; i >= 0; i--) {
      for (let j = m - 1; j >= 0; j--) {
        lcs[i * w + j] = midA[i] === midB[j]
          ? lcs[(i + 1) * w + j + 1] + 1
          : Math.max(lcs[(i + 1) * w + j], lcs[i * w + j + 1])
      }
    }
    let i = 0
    let j = 0
    while (i < n && j < m) {
      if (midA[i] === midB[j]) {
        ops.push({ kind: 'same', text: midA[i] }); i++; j++
      } else if (lcs[(i + 1) * w + j] >= lcs[i * w + j + 1]) {
        ops.push({ kind: 'del', text: midA[i] }); i++
      } else {
        ops.push({ kind: 'add', text: midB[j] }); j++
      }
    }
    while (i < n) ops.push({ kind: 'del', text: midA[i++] })
    while (j < m) ops.push({ kind: 'add', text: midB[j++] })
  }

  for (let i = endA; i < a.length; i++) ops.push({ kind: 'same', text: a[i] })
  return ops
}

export function diffStats(ops: DiffOp[]): { added: number, removed: number } {
  let added = 0
  let removed = 0
  for (const op of ops) {
    if (op.kind === 'add') added++
    else if (op.kind === 'del') removed++
  }
  return { added, removed }
}

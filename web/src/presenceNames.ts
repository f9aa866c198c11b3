/**
 * What the presence list calls each person. Two people may choose the same name; each of
 * them then gets a number, in the order of their client ids, so every editor numbers them
 * the same way ("Ann (1)", "Ann (2)") and they can be told apart.
 */
export function presenceLabels (people: ReadonlyArray<{ client: number, name: string }>): Map<number, string> {
  const byName = new Map<string, number[]>()
  for (const p of people) {
    const key = p.name.trim().toLocaleLowerCase()
    byName.set(key, [...(byName.get(key) ?? []), p.client])
  }
  const out = new Map<number, string>()
  for (const p of people) {
    const same = byName.get(p.name.trim().toLocaleLowerCase()) ?? []
    if (same.length < 2) { out.set(p.client, p.name); continue }
    const n = [...same].sort((a, b) => a - b).indexOf(p.client) + 1
    out.set(p.client, `${p.name} (${n})`)
  }
  return out
}

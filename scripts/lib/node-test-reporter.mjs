// A reporter for node's test runner that writes one JSON object per finished test:
// {"status":"pass"|"fail"|"skip","file","name","reason"}. scripts/test.sh adds it next to the
// usual human-readable reporter so that it can count tests (not files) and list every skip
// with its reason.
//
// Only leaves are reported: a suite (describe) or a test with subtests is a container, and
// counting it too would count its work twice. A failure outside any test (a file that does
// not load, a failing before() hook) arrives as a failed test at the top and is reported.

export default async function * tandemReporter (source) {
  // per file and nesting level: whether a finished test was seen at that level since the last
  // finished test one level up (children finish before their parent)
  const childSeen = new Map()
  for await (const event of source) {
    if (event.type !== 'test:pass' && event.type !== 'test:fail') continue
    const data = event.data
    const file = data.file ?? ''
    const below = `${file}\0${data.nesting + 1}`
    const hasChildren = childSeen.get(below) === true
    childSeen.set(below, false)
    childSeen.set(`${file}\0${data.nesting}`, true)
    if (hasChildren || data.details?.type === 'suite') continue

    let status = event.type === 'test:pass' ? 'pass' : 'fail'
    let reason = ''
    if (data.skip !== undefined) {
      status = 'skip'
      reason = typeof data.skip === 'string' ? data.skip : 'skipped without a reason'
    } else if (data.todo !== undefined) {
      status = 'skip'
      reason = `todo: ${typeof data.todo === 'string' ? data.todo : 'no reason given'}`
    } else if (status === 'fail') {
      const err = data.details?.error
      reason = String(err?.cause?.message ?? err?.message ?? 'failed').split('\n')[0]
    }
    yield JSON.stringify({ status, file, name: data.name, reason }) + '\n'
  }
}

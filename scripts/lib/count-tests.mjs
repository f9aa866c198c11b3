// Reads one suite's machine-readable test report and prints, for scripts/test.sh:
//   SKIP <test>: <reason>      one line per skipped test
//   FAIL <test>: <reason>      one line per failed test
//   COUNTS <passed> <failed> <skipped>   always the last line
//
// Formats: node-jsonl (scripts/lib/node-test-reporter.mjs), vitest-json (vitest's json
// reporter), junit (cargo-nextest) and junit-arg (any JUnit XML, e.g. schemathesis's),
// cargo-test-log (the output of plain `cargo test`).
//
// With CI=true every skipped test counts as failed unless it is listed, with its reason, in
// scripts/lib/allowed-skips.txt: on CI the test command installs what the tests need, so a
// skip means a test silently did not run. The skip's own wording does not matter.

import { readFileSync, existsSync } from 'node:fs'
import path from 'node:path'

const [format, file] = process.argv.slice(2)
const strict = ['true', '1'].includes(process.env.CI ?? '')
const cwd = process.cwd()

// `name | reason` lines; `#` starts a comment. A line without a reason is an error.
function readAllowedSkips () {
  const listFile = new URL('./allowed-skips.txt', import.meta.url)
  const allowed = new Map()
  for (const [i, raw] of readFileSync(listFile, 'utf8').split('\n').entries()) {
    const line = raw.trim()
    if (!line || line.startsWith('#')) continue
    const bar = line.lastIndexOf(' | ')
    const reason = bar < 0 ? '' : line.slice(bar + 3).trim()
    if (!reason) throw new Error(`allowed-skips.txt line ${i + 1} gives no reason: ${line}`)
    allowed.set(line.slice(0, bar).trim(), reason)
  }
  return allowed
}

const results = [] // { status: 'pass'|'fail'|'skip', name, reason }

const unescapeXml = (s) => s.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"')
  .replace(/&apos;/g, "'").replace(/&amp;/g, '&')
const attr = (tag, name) => {
  const m = tag.match(new RegExp(`\\s${name}="([^"]*)"`))
  return m ? unescapeXml(m[1]) : ''
}
const short = (f) => (f ? path.relative(cwd, f.replace(/^file:\/\//, '')) : '')
const firstLine = (s) => String(s ?? '').trim().split('\n')[0].slice(0, 300)

function readNodeJsonl (text) {
  for (const line of text.split('\n')) {
    if (!line.trim()) continue
    const r = JSON.parse(line)
    results.push({ status: r.status, name: `${short(r.file)} > ${r.name}`, reason: r.reason })
  }
}

function readVitestJson (text) {
  const report = JSON.parse(text)
  for (const suite of report.testResults ?? []) {
    const f = short(suite.name)
    for (const t of suite.assertionResults ?? []) {
      const name = `${f} > ${t.fullName ?? t.title}`
      if (t.status === 'passed') results.push({ status: 'pass', name, reason: '' })
      else if (t.status === 'failed') results.push({ status: 'fail', name, reason: firstLine(t.failureMessages?.[0]) })
      else results.push({ status: 'skip', name, reason: `${t.status} in the source (it.skip / it.todo)` })
    }
    // a file that fails to load has no assertion results but a failure message
    if ((suite.assertionResults ?? []).length === 0 && suite.status === 'failed') {
      results.push({ status: 'fail', name: f, reason: firstLine(suite.message) })
    }
  }
}

function readJunit (text) {
  // nextest leaves ignored tests out of the test cases and only counts them
  const declared = Number(attr(text.match(/<testsuites\b[^>]*>/)?.[0] ?? '', 'skipped') || 0)
  let listed = 0
  for (const m of text.matchAll(/<testcase\b([^>]*?)(\/>|>([\s\S]*?)<\/testcase>)/g)) {
    const [, attrs, , body = ''] = m
    const name = `${attr(attrs, 'classname')} > ${attr(attrs, 'name')}`
    const failure = body.match(/<(failure|error)\b([^>]*)/)
    const skipped = body.match(/<skipped\b([^>]*)/)
    if (failure) results.push({ status: 'fail', name, reason: attr(failure[2], 'message') || failure[1] })
    else if (skipped) {
      listed++
      results.push({ status: 'skip', name, reason: attr(skipped[1], 'message') || 'skipped' })
    } else results.push({ status: 'pass', name, reason: '' })
  }
  for (let i = listed; i < declared; i++) {
    results.push({ status: 'skip', name: '(unnamed)', reason: 'ignored (#[ignore]): the JUnit report names no reason' })
  }
}

// plain `cargo test` prints no per-test report worth parsing: take its per-binary totals
function readCargoTestLog (text) {
  let p = 0; let f = 0; let s = 0
  for (const m of text.matchAll(/test result: \w+\. (\d+) passed; (\d+) failed; (\d+) ignored/g)) {
    p += Number(m[1]); f += Number(m[2]); s += Number(m[3])
  }
  for (const m of text.matchAll(/^test (\S+) \.\.\. (FAILED|ignored)(.*)$/gm)) {
    if (m[2] === 'ignored') console.log(`SKIP ${m[1]}: ignored${m[3] ? ` (${m[3].replace(/^,\s*/, '')})` : ''}`)
    else console.log(`FAIL ${m[1]}`)
  }
  console.log(`COUNTS ${p} ${f} ${s}`)
}

if (!file || !existsSync(file)) {
  console.log(`FAIL (no test report at ${file}): the suite did not run its tests`)
  console.log('COUNTS 0 1 0')
  process.exit(0)
}
const text = readFileSync(file, 'utf8')
if (format === 'cargo-test-log') {
  readCargoTestLog(text)
  process.exit(0)
}
try {
  if (format === 'node-jsonl') readNodeJsonl(text)
  else if (format === 'vitest-json') readVitestJson(text)
  else if (format === 'junit' || format === 'junit-arg') readJunit(text)
  else throw new Error(`unknown report format ${format}`)
} catch (err) {
  console.log(`FAIL (unreadable test report ${file}): ${err.message}`)
  console.log('COUNTS 0 1 0')
  process.exit(0)
}

let allowed
try {
  allowed = readAllowedSkips()
} catch (err) {
  console.log(`FAIL (scripts/lib/allowed-skips.txt): ${err.message}`)
  console.log('COUNTS 0 1 0')
  process.exit(0)
}
let passed = 0; let failed = 0; let skipped = 0
for (const r of results) {
  if (r.status === 'pass') passed++
  else if (r.status === 'fail') {
    failed++
    console.log(`FAIL ${r.name}: ${r.reason}`)
  } else if (strict && !allowed.has(r.name)) {
    failed++
    console.log(`FAIL ${r.name}: skipped on CI (not in scripts/lib/allowed-skips.txt): ${r.reason}`)
  } else {
    skipped++
    console.log(`SKIP ${r.name}: ${r.reason}`)
  }
}
console.log(`COUNTS ${passed} ${failed} ${skipped}`)

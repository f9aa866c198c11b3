// scripts/run.sh rebuilds the web editor only when its sources changed.

import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync, existsSync, mkdtempSync, writeFileSync, rmSync, cpSync, mkdirSync } from 'node:fs'
import { spawnSync } from 'node:child_process'
import { tmpdir } from 'node:os'
import path from 'node:path'

import { root } from './lib.mjs'

// ---------------------------------------------------------------------------------------
// scripts/run.sh

test('run.sh rebuilds the web editor only when its sources changed', () => {
  // The real scripts and web sources in a scratch copy; npm and cargo are stubs that log what
  // they were asked (a build writes web/dist as the real one would).
  const dir = mkdtempSync(path.join(tmpdir(), 'tandem-runsh-'))
  try {
    cpSync(path.join(root, 'scripts'), path.join(dir, 'scripts'), { recursive: true })
    for (const f of ['src', 'public', 'index.html', 'package.json', 'package-lock.json', 'tsconfig.json', 'vite.config.ts']) {
      if (existsSync(path.join(root, 'web', f))) cpSync(path.join(root, 'web', f), path.join(dir, 'web', f), { recursive: true })
    }
    const bin = path.join(dir, 'stub-bin')
    const log = path.join(dir, 'calls.log')
    mkdirSync(bin)
    writeFileSync(path.join(bin, 'npm'), `#!/usr/bin/env bash
echo "npm $*" >>"$CALLS"
case "$*" in
  ci*) mkdir -p web/node_modules ;;
  *"run build"*) mkdir -p web/dist && echo built >web/dist/index.html ;;
esac
`, { mode: 0o755 })
    writeFileSync(path.join(bin, 'cargo'), '#!/usr/bin/env bash\necho "cargo $*" >>"$CALLS"\n', { mode: 0o755 })
    const run = () => {
      writeFileSync(log, '')
      const r = spawnSync('bash', [path.join(dir, 'scripts', 'run.sh')], {
        cwd: dir, encoding: 'utf8', env: { ...process.env, PATH: `${bin}:${process.env.PATH}`, CALLS: log },
      })
      assert.equal(r.status, 0, r.stdout + r.stderr)
      return { out: r.stdout, calls: readFileSync(log, 'utf8') }
    }
    const builds = (calls) => calls.split('\n').filter((l) => /^npm run build\b/.test(l)).length

    const first = run()
    assert.equal(builds(first.calls), 1, first.calls)
    assert.match(first.calls, /^cargo run --release/m)
    const second = run()
    assert.equal(builds(second.calls), 0, second.calls)
    assert.match(second.out, /web editor is up to date/)
    // Tests are not part of the editor: changing one rebuilds nothing.
    writeFileSync(path.join(dir, 'web/src/pure.test.ts'), '\n// changed\n', { flag: 'a' })
    assert.equal(builds(run().calls), 0)
    writeFileSync(path.join(dir, 'web/src/main.ts'), '\n// changed\n', { flag: 'a' })
    assert.equal(builds(run().calls), 1, 'a changed source must rebuild the editor')
    assert.equal(builds(run().calls), 0)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

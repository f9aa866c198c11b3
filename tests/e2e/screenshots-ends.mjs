// The two pages an editor ends on instead of pretending to be offline: a share link that
// expired (it names who shared it) and a document deleted while it was open (with the
// download of this browser's copy). Written to docs/screenshots by screenshots.mjs.
import { execFileSync } from 'node:child_process'
import path from 'node:path'
import { startServer, openAs, serverBin, serverEnv } from './harness.mjs'

const secret = 'screenshots-secret-0123456789abcdef0123'
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))
const views = [['desktop', { width: 1280, height: 800 }, 'light'], ['phone', { width: 390, height: 844 }, 'dark']]

export async function endScreenshots (browser, outDir) {
  const server = await startServer(['--secret', secret])
  try {
    const mint = (args) => execFileSync(serverBin(), ['token', '--secret', secret, ...args], { encoding: 'utf8', env: serverEnv() }).trim().split(/\s+/).pop()
    const ann = mint(['--doc', 'roadmap', '--access', 'write', '--name', 'Ann', '--share'])
    const res = await fetch(`${server.url}/api/documents/roadmap/share`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${ann}` },
      body: JSON.stringify({ access: 'write', expires_in: 1 }),
    })
    const { token } = await res.json()
    await sleep(2500)
    for (const [device, viewport, scheme] of views) {
      const context = await browser.newContext({ viewport, colorScheme: scheme, deviceScaleFactor: device === 'phone' ? 2 : 1 })
      const page = await context.newPage()
      await page.goto(`${server.url}/d/roadmap?token=${token}`)
      await page.waitForSelector('#refusal', { timeout: 20000 })
      await page.screenshot({ path: path.join(outDir, `expired-link-${device}-${scheme}.png`) })
      await context.close()
    }
  } finally {
    await server.stop()
  }

  const open = await startServer([])
  try {
    for (const [device, viewport, scheme] of views) {
      const doc = `weekly-sync-${device}`
      const { context, page } = await openAs(browser, 'Ann', `${open.url}/d/${doc}`, viewport)
      await page.emulateMedia({ colorScheme: scheme })
      await page.click('.cm-content')
      await page.keyboard.insertText('# Weekly sync\n\nNotes that someone deleted for everyone.\n')
      await page.waitForFunction(() => document.getElementById('conn-status')?.dataset.save === 'saved', null, { timeout: 20000 })
      await fetch(`${open.url}/api/documents/${doc}`, { method: 'DELETE' })
      await page.waitForSelector('#deleted-doc', { timeout: 20000 })
      await page.screenshot({ path: path.join(outDir, `deleted-${device}-${scheme}.png`) })
      await context.close()
    }
  } finally {
    await open.stop()
  }
}

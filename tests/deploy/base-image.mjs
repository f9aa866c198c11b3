// Makes the Debian base image the image check (test/image.test.mjs) builds on, ahead of the
// tests: scripts/test.sh runs this in the background while the Rust build and tests run, since
// a first debootstrap takes minutes of downloading. The test itself calls the same
// ensureBaseImage, which then finds the image in podman's storage; run alone, the test still
// makes it. Exits 0 without doing anything where the image check cannot run (it skips, and
// says why).
import { BASE_IMAGE, ensureBaseImage, missingForPodman } from './lib/podman.mjs'

const missing = missingForPodman()
if (missing) {
  console.log(`# no base image: ${missing}`)
} else {
  const started = Date.now()
  const how = await ensureBaseImage((msg) => console.log(`# ${msg}`))
  console.log(`# base image ${BASE_IMAGE}: ${how} (${Math.round((Date.now() - started) / 1000)} s)`)
}

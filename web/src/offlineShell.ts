/**
 * Registers the service worker (public/sw.js) that keeps the app shell, so a document opened
 * before opens while the server is unreachable. Only in a build: the dev server has no
 * precache list, and a worker there would hide code changes.
 */
export function registerOfflineShell (): void {
  if (!import.meta.env.PROD || !('serviceWorker' in navigator)) return
  navigator.serviceWorker.register('/sw.js').catch((err) => {
    // Without it the editor still works; only reopening while offline does not.
    console.info('tandem: no offline copy of the app:', err instanceof Error ? err.message : String(err))
  })
}

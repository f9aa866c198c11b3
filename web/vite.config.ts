/// <reference types="vitest/config" />
import { defineConfig, type Plugin } from 'vite'

const backend = 'http://127.0.0.1:8080'

/** FNV-1a, enough to tell two builds apart (no Node types needed here). */
function fingerprint (text: string): string {
  let h = 0x811c9dc5
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193) >>> 0
  return h.toString(16).padStart(8, '0')
}

/**
 * Writes dist/sw-precache.js: the app shell's files (their names are content-hashed, so they
 * are only known once built) for the service worker (public/sw.js) to cache, and a version
 * that changes with every different build, so browsers install the new worker.
 */
function precacheList (): Plugin {
  return {
    name: 'tandem-precache-list',
    apply: 'build',
    enforce: 'post',
    generateBundle (_options, bundle) {
      const built = Object.keys(bundle).filter((f) => f !== 'index.html' && !f.endsWith('.map')).map((f) => `/${f}`).sort()
      const html = bundle['index.html']
      const htmlText = html && html.type === 'asset' ? String(html.source) : ''
      const shell = { version: fingerprint(built.join('\n') + htmlText), files: ['/', '/favicon.svg', ...built] }
      this.emitFile({
        type: 'asset',
        fileName: 'sw-precache.js',
        source: `// Written by the build (vite.config.ts): the files the service worker keeps.\nself.TANDEM_SHELL = ${JSON.stringify(shell, null, 1)}\n`,
      })
    },
  }
}

export default defineConfig({
  plugins: [precacheList()],
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    // CodeMirror + Yjs make one chunk of a few hundred kB; that is expected here.
    chunkSizeWarningLimit: 1200,
  },
  server: {
    proxy: {
      '/api': backend,
      '/ws': { target: backend, ws: true },
      '/sse': backend,
      '/poll': backend,
      '/healthz': backend,
    },
  },
  test: {
    environment: 'node',
    include: ['src/**/*.test.ts'],
    testTimeout: 10000,
  },
})

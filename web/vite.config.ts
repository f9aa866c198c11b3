/// <reference types="vitest/config" />
import { defineConfig } from 'vite'

const backend = 'http://127.0.0.1:8080'

export default defineConfig({
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

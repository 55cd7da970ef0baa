// Vite builds the web app into web/dist, which the Rust server serves at `/`.
// In dev, the data endpoints are proxied to a locally running server.
import { defineConfig } from 'vite';

const backend = 'http://127.0.0.1:8080';

// Keep the browser's Host header (and add X-Forwarded-*): the server writes absolute tile URLs
// into its TileJSON from them, and those must point back at this dev server, not at :8080.
const toBackend = { target: backend, changeOrigin: false, xfwd: true };

export default defineConfig({
  base: '/',
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    // MapLibre alone is ~1 MB minified; it is one chunk we cannot split further.
    chunkSizeWarningLimit: 1500,
  },
  server: {
    proxy: {
      '/tiles': toBackend,
      '/fonts': toBackend,
      '/api': { ...toBackend, ws: true },
    },
  },
});

// Vite builds the web app into web/dist, which the Rust server serves at `/`.
// In dev, the data endpoints are proxied to a locally running server.
import { defineConfig, type Plugin } from 'vite';

const backend = 'http://127.0.0.1:8080';

// Keep the browser's Host header (and add X-Forwarded-*): the server writes absolute tile URLs
// into its TileJSON from them, and those must point back at this dev server, not at :8080.
const toBackend = { target: backend, changeOrigin: false, xfwd: true };

/**
 * Fails the build if a built HTML page has an inline script, an inline `<style>`, a `style`
 * attribute or an inline event handler: the server sends `script-src 'self'; style-src 'self'`,
 * under which any of them would be blocked.
 */
function noInlineScriptOrStyle(): Plugin {
  const rules: Array<[RegExp, string]> = [
    [/<script\b(?![^>]*\bsrc\s*=)[^>]*>/gi, 'inline <script>'],
    [/<style\b[^>]*>/gi, 'inline <style>'],
    [/<[a-z][^>]*\sstyle\s*=[^>]*>/gi, 'style attribute'],
    [/<[a-z][^>]*\son[a-z]+\s*=[^>]*>/gi, 'inline event handler'],
  ];
  return {
    name: 'gridwall-no-inline-script-or-style',
    apply: 'build',
    enforce: 'post',
    generateBundle(_options, bundle) {
      for (const file of Object.values(bundle)) {
        if (file.type !== 'asset' || !file.fileName.endsWith('.html')) continue;
        const html =
          typeof file.source === 'string' ? file.source : new TextDecoder().decode(file.source);
        const found = rules.flatMap(([pattern, what]) =>
          [...html.matchAll(pattern)].map((m) => `${what}: ${m[0]}`),
        );
        if (found.length > 0) {
          this.error(`${file.fileName} would break the page's CSP:\n  ${found.join('\n  ')}`);
        }
      }
    },
  };
}

export default defineConfig({
  base: '/',
  plugins: [noInlineScriptOrStyle()],
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

import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

/**
 * Builds the console into ../dist/console, which the api serves at / (src/rest/console.ts).
 * Hashed file names under /assets/ let the api cache them for a year; index.html is
 * revalidated. JSX goes through esbuild (no Babel step: the build has no dev-only transforms).
 * `npm run dev` proxies the API to a running `tuneloop start` on port 4000.
 */
export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: '/',
  esbuild: { jsx: 'automatic' },
  build: {
    outDir: fileURLToPath(new URL('../dist/console', import.meta.url)),
    emptyOutDir: true,
    assetsDir: 'assets',
    target: 'es2022',
    // Inline nothing as data: URLs: every asset is a same-origin file.
    assetsInlineLimit: 0,
    chunkSizeWarningLimit: 600,
    rollupOptions: {
      // React Query marks its modules "use client" (for React Server Components); a
      // client-only bundle has nothing to do with the directive.
      onwarn(warning, warn) {
        if (warning.code !== 'MODULE_LEVEL_DIRECTIVE') warn(warning);
      },
    },
  },
  server: {
    proxy: {
      '/graphql': { target: 'http://127.0.0.1:4000', ws: true },
      '/api': 'http://127.0.0.1:4000',
      '/v1': 'http://127.0.0.1:4000',
    },
  },
});

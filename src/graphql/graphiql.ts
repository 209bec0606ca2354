import { renderGraphiQL } from '@graphql-yoga/render-graphiql';
import type { GraphiQLOptions } from 'graphql-yoga';

/** Where the web console keeps the signed-in key (console/src/api/session.ts). */
const CONSOLE_KEY = 'tuneloop.apiKey';

/**
 * GraphiQL from local assets: yoga's own page loads GraphiQL from a public CDN, which an
 * air-gapped network cannot reach; `@graphql-yoga/render-graphiql` inlines the same build
 * (≈ 9 MB, rendered once and kept).
 *
 * Opened from the console (same origin, same tab), the page starts with the signed-in key
 * as its Authorization header: yoga's renderer passes its options straight to the
 * GraphiQL component, so a small script sets `initialHeaders` from this tab's session
 * storage before it renders. The key never appears in a URL or in the HTML, and headers
 * are not persisted to local storage (`shouldPersistHeaders: false`).
 */
export function createGraphiQLRenderer(): (options: GraphiQLOptions) => string {
  const cache = new Map<string, string>();
  return (options) => {
    const key = JSON.stringify(options);
    let html = cache.get(key);
    if (!html) {
      html = withConsoleKey(renderGraphiQL({ ...options, shouldPersistHeaders: false } as GraphiQLOptions));
      cache.set(key, html);
    }
    return html;
  };
}

const CALL = 'YogaGraphiQL.renderYogaGraphiQL(';

function withConsoleKey(html: string): string {
  const at = html.lastIndexOf(CALL);
  if (at < 0) throw new Error('@graphql-yoga/render-graphiql changed its page: the console key hook needs updating');
  const hook = `((root, options) => {
          let key = null;
          try { key = sessionStorage.getItem(${JSON.stringify(CONSOLE_KEY)}); } catch {}
          if (key) options = { ...options, initialHeaders: JSON.stringify({ Authorization: 'Bearer ' + key }, null, 2) };
          return YogaGraphiQL.renderYogaGraphiQL(root, options);
        })(`;
  return html.slice(0, at) + hook + html.slice(at + CALL.length);
}

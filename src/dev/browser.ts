import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';
import type { Browser, BrowserContext, Page, WebSocketRoute } from 'playwright-core';

/** Debian's chromium (scripts/setup.sh installs it). */
export const CHROMIUM = process.env.TUNELOOP_CHROMIUM ?? '/usr/bin/chromium';

/** Screenshots for reviewers (git-ignored). */
export const OUTPUT_DIR = path.resolve('test-results/console');

/** Builds dist/console when its sources changed (a quick no-op when it is fresh). */
export function ensureConsoleBuilt(): void {
  execFileSync('bash', ['scripts/build-console.sh'], { stdio: 'inherit' });
}

export function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      ...(process.getuid?.() === 0 ? ['--no-sandbox'] : []),
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
      '--disable-gpu',
    ],
  });
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]']);

/**
 * A browser context that behaves like an air-gapped network: every request to a host
 * other than loopback is aborted and recorded, and every uncaught page error or console
 * error is recorded (tests assert both lists are empty). WebSockets to /graphql pass
 * through a route the test controls: it counts the messages and can drop the socket.
 */
export class GuardedContext {
  readonly blocked: string[] = [];
  readonly errors: string[] = [];
  /** Console errors the current step expects (e.g. the 401 of a wrong key), matched once each. */
  expectedErrors: RegExp[] = [];
  readonly sockets: Array<{ page: WebSocketRoute; server: WebSocketRoute }> = [];
  /** Server → page graphql-ws messages, parsed. */
  readonly received: Array<{ type: string; id?: string; payload?: unknown }> = [];

  private constructor(readonly context: BrowserContext) {}

  static async create(browser: Browser): Promise<GuardedContext> {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const guarded = new GuardedContext(context);
    await context.route('**/*', (route) => {
      const url = new URL(route.request().url());
      if ((url.protocol === 'http:' || url.protocol === 'https:') && !LOOPBACK.has(url.hostname)) {
        guarded.blocked.push(url.href);
        return route.abort('blockedbyclient');
      }
      return route.continue();
    });
    await context.routeWebSocket(/.*/, (ws) => {
      const url = new URL(ws.url());
      if (!LOOPBACK.has(url.hostname)) {
        guarded.blocked.push(url.href);
        return ws.close({ code: 1008, reason: 'blocked by the test' });
      }
      const server = ws.connectToServer();
      guarded.sockets.push({ page: ws, server });
      ws.onMessage((message) => server.send(message));
      server.onMessage((message) => {
        try {
          guarded.received.push(JSON.parse(String(message)));
        } catch {
          // not JSON: counted nowhere, still forwarded
        }
        ws.send(message);
      });
      ws.onClose((code, reason) => server.close({ code, reason }));
      server.onClose((code, reason) => ws.close({ code, reason }));
    });
    return guarded;
  }

  async newPage(): Promise<Page> {
    const page = await this.context.newPage();
    page.on('pageerror', (error) => this.errors.push(`page error: ${error.message}`));
    page.on('console', (message) => {
      if (message.type() !== 'error') return;
      const text = message.text();
      const expected = this.expectedErrors.findIndex((re) => re.test(text));
      if (expected >= 0) this.expectedErrors.splice(expected, 1);
      else this.errors.push(`console error: ${text}`);
    });
    return page;
  }

  /** Drops every open WebSocket as a flaky network would (the page sees an abnormal close). */
  dropSockets(): void {
    for (const { page, server } of this.sockets.splice(0)) {
      page.close({ code: 4999, reason: 'dropped by the test' }).catch(() => {});
      server.close({ code: 1000, reason: 'dropped by the test' }).catch(() => {});
    }
  }

  async screenshot(page: Page, name: string): Promise<void> {
    fs.mkdirSync(OUTPUT_DIR, { recursive: true });
    await page.screenshot({ path: path.join(OUTPUT_DIR, name), fullPage: true });
  }

  close(): Promise<void> {
    return this.context.close();
  }
}

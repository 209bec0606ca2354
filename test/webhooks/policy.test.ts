import { describe, expect, it } from 'vitest';
import { addressBlockReason, checkWebhookUrl } from '../../src/webhooks/url-policy.js';
import { MAX_ATTEMPTS, parseRetryAfter, retryDelayMs } from '../../src/webhooks/retry-schedule.js';
import { parseEventTypes } from '../../src/webhooks/event-types.js';
import { signatureHeader, newWebhookSecret } from '../../src/webhooks/signing.js';
import { Webhook } from 'standardwebhooks';

describe('webhook address policy', () => {
  it.each([
    ['127.0.0.1', 'loopback'],
    ['127.255.0.9', 'loopback'],
    ['::1', 'loopback'],
    ['10.0.0.1', 'private'],
    ['172.16.5.4', 'private'],
    ['192.168.1.1', 'private'],
    ['fd12:3456::1', 'private'],
    ['169.254.10.10', 'link-local'],
    ['fe80::1', 'link-local'],
    ['100.64.0.1', 'carrier-grade NAT'],
    ['0.0.0.0', 'unspecified'],
    ['::', 'unspecified'],
    ['224.0.0.1', 'multicast'],
    ['::ffff:127.0.0.1', 'loopback'],
    ['::ffff:10.0.0.1', 'private'],
    ['64:ff9b::a00:1', 'carries the IPv4 address 10.0.0.1) is a private'],
    ['2002:7f00:1::', 'carries the IPv4 address 127.0.0.1) is a loopback'],
    // IPv4-compatible (::a.b.c.d, which URLs normalise to ::7f00:1), translated, local-use NAT64 and Teredo forms.
    ['::7f00:1', 'carries the IPv4 address 127.0.0.1) is a loopback'],
    ['::a00:1', 'carries the IPv4 address 10.0.0.1) is a private'],
    ['::ffff:0:7f00:1', 'carries the IPv4 address 127.0.0.1) is a loopback'],
    ['64:ff9b:1::c0a8:101', 'carries the IPv4 address 192.168.1.1) is a private'],
    ['2001:0:4136:e378:8000:63bf:80ff:fffe', 'carries the IPv4 address 127.0.0.1) is a loopback'],
    ['2002:5db8:d70e::1', '6to4'],
  ])('refuses %s (%s) by default', (address, words) => {
    expect(addressBlockReason(address, false)).toContain(words);
    expect(addressBlockReason(address, true)).toBeNull();
  });

  it.each(['93.184.215.14', '8.8.8.8', '2606:4700:4700::1111'])('allows the public address %s', (address) => {
    expect(addressBlockReason(address, false)).toBeNull();
  });

  it.each([
    '169.254.169.254',
    'fd00:ec2::254',
    '100.100.100.200',
    '::ffff:169.254.169.254',
    // The same address in every IPv6 form that carries an IPv4 address.
    '::a9fe:a9fe',
    '::ffff:0:a9fe:a9fe',
    '64:ff9b::a9fe:a9fe',
    '64:ff9b:1::a9fe:a9fe',
    '64:ff9b:1:a9fe:a9:fe00::',
    '2002:a9fe:a9fe::1',
    '2001:0:4136:e378:8000:63bf:5601:5601',
    '64:ff9b::6464:64c8',
  ])('refuses the metadata address %s even when private addresses are allowed', (address) => {
    expect(addressBlockReason(address, true)).toContain('metadata');
  });

  it('checks URLs: scheme, shape, and resolved names', async () => {
    await expect(checkWebhookUrl('https://93.184.215.14/x', { allowPrivate: false })).resolves.toBeInstanceOf(URL);
    await expect(checkWebhookUrl('file:///etc/passwd', { allowPrivate: true })).rejects.toMatchObject({ code: 'INVALID_WEBHOOK_URL' });
    await expect(checkWebhookUrl('javascript:alert(1)', { allowPrivate: true })).rejects.toMatchObject({ code: 'INVALID_WEBHOOK_URL' });
    await expect(checkWebhookUrl(`https://x.io/${'a'.repeat(2100)}`, { allowPrivate: true })).rejects.toMatchObject({
      code: 'INVALID_WEBHOOK_URL',
    });
    await expect(checkWebhookUrl('http://localhost:1/', { allowPrivate: false })).rejects.toMatchObject({
      code: 'WEBHOOK_URL_NOT_ALLOWED',
    });
    await expect(checkWebhookUrl('http://localhost:1/', { allowPrivate: true })).resolves.toBeInstanceOf(URL);
    await expect(checkWebhookUrl('http://0x7f.1/', { allowPrivate: false })).rejects.toMatchObject({ code: 'WEBHOOK_URL_NOT_ALLOWED' });
    await expect(checkWebhookUrl('http://169.254.169.254/', { allowPrivate: true })).rejects.toMatchObject({
      code: 'WEBHOOK_URL_NOT_ALLOWED',
    });
    // IPv4-compatible IPv6 is loopback; metadata in NAT64 and IPv4-compatible form stays refused with private allowed.
    await expect(checkWebhookUrl('http://[::127.0.0.1]/', { allowPrivate: false })).rejects.toMatchObject({
      code: 'WEBHOOK_URL_NOT_ALLOWED',
      message: expect.stringContaining('127.0.0.1) is a loopback address'),
    });
    for (const url of ['http://[64:ff9b::a9fe:a9fe]/', 'http://[::169.254.169.254]/', 'http://[64:ff9b::169.254.169.254]/']) {
      await expect(checkWebhookUrl(url, { allowPrivate: true }), url).rejects.toMatchObject({
        code: 'WEBHOOK_URL_NOT_ALLOWED',
        message: expect.stringContaining('metadata'),
      });
    }
    await expect(checkWebhookUrl('https://does-not-exist.invalid/', { allowPrivate: false })).rejects.toMatchObject({
      code: 'INVALID_WEBHOOK_URL',
    });
  });
});

describe('webhook retry schedule', () => {
  it('follows the Standard Webhooks schedule, continued to about 3 days, with ±20 % jitter, scaled by the factor', () => {
    const scheduled = [5, 300, 1800, 7200, 18000, 36000, 36000, 36000, 36000, 36000, 36000].map((s) => s * 1000);
    expect(MAX_ATTEMPTS).toBe(12);
    const totalHours = scheduled.reduce((a, b) => a + b, 0) / 3_600_000;
    expect(totalHours).toBeGreaterThan(60);
    expect(totalHours).toBeLessThan(80);
    scheduled.forEach((ms, i) => {
      expect(retryDelayMs(i + 1, 1, () => 0.5)).toBe(ms);
      expect(retryDelayMs(i + 1, 1, () => 0)).toBe(Math.round(ms * 0.8));
      expect(retryDelayMs(i + 1, 1, () => 1)).toBe(Math.round(ms * 1.2));
      expect(retryDelayMs(i + 1, 0.001, () => 0.5)).toBe(Math.round(ms * 0.001));
    });
  });

  it('parses Retry-After as seconds or an HTTP date, capped at a day', () => {
    const now = Date.parse('2026-01-01T00:00:00Z');
    expect(parseRetryAfter('120', now)).toBe(120_000);
    expect(parseRetryAfter('Thu, 01 Jan 2026 00:01:00 GMT', now)).toBe(60_000);
    expect(parseRetryAfter('Wed, 31 Dec 2025 00:00:00 GMT', now)).toBe(0);
    expect(parseRetryAfter('9999999', now)).toBe(24 * 3_600_000);
    expect(parseRetryAfter('soon', now)).toBeNull();
    expect(parseRetryAfter(undefined, now)).toBeNull();
  });
});

describe('webhook event types and signatures', () => {
  it('defaults to the status events and refuses unknown ones', () => {
    expect(parseEventTypes(undefined)).not.toContain('training.checkpoint');
    expect(parseEventTypes(['training.failed', 'training.failed'])).toEqual(['training.failed']);
    expect(() => parseEventTypes(['training.done'])).toThrow(/unknown event type/);
  });

  it('signs with every secret, each verifiable on its own', () => {
    const [a, b] = [newWebhookSecret(), newWebhookSecret()];
    const now = new Date();
    const header = signatureHeader([a, b], 'msg_1', now, '{"x":1}');
    const headers = { 'webhook-id': 'msg_1', 'webhook-timestamp': String(Math.floor(now.getTime() / 1000)), 'webhook-signature': header };
    expect(new Webhook(a).verify('{"x":1}', headers)).toEqual({ x: 1 });
    expect(new Webhook(b).verify('{"x":1}', headers)).toEqual({ x: 1 });
    expect(() => new Webhook(newWebhookSecret()).verify('{"x":1}', headers)).toThrow();
  });
});

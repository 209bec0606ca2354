import { builder, type principalOf } from '../builder.js';
import { payload } from '../errors.js';
import { ErrorInterface } from '../errors.js';
import { listingConnection } from '../connection.js';
import { ledgerListing } from '../../billing/listing.js';
import type { ListedError } from '../errors.js';
import { AccountRef } from './account.js';
import type { LedgerEntry } from '../../db/schema.js';
import { parseUsd } from '../../errors.js';

const LedgerEntryRef = builder.objectRef<LedgerEntry>('LedgerEntry').implement({
  description: 'One movement of money: a top-up, a reservation and its release, a charge, a refund or an adjustment.',
  fields: (t) => ({
    id: t.exposeID('id'),
    type: t.exposeString('type', { description: 'topup | reserve | release | charge | refund | adjustment' }),
    amount: t.field({ type: 'USD', description: 'Effect on the balance.', resolve: (e) => e.amount_micros }),
    hold: t.field({ type: 'USD', description: 'Effect on the amount reserved.', resolve: (e) => e.hold_micros }),
    referenceId: t.exposeString('reference_id', { nullable: true, description: 'The job or request it pays for.' }),
    description: t.exposeString('description'),
    createdAt: t.expose('created_at', { type: 'DateTime' }),
  }),
});

builder.objectFields(AccountRef, (t) => ({
  ledger: t.connection({
    type: LedgerEntryRef,
    description: 'The account ledger, newest first. The balance is the sum of its amounts.',
    resolve: (account, args, ctx) =>
      listingConnection(ledgerListing, args, async (page) => {
        const { entries, hasNextPage } = await ctx.services.billing.ledger(account.id, page);
        return { items: entries, hasNextPage };
      }),
  }),
}));

const TopUpAccountInput = builder.inputType('TopUpAccountInput', {
  fields: (t) => ({
    accountId: t.id({ required: true }),
    amount: t.field({ type: 'USD', required: true, description: 'A positive USD amount.' }),
    description: t.string(),
  }),
});

const TopUpAccountPayload = builder
  .objectRef<{ account?: Awaited<ReturnType<typeof loadAccount>>; errors: ListedError[] }>('TopUpAccountPayload')
  .implement({
    fields: (t) => ({
      account: t.field({ type: AccountRef, nullable: true, resolve: (p) => p.account ?? null }),
      errors: t.field({ type: [ErrorInterface], resolve: (p) => p.errors }),
    }),
  });

function loadAccount(ctx: Parameters<typeof principalOf>[0], id: string) {
  return ctx.services.accounts.getAccount(id);
}

builder.mutationFields((t) => ({
  topUpAccount: t.field({
    type: TopUpAccountPayload,
    description: 'Admin only: add credit to an account through the ledger.',
    authScopes: { admin: true },
    args: { input: t.arg({ type: TopUpAccountInput, required: true }) },
    resolve: (_root, { input }, ctx) =>
      payload(async () => {
        await ctx.services.billing.topUp(input.accountId, parseUsd(input.amount), input.description ?? 'top-up (admin)');
        return { account: await loadAccount(ctx, input.accountId) };
      }),
  }),
}));

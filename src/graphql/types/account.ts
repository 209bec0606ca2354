import { builder, principalOf } from '../builder.js';
import type { Account as AccountRow } from '../../db/schema.js';

export const AccountRef = builder.objectRef<AccountRow>('Account');

builder.node(AccountRef, {
  description: 'Your account: its balance and what is held for running work.',
  id: { resolve: (account) => account.id },
  isTypeOf: (value) => typeof value === 'object' && value !== null && 'webhook_secret' in value,
  loadOne: async (id, ctx) => (ctx.principal?.accountId === id ? ctx.services.accounts.getAccount(id) : null),
  fields: (t) => ({
    name: t.exposeString('name'),
    isAdmin: t.exposeBoolean('is_admin'),
    balance: t.field({ type: 'USD', description: 'Money on the account (the sum of its ledger).', resolve: (a) => a.balance_micros }),
    reserved: t.field({ type: 'USD', description: 'Held for running jobs and requests.', resolve: (a) => a.reserved_micros }),
    available: t.field({
      type: 'USD',
      description: 'What new work can spend: balance − reserved.',
      resolve: (a) => a.balance_micros - a.reserved_micros,
    }),
    createdAt: t.expose('created_at', { type: 'DateTime' }),
  }),
});

builder.queryFields((t) => ({
  account: t.field({
    type: AccountRef,
    description: 'The account of the API key making the request.',
    resolve: (_root, _args, ctx) => ctx.services.accounts.getAccount(principalOf(ctx).accountId),
  }),
}));

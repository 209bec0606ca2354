import { Type } from 'typebox';
import type { Http } from '../http.js';
import { caller } from '../http.js';
import type { Services } from '../../services.js';
import type { Account } from '../../db/schema.js';
import { ForbiddenError, formatUsd, parseUsd } from '../../errors.js';
import { DateTime, IdParam, Usd, problemResponses } from '../schemas.js';

export const AccountSchema = Type.Object(
  {
    id: Type.String(),
    object: Type.Literal('account'),
    name: Type.String(),
    isAdmin: Type.Boolean(),
    balance: Usd,
    reserved: Usd,
    available: Usd,
    createdAt: DateTime,
  },
  { $id: 'Account' },
);

export function accountJson(a: Account) {
  return {
    id: a.id,
    object: 'account' as const,
    name: a.name,
    isAdmin: a.is_admin,
    balance: formatUsd(a.balance_micros),
    reserved: formatUsd(a.reserved_micros),
    available: formatUsd(a.balance_micros - a.reserved_micros),
    createdAt: a.created_at.toISOString(),
  };
}

export function registerAccountRoutes(app: Http, services: Services): void {
  app.get(
    '/api/account',
    {
      schema: {
        tags: ['account'],
        summary: 'Your account: balance, amount reserved by running work, and what is available',
        response: { 200: Type.Ref('Account'), ...problemResponses },
      },
    },
    async (request) => accountJson(await services.accounts.getAccount(caller(request).accountId)),
  );

  app.post(
    '/api/accounts/:id/topup',
    {
      schema: {
        tags: ['account'],
        summary: 'Admin only: add credit to an account through the ledger',
        params: IdParam,
        body: Type.Object({ amount: Usd, description: Type.Optional(Type.String({ maxLength: 500 })) }, { additionalProperties: false }),
        response: { 200: Type.Ref('Account'), ...problemResponses, 403: Type.Ref('Problem') },
      },
    },
    async (request) => {
      if (!caller(request).isAdmin) throw new ForbiddenError();
      await services.billing.topUp(
        request.params.id,
        parseUsd(request.body.amount, 'amount'),
        request.body.description ?? 'top-up (admin)',
      );
      return accountJson(await services.accounts.getAccount(request.params.id));
    },
  );
}

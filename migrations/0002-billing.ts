import { sql } from 'kysely';
import type { Kysely } from 'kysely';

/**
 * The ledger and reservations. Every change of an account's money is one ledger row,
 * written in the same transaction as what it pays for. A row moves the balance
 * (`amount_micros`), the amount held for open reservations (`hold_micros`), or both:
 *
 *   topup       amount +x
 *   reserve     hold +x               (a job or request is started)
 *   charge      amount -y, hold -y    (paid out of its reservation)
 *   release     hold -z               (the unused rest of a reservation)
 *   refund      amount +x
 *   adjustment  amount ±x             (admin correction)
 *
 * accounts.balance_micros = Σ amount_micros, accounts.reserved_micros = Σ hold_micros:
 * cached for one-row reads, checked against the sums by the test suite.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table reservations (
      id text primary key,
      account_id text not null references accounts(id) on delete cascade,
      purpose text not null check (purpose in ('training', 'inference')),
      reference_id text,
      amount_micros bigint not null check (amount_micros >= 0),
      charged_micros bigint not null default 0,
      released_micros bigint not null default 0,
      status text not null default 'open' check (status in ('open', 'settled')),
      created_at timestamptz not null default now(),
      settled_at timestamptz,
      constraint reservations_within_amount check (charged_micros + released_micros <= amount_micros)
    )`.execute(db);
  await sql`create index reservations_open_idx on reservations (account_id) where status = 'open'`.execute(db);

  await sql`
    create table ledger_entries (
      id text primary key,
      seq bigserial not null unique,
      account_id text not null references accounts(id) on delete cascade,
      type text not null check (type in ('topup', 'reserve', 'release', 'charge', 'refund', 'adjustment')),
      amount_micros bigint not null default 0,
      hold_micros bigint not null default 0,
      reservation_id text references reservations(id),
      reference_id text,
      description text not null default '',
      created_at timestamptz not null default now()
    )`.execute(db);
  await sql`create index ledger_entries_account_idx on ledger_entries (account_id, seq)`.execute(db);
}

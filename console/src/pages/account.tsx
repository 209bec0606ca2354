import { useQuery } from '@tanstack/react-query';
import { request } from '../api/graphql';
import { ErrorMessage, Loading, Status } from '../components/bits';
import { dateTime, usd } from '../components/format';
import { AccountPageDocument } from '../generated/graphql';

/** Balance, the ledger, webhook endpoints with their latest deliveries, and GraphiQL. */
export function AccountPage() {
  const query = useQuery({ queryKey: ['account'], queryFn: () => request(AccountPageDocument, {}) });
  if (query.isPending) return <Loading what="the account" />;
  if (query.error) return <ErrorMessage error={query.error} prefix="Could not load the account" />;
  const { account, webhookEndpoints } = query.data;
  return (
    <section>
      <h1>Account</h1>
      <dl className="facts">
        <div>
          <dt>Name</dt>
          <dd>{account.name}</dd>
        </div>
        <div>
          <dt>Account id</dt>
          <dd className="mono">{account.id}</dd>
        </div>
        <div>
          <dt>Balance</dt>
          <dd>{usd(account.balance)}</dd>
        </div>
        <div>
          <dt>Reserved</dt>
          <dd>{usd(account.reserved)}</dd>
        </div>
        <div>
          <dt>Available</dt>
          <dd>{usd(account.available)}</dd>
        </div>
      </dl>
      <p>
        {/* A full page load in this tab: GraphiQL reads the signed-in key from this tab's session storage. */}
        <a href="/graphql">Open GraphiQL</a> <span className="muted">(runs queries as this account)</span>
      </p>
      <h2>Ledger</h2>
      <table className="list">
        <thead>
          <tr>
            <th scope="col">When</th>
            <th scope="col">Type</th>
            <th scope="col">Amount</th>
            <th scope="col">Hold</th>
            <th scope="col">Description</th>
            <th scope="col">Reference</th>
          </tr>
        </thead>
        <tbody>
          {account.ledger.edges.map(({ node: e }) => (
            <tr key={e.id}>
              <td>{dateTime(e.createdAt)}</td>
              <td>{e.type}</td>
              <td>{usd(e.amount)}</td>
              <td>{usd(e.hold)}</td>
              <td>{e.description}</td>
              <td className="mono">{e.referenceId ?? ''}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <h2>Webhook endpoints</h2>
      {webhookEndpoints.edges.length === 0 ? <p className="muted">None. Create one with the createWebhookEndpoint mutation.</p> : null}
      {webhookEndpoints.edges.map(({ node: w }) => (
        <div className="card" key={w.id}>
          <p>
            <span className="mono">{w.url}</span>{' '}
            {w.enabled ? <Status value="ENABLED" /> : <Status value={w.disabledReason ?? 'DISABLED'} />}
          </p>
          <p className="muted">
            {w.description ? `${w.description} · ` : ''}
            {w.events.join(', ')}
          </p>
          <table className="list">
            <thead>
              <tr>
                <th scope="col">Event</th>
                <th scope="col">Status</th>
                <th scope="col">Attempts</th>
                <th scope="col">Last answer</th>
                <th scope="col">Created</th>
              </tr>
            </thead>
            <tbody>
              {w.deliveries.edges.map(({ node: d }) => (
                <tr key={d.id}>
                  <td>{d.eventType}</td>
                  <td>
                    <Status value={d.status} />
                  </td>
                  <td>{d.attemptCount}</td>
                  <td>{d.lastStatusCode ?? d.lastError ?? '—'}</td>
                  <td>{dateTime(d.createdAt)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ))}
    </section>
  );
}

import { useQuery, useQueryClient } from '@tanstack/react-query';
import { useEffect, useState } from 'react';
import { Link, Redirect, Route, Switch } from 'wouter';
import { request } from './api/graphql';
import { getApiKey, onApiKeyChange, setApiKey } from './api/session';
import { SignInCheckDocument } from './generated/graphql';
import { AccountPage } from './pages/account';
import { ComparePage } from './pages/compare';
import { DatasetPage } from './pages/dataset';
import { DatasetsPage } from './pages/datasets';
import { JobPage } from './pages/job';
import { JobsPage } from './pages/jobs';
import { ModelsPage } from './pages/models';
import { PlaygroundPage } from './pages/playground';
import { SignIn } from './pages/sign-in';

/** The console: the sign-in page until a key is accepted, then the pages (each path deep-linkable). */
export function App() {
  const [key, setKey] = useState(getApiKey());
  const [signedOutReason, setSignedOutReason] = useState<string | null>(null);
  const queryClient = useQueryClient();
  useEffect(
    () =>
      onApiKeyChange((next) => {
        if (!next && getApiKeyRef.current) setSignedOutReason('You were signed out: that API key is no longer accepted.');
        getApiKeyRef.current = next;
        queryClient.clear();
        setKey(next);
      }),
    [queryClient],
  );
  if (!key) return <SignIn notice={signedOutReason} onSignedIn={() => setSignedOutReason(null)} />;
  return <Shell />;
}

// The key before a change, to tell a sign-out the user asked for from one the API caused.
const getApiKeyRef = { current: getApiKey() };

function Shell() {
  const account = useQuery({ queryKey: ['signed-in'], queryFn: () => request(SignInCheckDocument) });
  const signOut = () => {
    getApiKeyRef.current = null;
    setApiKey(null);
  };
  return (
    <>
      <header className="top">
        <Link href="/jobs" className="brand">
          Tuneloop
        </Link>
        <nav aria-label="Main">
          <Link href="/jobs">Jobs</Link>
          <Link href="/compare">Compare</Link>
          <Link href="/datasets">Datasets</Link>
          <Link href="/models">Models</Link>
          <Link href="/playground">Playground</Link>
          <Link href="/account">Account</Link>
        </nav>
        <span className="who muted">{account.data?.account.name ?? ''}</span>
        <button type="button" className="secondary" onClick={signOut}>
          Sign out
        </button>
      </header>
      <main>
        <Switch>
          <Route path="/">
            <Redirect to="/jobs" replace />
          </Route>
          <Route path="/jobs" component={JobsPage} />
          <Route path="/jobs/:id">{(params) => <JobPage id={params.id} />}</Route>
          <Route path="/compare" component={ComparePage} />
          <Route path="/datasets" component={DatasetsPage} />
          <Route path="/datasets/:id">{(params) => <DatasetPage id={params.id} />}</Route>
          <Route path="/models" component={ModelsPage} />
          <Route path="/playground" component={PlaygroundPage} />
          <Route path="/account" component={AccountPage} />
          <Route>
            <h1>Not found</h1>
            <p>
              This page does not exist. <Link href="/jobs">Go to your jobs</Link>.
            </p>
          </Route>
        </Switch>
      </main>
    </>
  );
}

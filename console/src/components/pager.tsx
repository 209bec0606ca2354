import { useState } from 'react';

/**
 * Cursor pagination for a Relay connection: the cursors of the pages visited so far, so
 * "Previous page" goes back without `before` cursors. `after` is the current page's cursor.
 */
export function usePages() {
  const [cursors, setCursors] = useState<Array<string | null>>([null]);
  return {
    after: cursors[cursors.length - 1] ?? null,
    page: cursors.length,
    previous: () => setCursors((c) => (c.length > 1 ? c.slice(0, -1) : c)),
    next: (endCursor: string | null | undefined) => setCursors((c) => [...c, endCursor ?? null]),
  };
}

export function Pager({
  pages,
  pageInfo,
}: {
  pages: ReturnType<typeof usePages>;
  pageInfo: { hasNextPage: boolean; endCursor?: string | null } | undefined;
}) {
  return (
    <div className="pager">
      <button type="button" className="secondary" disabled={pages.page === 1} onClick={pages.previous}>
        Previous page
      </button>
      <span className="muted">Page {pages.page}</span>
      <button type="button" className="secondary" disabled={!pageInfo?.hasNextPage} onClick={() => pages.next(pageInfo?.endCursor)}>
        Next page
      </button>
    </div>
  );
}

// Links to the status page that travel in notifications: the pipeline stamps `statusUrl` on each
// AlertNotification (model.ts) when http.externalUrl is set, so notifiers render it as data and never
// import the page or the alert internals.
import type { AlertNotification, Notification } from '../../model.js';

/** The path of a store's page under the base path. */
export const storePath = (s: { accountId: string; region: string; id: string }): string =>
  `/stores/${encodeURIComponent(s.accountId)}/${encodeURIComponent(s.region)}/${encodeURIComponent(s.id)}`;

/** The external base URL without a trailing slash ('' when unset). */
export const externalBase = (externalUrl: string | null | undefined): string => (externalUrl ?? '').replace(/\/+$/, '');

/** The base path part of http.externalUrl ('' at the root), for links within the page. */
export const basePath = (externalUrl: string | null | undefined): string => (externalUrl ? new URL(externalUrl).pathname.replace(/\/+$/, '') : '');

/** The URL an alert links to: its store's page, else the overview. */
export function statusUrlFor(externalUrl: string, n: AlertNotification): string {
  const s = n.subject;
  const base = externalBase(externalUrl);
  return s.storeId ? `${base}${storePath({ accountId: s.accountId, region: s.region, id: s.storeId })}` : `${base}/`;
}

/** Stamps statusUrl on every alert notification (digests: on each item); unchanged without externalUrl. */
export function withStatusLinks(ns: Notification[], externalUrl: string | null | undefined): Notification[] {
  if (!externalUrl) return ns;
  return ns.map((n) => n.kind === 'digest'
    ? { ...n, items: n.items.map((i) => ({ ...i, statusUrl: statusUrlFor(externalUrl, i) })) }
    : { ...n, statusUrl: statusUrlFor(externalUrl, n) });
}

/**
 * A device's open alerts (`GET /v1/alerts?deviceId=…&state=open`, each with acknowledge and resolve)
 * and its audit records (`GET /v1/audit?deviceId=…`: those whose target is the device and those
 * that name it, such as a certificate's revocation), newest first, page by page.
 */
import { useState } from 'preact/hooks';
import type { SessionOver } from '../shared/actions.js';
import { AuditRecordCard } from '../access/audit.js';
import { AlertCard } from '../integrations/alerts.js';
import { integrationsApi } from '../integrations/integrations-api.js';
import { problemText } from '../shared/messages.js';
import { PagedList, usePagedRead } from '../shared/pages.js';
import { Notice } from '../shared/ui.js';
import { deviceApi } from './device-api.js';

const ALERTS = 10;
const RECORDS = 20;

interface Props {
  deviceId: string;
  generation: number;
  sessionOver: SessionOver;
}

export function DeviceAlerts(props: Props) {
  const [done, setDone] = useState<string | undefined>(undefined);
  const pages = usePagedRead(
    (cursor) =>
      integrationsApi.listAlerts({
        deviceId: props.deviceId,
        state: 'open',
        limit: ALERTS,
        ...(cursor ? { cursor } : {}),
      }),
    props.deviceId,
    [props.generation],
    props.sessionOver,
  );
  return (
    <>
      {pages.error && <Notice kind="error">{problemText(pages.error)}</Notice>}
      {done && (
        <Notice kind="success" key={done}>
          {done}
        </Notice>
      )}
      <PagedList
        pages={pages}
        noun={['open alert', 'open alerts']}
        empty="No alert is open for this device."
        label="Pages of alerts"
      >
        <ul class="cards">
          {pages.page?.items.map((a) => (
            <li key={a.id}>
              <AlertCard
                alert={a}
                sessionOver={props.sessionOver}
                onChanged={(changed, text) => {
                  setDone(text);
                  pages.update((page) => ({
                    ...page,
                    items: page.items.flatMap((x) =>
                      x.id !== changed.id ? [x] : changed.state === 'resolved' ? [] : [changed],
                    ),
                  }));
                }}
              />
            </li>
          ))}
        </ul>
      </PagedList>
    </>
  );
}

export function DeviceAudit(props: Props) {
  const pages = usePagedRead(
    (cursor) =>
      deviceApi.listAudit({
        deviceId: props.deviceId,
        order: 'newest',
        limit: RECORDS,
        ...(cursor ? { cursor } : {}),
      }),
    props.deviceId,
    [props.generation],
    props.sessionOver,
  );
  return (
    <>
      {pages.error && <Notice kind="error">{problemText(pages.error)}</Notice>}
      <PagedList
        pages={pages}
        noun={['record', 'records']}
        empty="No audit record names this device."
        label="Pages of audit records"
      >
        <ol class="cards records" aria-label="Audit records of the device">
          {pages.page?.items.map((r) => (
            <AuditRecordCard key={r.seq} record={r} />
          ))}
        </ol>
      </PagedList>
    </>
  );
}

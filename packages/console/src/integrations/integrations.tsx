/**
 * The Integrations screen (`/console/integrations`): how the tenant's events reach its own systems
 * and who is told when something is wrong. Webhooks with their delivery log and replays
 * (`/v1/webhooks`), MQTT bridges with their spool (`/v1/bridges`), alert rules and open alerts
 * (`/v1/alert-rules`, `/v1/alerts`). The address names only the webhook whose log is shown
 * (`?webhook=whk_…`): nothing is changed by following a link, every change is a button of the page.
 */
import { useMemo, useState } from 'preact/hooks';
import type { SessionOver } from '../shared/actions.js';
import { Alerts } from './alerts.js';
import { Bridges } from './bridges.js';
import { ScreenTitle } from '../shared/ui.js';
import { Webhooks } from './webhooks.js';
import './integrations.css';

export function Integrations(props: { search: string; sessionOver: SessionOver }) {
  const { sessionOver } = props;
  const chosen = useMemo(() => new URLSearchParams(props.search).get('webhook') ?? undefined, [props.search]);
  /** Raised to read everything again (Refresh). */
  const [generation, setGeneration] = useState(0);

  return (
    <section class="integrations-screen wide">
      <ScreenTitle onRefresh={() => setGeneration((g) => g + 1)}>Integrations</ScreenTitle>
      <Webhooks generation={generation} chosen={chosen} sessionOver={sessionOver} />
      <Bridges generation={generation} sessionOver={sessionOver} />
      <Alerts generation={generation} sessionOver={sessionOver} />
    </section>
  );
}

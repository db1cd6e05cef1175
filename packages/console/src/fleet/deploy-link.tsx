/**
 * "Deploy to these devices": opens a new deployment with the applied filter as its target, and says
 * plainly which filters a deployment's target cannot take (`deploy.ts`).
 */
import { BASE, Link } from '../shared/nav.js';
import type { DeviceFilter } from '../shared/api.js';
import { deploymentTargetOf, prefillSearch } from './deploy.js';

export function DeployLink(props: { filter: DeviceFilter }) {
  const { prefill, cannot } = deploymentTargetOf(props.filter);
  return (
    <p class="deploy-link">
      <Link href={`${BASE}/deployments${prefillSearch(prefill)}`}>Deploy to these devices</Link>
      {cannot.length > 0 && (
        <span class="hint">
          {' '}
          A deployment cannot target by {cannot.join(', ')}: the new deployment leaves{' '}
          {cannot.length === 1 ? 'this filter' : 'these filters'} out and may reach more devices than listed
          here.
        </span>
      )}
    </p>
  );
}

/**
 * A bridge's topic template: levels of literal text and placeholders (`{tenantId}`, `{deviceId}`,
 * `{type}`, `{eventId}`). The rendered topic is a topic to publish to, so the template may hold no
 * wildcard (`+`, `#`), no NUL, no empty level and no leading `$` (reserved for broker topics); an event
 * about no device renders `{deviceId}` as `_`, so no level is ever empty.
 */
import type { PlatformEvent } from '@mooring/protocol';

export const TOPIC_PLACEHOLDERS = ['tenantId', 'deviceId', 'type', 'eventId'] as const;

/** MQTT's limit on a topic name (UTF-8 bytes). */
const MAX_TOPIC_BYTES = 65_535;

/** Why the template cannot be used, or null when it can. */
export function topicTemplateProblem(template: string): string | null {
  if (/[+#]/.test(template) || template.includes('\u0000'))
    return 'may not contain the wildcards + or #, or NUL';
  if (template.startsWith('$')) return 'may not start with $ (topics reserved for the broker)';
  if (template.split('/').some((level) => level === ''))
    return 'may not have an empty level (// or a / at either end)';
  const unknown = [...template.matchAll(/\{([^}]*)\}/g)]
    .map((m) => m[1]!)
    .find((name) => !(TOPIC_PLACEHOLDERS as readonly string[]).includes(name));
  if (unknown !== undefined)
    return `unknown placeholder {${unknown}}; use ${TOPIC_PLACEHOLDERS.map((p) => `{${p}}`).join(' ')}`;
  if (/[{}]/.test(template.replace(/\{(tenantId|deviceId|type|eventId)\}/g, '')))
    return 'has an unmatched { or }';
  return null;
}

/** The topic for one event. Ids and event types hold no `/`, `+`, `#`: a rendered level stays one level. */
export function renderTopic(template: string, event: PlatformEvent): string {
  const values: Record<(typeof TOPIC_PLACEHOLDERS)[number], string> = {
    tenantId: event.tenantId,
    deviceId: event.deviceId ?? '_',
    type: event.type,
    eventId: event.id,
  };
  const topic = template.replace(
    /\{(tenantId|deviceId|type|eventId)\}/g,
    (_m, name: keyof typeof values) => values[name].replace(/[/+#]/g, '_').replaceAll('\u0000', '_') || '_',
  );
  if (Buffer.byteLength(topic) > MAX_TOPIC_BYTES)
    throw new Error('rendered topic is longer than MQTT allows');
  return topic;
}

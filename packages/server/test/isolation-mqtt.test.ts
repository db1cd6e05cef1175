/**
 * MQTT topic isolation matrix, generated from the topic contract in packages/protocol/src/topics.ts.
 *
 * Two kinds of connection — device A connected with its own access key, and a provisioning-only
 * connection (user name `$provisioning`, a provisioning token, client id `prov-…`) — try every topic
 * pattern of both namespaces, filled with their own id, a sibling device of the same tenant (B), a
 * device of another tenant (C), a nonexistent id, another provisioning client (Q, other tenant),
 * empty and over-long levels and wildcards in every level, plus a list of odd topics ($SYS, `#`,
 * leading and trailing slashes, too many levels, the 65 535-byte maximum, partial-level wildcards).
 * Each row is published to and subscribed to, and the broker's answer is compared with the
 * expectation table, which is plain data with a `why` per row:
 *
 * - accepted: PUBACK, and the message is acted on (stored under device A only / answered on
 *   `prov/{clientId}/result`);
 * - refused: PUBACK anyway (MQTT 3.1.1 has no negative PUBACK), nothing stored, and a notice with the
 *   code on `d/{A}/errors` (device) or an `{type: "error"}` answer on `prov/{clientId}/result`;
 * - granted / denied: SUBACK return code 1 / 0x80;
 * - disconnected: a topic or filter MQTT itself forbids; aedes closes the connection with no
 *   PUBACK or SUBACK (the client reconnects for the next row).
 *
 * Driven by a raw packet client so that nothing on the client side validates or rewrites a topic.
 *
 * Then sessions: a client id names a stored session, and only the identity that made it may resume
 * it. A provisioning connection gets no persistent session at all (CONNACK 2), so another tenant's
 * token reusing its client id finds no queued answer; a manufacturer-CA device whose serial (its
 * client id) is another tenant's device's too cannot resume that device's session (CONNACK 2), and
 * starting clean shows it nothing of the other tenant's.
 *
 * Last, credential delegation: every built-in role (and a caller scoped to other devices, and one
 * that widens a role it holds) tries to revoke, disable or delete the credentials of connected
 * devices (an access key, a registration token, a certificate) beyond its reach; each is refused,
 * every session stays up and its publishes are stored, and the control (an admin) closes them.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import mqttPacket from 'mqtt-packet';
import * as protocol from '@mooring/protocol';
import { PROVISIONING_USERNAME, provisioningTopics, topics } from '@mooring/protocol';
import { eventually, startTestPlatform, type TestPlatform } from './harness.js';
import { deviceKeyAndCsr, issueWithCa, makeCa, type TestCa } from './openssl.js';
import { BUILT_IN_ROLES, type Permission } from '../src/domains/access/access.js';
import { ECDSA_SHA256, importEcPrivateKey, x509 } from '../src/domains/pki/x509.js';

// ---------------------------------------------------------------------------------------------------
// The contract, as data
// ---------------------------------------------------------------------------------------------------

type PatternName = `topics.${keyof typeof topics}` | `provisioningTopics.${keyof typeof provisioningTopics}`;
type Space = 'device' | 'provisioning';
type Kind = 'device' | 'provisioning';
type Action = 'publish' | 'subscribe';

interface PatternContract {
  /** Whose namespace the pattern is in: the first placeholder is a device id or a provisioning client id. */
  space: Space;
  /** Whether the owner of the namespace may publish to / subscribe to the pattern filled with its own id. */
  publish: boolean;
  subscribe: boolean;
  why: string;
}

/**
 * Every pattern exported by topics.ts, with who may do what on it. A pattern added to `topics` or
 * `provisioningTopics` without an entry here fails to typecheck and fails the coverage test below.
 */
const CONTRACT: Record<PatternName, PatternContract> = {
  'topics.telemetry': {
    space: 'device',
    publish: true,
    subscribe: false,
    why: 'device → cloud: telemetry is stored, never relayed, so there is nothing to subscribe to',
  },
  'topics.events': {
    space: 'device',
    publish: true,
    subscribe: false,
    why: 'device → cloud: events are stored, never relayed',
  },
  'topics.command': {
    space: 'device',
    publish: false,
    subscribe: false,
    why: 'cloud → device: reached only through the exact filter d/{id}/commands/+',
  },
  'topics.firmware': {
    space: 'device',
    publish: true,
    subscribe: false,
    why: 'device → cloud: the firmware it runs is stored on its record, never relayed',
  },
  'topics.commandResult': {
    space: 'device',
    publish: true,
    subscribe: false,
    why: 'device → cloud: a result for one of its own open commands',
  },
  'topics.commandsFilter': {
    space: 'device',
    publish: false,
    subscribe: true,
    why: 'the one filter through which a device receives its commands',
  },
  'topics.ota': {
    space: 'device',
    publish: false,
    subscribe: false,
    why: 'cloud → device: an offer or cancel, reached only through the exact filter d/{id}/ota/+',
  },
  'topics.otaFilter': {
    space: 'device',
    publish: false,
    subscribe: true,
    why: 'the one filter through which a device receives its OTA offers and cancels',
  },
  'topics.otaProgress': {
    space: 'device',
    publish: true,
    subscribe: false,
    why: 'device → cloud: progress of one of its own OTA operations',
  },
  'topics.configDesired': {
    space: 'device',
    publish: false,
    subscribe: true,
    why: 'cloud → device: the one topic through which a device receives its desired configuration',
  },
  'topics.configReported': {
    space: 'device',
    publish: true,
    subscribe: false,
    why: 'device → cloud: its own reported configuration and acknowledgements',
  },
  'topics.configGet': {
    space: 'device',
    publish: true,
    subscribe: false,
    why: 'device → cloud: asks for its own whole desired configuration',
  },
  'topics.errors': {
    space: 'device',
    publish: false,
    subscribe: true,
    why: 'cloud → device: refusal notices for its own publishes',
  },
  'provisioningTopics.start': {
    space: 'provisioning',
    publish: true,
    subscribe: false,
    why: 'provisioning request: start an operation',
  },
  'provisioningTopics.poll': {
    space: 'provisioning',
    publish: true,
    subscribe: false,
    why: "provisioning request: poll one of the token's operations",
  },
  'provisioningTopics.refresh': {
    space: 'provisioning',
    publish: true,
    subscribe: false,
    why: 'provisioning request: exchange a registration token',
  },
  'provisioningTopics.result': {
    space: 'provisioning',
    publish: false,
    subscribe: true,
    why: 'where every provisioning answer arrives',
  },
};

const PATTERN_NAMES = Object.keys(CONTRACT) as PatternName[];

/** The patterns topics.ts exports: the functions of every exported `…topics` object. */
function exportedPatternNames(): string[] {
  const names: string[] = [];
  for (const [exportName, value] of Object.entries(protocol)) {
    if (!/topics$/i.test(exportName) || typeof value !== 'object' || value === null) continue;
    for (const [key, fn] of Object.entries(value))
      if (typeof fn === 'function') names.push(`${exportName}.${key}`);
  }
  return names.sort();
}

function patternFn(name: PatternName): (...args: string[]) => string {
  const [family, key] = name.split('.') as [string, string];
  const table = (family === 'topics' ? topics : provisioningTopics) as unknown as Record<
    string,
    (...args: string[]) => string
  >;
  return table[key]!;
}

// ---------------------------------------------------------------------------------------------------
// The matrix
// ---------------------------------------------------------------------------------------------------

/** Ids of the actors, known once the platform is up. */
interface Ids {
  /** Device A (tenant 1): the device connection under test. */
  a: string;
  aCmd: string;
  /** Device B: same tenant as A. */
  b: string;
  bCmd: string;
  /** Device C: another tenant. */
  c: string;
  cCmd: string;
  /** The provisioning connection under test (tenant 1, auto-approving batch token). */
  p: string;
  pOp: string;
  /** Another provisioning client (tenant 2), with a pending operation of its own. */
  q: string;
  qOp: string;
}

type Expect =
  | { outcome: 'accepted'; as: PatternName; param?: string }
  | { outcome: 'refused'; code: string }
  | { outcome: 'granted' }
  | { outcome: 'denied' }
  | { outcome: 'disconnected' };

interface Row {
  id: string;
  kind: Kind;
  action: Action;
  /** The topics.ts pattern the topic was built from, or 'misc' for the hand-written odd topics. */
  pattern: PatternName | 'misc';
  /** How the placeholders were filled. */
  fill: string;
  topic: string;
  expect: Expect;
  why: string;
  /** A device of another identity whose data must not change when this row is refused. */
  victim?: 'b' | 'c';
}

const MAX_LEVELS = 100; // aedes maxTopicLevels (default)
const LONG = 'x'.repeat(65_000);
const UNKNOWN_DEVICE = 'dev_0000000000zzzzzzzz';

/** What MQTT 3.1.1 itself forbids; aedes answers these by closing the connection. */
function malformed(topic: string, action: Action): string | undefined {
  if (topic === '') return 'an empty topic is not allowed [MQTT-4.7.3-1]';
  if (topic.split('/').length > MAX_LEVELS) return `more than ${MAX_LEVELS} levels (aedes maxTopicLevels)`;
  if (action === 'publish') {
    if (/[+#]/.test(topic)) return 'a PUBLISH topic name must not contain wildcards [MQTT-3.3.2-2]';
    return undefined;
  }
  const levels = topic.split('/');
  for (const [i, level] of levels.entries()) {
    if (level.includes('#') && (level !== '#' || i !== levels.length - 1))
      return '# must be a whole level and the last one [MQTT-4.7.1-2]';
    if (level.includes('+') && level !== '+') return '+ must be a whole level [MQTT-4.7.1-3]';
  }
  return undefined;
}

/**
 * Filters MQTT forbids but aedes 1.2's validateTopic lets through (its `+` check ignores the
 * characters at index 0 and at end-1, its `#` check those of two-character filters): they reach the
 * authorizeSubscribe hook, which refuses them (0x80) because they are no exact filter of the contract.
 */
function aedesAcceptsMalformedFilter(topic: string): boolean {
  const end = topic.length - 1;
  for (let i = 0; i < topic.length; i++) {
    const ch = topic[i];
    if (ch === '#') {
      if (i !== end) return false;
      if (end - 1 > 0 && topic[end - 1] !== '/') return false;
    }
    if (ch === '+') {
      if (i < end - 1 && topic[i + 1] !== '/') return false;
      if (i > 1 && topic[i - 1] !== '/') return false;
    }
  }
  return true;
}

/** The expected answer for one topic, from the contract table. */
function oracle(kind: Kind, action: Action, topic: string, ids: Ids): { expect: Expect; why: string } {
  const problem = malformed(topic, action);
  if (problem) {
    const wildcardProblem = /[+#]/.test(problem);
    if (action === 'subscribe' && wildcardProblem && aedesAcceptsMalformedFilter(topic))
      return {
        expect: { outcome: 'denied' },
        why: `${problem}, but aedes 1.2's filter check lets this one through; the hook refuses it as no exact filter of the contract`,
      };
    return {
      expect: { outcome: 'disconnected' },
      why: `${problem}: aedes closes the connection, no ${action === 'publish' ? 'PUBACK' : 'SUBACK'}`,
    };
  }
  const space: Space = kind;
  const self = kind === 'device' ? ids.a : ids.p;
  for (const name of PATTERN_NAMES) {
    const c = CONTRACT[name];
    if (c.space !== space || !c[action]) continue;
    const param = matchOwn(name, self, topic);
    if (param === undefined) continue;
    if (action === 'subscribe') return { expect: { outcome: 'granted' }, why: `its own ${name}: ${c.why}` };
    if (name === 'topics.commandResult' && param !== ids.aCmd)
      return {
        expect: { outcome: 'refused', code: 'COMMAND_NOT_FOUND' },
        why: "its own result topic, but the command id is not one of its commands: the command service finds nothing (another device's command stays open)",
      };
    if (name === 'topics.otaProgress')
      return {
        expect: { outcome: 'refused', code: 'OTA_OPERATION_NOT_FOUND' },
        why: "its own progress topic, but device A is in no deployment: no operation of its own has this id (another device's stays untouched)",
      };
    if (name === 'provisioningTopics.poll' && param !== ids.pOp)
      return {
        expect: { outcome: 'refused', code: 'OPERATION_NOT_FOUND' },
        why: "its own poll topic, but the operation is not its token's: the provisioning service finds nothing",
      };
    return {
      expect: { outcome: 'accepted', as: name, ...(param ? { param } : {}) },
      why: `its own ${name}: ${c.why}`,
    };
  }
  const allowed = PATTERN_NAMES.filter((n) => CONTRACT[n].space === space && CONTRACT[n][action]).join(', ');
  const who = kind === 'device' ? 'a device' : 'a provisioning connection';
  if (action === 'subscribe')
    return {
      expect: { outcome: 'denied' },
      why: `${who} may subscribe only to ${allowed} with its own id, exactly; SUBACK 0x80 [MQTT-3.9.3]`,
    };
  return {
    expect: { outcome: 'refused', code: 'TOPIC_NOT_ALLOWED' },
    why: `${who} may publish only to ${allowed} with its own id; acknowledged, dropped and explained`,
  };
}

/**
 * Whether `topic` is pattern `name` filled with `self` (and, for a two-placeholder pattern, any
 * non-empty level): returns the second placeholder ('' for one-placeholder patterns), else undefined.
 */
function matchOwn(name: PatternName, self: string, topic: string): string | undefined {
  const fn = patternFn(name);
  if (fn.length < 2) return fn(self) === topic ? '' : undefined;
  const slot = '\u0001SLOT\u0001';
  const [before, after] = fn(self, slot).split(slot) as [string, string];
  if (!topic.startsWith(before) || !topic.endsWith(after)) return undefined;
  const param = topic.slice(before.length, topic.length - after.length);
  return topic.length >= before.length + after.length && param !== '' && !param.includes('/')
    ? param
    : undefined;
}

interface Fill {
  label: string;
  value: string;
  /** The natural second placeholder for this id (its own command / operation). */
  partner: string;
  victim?: 'b' | 'c';
}

function idFills(space: Space, ids: Ids): Fill[] {
  if (space === 'device')
    return [
      { label: 'device A (the device connection itself)', value: ids.a, partner: ids.aCmd },
      { label: 'device A in upper case', value: ids.a.toUpperCase(), partner: ids.aCmd },
      { label: 'device B (same tenant)', value: ids.b, partner: ids.bCmd, victim: 'b' },
      { label: 'device C (other tenant)', value: ids.c, partner: ids.cCmd, victim: 'c' },
      { label: 'a nonexistent device', value: UNKNOWN_DEVICE, partner: 'cmd_0000000000zzzzzzzz' },
      { label: "the provisioning connection's client id", value: ids.p, partner: ids.aCmd },
      { label: 'an empty level', value: '', partner: ids.aCmd },
      { label: 'an over-long level (65 000 bytes)', value: LONG, partner: ids.aCmd },
    ];
  return [
    { label: 'client P (the provisioning connection itself)', value: ids.p, partner: ids.pOp },
    { label: 'client P in upper case', value: ids.p.toUpperCase(), partner: ids.pOp },
    { label: 'client Q (another provisioning client, other tenant)', value: ids.q, partner: ids.qOp },
    { label: 'a provisioning client id nobody holds', value: 'prov-nobody', partner: ids.pOp },
    { label: "device A's id", value: ids.a, partner: ids.pOp },
    { label: 'an empty level', value: '', partner: ids.pOp },
    { label: 'an over-long level (65 000 bytes)', value: LONG, partner: ids.pOp },
  ];
}

function secondFills(space: Space, ids: Ids): { label: string; value: string; victim?: 'b' | 'c' }[] {
  if (space === 'device')
    return [
      { label: "B's open command", value: ids.bCmd, victim: 'b' },
      { label: "C's open command", value: ids.cCmd, victim: 'c' },
      { label: 'an unknown command id', value: 'cmd_0000000000zzzzzzzz' },
      { label: 'an empty command id', value: '' },
      { label: 'an over-long command id (65 000 bytes)', value: LONG },
    ];
  return [
    { label: "Q's operation", value: ids.qOp },
    { label: 'an unknown operation id', value: 'pop_0000000000zzzzzzzz' },
    { label: 'an empty operation id', value: '' },
    { label: 'an over-long operation id (65 000 bytes)', value: LONG },
  ];
}

function miscTopics(ids: Ids): { label: string; topic: string }[] {
  const tel = topics.telemetry(ids.a);
  const err = topics.errors(ids.a);
  const res = provisioningTopics.result(ids.p);
  const start = provisioningTopics.start(ids.p);
  const deep = (base: string, levels: number) => base + '/x'.repeat(levels - base.split('/').length);
  return [
    { label: 'every topic', topic: '#' },
    { label: 'every one-level topic', topic: '+' },
    { label: "every device's telemetry, by shape", topic: '+/+/+' },
    { label: "every device's command results, by shape", topic: '+/+/+/+/+' },
    { label: 'the whole device namespace', topic: 'd/#' },
    { label: 'every device, one level', topic: 'd/+' },
    { label: 'the whole provisioning namespace', topic: 'prov/#' },
    { label: "every provisioning client's results", topic: 'prov/+/result' },
    { label: 'the $SYS tree', topic: '$SYS/#' },
    { label: 'a $SYS topic', topic: '$SYS/broker/clients/connected' },
    { label: "the broker's sink for dropped publishes", topic: '$mooring/dropped' },
    { label: 'the $mooring tree', topic: '$mooring/#' },
    { label: 'the bare root level', topic: 'd' },
    { label: 'the root and an empty level', topic: 'd/' },
    { label: 'a single slash', topic: '/' },
    { label: 'only empty levels', topic: '//' },
    { label: 'an empty topic', topic: '' },
    { label: 'a leading slash', topic: `/${tel}` },
    { label: 'a trailing slash', topic: `${tel}/` },
    { label: 'an empty level inside', topic: `d/${ids.a}//telemetry` },
    { label: 'a sub-topic', topic: `${tel}/x` },
    { label: 'the root in upper case', topic: `D/${ids.a}/telemetry` },
    { label: 'the kind in upper case', topic: `d/${ids.a}/Telemetry` },
    { label: 'a trailing NUL character', topic: `${tel}\u0000` },
    { label: 'errors with a leading slash', topic: `/${err}` },
    { label: 'errors with a trailing slash', topic: `${err}/` },
    { label: 'provisioning result with a leading slash', topic: `/${res}` },
    { label: 'provisioning result with a trailing slash', topic: `${res}/` },
    { label: 'a provisioning sub-topic', topic: `${start}/x` },
    { label: 'the provisioning root in upper case', topic: `PROV/${ids.p}/operations` },
    { label: `${MAX_LEVELS} levels`, topic: deep(tel, MAX_LEVELS) },
    { label: `${MAX_LEVELS + 1} levels`, topic: deep(tel, MAX_LEVELS + 1) },
    { label: 'a 65 535-byte topic (the MQTT maximum)', topic: `${tel}/`.padEnd(65_535, 'x') },
    { label: '+ glued to the first level', topic: `d+/${ids.a}/errors` },
    { label: '+ glued to the last level', topic: `d/${ids.a}/commands/+x` },
    { label: '+ inside a level', topic: `d/${ids.a}/err+rs` },
    { label: '# glued to the last level', topic: `${err}#` },
    { label: '# glued to a two-character topic', topic: 'd#' },
    { label: '# before the last level', topic: `d/#/errors` },
    { label: '+ glued to the provisioning root', topic: `prov+/${ids.p}/result` },
  ];
}

/** Builds the whole table: both kinds × both actions × every topic, deduplicated by topic. */
function buildRows(ids: Ids): Row[] {
  const rows: Row[] = [];
  for (const kind of ['device', 'provisioning'] as const) {
    for (const action of ['publish', 'subscribe'] as const) {
      const seen = new Set<string>();
      const add = (pattern: Row['pattern'], fill: string, topic: string, victim?: 'b' | 'c') => {
        if (seen.has(topic)) return;
        seen.add(topic);
        const { expect, why } = oracle(kind, action, topic, ids);
        rows.push({
          id: `${kind === 'device' ? 'D' : 'P'}${action === 'publish' ? 'p' : 's'}${String(rows.length).padStart(3, '0')}`,
          kind,
          action,
          pattern,
          fill,
          topic,
          expect,
          why: `${fill}: ${why}`,
          ...(victim ? { victim } : {}),
        });
      };
      // 1. every pattern with every placeholder fill
      for (const name of PATTERN_NAMES) {
        const fn = patternFn(name);
        const space = CONTRACT[name].space;
        const fills = idFills(space, ids);
        for (const f of fills) {
          if (fn.length < 2) add(name, f.label, fn(f.value), f.victim);
          else add(name, `${f.label}, its own second id`, fn(f.value, f.partner), f.victim);
        }
        if (fn.length >= 2) {
          const home = fills[0]!;
          for (const s of secondFills(space, ids))
            add(name, `${home.label} with ${s.label}`, fn(home.value, s.value), s.victim);
        }
      }
      // 2. wildcards in every level of every pattern (filled with the namespace owner's ids)
      for (const name of PATTERN_NAMES) {
        const fn = patternFn(name);
        const home = idFills(CONTRACT[name].space, ids)[0]!;
        const levels = fn(home.value, home.partner).split('/');
        for (let i = 0; i < levels.length; i++) {
          const swap = (w: string) => levels.map((l, j) => (j === i ? w : l)).join('/');
          add(name, `${home.label}, level ${i + 1} replaced by +`, swap('+'));
          add(name, `${home.label}, level ${i + 1} replaced by #`, swap('#'));
          add(name, `${home.label}, cut at level ${i + 1} by #`, [...levels.slice(0, i), '#'].join('/'));
        }
      }
      // 3. the odd ones
      for (const m of miscTopics(ids)) add('misc', m.label, m.topic);
    }
  }
  return rows;
}

// ---------------------------------------------------------------------------------------------------
// A raw MQTT 3.1.1 client: exactly the packets we write, exactly the packets the broker answers
// ---------------------------------------------------------------------------------------------------

interface Received {
  topic: string;
  text: string;
  json: any;
}

interface Credentials {
  clientId: string;
  /** Omitted on mutual TLS, where the certificate is the identity. */
  username?: string;
  password?: string;
  will?: { topic: string; payload: string; qos: 0 | 1; retain: boolean };
  /** The CONNECT's clean session flag; true unless told otherwise. */
  clean?: boolean;
  /** A client certificate: the connection goes to the mutual TLS port. */
  certificate?: { key: string; cert: string };
}

interface Attempt {
  /** The CONNACK return code, or undefined when the broker closed without one. */
  returnCode: number | undefined;
  sessionPresent: boolean;
  /** The connection; already closed unless the CONNACK accepted it. */
  conn: RawConn;
}

class RawConn {
  closed = false;
  private readonly acks = new Map<number, mqttPacket.Packet>();
  private readonly listeners = new Set<() => void>();
  private nextId = 0;
  private connack: number | undefined;
  private sessionPresent = false;

  private constructor(
    private readonly socket: TLSSocket,
    /** Every PUBLISH the broker sent this connection (shared across reconnects by the caller). */
    readonly sink: Received[],
  ) {}

  static async open(
    t: TestPlatform,
    creds: Credentials,
    sink: Received[] = [],
    opts: { acknowledge?: boolean } = {},
  ): Promise<RawConn> {
    const { returnCode, conn } = await RawConn.attempt(t, creds, sink, opts);
    if (returnCode !== 0) throw new Error(`CONNACK ${returnCode ?? 'missing'} for ${creds.clientId}`);
    return conn;
  }

  /**
   * Sends CONNECT and reports the broker's answer, accepted or not. With `acknowledge: false` the
   * client never PUBACKs what it receives: QoS 1 deliveries stay in flight, stored in the session.
   */
  static async attempt(
    t: TestPlatform,
    creds: Credentials,
    sink: Received[] = [],
    opts: { acknowledge?: boolean } = {},
  ): Promise<Attempt> {
    const socket = tlsConnect({
      host: '127.0.0.1',
      port: creds.certificate ? t.platform.mqttMtlsPort : t.platform.mqttPort,
      ca: t.platform.caCert,
      servername: 'localhost',
      ...(creds.certificate ?? {}),
    });
    const conn = new RawConn(socket, sink);
    const parser = mqttPacket.parser({ protocolVersion: 4 });
    parser.on('packet', (p: mqttPacket.Packet) => {
      if (p.cmd === 'connack') {
        conn.connack = p.returnCode ?? -1;
        conn.sessionPresent = p.sessionPresent;
      } else if ((p.cmd === 'puback' || p.cmd === 'suback') && p.messageId !== undefined)
        conn.acks.set(p.messageId, p);
      else if (p.cmd === 'publish') {
        const text = p.payload.toString();
        let json: unknown;
        try {
          json = JSON.parse(text);
        } catch {
          json = undefined;
        }
        sink.push({ topic: p.topic, text, json });
        if (p.qos > 0 && p.messageId !== undefined && opts.acknowledge !== false)
          socket.write(mqttPacket.generate({ cmd: 'puback', messageId: p.messageId }));
      }
      conn.notify();
    });
    parser.on('error', () => socket.destroy());
    socket.on('data', (d: Buffer) => parser.parse(d));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      conn.closed = true;
      conn.notify();
    });
    await new Promise<void>((resolve, reject) => {
      socket.once('secureConnect', () => resolve());
      socket.once('close', () => reject(new Error('TLS connection closed')));
    });
    socket.write(
      mqttPacket.generate({
        cmd: 'connect',
        protocolId: 'MQTT',
        protocolVersion: 4,
        clean: creds.clean ?? true,
        clientId: creds.clientId,
        ...(creds.username !== undefined ? { username: creds.username } : {}),
        ...(creds.password !== undefined ? { password: Buffer.from(creds.password) } : {}),
        keepalive: 60,
        ...(creds.will ? { will: creds.will } : {}),
      }),
    );
    await conn.until(() => conn.connack !== undefined || conn.closed, 5_000, 'CONNACK');
    if (conn.connack !== 0) {
      socket.destroy();
      await conn.until(() => conn.closed, 5_000, 'the refused connection to close');
    }
    return { returnCode: conn.connack, sessionPresent: conn.sessionPresent, conn };
  }

  private notify() {
    for (const l of [...this.listeners]) l();
  }

  until(pred: () => boolean, timeoutMs: number, what: string): Promise<void> {
    if (pred()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const check = () => {
        if (!pred()) return;
        cleanup();
        resolve();
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`timed out waiting for ${what}`));
      }, timeoutMs);
      const cleanup = () => {
        clearTimeout(timer);
        this.listeners.delete(check);
      };
      this.listeners.add(check);
    });
  }

  private id(): number {
    this.nextId = (this.nextId % 65_535) + 1;
    return this.nextId;
  }

  publish(topic: string, payload: string, qos: 0 | 1 = 1, retain = false): number {
    const messageId = this.id();
    this.socket.write(
      mqttPacket.generate({
        cmd: 'publish',
        topic,
        payload: Buffer.from(payload),
        qos,
        ...(qos > 0 ? { messageId } : {}),
        retain,
        dup: false,
      }),
    );
    return messageId;
  }

  subscribe(filter: string): number {
    const messageId = this.id();
    this.socket.write(
      mqttPacket.generate({ cmd: 'subscribe', messageId, subscriptions: [{ topic: filter, qos: 1 }] }),
    );
    return messageId;
  }

  /** Waits for the PUBACK/SUBACK of `messageId` or for the connection to close. */
  async answer(messageId: number, what: string): Promise<mqttPacket.Packet | undefined> {
    await this.until(() => this.acks.has(messageId) || this.closed, 5_000, what);
    return this.acks.get(messageId);
  }

  async subscribeOrFail(filter: string): Promise<void> {
    const ack = await this.answer(this.subscribe(filter), `SUBACK for ${filter}`);
    assert.ok(ack?.cmd === 'suback' && ack.granted[0] === 1, `subscription to ${filter} was not granted`);
  }

  /** Ends the socket without DISCONNECT (a lost connection: the will, if any, is published). */
  destroy() {
    this.socket.destroy();
  }

  end() {
    if (this.closed) return;
    this.socket.end(mqttPacket.generate({ cmd: 'disconnect' }));
  }
}

/** One identity's connection for the matrix: reconnected whenever a row made the broker close it. */
class Seat {
  conn: RawConn | undefined;
  readonly sink: Received[] = [];
  reconnects = 0;
  constructor(
    private readonly t: TestPlatform,
    private readonly creds: Credentials,
    private readonly filters: string[],
  ) {}

  async ready(): Promise<RawConn> {
    if (this.conn && !this.conn.closed) return this.conn;
    if (this.conn) this.reconnects++;
    const conn = await RawConn.open(this.t, this.creds, this.sink);
    for (const f of this.filters) await conn.subscribeOrFail(f);
    this.conn = conn;
    return conn;
  }

  end() {
    this.conn?.end();
  }
}

// ---------------------------------------------------------------------------------------------------
// The platform and the actors
// ---------------------------------------------------------------------------------------------------

let t: TestPlatform;
let ids: Ids;
let rows: Row[];
let key1: string; // tenant 1 (A, B, P)
let key2: string; // tenant 2 (C, Q)
let pDevice: string; // the device P's REST start provisioned
let pRt: string; // its registration token
let deviceSeat: Seat;
let provSeat: Seat;
let victims: { name: string; conn: RawConn; expected: (m: Received) => boolean }[] = [];
let cConn: RawConn;
let bConn: RawConn;
let cCreds: Credentials;
let aKey: string;

before(async () => {
  // The matrix reconnects device A after every row that closes its connection, far more often than
  // mqtt.connects_per_client_id allows a device (test/mqtt-hygiene.test.ts tests that limit), and
  // sends hundreds of distinct filters on one connection, far past mqtt.subscriptions_per_connection
  // (test/mqtt-limits.test.ts tests that one).
  t = await startTestPlatform({
    MOORING_LIMIT_MQTT_CONNECTS_PER_CLIENT_ID: '100000',
    MOORING_LIMIT_MQTT_SUBSCRIPTIONS_PER_CONNECTION: '100000',
  });
  ({ apiKey: key1 } = await t.tenant());
  ({ apiKey: key2 } = await t.tenant());
  const a = await t.device(key1);
  const b = await t.device(key1);
  const c = await t.device(key2);
  aKey = a.accessKey;
  const command = async (deviceId: string, key: string) => {
    const r = await t.call('POST', `/v1/devices/${deviceId}/commands`, {
      token: key,
      body: { name: 'probe' },
    });
    assert.equal(r.status, 201, r.text);
    return r.body.id as string;
  };
  const token = async (key: string, body: Record<string, unknown>) => {
    const r = await t.call('POST', '/v1/provisioning-tokens', { token: key, body: { name: 'iso', ...body } });
    assert.equal(r.status, 201, r.text);
    return r.body.secret as string;
  };
  const pSecret = await token(key1, { kind: 'batch', maxUses: 5, approval: 'auto' });
  const qSecret = await token(key2, { kind: 'batch', maxUses: 5, approval: 'manual' });
  const pStart = await t.call('POST', '/v1/device/provisioning/operations', {
    token: pSecret,
    body: { serial: 'ISO-REST-P' },
  });
  assert.equal(pStart.body.status, 'approved', pStart.text);
  pDevice = pStart.body.deviceId;
  pRt = pStart.body.registrationToken;
  const qStart = await t.call('POST', '/v1/device/provisioning/operations', {
    token: qSecret,
    body: { serial: 'ISO-REST-Q' },
  });
  assert.equal(qStart.body.status, 'pending', qStart.text);
  const suffix = Math.random().toString(36).slice(2, 10);
  ids = {
    a: a.deviceId,
    aCmd: await command(a.deviceId, key1),
    b: b.deviceId,
    bCmd: await command(b.deviceId, key1),
    c: c.deviceId,
    cCmd: await command(c.deviceId, key2),
    p: `prov-iso-${suffix}`,
    pOp: pStart.body.operationId,
    q: `prov-victim-${suffix}`,
    qOp: qStart.body.operationId,
  };
  rows = buildRows(ids);

  deviceSeat = new Seat(t, { clientId: ids.a, username: ids.a, password: a.accessKey }, [
    topics.errors(ids.a),
    topics.commandsFilter(ids.a),
  ]);
  provSeat = new Seat(t, { clientId: ids.p, username: PROVISIONING_USERNAME, password: pSecret }, [
    provisioningTopics.result(ids.p),
  ]);

  // The bystanders: B, C and Q listen on everything they may listen on for the whole file.
  const ownCommand = (deviceId: string, cmd: string) => (m: Received) =>
    m.topic === topics.command(deviceId, cmd) && m.json?.id === cmd;
  bConn = await RawConn.open(t, { clientId: ids.b, username: ids.b, password: b.accessKey });
  cCreds = { clientId: ids.c, username: ids.c, password: c.accessKey };
  cConn = await RawConn.open(t, cCreds);
  const qConn = await RawConn.open(t, {
    clientId: ids.q,
    username: PROVISIONING_USERNAME,
    password: qSecret,
  });
  for (const [conn, id] of [
    [bConn, ids.b],
    [cConn, ids.c],
  ] as const) {
    await conn.subscribeOrFail(topics.commandsFilter(id));
    await conn.subscribeOrFail(topics.errors(id));
  }
  await qConn.subscribeOrFail(provisioningTopics.result(ids.q));
  victims = [
    { name: 'device B', conn: bConn, expected: ownCommand(ids.b, ids.bCmd) },
    { name: 'device C', conn: cConn, expected: ownCommand(ids.c, ids.cCmd) },
    { name: 'client Q', conn: qConn, expected: () => false },
  ];
});

after(async () => {
  deviceSeat?.end();
  provSeat?.end();
  for (const v of victims) v.conn.end();
  await t?.stop();
});

// ---------------------------------------------------------------------------------------------------
// Helpers over REST
// ---------------------------------------------------------------------------------------------------

const MARK = 'iso';
const markerOf = (row: Row) => `${MARK}${row.id}`;

async function latest(deviceId: string, key: string): Promise<{ key: string; value: unknown }[]> {
  const r = await t.call('GET', `/v1/devices/${deviceId}/telemetry/latest`, { token: key });
  assert.equal(r.status, 200, r.text);
  return r.body.items;
}

async function eventTypes(deviceId: string, key: string): Promise<string[]> {
  const r = await t.call('GET', `/v1/devices/${deviceId}/events?from=0&limit=500`, { token: key });
  assert.equal(r.status, 200, r.text);
  return r.body.items.map((e: { type: string }) => e.type);
}

async function commandStatus(deviceId: string, commandId: string, key: string): Promise<string> {
  const r = await t.call('GET', `/v1/devices/${deviceId}/commands/${commandId}`, { token: key });
  assert.equal(r.status, 200, r.text);
  return r.body.status;
}

/** Nothing of the matrix (or of `marker`) is stored for a bystander device, and its command is open. */
async function untouched(victim: 'b' | 'c', marker = MARK): Promise<string | undefined> {
  const [deviceId, key, cmd] = victim === 'b' ? [ids.b, key1, ids.bCmd] : [ids.c, key2, ids.cCmd];
  const keys = (await latest(deviceId, key)).map((i) => i.key).filter((k) => k.startsWith(marker));
  if (keys.length) return `telemetry ${keys.join(', ')} stored for device ${victim.toUpperCase()}`;
  const types = (await eventTypes(deviceId, key)).filter((k) => k.startsWith(marker));
  if (types.length) return `events ${types.join(', ')} stored for device ${victim.toUpperCase()}`;
  const device = await t.call('GET', `/v1/devices/${deviceId}`, { token: key });
  const hardwareClass = (device.body.firmware as { hardwareClass?: string } | null)?.hardwareClass;
  if (hardwareClass?.startsWith(marker))
    return `firmware ${hardwareClass} stored for device ${victim.toUpperCase()}`;
  const twin = await t.call('GET', `/v1/devices/${deviceId}/config`, { token: key });
  const reported = Object.keys(twin.body.reported?.document ?? {}).filter((k) => k.startsWith(marker));
  if (reported.length)
    return `reported configuration ${reported.join(', ')} stored for device ${victim.toUpperCase()}`;
  const status = await commandStatus(deviceId, cmd, key);
  if (status !== 'pending' && status !== 'delivered')
    return `device ${victim.toUpperCase()}'s command is ${status}`;
  return undefined;
}

function payloadFor(row: Row): string {
  const marker = markerOf(row);
  switch (row.pattern) {
    case 'topics.events':
      return JSON.stringify({ type: marker });
    case 'topics.commandResult':
      return JSON.stringify({ status: 'succeeded', result: { marker } });
    case 'topics.firmware':
      return JSON.stringify({ version: '1.0.0', hardwareClass: marker });
    case 'topics.otaProgress':
      return JSON.stringify({ attempt: 1, state: 'accepted', reason: marker });
    case 'topics.configReported':
      return JSON.stringify({ patch: { [marker]: 1 } });
    case 'topics.configGet':
      return '{}';
    case 'provisioningTopics.start':
      return JSON.stringify({ serial: marker, requestId: marker });
    case 'provisioningTopics.poll':
      return JSON.stringify({ requestId: marker });
    case 'provisioningTopics.refresh':
      return JSON.stringify({ registrationToken: pRt, requestId: marker });
    default:
      return JSON.stringify({ values: { [marker]: 1 } });
  }
}

const show = (topic: string) =>
  topic.length > 90 ? `${JSON.stringify(topic.slice(0, 60))}…(${topic.length} bytes)` : JSON.stringify(topic);

// ---------------------------------------------------------------------------------------------------
// Running one row
// ---------------------------------------------------------------------------------------------------

/** Runs one row; returns what went wrong, or undefined. */
async function run(row: Row): Promise<string | undefined> {
  const seat = row.kind === 'device' ? deviceSeat : provSeat;
  const conn = await seat.ready();
  const answerTopic = row.kind === 'device' ? topics.errors(ids.a) : provisioningTopics.result(ids.p);
  const marker = markerOf(row);
  const from = seat.sink.length;

  if (row.action === 'subscribe') {
    const ack = await conn.answer(conn.subscribe(row.topic), `SUBACK of ${row.id}`);
    const got = !ack
      ? 'disconnected'
      : ack.cmd === 'suback'
        ? `SUBACK ${JSON.stringify(ack.granted)}`
        : ack.cmd;
    const want = { granted: 'SUBACK [1]', denied: 'SUBACK [128]', disconnected: 'disconnected' }[
      row.expect.outcome as 'granted' | 'denied' | 'disconnected'
    ];
    if (got !== want) return `expected ${want}, got ${got}`;
    if (ack && conn.closed) return 'answered, but the connection closed';
    return undefined;
  }

  const ack = await conn.answer(conn.publish(row.topic, payloadFor(row), 1), `PUBACK of ${row.id}`);
  if (row.expect.outcome === 'disconnected') {
    if (ack) return `expected the connection to be closed, got ${ack.cmd}`;
    return undefined;
  }
  if (!ack || ack.cmd !== 'puback') return `expected a PUBACK, the connection was closed`;

  // The notice or answer for this publish.
  const mine = (m: Received) =>
    m.topic === answerTopic &&
    (m.json?.topic === row.topic || (row.kind === 'provisioning' && m.json?.requestId === marker));
  const expectAnswer = row.kind === 'provisioning' || row.expect.outcome === 'refused';
  if (expectAnswer) {
    try {
      await conn.until(() => seat.sink.slice(from).some(mine), 3_000, `the answer to ${row.id}`);
    } catch {
      return `no ${row.kind === 'device' ? 'notice' : 'answer'} arrived on ${answerTopic}`;
    }
  }
  const answer = seat.sink.slice(from).find(mine);

  if (row.expect.outcome === 'refused') {
    if (answer?.json?.code !== row.expect.code)
      return `expected ${row.expect.code}, got ${JSON.stringify(answer?.json).slice(0, 200)}`;
    if (row.kind === 'provisioning' && answer.json.type !== 'error') return `answer type ${answer.json.type}`;
    if (row.victim) return untouched(row.victim);
    return undefined;
  }

  // accepted
  const e = row.expect as Extract<Expect, { outcome: 'accepted' }>;
  switch (e.as) {
    case 'topics.telemetry': {
      const stored = (await latest(ids.a, key1)).find((i) => i.key === marker);
      if (stored?.value !== 1) return `telemetry ${marker} not stored for device A`;
      return (await untouched('b', marker)) ?? (await untouched('c', marker));
    }
    case 'topics.events': {
      if (!(await eventTypes(ids.a, key1)).includes(marker)) return `event ${marker} not stored for device A`;
      return (await untouched('b', marker)) ?? (await untouched('c', marker));
    }
    case 'topics.firmware': {
      const r = await t.call('GET', `/v1/devices/${ids.a}`, { token: key1 });
      if (r.body.firmware?.hardwareClass !== marker) return `firmware of device A is ${r.text.slice(0, 200)}`;
      return (await untouched('b', marker)) ?? (await untouched('c', marker));
    }
    case 'topics.commandResult': {
      // The command named in the topic, looked up as device A's, now carries this row's result.
      const r = await t.call('GET', `/v1/devices/${ids.a}/commands/${e.param ?? ''}`, { token: key1 });
      if (r.body.status !== 'succeeded' || r.body.result?.marker !== marker)
        return `device A's command ${e.param} is ${r.text.slice(0, 200)}`;
      return (await untouched('b', marker)) ?? (await untouched('c', marker));
    }
    case 'topics.configReported': {
      const r = await t.call('GET', `/v1/devices/${ids.a}/config`, { token: key1 });
      if (r.body.reported?.document?.[marker] !== 1)
        return `reported configuration of A is ${r.text.slice(0, 200)}`;
      return (await untouched('b', marker)) ?? (await untouched('c', marker));
    }
    case 'topics.configGet':
      // Device A has no desired configuration: nothing to push, and nothing refused.
      return answer?.json?.code ? `refused: ${JSON.stringify(answer.json)}` : undefined;
    case 'provisioningTopics.start':
      return answer?.json?.type === 'operation' && answer.json.status === 'approved'
        ? undefined
        : `start answered ${JSON.stringify(answer?.json)}`;
    case 'provisioningTopics.poll':
      return answer?.json?.type === 'operation' && answer.json.operationId === ids.pOp
        ? undefined
        : `poll answered ${JSON.stringify(answer?.json)}`;
    case 'provisioningTopics.refresh':
      return answer?.json?.type === 'refresh' && answer.json.deviceId === pDevice
        ? undefined
        : `refresh answered ${JSON.stringify(answer?.json)}`;
    default:
      return `no check for an accepted ${e.as}`;
  }
}

// ---------------------------------------------------------------------------------------------------
// The tests
// ---------------------------------------------------------------------------------------------------

test('the expectation table covers every topic pattern topics.ts exports, for both kinds and both actions', () => {
  const exported = exportedPatternNames();
  assert.deepEqual(exported, [...PATTERN_NAMES].sort(), 'a pattern without a contract entry, or the reverse');
  for (const kind of ['device', 'provisioning'] as const) {
    for (const action of ['publish', 'subscribe'] as const) {
      const covered = new Set(
        rows
          .filter((r) => r.kind === kind && r.action === action && r.pattern !== 'misc')
          .map((r) => r.pattern),
      );
      assert.deepEqual([...covered].sort(), exported, `${kind} × ${action}`);
    }
  }
  // Each connection kind is granted its own filters and accepted on its own request topics.
  const allowed = (kind: Kind, action: Action) =>
    rows
      .filter(
        (r) => r.kind === kind && r.action === action && ['accepted', 'granted'].includes(r.expect.outcome),
      )
      .map((r) => r.topic);
  assert.deepEqual(allowed('device', 'subscribe'), [
    topics.commandsFilter(ids.a),
    topics.otaFilter(ids.a),
    topics.configDesired(ids.a),
    topics.errors(ids.a),
  ]);
  assert.deepEqual(allowed('provisioning', 'subscribe'), [provisioningTopics.result(ids.p)]);
  assert.deepEqual(allowed('device', 'publish'), [
    topics.telemetry(ids.a),
    topics.events(ids.a),
    topics.firmware(ids.a),
    topics.commandResult(ids.a, ids.aCmd),
    topics.configReported(ids.a),
    topics.configGet(ids.a),
  ]);
  assert.deepEqual(allowed('provisioning', 'publish'), [
    provisioningTopics.start(ids.p),
    provisioningTopics.poll(ids.p, ids.pOp),
    provisioningTopics.refresh(ids.p),
  ]);
  for (const r of rows) assert.ok(r.why.length > 10, `${r.id} has no why`);
});

for (const kind of ['device', 'provisioning'] as const) {
  for (const action of ['publish', 'subscribe'] as const) {
    const who = kind === 'device' ? 'device A (access key)' : 'provisioning connection P (PT only)';
    test(`${who} × ${action}: every row of the matrix gets exactly the expected answer`, async () => {
      const mine = rows.filter((r) => r.kind === kind && r.action === action);
      const failures: string[] = [];
      for (const row of mine) {
        const problem = await run(row);
        if (problem)
          failures.push(
            `${row.id} ${row.pattern} ${show(row.topic)} [${row.fill}] — ${problem} (why: ${row.why})`,
          );
      }
      assert.deepEqual(failures, [], `${failures.length} of ${mine.length} rows failed`);
    });
  }
}

test('the matrix stored exactly its accepted rows, under device A only, and echoed nothing', async () => {
  const accepted = (as: PatternName) =>
    rows
      .filter((r) => r.expect.outcome === 'accepted' && r.expect.as === as)
      .map(markerOf)
      .sort();
  const aKeys = (await latest(ids.a, key1))
    .map((i) => i.key)
    .filter((k) => k.startsWith(MARK))
    .sort();
  assert.deepEqual(aKeys, accepted('topics.telemetry'));
  const aEvents = (await eventTypes(ids.a, key1)).filter((k) => k.startsWith(MARK)).sort();
  assert.deepEqual(aEvents, accepted('topics.events'));
  assert.equal(await untouched('b'), undefined);
  assert.equal(await untouched('c'), undefined);
  // The provisioning connection's device and the nonexistent id got nothing either.
  assert.deepEqual(
    (await latest(pDevice, key1)).map((i) => i.key),
    [],
  );
  assert.equal(
    (await t.call('GET', `/v1/devices/${UNKNOWN_DEVICE}`, { token: key1 })).body.code,
    'DEVICE_NOT_FOUND',
  );

  // Exactly one notice per refused device publish, none for accepted ones; nothing else but A's own
  // command reached A, and no published payload came back.
  const errorsTopic = topics.errors(ids.a);
  for (const r of rows.filter((x) => x.kind === 'device' && x.action === 'publish')) {
    const notices = deviceSeat.sink.filter((m) => m.topic === errorsTopic && m.json?.topic === r.topic);
    assert.equal(notices.length, r.expect.outcome === 'refused' ? 1 : 0, `${r.id} ${show(r.topic)}: notices`);
  }
  for (const m of deviceSeat.sink) {
    const isNotice =
      m.topic === errorsTopic && typeof m.json?.code === 'string' && typeof m.json?.at === 'string';
    const isOwnCommand = m.topic === topics.command(ids.a, ids.aCmd) && m.json?.id === ids.aCmd;
    assert.ok(isNotice || isOwnCommand, `device A received ${show(m.topic)}: ${m.text.slice(0, 200)}`);
    assert.ok(
      !m.text.includes(`"${MARK}`),
      `a published payload came back to device A: ${m.text.slice(0, 200)}`,
    );
  }
  const resultTopic = provisioningTopics.result(ids.p);
  for (const m of provSeat.sink) {
    assert.equal(m.topic, resultTopic);
    assert.ok(['error', 'operation', 'refresh'].includes(m.json?.type), m.text.slice(0, 200));
  }
  for (const r of rows.filter((x) => x.kind === 'provisioning' && x.action === 'publish')) {
    const refusals = provSeat.sink.filter((m) => m.json?.type === 'error' && m.json?.topic === r.topic);
    assert.equal(
      refusals.length,
      r.expect.outcome === 'refused' ? 1 : 0,
      `${r.id} ${show(r.topic)}: answers`,
    );
  }
});

test('nothing the matrix published reached device B, device C or provisioning client Q', async () => {
  // Deliveries are asynchronous: give stragglers a moment.
  await new Promise((r) => setTimeout(r, 200));
  for (const v of victims) {
    const unexpected = v.conn.sink.filter((m) => !v.expected(m));
    assert.deepEqual(
      unexpected.map((m) => `${show(m.topic)} ${m.text.slice(0, 120)}`),
      [],
      `${v.name} received messages it must not see`,
    );
    assert.ok(!v.conn.closed, `${v.name} was disconnected`);
  }
});

test("messages published by another tenant's device, a sibling device or a PT connection never reach device A's subscriber", async () => {
  const cmd = await t.call('POST', `/v1/devices/${ids.a}/commands`, {
    token: key1,
    body: { name: 'before' },
  });
  const commandIds = new Set<string>([cmd.body.id]);
  // device A as a real client would be: mqtt.js, subscribed to both of its filters.
  const got: { topic: string; text: string }[] = [];
  deviceSeat.end();
  const a = await t.connectDevice(ids.a, aKey);
  try {
    a.on('message', (topic, payload) => got.push({ topic, text: payload.toString() }));
    await a.subscribeAsync([topics.commandsFilter(ids.a), topics.errors(ids.a)], { qos: 1 });
    await eventually(() => got.some((m) => m.text.includes(cmd.body.id)), 5_000, 'the open command');

    // Every publishable topic of A's namespace, from the contract, at QoS 0 and 1, retained.
    const targets = PATTERN_NAMES.filter((n) => CONTRACT[n].space === 'device')
      .map((n) => patternFn(n)(ids.a, cmd.body.id))
      .filter((topic) => !malformed(topic, 'publish'));
    const provConn = await provSeat.ready();
    const publishers: [string, RawConn][] = [
      ['device C (other tenant)', cConn],
      ['device B (same tenant)', bConn],
      ['provisioning connection P', provConn],
    ];
    let n = 0;
    for (const [, conn] of publishers) {
      for (const topic of targets) {
        for (const qos of [0, 1] as const) {
          const payload = JSON.stringify({ values: { [`leak${n++}`]: 1 } });
          const id = conn.publish(topic, payload, qos, true);
          if (qos === 1) assert.equal((await conn.answer(id, `PUBACK for ${topic}`))?.cmd, 'puback');
        }
      }
    }
    // The refusals were explained to the publisher, on its own errors topic.
    await cConn.until(
      () =>
        targets.every((topic) =>
          cConn.sink.some((m) => m.topic === topics.errors(ids.c) && m.json?.topic === topic),
        ),
      3_000,
      "C's refusal notices",
    );
    // Last wills aimed at A's command topic and A's errors topic, from a connection lost without DISCONNECT.
    for (const will of [topics.command(ids.a, cmd.body.id), topics.errors(ids.a)]) {
      const w = await RawConn.open(t, {
        ...cCreds,
        will: { topic: will, payload: JSON.stringify({ values: { leakWill: 1 } }), qos: 1, retain: true },
      });
      w.destroy();
      await w.until(() => w.closed, 5_000, 'the will connection to close');
    }
    // A marker through the legitimate path: once it arrived, anything leaked would have too.
    const marker = await t.call('POST', `/v1/devices/${ids.a}/commands`, {
      token: key1,
      body: { name: 'marker' },
    });
    commandIds.add(marker.body.id);
    await eventually(() => got.some((m) => m.text.includes(marker.body.id)), 5_000, 'the marker command');
    await new Promise((r) => setTimeout(r, 300));

    const foreign = got.filter((m) => {
      if (m.topic === topics.errors(ids.a)) return true;
      let id: string | undefined;
      try {
        id = (JSON.parse(m.text) as { id?: string }).id;
      } catch {
        return true;
      }
      return !(id && commandIds.has(id) && m.topic === topics.command(ids.a, id));
    });
    assert.deepEqual(foreign, [], 'device A received messages published by others');

    // Nothing was retained for a later subscriber either.
    a.end(true);
    const later = await t.connectDevice(ids.a, aKey);
    const again: { topic: string; text: string }[] = [];
    later.on('message', (topic, payload) => again.push({ topic, text: payload.toString() }));
    await later.subscribeAsync([topics.commandsFilter(ids.a), topics.errors(ids.a)], { qos: 1 });
    await new Promise((r) => setTimeout(r, 300));
    later.end(true);
    assert.deepEqual(
      again.filter((m) => m.text.includes('leak')),
      [],
      'a retained message reached a later subscriber',
    );
    // And none of it was stored.
    assert.deepEqual(
      (await latest(ids.a, key1)).map((i) => i.key).filter((k) => k.startsWith('leak')),
      [],
    );
    assert.equal(await untouched('c', 'leak'), undefined);
    assert.equal(await untouched('b', 'leak'), undefined);
  } finally {
    a.end(true);
  }
});

// ---------------------------------------------------------------------------------------------------
// Sessions: a client id names a session, and a stored session belongs to the identity that made it
// ---------------------------------------------------------------------------------------------------

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));
const nonce = () => Math.random().toString(36).slice(2, 10);
const RETURN_CODE_IDENTIFIER_REJECTED = 2;

async function refusedTotal(reason: string): Promise<number> {
  const r = await t.call('GET', '/metrics');
  let total = 0;
  for (const line of r.text.split('\n'))
    if (line.startsWith('mooring_refused_total{') && line.includes(`reason="${reason}"`))
      total += Number(line.split(' ').at(-1));
  return total;
}

async function provisioningToken(key: string): Promise<string> {
  const r = await t.call('POST', '/v1/provisioning-tokens', {
    token: key,
    body: { name: 'iso-session', kind: 'batch', maxUses: 5, approval: 'auto' },
  });
  assert.equal(r.status, 201, r.text);
  return r.body.secret as string;
}

test("a provisioning connection gets no persistent session: another tenant's token cannot resume one and collect a queued registration token", async () => {
  const secret1 = await provisioningToken(key1);
  const secret2 = await provisioningToken(key2);
  const clientId = `prov-replay-${nonce()}`;
  const result = provisioningTopics.result(clientId);
  const start = provisioningTopics.start(clientId);
  const as = (secret: string, clean: boolean): Credentials => ({
    clientId,
    username: PROVISIONING_USERNAME,
    password: secret,
    clean,
  });
  const refusedBefore = await refusedTotal('persistent_session_refused');
  /** Everything tenant 2's connections under this client id ever receive. */
  const tenant2: Received[] = [];
  /** Registration tokens handed to tenant 1's connections. */
  const tenant1Tokens: string[] = [];
  const tokensIn = (sink: Received[]) =>
    sink.filter((m) => typeof m.json?.registrationToken === 'string').map((m) => m.json.registrationToken);

  // The attack as first reproduced. Tenant 1's provisioning client asks for a persistent session...
  const first = await RawConn.attempt(t, as(secret1, false), [], { acknowledge: false });
  if (first.returnCode === 0) {
    // ...and, if it got one, leaves its answer in it: it starts an operation, receives the answer
    // (with a registration token) without acknowledging it, and drops off.
    await first.conn.subscribeOrFail(result);
    first.conn.publish(start, JSON.stringify({ serial: `ISO-REPLAY-${nonce()}`, requestId: 'first' }));
    await first.conn.until(() => first.conn.sink.some((m) => m.topic === result), 5_000, 'the answer');
    tenant1Tokens.push(...tokensIn(first.conn.sink));
    first.conn.destroy();
    await first.conn.until(() => first.conn.closed, 5_000, 'the first connection to close');
    await pause(200); // the broker forgets the connection, keeps the session
  }
  // Tenant 2's token asks to resume the session stored under the same client id.
  const second = await RawConn.attempt(t, as(secret2, false), tenant2);
  if (second.returnCode === 0) {
    await pause(500); // whatever the session held arrives now
    second.conn.end();
  }
  assert.deepEqual(
    {
      tenant1: first.returnCode,
      tenant2: second.returnCode,
      deliveredToTenant2: tenant2.map((m) => `${m.topic} ${m.text.slice(0, 200)}`),
    },
    {
      tenant1: RETURN_CODE_IDENTIFIER_REJECTED,
      tenant2: RETURN_CODE_IDENTIFIER_REJECTED,
      deliveredToTenant2: [],
    },
    'a cleanSession=0 provisioning CONNECT is refused with CONNACK 2, whoever holds the token',
  );
  assert.equal(first.sessionPresent, false);
  assert.equal(second.sessionPresent, false);
  assert.equal(await refusedTotal('persistent_session_refused'), refusedBefore + 2);

  // cleanSession=1 still works end to end, under the same client id: start → answer on the result topic.
  const clean1 = await RawConn.open(t, as(secret1, true), [], { acknowledge: false });
  await clean1.subscribeOrFail(result);
  const serial = `ISO-CLEAN-${nonce()}`;
  clean1.publish(start, JSON.stringify({ serial, requestId: 'clean' }));
  await clean1.until(() => clean1.sink.some((m) => m.json?.requestId === 'clean'), 5_000, 'the answer');
  const answer = clean1.sink.find((m) => m.json?.requestId === 'clean')!;
  assert.equal(answer.topic, result);
  assert.equal(answer.json.type, 'operation', answer.text);
  assert.equal(answer.json.status, 'approved', answer.text);
  assert.equal(typeof answer.json.registrationToken, 'string', answer.text);
  tenant1Tokens.push(...tokensIn(clean1.sink));
  const device = await t.call('GET', `/v1/devices/${answer.json.deviceId}`, { token: key1 });
  assert.equal(device.body.serial, serial, device.text);
  // It leaves that answer unacknowledged and drops off; tenant 2 takes the client id over, clean, and
  // asks for an answer of its own: once that arrived, anything left for tenant 1 would have too.
  clean1.destroy();
  await clean1.until(() => clean1.closed, 5_000, 'the clean connection to close');
  await pause(200);
  const clean2 = await RawConn.open(t, as(secret2, true), tenant2);
  try {
    await clean2.subscribeOrFail(result);
    clean2.publish(start, JSON.stringify({ serial: `ISO-OTHER-${nonce()}`, requestId: 'tenant2' }));
    await clean2.until(
      () => tenant2.some((m) => m.json?.requestId === 'tenant2'),
      5_000,
      "tenant 2's answer",
    );
    await pause(200);
  } finally {
    clean2.end();
  }
  assert.deepEqual(
    tenant2.map((m) => m.json?.requestId),
    ['tenant2'],
    'tenant 2 received only its own answer',
  );
  const leaked = tokensIn(tenant2).filter((tok) => tenant1Tokens.includes(tok));
  assert.deepEqual(leaked, [], "a registration token of tenant 1's reached tenant 2");
  const own = tenant2[0]!.json;
  assert.equal((await t.call('GET', `/v1/devices/${own.deviceId}`, { token: key2 })).status, 200);
  assert.equal((await t.call('GET', `/v1/devices/${own.deviceId}`, { token: key1 })).status, 404);
});

async function registerCa(key: string, ca: TestCa): Promise<void> {
  const code = (await t.call('POST', '/v1/pki/registration-codes', { token: key })).body.registrationCode;
  const caCert = new x509.X509Certificate(ca.certPem);
  const crl = await x509.X509CrlGenerator.create({
    issuer: caCert.subject,
    thisUpdate: new Date(Date.now() - 60_000),
    nextUpdate: new Date(Date.now() + 86_400_000),
    entries: [],
    signingKey: await importEcPrivateKey(ca.keyPem),
    signingAlgorithm: ECDSA_SHA256,
  });
  const r = await t.call('POST', '/v1/pki/cas', {
    token: key,
    body: {
      caCertificate: ca.certPem,
      verificationCertificate: issueWithCa(caWork, ca, code).cert,
      crl: crl.toString('pem'),
      registrationPolicy: 'auto',
    },
  });
  assert.equal(r.status, 201, r.text);
}

async function deviceBySerial(key: string, serial: string): Promise<string> {
  return eventually(
    async () => {
      const r = await t.call('GET', '/v1/devices', { token: key });
      return r.body.items.find((d: { serial: string | null }) => d.serial === serial)?.id as
        string | undefined;
    },
    5_000,
    `the device ${serial}`,
  );
}

async function offline(deviceId: string, key: string): Promise<void> {
  await eventually(
    async () => {
      const r = await t.call('GET', `/v1/devices/${deviceId}`, { token: key });
      return r.body.presence?.connected === false && r.body.presence.lastDisconnectedAt !== null;
    },
    5_000,
    `${deviceId} to be offline`,
  );
}

async function newCommand(deviceId: string, key: string, name: string): Promise<string> {
  const r = await t.call('POST', `/v1/devices/${deviceId}/commands`, { token: key, body: { name } });
  assert.equal(r.status, 201, r.text);
  return r.body.id as string;
}

const caWork = mkdtempSync(join(tmpdir(), 'mooring-iso-ca-'));
after(() => rmSync(caWork, { recursive: true, force: true }));

test("a manufacturer serial shared by two tenants' devices: the other tenant's unit cannot resume the stored session, and starting clean shows it nothing", async () => {
  const suffix = nonce();
  const serial = `ISO-SN-${suffix}`;
  const ca1 = makeCa(caWork, `Iso-Mfg-One-${suffix}`);
  const ca2 = makeCa(caWork, `Iso-Mfg-Two-${suffix}`);
  await registerCa(key1, ca1);
  await registerCa(key2, ca2);
  const unit1 = { clientId: serial, certificate: issueWithCa(caWork, ca1, serial) };
  const unit2 = { clientId: serial, certificate: issueWithCa(caWork, ca2, serial) };
  const commands = topics.commandsFilter(serial);
  const commandIds = (sink: Received[]) =>
    sink.map((m) => `${m.topic} ${m.json?.id ?? m.text.slice(0, 200)}`);

  // Tenant 1's unit, registered just in time, keeps a persistent session subscribed to its commands.
  const one = await RawConn.attempt(t, { ...unit1, clean: false }, [], { acknowledge: false });
  assert.equal(one.returnCode, 0);
  await one.conn.subscribeOrFail(commands);
  const device1 = await deviceBySerial(key1, serial);
  // A command delivered but never acknowledged stays in the session, in flight...
  const inFlight = await newCommand(device1, key1, 'in-flight');
  await one.conn.until(() => one.conn.sink.some((m) => m.json?.id === inFlight), 5_000, 'the command');
  assert.equal(one.conn.sink[0]?.topic, topics.command(serial, inFlight));
  one.conn.end();
  await offline(device1, key1);
  // ...and one created while the unit is away waits for it.
  const queued = await newCommand(device1, key1, 'queued');

  // Tenant 2's unit with the same serial asks to resume the session stored under that client id.
  const refusedBefore = await refusedTotal('client_id_in_use');
  const tenant2: Received[] = [];
  const resume = await RawConn.attempt(t, { ...unit2, clean: false }, tenant2);
  if (resume.returnCode === 0) {
    await pause(500); // whatever the session held arrives now
    resume.conn.end();
  }
  assert.deepEqual(
    { returnCode: resume.returnCode, sessionPresent: resume.sessionPresent, delivered: commandIds(tenant2) },
    { returnCode: RETURN_CODE_IDENTIFIER_REJECTED, sessionPresent: false, delivered: [] },
    "tenant 2's unit resumed tenant 1's session",
  );
  assert.equal(await refusedTotal('client_id_in_use'), refusedBefore + 1);
  const device2 = await deviceBySerial(key2, serial);
  assert.notEqual(device2, device1);

  // Tenant 1's session is intact: its unit resumes it and gets both commands.
  const back = await RawConn.attempt(t, { ...unit1, clean: false }, [], { acknowledge: false });
  assert.equal(back.returnCode, 0);
  assert.equal(back.sessionPresent, true);
  await back.conn.until(
    () => [inFlight, queued].every((id) => back.conn.sink.some((m) => m.json?.id === id)),
    5_000,
    "tenant 1's commands",
  );
  back.conn.end(); // still unacknowledged: in flight in the session again
  await eventually(
    async () => {
      const r = await t.call('GET', `/v1/devices/${device1}`, { token: key1 });
      return r.body.presence?.connected === false && r.body.presence.lastDisconnectedAt > Date.now() - 5_000;
    },
    5_000,
    'tenant 1 to be offline again',
  );
  await pause(100);

  // With a clean session tenant 2's unit is accepted and starts clean: nothing of tenant 1's arrives,
  // only its own command (once that arrived, anything left for tenant 1 would have too).
  const fresh = await RawConn.attempt(t, { ...unit2, clean: true }, tenant2);
  assert.equal(fresh.returnCode, 0);
  assert.equal(fresh.sessionPresent, false);
  try {
    await fresh.conn.subscribeOrFail(commands);
    const own = await newCommand(device2, key2, 'own');
    await fresh.conn.until(() => tenant2.some((m) => m.json?.id === own), 5_000, "tenant 2's command");
    await pause(200);
    assert.deepEqual(commandIds(tenant2), [`${topics.command(serial, own)} ${own}`]);
  } finally {
    fresh.conn.end();
  }
  for (const id of [inFlight, queued])
    assert.equal((await t.call('GET', `/v1/devices/${device2}/commands/${id}`, { token: key2 })).status, 404);
});

// ---------------------------------------------------------------------------------------------------
// Credential delegation: refused attempts leave connected devices connected
// ---------------------------------------------------------------------------------------------------

interface Live {
  name: string;
  deviceId: string;
  conn: RawConn;
  sink: Received[];
  /** The route that revokes the credential this session authenticated with. */
  revoke: { method: string; path: string; need: Permission; device: boolean };
}

test("credential delegation: no role reaches a connected device's access key, registration token or certificate beyond its grants; the refused sessions stay up and are served, and the control closes them", async () => {
  const tags = ['line:b'];
  const work = mkdtempSync(join(tmpdir(), 'mooring-iso-dlg-'));
  const lives: Live[] = [];
  try {
    const open = async (name: string, deviceId: string, creds: Credentials, revoke: Live['revoke']) => {
      const sink: Received[] = [];
      const conn = await RawConn.open(t, creds, sink);
      await conn.subscribeOrFail(topics.errors(deviceId));
      lives.push({ name, deviceId, conn, sink, revoke });
    };
    const keyed = await t.device(key1, { name: 'dlg-keyed', tags });
    await open(
      'access key',
      keyed.deviceId,
      { clientId: keyed.deviceId, username: keyed.deviceId, password: keyed.accessKey },
      {
        method: 'DELETE',
        path: `/v1/devices/${keyed.deviceId}/access-keys/${keyed.accessKeyId}`,
        need: 'devices:credentials',
        device: true,
      },
    );
    const pt = await t.call('POST', '/v1/provisioning-tokens', {
      token: key1,
      body: { name: 'dlg', kind: 'batch', maxUses: 1, approval: 'auto', deviceTags: tags },
    });
    assert.equal(pt.status, 201, pt.text);
    const started = await t.call('POST', '/v1/device/provisioning/operations', {
      token: pt.body.secret,
      body: { serial: `DLG-RT-${nonce()}` },
    });
    assert.equal(started.body.status, 'approved', started.text);
    const rtDevice = started.body.deviceId as string;
    await open(
      'registration token',
      rtDevice,
      { clientId: rtDevice, username: rtDevice, password: started.body.registrationToken },
      {
        method: 'POST',
        path: `/v1/devices/${rtDevice}/registration-tokens/revoke`,
        need: 'devices:credentials',
        device: true,
      },
    );
    const unit = deviceKeyAndCsr(work);
    const batch = await t.call('POST', '/v1/provisioning/batches', {
      token: key1,
      body: {
        batchId: `dlg-${nonce()}`,
        deviceTags: tags,
        items: [{ serial: `DLG-C-${nonce()}`, csr: unit.csr }],
      },
    });
    assert.equal(batch.status, 201, batch.text);
    const issued = batch.body.items[0];
    await open(
      'certificate',
      issued.deviceId,
      { clientId: issued.deviceId, certificate: { key: unit.key, cert: issued.certificate + issued.chain } },
      {
        method: 'POST',
        path: `/v1/certificates/${issued.certificateSerial}/revoke`,
        need: 'certificates:manage',
        device: false,
      },
    );

    // The callers: every built-in role, and one holding every device permission over line:a only.
    const callers: { name: string; token: string; tenantWide: Set<string>; scoped: Set<string> }[] = [];
    for (const role of Object.keys(BUILT_IN_ROLES)) {
      const k = await t.call('POST', '/v1/api-keys', { token: key1, body: { name: `dlg-${role}`, role } });
      assert.equal(k.status, 201, k.text);
      callers.push({
        name: role,
        token: k.body.secret,
        tenantWide: new Set(BUILT_IN_ROLES[role]!.permissions),
        scoped: new Set(),
      });
    }
    const scoped = await t.call('POST', '/v1/api-keys', {
      token: key1,
      body: { name: 'dlg-scoped', grants: [{ role: 'owner', scope: { tag: 'line:a' } }] },
    });
    assert.equal(scoped.status, 201, scoped.text);
    callers.push({
      name: 'owner@line:a',
      token: scoped.body.secret,
      tenantWide: new Set(),
      scoped: new Set(BUILT_IN_ROLES.owner!.permissions),
    });

    const failures: string[] = [];
    let refused = 0;
    for (const c of callers) {
      for (const live of lives) {
        const attempts = [
          live.revoke,
          {
            method: 'POST',
            path: `/v1/devices/${live.deviceId}/disable`,
            need: 'devices:write' as const,
            device: true,
          },
          {
            method: 'DELETE',
            path: `/v1/devices/${live.deviceId}`,
            need: 'devices:delete' as const,
            device: true,
          },
        ];
        for (const a of attempts) {
          // A caller holding the permission over the whole tenant holds everything a device
          // credential does: not a refusal case (the HTTP matrix shows it allowed).
          if (c.tenantWide.has(a.need)) continue;
          const want =
            a.device && c.scoped.has(a.need)
              ? { status: 404, code: 'DEVICE_NOT_FOUND' }
              : { status: 403, code: 'FORBIDDEN', permission: a.need };
          const r = await t.call(a.method, a.path, {
            token: c.token,
            ...(a.method === 'POST' ? { body: {} } : {}),
          });
          refused++;
          if (
            r.status !== want.status ||
            r.body?.code !== want.code ||
            ('permission' in want && r.body.permission !== want.permission)
          )
            failures.push(
              `${a.method} ${a.path} as ${c.name}: expected ${JSON.stringify(want)}, got ${r.status} ${r.text}`,
            );
        }
      }
    }

    // Through a role: a caller that manages roles and keys but holds no device credentials defines
    // a role, holds it through a key of its own, and tries to widen it to reach the credentials.
    const climber = await t.call('POST', '/v1/api-keys', {
      token: key1,
      body: { name: 'dlg-climber', permissions: ['roles:manage', 'keys:manage', 'devices:read'] },
    });
    assert.equal(climber.status, 201, climber.text);
    const roleName = `dlg-climb-${nonce()}`;
    const defined = await t.call('POST', '/v1/roles', {
      token: climber.body.secret,
      body: { name: roleName, permissions: ['devices:read'] },
    });
    assert.equal(defined.status, 201, defined.text);
    const held = await t.call('POST', '/v1/api-keys', {
      token: climber.body.secret,
      body: { name: 'dlg-held', role: roleName },
    });
    assert.equal(held.status, 201, held.text);
    const reach = ['devices:credentials', 'devices:write', 'devices:delete', 'certificates:manage'];
    const widen = await t.call('PUT', `/v1/roles/${roleName}`, {
      token: climber.body.secret,
      body: { permissions: ['devices:read', ...reach] },
    });
    if (widen.status !== 403 || widen.body.code !== 'FORBIDDEN')
      failures.push(`widening a held role to ${reach.join(', ')}: ${widen.status} ${widen.text}`);
    else assert.deepEqual([...widen.body.missing].sort(), [...reach].sort());
    for (const live of lives) {
      const r = await t.call(live.revoke.method, live.revoke.path, {
        token: held.body.secret,
        ...(live.revoke.method === 'POST' ? { body: {} } : {}),
      });
      refused++;
      if (r.status !== 403 || r.body.permission !== live.revoke.need)
        failures.push(`${live.revoke.path} through the role: ${r.status} ${r.text}`);
    }
    assert.deepEqual(failures, [], `${failures.length} of ${refused} attempts answered wrongly`);
    // Every role without the device permissions was tried, on each of the three credentials.
    assert.ok(refused >= lives.length * 3 * 5, `only ${refused} refused attempts`);

    // Every session is still up, and what it publishes now is acknowledged and stored.
    for (const live of lives) {
      assert.equal(live.conn.closed, false, `the ${live.name} session was closed`);
      const marker = `dlg${nonce()}`;
      const ack = await live.conn.answer(
        live.conn.publish(topics.telemetry(live.deviceId), JSON.stringify({ values: { [marker]: 1 } })),
        `PUBACK on the ${live.name} session`,
      );
      assert.equal(ack?.cmd, 'puback', `the ${live.name} session answered ${ack?.cmd ?? 'nothing'}`);
      const stored = (await latest(live.deviceId, key1)).find((i) => i.key === marker);
      assert.equal(stored?.value, 1, `telemetry of the ${live.name} session was not stored`);
    }

    // The control: an admin holds what each credential holds, and its revocation ends the session.
    const admin = callers.find((c) => c.name === 'admin')!;
    for (const live of lives) {
      const r = await t.call(live.revoke.method, live.revoke.path, {
        token: admin.token,
        ...(live.revoke.method === 'POST' ? { body: {} } : {}),
      });
      assert.equal(r.status, 204, `${live.revoke.path}: ${r.text}`);
      await live.conn.until(() => live.conn.closed, 5_000, `the ${live.name} session to close`);
    }
  } finally {
    for (const live of lives) live.conn.end();
    rmSync(work, { recursive: true, force: true });
  }
});

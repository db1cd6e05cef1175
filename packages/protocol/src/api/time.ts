/** Signed server time, and the platform's health and readiness. */
import { Type } from '@sinclair/typebox';
import { Answer, EpochMs, media, operation } from './common.js';

export const NONCE_PATTERN = /^[A-Za-z0-9_-]{16,128}$/;

export const TimeQuery = Type.Object(
  {
    nonce: Type.String({
      pattern: NONCE_PATTERN.source,
      description: '16–128 random base64url characters chosen by the device',
    }),
  },
  { additionalProperties: false },
);
export const SignedTime = Answer({
  nonce: Type.String(),
  serverTime: EpochMs,
  serverTimeIso: Type.String({ description: 'RFC 3339 form of serverTime' }),
  signature: Type.String({ description: 'base64url Ed25519 signature over `message`' }),
  message: Type.String({ description: 'mooring-time:v1:{nonce}:{serverTime}' }),
  alg: Type.Literal('Ed25519'),
});

export const timeOperations = {
  getTime: operation({ method: 'GET', path: '/v1/time', query: TimeQuery, responses: { 200: SignedTime } }),
  getTimeKey: operation({
    method: 'GET',
    path: '/v1/time/key',
    responses: { 200: media('SPKI public key (PEM)', { 'application/x-pem-file': Type.String() }) },
  }),
  health: operation({
    method: 'GET',
    path: '/healthz',
    responses: { 200: Answer({ status: Type.Literal('ok') }) },
  }),
  ready: operation({
    method: 'GET',
    path: '/readyz',
    responses: { 200: Answer({ status: Type.Literal('ready') }) },
  }),
};

/** Prometheus scrapes; not a client operation. */
export const metricsOperations = {
  getMetrics: operation({
    method: 'GET',
    path: '/metrics',
    responses: {
      200: media('Prometheus text exposition format', { 'text/plain': Type.String() }),
    },
  }),
};

export * from './backoff.js';
export * from './buffer.js';
export * from './credentials.js';
export * from './device.js';
export * from './http.js';
export * from './keys.js';
export * from './provisioning.js';
export * from './time.js';

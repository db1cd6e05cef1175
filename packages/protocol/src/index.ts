export * from './errors.js';
export * from './topics.js';
export * from './telemetry.js';
export * from './commands.js';
export * from './events.js';
export * from './json.js';
export * from './api/index.js';
export * from './schema-check.js';

export { startPlatform, type Platform, type StartOptions } from './app.js';
export { loadConfig, ConfigError, type Config } from './config.js';

/**
 * The REST API's operations by name, with their schemas: the server's routes and the OpenAPI document
 * are built from them, and the client's calls are typed by them.
 */
import { apiKeyOperations } from './api-keys.js';
import { artifactOperations, deviceArtifactOperations } from './artifacts.js';
import { auditOperations } from './audit.js';
import { bridgeOperations } from './bridges.js';
import { deploymentOperations, deviceOtaOperations } from './deployments.js';
import { authOperations } from './auth.js';
import { commandOperations } from './commands.js';
import { configOperations, deviceConfigOperations } from './config.js';
import { webhookOperations } from './webhooks.js';
import { alertOperations } from './alerts.js';
import { deviceApiOperations } from './device.js';
import { deviceOperations } from './devices.js';
import { deviceFirmwareOperations, fleetOperations } from './fleet.js';
import { limitOperations } from './limits.js';
import { pkiOperations } from './pki.js';
import { deviceProvisioningOperations, provisioningOperations } from './provisioning.js';
import { telemetryOperations } from './telemetry.js';
import { tenantOperations } from './tenants.js';
import { metricsOperations, timeOperations } from './time.js';
import { userOperations } from './users.js';

export * from './common.js';
export * from './access.js';
export * from './auth.js';
export * from './users.js';
export * from './tenants.js';
export * from './api-keys.js';
export * from './devices.js';
export * from './telemetry.js';
export * from './commands.js';
export * from './pki.js';
export * from './provisioning.js';
export * from './audit.js';
export * from './time.js';
export * from './device.js';
export * from './fleet.js';
export * from './limits.js';
export * from './artifacts.js';
export * from './deployments.js';
export * from './config.js';
export * from './bridges.js';
export * from './webhooks.js';
export * from './alerts.js';

/** What people and programs call (the client and the CLI). */
export const MANAGEMENT_OPERATIONS = {
  ...authOperations,
  ...tenantOperations,
  ...userOperations,
  ...apiKeyOperations,
  ...deviceOperations,
  ...fleetOperations,
  ...limitOperations,
  ...telemetryOperations,
  ...commandOperations,
  ...configOperations,
  ...webhookOperations,
  ...alertOperations,
  ...provisioningOperations,
  ...pkiOperations,
  ...auditOperations,
  ...timeOperations,
  ...artifactOperations,
  ...deploymentOperations,
  ...bridgeOperations,
};
/** What devices call (the device SDK). */
export const DEVICE_OPERATIONS = {
  ...deviceApiOperations,
  ...deviceFirmwareOperations,
  ...deviceProvisioningOperations,
  ...deviceArtifactOperations,
  ...deviceOtaOperations,
  ...deviceConfigOperations,
};
/** Every documented operation of the API. */
export const API_OPERATIONS = { ...MANAGEMENT_OPERATIONS, ...DEVICE_OPERATIONS, ...metricsOperations };
export type ApiOperationName = keyof typeof API_OPERATIONS;
export type ManagementOperationName = keyof typeof MANAGEMENT_OPERATIONS;

import type { FastifyInstance } from 'fastify';
import type { RouteContext } from '../context.js';
import { authRoutes } from './auth.js';
import { tenantRoutes } from './tenants.js';
import { deviceRoutes } from './devices.js';
import { telemetryRoutes } from './telemetry.js';
import { commandRoutes } from './commands.js';
import { deviceApiRoutes } from './device-api.js';
import { provisioningRoutes } from './provisioning.js';
import { pkiRoutes } from './pki.js';
import { timeRoutes } from './time.js';
import { ownershipRoutes } from './ownership.js';
import { auditRoutes } from './audit.js';
import { apiKeyRoutes } from './api-keys.js';
import { userRoutes } from './users.js';
import { fleetRoutes } from './fleet.js';
import { artifactRoutes } from './artifacts.js';
import { deploymentRoutes } from './deployments.js';
import { configRoutes } from './config.js';
import { bridgeRoutes } from './bridges.js';
import { webhookRoutes } from './webhooks.js';
import { alertRoutes } from './alerts.js';
import { limitRoutes } from './limits.js';

/** The route table: one module per resource. */
export function registerRoutes(app: FastifyInstance, ctx: RouteContext): void {
  for (const routes of [
    authRoutes,
    tenantRoutes,
    userRoutes,
    apiKeyRoutes,
    deviceRoutes,
    telemetryRoutes,
    commandRoutes,
    configRoutes,
    webhookRoutes,
    alertRoutes,
    deviceApiRoutes,
    provisioningRoutes,
    pkiRoutes,
    timeRoutes,
    ownershipRoutes,
    auditRoutes,
    fleetRoutes,
    artifactRoutes,
    deploymentRoutes,
    bridgeRoutes,
    limitRoutes,
  ])
    routes(app, ctx);
}

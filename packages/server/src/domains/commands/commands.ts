/**
 * Commands: created over REST, pushed to connected devices at QoS 1 (or on their next subscription,
 * or fetched by HTTPS polling), answered with a result. pending → delivered → succeeded | failed |
 * expired.
 */
import type { CommandResult, CommandStatus } from '@mooring/protocol';
import type { DeviceIdentity, TenantCaller } from '../../platform/caller.js';
import type { Page } from '../../platform/pagination.js';

export interface Command {
  id: string;
  deviceId: string;
  name: string;
  params: unknown;
  status: CommandStatus;
  createdAt: number;
  expiresAt: number;
  deliveredAt: number | null;
  completedAt: number | null;
  result: unknown;
  error: string | null;
}

export interface CommandCreate {
  name: string;
  params?: unknown;
  /** Lifetime in seconds; the configured default when absent, capped by the configured maximum. */
  ttlSeconds?: number;
}

export interface CommandService {
  /** Creates a command for a device of the caller's tenant and announces it for delivery. */
  create(caller: TenantCaller, deviceId: string, input: CommandCreate): Promise<Command>;
  list(
    caller: TenantCaller,
    deviceId: string,
    q: { status?: CommandStatus; cursor?: string; limit?: number },
  ): Promise<Page<Command>>;
  get(caller: TenantCaller, deviceId: string, commandId: string): Promise<Command>;
  /**
   * HTTPS polling: the device's open commands, oldest first, every time until answered (at least
   * once, like MQTT); pending ones become delivered.
   */
  fetchForDevice(device: DeviceIdentity): Promise<Command[]>;
  /**
   * Pending or delivered, unexpired commands without a result, oldest first: what MQTT pushes. With
   * `page`, at most `limit` of them after the command id `afterId`, so a backlog is read in pages.
   */
  openForDevice(device: DeviceIdentity, page?: { afterId?: string; limit?: number }): Promise<Command[]>;
  /** Records that the command was handed to the device (written to its MQTT session or polled). */
  markDelivered(device: DeviceIdentity, commandIds: string[]): Promise<void>;
  /** Records the device's result; COMMAND_NOT_OPEN when already finished or expired. */
  reportResult(device: DeviceIdentity, commandId: string, result: CommandResult): Promise<Command>;
  /** Marks open commands past their expiry as expired; returns how many. */
  expireDue(): Promise<number>;
}

export const COMMAND_NAME_PATTERN = /^[A-Za-z0-9_.:-]{1,64}$/;

import { randomUUID } from 'node:crypto';
import { hashSecret, randomHex, verifySecret } from '../crypto.js';
import type { Db } from '../store/db.js';

export interface Sandbox {
  id: string;
  name: string;
  type: 'production' | 'development';
  orgId: string;
}

export interface BootstrapResult {
  orgId: string;
  tenantId: string;
  clientId: string;
  /** Only when this start created the client (or it came from the environment). */
  clientSecret: string | undefined;
  sandbox: string;
  created: boolean;
}

const SANDBOX_NAME = /^[a-z0-9][a-z0-9-]{0,62}$/;

/** Orgs, their sandboxes and API clients. */
export class Tenancy {
  /**
   * Sandboxes found so far, by `org/name`: every request looks its sandbox up, and sandboxes are
   * never deleted, so a found one stays valid. Misses are not cached (another process may create it).
   */
  private readonly sandboxCache = new Map<string, Sandbox>();

  constructor(
    private readonly db: Db,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * Makes sure an org, its `prod` sandbox and an API client exist. The first start creates them
   * (with the ids from `INFLOW_BOOTSTRAP_*` when given); later starts create only what is missing.
   */
  async bootstrap(wanted: {
    orgId?: string;
    clientId?: string;
    clientSecret?: string;
    tenantId?: string;
  }): Promise<BootstrapResult> {
    const existing = await this.db.query<{ id: string; tenant_id: string }>(
      'select id, tenant_id from orgs order by created_at limit 1',
    );
    const first = existing.rows[0];
    const orgId = wanted.orgId ?? first?.id ?? `${randomHex(12).toUpperCase()}@AdobeOrg`;
    const tenantId = await this.ensureOrg(orgId, wanted.tenantId);
    await this.ensureSandbox(orgId, 'prod', 'production');
    const clients = await this.db.query<{ id: string }>(
      'select id from clients where org_id = $1 order by created_at limit 1',
      [orgId],
    );
    let clientId = wanted.clientId ?? clients.rows[0]?.id;
    let clientSecret: string | undefined;
    let created = false;
    const known = clientId
      ? (await this.db.query('select 1 from clients where id = $1', [clientId])).rows.length > 0
      : false;
    if (!known) {
      clientId ??= randomHex(16);
      clientSecret = wanted.clientSecret ?? `p8e-${randomHex(24)}`;
      await this.createClient(orgId, clientId, clientSecret, 'bootstrap');
      created = true;
    } else if (wanted.clientSecret) {
      clientSecret = wanted.clientSecret;
    }
    return { orgId, tenantId, clientId: clientId as string, clientSecret, sandbox: 'prod', created };
  }

  /** Creates the org if needed; returns its tenant id (the `_{tenantId}` XDM namespace). */
  async ensureOrg(orgId: string, wantedTenantId?: string): Promise<string> {
    if (wantedTenantId !== undefined && !/^[a-z0-9]{1,40}$/.test(wantedTenantId)) {
      throw new Error('the tenant id must be lower-case letters and digits (no underscore)');
    }
    const tenantId = wantedTenantId ?? `t${randomHex(6)}`;
    await this.db.query(
      'insert into orgs (id, tenant_id, created_at) values ($1, $2, $3) on conflict (id) do nothing',
      [orgId, tenantId, this.now()],
    );
    return (await this.tenantOf(orgId)) as string;
  }

  async tenantOf(orgId: string): Promise<string | undefined> {
    const res = await this.db.query<{ tenant_id: string }>('select tenant_id from orgs where id = $1', [
      orgId,
    ]);
    return res.rows[0]?.tenant_id;
  }

  async createClient(orgId: string, clientId: string, secret: string, name: string): Promise<void> {
    await this.db.query(
      'insert into clients (id, org_id, secret_hash, name, created_at) values ($1, $2, $3, $4, $5)',
      [clientId, orgId, hashSecret(secret), name, this.now()],
    );
  }

  /** The org of a client whose secret matches; undefined otherwise. */
  async verifyClient(clientId: string, secret: string): Promise<{ orgId: string } | undefined> {
    const res = await this.db.query<{ org_id: string; secret_hash: string }>(
      'select org_id, secret_hash from clients where id = $1',
      [clientId],
    );
    const row = res.rows[0];
    if (!row || !verifySecret(secret, row.secret_hash)) return undefined;
    return { orgId: row.org_id };
  }

  async ensureSandbox(orgId: string, name: string, type: Sandbox['type'] = 'development'): Promise<Sandbox> {
    await this.db.query(
      'insert into sandboxes (org_id, name, id, type, created_at) values ($1, $2, $3, $4, $5) on conflict (org_id, name) do nothing',
      [orgId, name, randomUUID(), type, this.now()],
    );
    return (await this.sandbox(orgId, name)) as Sandbox;
  }

  /** Creates a sandbox; false if one of that name exists. */
  async createSandbox(orgId: string, name: string, type: Sandbox['type']): Promise<boolean> {
    if (!SANDBOX_NAME.test(name)) throw new Error('invalid sandbox name');
    const res = await this.db.query(
      'insert into sandboxes (org_id, name, id, type, created_at) values ($1, $2, $3, $4, $5) on conflict (org_id, name) do nothing',
      [orgId, name, randomUUID(), type, this.now()],
    );
    return (res.affectedRows ?? 0) > 0;
  }

  async sandbox(orgId: string, name: string): Promise<Sandbox | undefined> {
    const cached = this.sandboxCache.get(`${orgId}/${name}`);
    if (cached) return cached;
    const res = await this.db.query<{ id: string; name: string; type: Sandbox['type'] }>(
      'select id, name, type from sandboxes where org_id = $1 and name = $2',
      [orgId, name],
    );
    const row = res.rows[0];
    if (!row) return undefined;
    const sandbox = { ...row, orgId };
    this.sandboxCache.set(`${orgId}/${name}`, sandbox);
    return sandbox;
  }

  async sandboxes(orgId: string): Promise<Sandbox[]> {
    const res = await this.db.query<{ id: string; name: string; type: Sandbox['type'] }>(
      'select id, name, type from sandboxes where org_id = $1 order by created_at',
      [orgId],
    );
    return res.rows.map((r) => ({ ...r, orgId }));
  }
}

export const isSandboxName = (name: string): boolean => SANDBOX_NAME.test(name);

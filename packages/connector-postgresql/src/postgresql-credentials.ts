import { secret } from '@inflow/core';
import { z } from 'zod';
import { parseConnectionString } from './postgresql-connection-string.js';

/** The PostgreSQL base connection's `auth.params` (seed 002). The whole string is the secret. */
export const postgresqlCredentials = z
  .object({
    connectionString: secret(
      'Server={SERVER};Database={DATABASE};Port={PORT};UID={USERNAME};Password={PASSWORD}, optionally ;SSLMode=require',
    ).superRefine((value, ctx) => {
      const parsed = parseConnectionString(value);
      if (!parsed.ok) ctx.addIssue({ code: 'custom', message: parsed.error });
    }),
  })
  .describe('defines auth params required for connecting to postgresql');

export type PostgresqlCredentials = z.output<typeof postgresqlCredentials>;

const column = z.object({
  name: z.string().min(1),
  type: z.string().optional(),
  xdm: z.object({ type: z.string(), format: z.string().optional() }).optional(),
});

/** A source connection's `params` (reference §3.4, tables). */
export const postgresqlSourceParams = z.object({
  tableName: z.string().min(1).describe('The table to read, optionally schema-qualified: public.customers'),
  columns: z.array(column).optional().describe('The columns to read; all when absent or empty'),
  deltaColumn: z
    .object({
      name: z
        .string()
        .min(1)
        .describe('The cursor column: a timestamp or number that grows with every change'),
    })
    .optional()
    .describe(
      "Read incrementally by this column (the flow's Copy transformation names it: deltaColumn); a full read when absent",
    ),
});

export type PostgresqlSourceParams = z.output<typeof postgresqlSourceParams>;

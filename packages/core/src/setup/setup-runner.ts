import { createHash } from 'node:crypto';
import type { FlowServiceClient } from '../client/flow-service-client.js';
import { flowServiceRequests } from '../client/requests.js';
import { InflowError } from '../errors/inflow-error.js';
import type { PreparedRequest } from '../http/transport.js';
import { redactError } from '../http/transport.js';
import { redact, secretValues } from '../secrets/secret.js';
import { parseWithSchema } from '../spec/define-source-connector.js';
import type { AnySourceConnector } from '../spec/source-connector.js';
import type { OutputSource, SetupStepV1 } from './setup-step.js';

/** One planned step: the exact request `apply()` would send, secrets redacted. */
export interface PlannedStep {
  id: string;
  title: string;
  request: PreparedRequest;
  /** The outputs this step will produce, and the placeholders later steps show for them. */
  produces: Record<string, string>;
  /** Already done according to the saved state: `apply()` will not send it again. */
  done: boolean;
}

/**
 * What lets `apply()` resume after a failure: the steps that completed and their outputs. JSON;
 * holds ids only, never credentials. Tied to the connector and (a digest of) the input.
 */
export interface SetupState {
  version: 1;
  connector: string;
  inputDigest: string;
  completed: { step: string; outputs: Record<string, string> }[];
}

export interface SetupResult {
  /** Every output of every step: created ids, and `inletUrl`/`inletId` for streaming sources. */
  outputs: Record<string, string>;
  /** The final state (all steps completed). */
  state: SetupState;
  /** Steps sent by this call (not the ones skipped from saved state). */
  sent: string[];
}

/** A step failed; `state` resumes from it. `cause` is the underlying (redacted) error. */
export class SetupStepError extends InflowError {
  override readonly name = 'SetupStepError';
  readonly stepId: string;
  readonly stepIndex: number;
  readonly state: SetupState;

  constructor(step: SetupStepV1<unknown>, index: number, state: SetupState, cause: unknown) {
    const reason = cause instanceof Error ? cause.message : String(cause);
    super(
      `setup step ${index + 1} "${step.id}" (${step.title}) failed: ${reason}. Steps before it are done; run apply again with the saved state to resume from this step`,
      { cause },
    );
    this.stepId = step.id;
    this.stepIndex = index;
    this.state = state;
  }

  static override isInstance(error: unknown): error is SetupStepError {
    return InflowError.isInstance(error) && error.name === 'SetupStepError';
  }
}

/** `connectionId` → `{CONNECTION_ID}`, the docs' placeholder style. */
export function placeholder(outputName: string): string {
  return `{${outputName.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase()}}`;
}

function source(spec: string | OutputSource): OutputSource {
  return typeof spec === 'string' ? { path: spec } : spec;
}

/** Reads `items[0].auth.params.inletUrl`-style paths. */
export function readPath(value: unknown, path: string): unknown {
  let cur: unknown = value;
  for (const part of path.match(/[^.[\]]+/g) ?? []) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string, unknown>)[part];
  }
  return cur;
}

function stableStringify(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stableStringify).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${stableStringify(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/**
 * Runs a connector's documented setup steps against a Flow Service API (Inflow's or Adobe's).
 */
export class SetupRunner<C extends AnySourceConnector> {
  constructor(
    readonly connector: C,
    readonly client: FlowServiceClient,
  ) {}

  private parseInput(input: unknown): { value: unknown; secrets: string[]; digest: string } {
    const schema = this.connector.setupInputJsonSchema;
    const value = parseWithSchema(this.connector.setup.input, input, {
      prefix: 'input',
      what: `invalid setup input for ${this.connector.displayName}`,
      jsonSchema: schema,
    });
    const secrets = secretValues(schema, value);
    // Secrets are left out of the digest: the state file must not become a password oracle.
    const digest = createHash('sha256')
      .update(stableStringify(redact(value, secrets)))
      .digest('hex')
      .slice(0, 32);
    return { value, secrets, digest };
  }

  private checkState(state: SetupState | undefined, digest: string): SetupState {
    const fresh: SetupState = {
      version: 1,
      connector: this.connector.id,
      inputDigest: digest,
      completed: [],
    };
    if (!state) return fresh;
    if (state.version !== 1 || state.connector !== this.connector.id) {
      throw new InflowError(
        `the saved setup state belongs to connector "${state.connector}", not "${this.connector.id}": delete it to start over`,
      );
    }
    if (state.inputDigest !== digest) {
      throw new InflowError(
        'the saved setup state was made with different input: run apply with the same input to resume, or delete the state to start over',
      );
    }
    const steps = this.connector.setup.steps;
    state.completed.forEach((c, i) => {
      if (steps[i]?.id !== c.step) {
        throw new InflowError(
          `the saved setup state does not match the steps of ${this.connector.id}: delete it to start over`,
        );
      }
    });
    return { ...state, completed: state.completed.map((c) => ({ step: c.step, outputs: { ...c.outputs } })) };
  }

  /** The exact requests `apply()` would send, secrets redacted. Sends nothing (not even for a token). */
  plan(input: unknown, options: { state?: SetupState } = {}): PlannedStep[] {
    const { value, secrets, digest } = this.parseInput(input);
    const state = this.checkState(options.state, digest);
    const outputs: Record<string, string> = {};
    for (const c of state.completed) Object.assign(outputs, c.outputs);
    return this.connector.setup.steps.map((step: SetupStepV1<unknown>, i: number) => {
      const done = i < state.completed.length;
      const req = step.request({ input: value, outputs: { ...outputs }, api: flowServiceRequests });
      const produces: Record<string, string> = {};
      for (const name of Object.keys(step.produces)) {
        produces[name] = placeholder(name);
        if (!done) outputs[name] = placeholder(name);
      }
      return {
        id: step.id,
        title: step.title,
        request: this.client.transport.preview(req, secrets),
        produces,
        done,
      };
    });
  }

  /**
   * Sends the steps in order and returns every output. Pass the `state` from a failed run (a
   * `SetupStepError`'s `state`, or the last `onState`) to resume without re-creating what exists.
   */
  async apply(
    input: unknown,
    options: { state?: SetupState; onState?: (state: SetupState) => void | Promise<void> } = {},
  ): Promise<SetupResult> {
    const { value, secrets, digest } = this.parseInput(input);
    const state = this.checkState(options.state, digest);
    const outputs: Record<string, string> = {};
    for (const c of state.completed) Object.assign(outputs, c.outputs);
    const sent: string[] = [];
    const steps = this.connector.setup.steps;
    for (let i = state.completed.length; i < steps.length; i++) {
      const step = steps[i] as SetupStepV1<unknown>;
      try {
        const req = step.request({ input: value, outputs: { ...outputs }, api: flowServiceRequests });
        const body = await this.client.send(req);
        sent.push(step.id);
        const produced: Record<string, string> = {};
        for (const [name, spec] of Object.entries(step.produces)) {
          const src = source(spec);
          const found = readPath(body, src.path);
          if (found === undefined || found === null || found === '') {
            throw new InflowError(`the response has no ${src.path}${src.missing ? `: ${src.missing}` : ''}`);
          }
          produced[name] = typeof found === 'string' ? found : JSON.stringify(found);
        }
        Object.assign(outputs, produced);
        state.completed.push({ step: step.id, outputs: produced });
        await options.onState?.(structuredClone(state));
      } catch (error) {
        const cause = InflowError.isInstance(error) ? redactError(error, secrets) : error;
        throw redactError(new SetupStepError(step, i, structuredClone(state), cause), secrets);
      }
    }
    return { outputs, state, sent };
  }
}

/** Shorthand for `new SetupRunner(connector, client)`. */
export function setupRunner<C extends AnySourceConnector>(
  connector: C,
  client: FlowServiceClient,
): SetupRunner<C> {
  return new SetupRunner(connector, client);
}

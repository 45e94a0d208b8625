import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { InflowValidationError, type ValidationIssue } from '@inflow/core';
import { describe, expect, it } from 'vitest';
import { MappingExpressionError } from '../src/mapping/expression.js';
import {
  DEFAULT_SCHEMA_CONTENT_TYPE,
  type NormalizedMappingSet,
  normalizeMappingSet,
  parseXdmPath,
} from '../src/mapping/mapping-set.js';

const SCHEMA_ID = 'https://ns.adobe.com/{TENANT_ID}/schemas/89abc189258b1cb1a816d8f2b2341a6d98000ed8f4008305';
const FULL = 'application/vnd.adobe.xed-full+json;version=1';

/** The body of seed 004's `POST /conversion/mappingSets` curl, verbatim. */
function customerIoBody(): unknown {
  const seed = readFileSync(
    fileURLToPath(new URL('../../../fixtures/seeds/004_26329b1a04782839.txt', import.meta.url)),
    'utf8',
  );
  const match = /conversion\/mappingSets' \\[\s\S]*?-d '([\s\S]*?)'\n/.exec(seed);
  if (!match?.[1]) throw new Error('seed 004 has no POST /mappingSets body');
  return JSON.parse(match[1]);
}

function issuesOf(body: unknown): { message: string; issues: readonly ValidationIssue[] } {
  try {
    normalizeMappingSet(body);
  } catch (error) {
    if (InflowValidationError.isInstance(error)) return { message: error.message, issues: error.issues };
    throw error;
  }
  throw new Error('expected the mapping set to be rejected');
}

const current = (...mappings: unknown[]) => ({
  outputSchema: { schemaRef: { id: SCHEMA_ID, contentType: FULL } },
  mappings,
});

/** Mappings without their parsed expressions, for comparing the plain fields. */
const plain = (set: NormalizedMappingSet) => set.mappings.map(({ expression: _e, ...rest }) => rest);

describe('normalizeMappingSet: the current dialect', () => {
  it('the reference example, with both spellings filled and the sources parsed', () => {
    const set = normalizeMappingSet({
      outputSchema: { schemaRef: { id: SCHEMA_ID, contentType: FULL } },
      mappings: [
        {
          sourceType: 'ATTRIBUTE',
          source: 'id',
          destination: '_id',
          name: 'id',
          description: 'Identifier field',
        },
        { sourceType: 'ATTRIBUTE', source: 'firstName', destination: 'person.name.firstName' },
        { sourceType: 'ATTRIBUTE', source: 'lastName', destination: 'person.name.lastName' },
      ],
    });
    expect(set.outputSchema).toEqual({ schemaRef: { id: SCHEMA_ID, contentType: FULL } });
    expect(plain(set)).toEqual([
      {
        sourceType: 'ATTRIBUTE',
        source: 'id',
        destination: '_id',
        sourceAttribute: 'id',
        destinationXdmPath: '_id',
        name: 'id',
        description: 'Identifier field',
        identity: false,
      },
      {
        sourceType: 'ATTRIBUTE',
        source: 'firstName',
        destination: 'person.name.firstName',
        sourceAttribute: 'firstName',
        destinationXdmPath: 'person.name.firstName',
        identity: false,
      },
      {
        sourceType: 'ATTRIBUTE',
        source: 'lastName',
        destination: 'person.name.lastName',
        sourceAttribute: 'lastName',
        destinationXdmPath: 'person.name.lastName',
        identity: false,
      },
    ]);
    expect(set.mappings[1]?.expression).toEqual({
      kind: 'path',
      segments: [{ kind: 'field', name: 'firstName', start: 0, end: 9 }],
      start: 0,
      end: 9,
    });
  });

  it(`ATTRIBUTE paths with indexes, wildcards and \${}; EXPRESSION and STATIC sources`, () => {
    const set = normalizeMappingSet(
      current(
        { sourceType: 'ATTRIBUTE', source: 'customerInfo.emails[*].name', destination: 'pi[*].names' },
        {
          sourceType: 'ATTRIBUTE',
          source: 'customerInfo.emails[0].email',
          destination: 'personalEmail.address',
        },
        { sourceType: 'ATTRIBUTE', source: `\${First Name}`, destination: 'person.name.firstName' },
        {
          sourceType: 'EXPRESSION',
          source: 'concat(upper(lastName), upper(firstName), now())',
          destination: 'person.name.fullName',
        },
        { sourceType: 'STATIC', source: 'web.formFilledOut', destination: 'eventType' },
        { sourceType: 'STATIC', source: '', destination: 'person.name.middleName' },
      ),
    );
    const [wildcard, index, quoted, expression, fixed, empty] = set.mappings;
    expect(wildcard?.expression).toMatchObject({
      kind: 'path',
      segments: [{ name: 'customerInfo' }, { name: 'emails' }, { kind: 'wildcard' }, { name: 'name' }],
    });
    expect(wildcard?.destinationXdmPath).toBe('pi[*].names');
    expect(index?.expression).toMatchObject({
      segments: [{}, {}, { kind: 'index', index: 0 }, { name: 'email' }],
    });
    expect(quoted?.expression).toMatchObject({ kind: 'path', segments: [{ name: 'First Name' }] });
    expect(expression).toMatchObject({
      sourceType: 'EXPRESSION',
      sourceAttribute: 'concat(upper(lastName), upper(firstName), now())',
      expression: {
        kind: 'call',
        name: 'concat',
        args: [{ kind: 'call' }, { kind: 'call' }, { kind: 'call' }],
      },
    });
    expect(fixed).toMatchObject({
      sourceType: 'STATIC',
      source: 'web.formFilledOut',
      sourceAttribute: 'web.formFilledOut',
    });
    expect(fixed && 'expression' in fixed).toBe(false);
    expect(empty).toMatchObject({ sourceType: 'STATIC', source: '' });
  });

  it('a STATIC source is a value, never parsed', () => {
    const set = normalizeMappingSet(current({ sourceType: 'STATIC', source: 'concat(', destination: 'a' }));
    expect(set.mappings[0]).toMatchObject({ source: 'concat(', sourceType: 'STATIC' });
  });

  it('accepts the stored sourceType spellings (a GET body sent back)', () => {
    const set = normalizeMappingSet(
      current(
        { sourceType: 'text/x.schema-path', source: 'a.b', destination: 'x' },
        { sourceType: 'text/x.aep-xl', source: 'a + 1', destination: 'y' },
      ),
    );
    expect(set.mappings.map((m) => m.sourceType)).toEqual(['ATTRIBUTE', 'EXPRESSION']);
  });

  it('defaults the content type and ignores unknown top-level fields', () => {
    const set = normalizeMappingSet({
      outputSchema: { schemaRef: { id: SCHEMA_ID } },
      status: 'PUBLISHED',
      mappings: [{ source: 'a', destination: 'b' }],
    });
    expect(set.outputSchema.schemaRef.contentType).toBe(DEFAULT_SCHEMA_CONTENT_TYPE);
    expect(set.mappings[0]?.sourceType).toBe('ATTRIBUTE');
  });
});

describe('normalizeMappingSet: the legacy dialect', () => {
  it('the reference example', () => {
    const set = normalizeMappingSet({
      version: 0,
      xdmSchema: 'https://ns.adobe.com/{TENANT_ID}/schemas/995dabbea86d58e346ff91bd8aa741a9f36f29b1019138d4',
      xdmVersion: '1.0',
      id: null,
      mappings: [
        {
          destinationXdmPath: '_id',
          sourceAttribute: 'Id',
          identity: false,
          identityGroup: null,
          namespaceCode: null,
          version: 0,
        },
        {
          destinationXdmPath: 'person.name.firstName',
          sourceAttribute: 'FirstName',
          identity: false,
          identityGroup: null,
          namespaceCode: null,
          version: 0,
        },
      ],
    });
    expect(set.outputSchema).toEqual({
      schemaRef: {
        id: 'https://ns.adobe.com/{TENANT_ID}/schemas/995dabbea86d58e346ff91bd8aa741a9f36f29b1019138d4',
        contentType: 'application/vnd.adobe.xed-full+json;version=1',
      },
    });
    expect(plain(set)).toEqual([
      {
        sourceType: 'ATTRIBUTE',
        source: 'Id',
        destination: '_id',
        sourceAttribute: 'Id',
        destinationXdmPath: '_id',
        identity: false,
      },
      {
        sourceType: 'ATTRIBUTE',
        source: 'FirstName',
        destination: 'person.name.firstName',
        sourceAttribute: 'FirstName',
        destinationXdmPath: 'person.name.firstName',
        identity: false,
      },
    ]);
    expect(set.mappings[0]?.expression).toMatchObject({ kind: 'path', segments: [{ name: 'Id' }] });
  });

  it('keeps identity details and takes the major version for the content type', () => {
    const set = normalizeMappingSet({
      xdmSchema: SCHEMA_ID,
      xdmVersion: '2.3',
      mappings: [
        {
          sourceAttribute: 'email',
          destinationXdmPath: 'personalEmail.address',
          identity: true,
          identityGroup: 'g1',
          namespaceCode: 'Email',
        },
      ],
    });
    expect(set.outputSchema.schemaRef.contentType).toBe('application/vnd.adobe.xed-full+json;version=2');
    expect(set.mappings[0]).toMatchObject({ identity: true, namespaceCode: 'Email', identityGroup: 'g1' });
  });

  it('the Customer.io body (seed 004): outputSchema with legacy mappings', () => {
    const set = normalizeMappingSet(customerIoBody());
    expect(set.outputSchema).toEqual({
      schemaRef: {
        id: 'https://ns.adobe.com/{TENANT_ID}/schemas/945546112b746524bfd9f1264b26c2b7d8e7f5b7fadb953a',
        contentType: 'application/vnd.adobe.xed-full+json;version=1',
      },
    });
    expect(set.mappings.map((m) => [m.sourceAttribute, m.destinationXdmPath])).toEqual([
      ['data.identifiers.cio_id', '_extconndev.cio_id'],
      ['data.identifiers.email', '_extconndev.email'],
      ['event_id', '_extconndev.event_id0'],
      ['metric', '_extconndev.metricx'],
      ['object_type', '_extconndev.object_type1'],
      ['timestamp', '_extconndev.timestampx'],
    ]);
    for (const m of set.mappings) {
      expect(m).toMatchObject({ sourceType: 'ATTRIBUTE', identity: false });
      expect(m.source).toBe(m.sourceAttribute);
      expect(m.destination).toBe(m.destinationXdmPath);
      expect(m.expression?.kind).toBe('path');
    }
    expect(set.mappings[0]?.expression).toMatchObject({
      segments: [{ name: 'data' }, { name: 'identifiers' }, { name: 'cio_id' }],
    });
  });

  it('both spellings in one mapping are fine when they agree', () => {
    const set = normalizeMappingSet(
      current({ source: 'a', sourceAttribute: 'a', destination: 'b', destinationXdmPath: 'b' }),
    );
    expect(set.mappings[0]).toMatchObject({ source: 'a', destination: 'b' });
  });
});

describe('normalizeMappingSet rejections', () => {
  it.each([
    ['a string body', 'not json', '', 'must be a JSON object'],
    ['no mappings', { outputSchema: { schemaRef: { id: SCHEMA_ID } } }, 'mappings', 'is required'],
    ['empty mappings', current(), 'mappings', 'must have at least one mapping'],
    [
      'mappings not an array',
      { xdmSchema: SCHEMA_ID, mappings: {} },
      'mappings',
      'must be an array of mappings',
    ],
    [
      'a mapping that is not an object',
      { xdmSchema: SCHEMA_ID, mappings: ['a'] },
      'mappings.0',
      'must be an object',
    ],
    [
      'an unknown sourceType',
      current({ sourceType: 'FIELD', source: 'a', destination: 'b' }),
      'mappings.0.sourceType',
      'must be ATTRIBUTE, STATIC or EXPRESSION',
    ],
    ['a numeric source', current({ source: 5, destination: 'b' }), 'mappings.0.source', 'must be a string'],
    [
      'identity not a boolean',
      current({ source: 'a', destination: 'b', identity: 'yes' }),
      'mappings.0.identity',
      'must be true or false',
    ],
    [
      'an empty schema id',
      { outputSchema: { schemaRef: { id: '' } }, mappings: [{ source: 'a', destination: 'b' }] },
      'outputSchema.schemaRef.id',
      'must not be empty',
    ],
  ])('%s', (_name, body, path, message) => {
    const { issues } = issuesOf(body);
    expect(issues).toContainEqual({ path, message });
  });

  it('no output schema in either spelling', () => {
    expect(issuesOf({ mappings: [{ source: 'a', destination: 'b' }] }).issues).toEqual([
      { path: 'outputSchema.schemaRef.id', message: 'is required (or xdmSchema in the legacy form)' },
    ]);
  });

  it('xdmSchema that disagrees with outputSchema', () => {
    expect(
      issuesOf({ ...current({ source: 'a', destination: 'b' }), xdmSchema: 'https://other' }).issues,
    ).toEqual([{ path: 'xdmSchema', message: 'differs from outputSchema.schemaRef.id; send one of them' }]);
  });

  it('a mapping without a source or a destination', () => {
    expect(issuesOf(current({ destination: 'a' }, { source: 'b' })).issues).toEqual([
      { path: 'mappings.0.source', message: 'is required (source or sourceAttribute)' },
      { path: 'mappings.1.destination', message: 'is required (destination or destinationXdmPath)' },
    ]);
  });

  it('two spellings that disagree', () => {
    expect(
      issuesOf(current({ source: 'a', sourceAttribute: 'b', destination: 'x', destinationXdmPath: 'y' }))
        .issues,
    ).toEqual([
      { path: 'mappings.0.sourceAttribute', message: 'differs from source; send one of them' },
      { path: 'mappings.0.destinationXdmPath', message: 'differs from destination; send one of them' },
    ]);
  });

  it('an EXPRESSION that does not parse names the mapping, line and column', () => {
    const { message, issues } = issuesOf(
      current(
        { sourceType: 'ATTRIBUTE', source: 'a', destination: 'x' },
        { sourceType: 'ATTRIBUTE', source: 'b', destination: 'y' },
        { sourceType: 'EXPRESSION', source: 'concat(a, b, )', destination: 'z' },
      ),
    );
    expect(issues).toEqual([
      { path: 'mappings.2.source', message: 'unexpected ")" at 1:14: expected an expression' },
    ]);
    expect(message).toBe(
      'Invalid mapping set: mappings[2].source: unexpected ")" at 1:14: expected an expression',
    );
  });

  it('an EXPRESSION over 4096 characters', () => {
    const long = `concat(${Array.from({ length: 700 }, () => 'abcde').join(',')})`;
    expect(
      issuesOf(current({ sourceType: 'EXPRESSION', source: long, destination: 'z' })).issues[0]?.message,
    ).toMatch(/^expression too long at 1:4097: /);
  });

  it('an ATTRIBUTE source must be a plain path', () => {
    expect(
      issuesOf(
        current(
          { sourceType: 'ATTRIBUTE', source: 'concat(a, b)', destination: 'x' },
          { sourceType: 'ATTRIBUTE', source: '"literal"', destination: 'y' },
          { sourceType: 'ATTRIBUTE', source: 'a.b.equals("c")', destination: 'z' },
          { source: 'split(a, ",")[0]', destination: 'w' },
        ),
      ).issues.map((i) => [i.path, i.message.split(':')[0]]),
    ).toEqual([
      ['mappings.0.source', 'not a field path at 1'],
      ['mappings.1.source', 'not a field path at 1'],
      ['mappings.2.source', 'not a field path at 1'],
      ['mappings.3.source', 'not a field path at 1'],
    ]);
    expect(issuesOf(current({ source: '  a + b', destination: 'x' })).issues[0]?.message).toBe(
      `not a field path at 1:3: an ATTRIBUTE source is a path such as a.b[0].c or \${First Name}; use sourceType EXPRESSION for a calculated value`,
    );
  });

  it('an ATTRIBUTE source that does not parse, reported at the legacy key it came in', () => {
    expect(
      issuesOf({ xdmSchema: SCHEMA_ID, mappings: [{ sourceAttribute: 'a..b', destinationXdmPath: 'x' }] })
        .issues,
    ).toEqual([
      {
        path: 'mappings.0.sourceAttribute',
        message: 'unexpected "." at 1:3: expected a field or method name',
      },
    ]);
    expect(issuesOf(current({ source: 'if', destination: 'x' })).issues[0]?.message).toContain(
      `write \${if}`,
    );
  });

  it.each([
    ['person..name', 'unexpected "." at 1:8: expected a field name (letters, digits and _)'],
    ['person.name.', 'unexpected end of path at 1:13: expected a field name (letters, digits and _)'],
    ['', 'unexpected end of path at 1:1: expected a field name (letters, digits and _)'],
    ['pi[x].names', 'unexpected "x" at 1:4: expected an array index (a whole number) or * and then "]"'],
    ['pi[*', 'unexpected "*" at 1:4: expected an array index (a whole number) or * and then "]"'],
    ['1abc', 'unexpected "1" at 1:1: expected a field name (letters, digits and _)'],
    ['person name', 'unexpected " " at 1:7: expected "." or "[" or the end of the path'],
    ['person/name', 'unexpected "/" at 1:7: expected "." or "[" or the end of the path'],
  ])('destination %j', (destination, message) => {
    expect(issuesOf(current({ source: 'a', destination })).issues).toEqual([
      { path: 'mappings.0.destination', message },
    ]);
  });

  it('duplicate destinations', () => {
    const { issues, message } = issuesOf(
      current(
        { source: 'a', destination: 'person.name.firstName' },
        { source: 'b', destination: 'person.name.lastName' },
        { sourceType: 'STATIC', source: 'c', destination: 'person.name.firstName' },
      ),
    );
    expect(issues).toEqual([
      {
        path: 'mappings.2.destination',
        message: 'duplicate destination "person.name.firstName": mappings[0] already maps it',
      },
    ]);
    expect(message).toContain('mappings[2].destination: duplicate destination');
  });

  it('reports every problem at once', () => {
    const { issues, message } = issuesOf(
      current(
        { sourceType: 'EXPRESSION', source: 'a +', destination: 'x' },
        { source: 'b', destination: 'x..y' },
        { source: 'c' },
      ),
    );
    expect(issues.map((i) => i.path)).toEqual([
      'mappings.0.source',
      'mappings.1.destination',
      'mappings.2.destination',
    ]);
    expect(message.split('; ')).toHaveLength(3);
  });
});

describe('parseXdmPath', () => {
  it('fields, indexes and wildcards with spans', () => {
    expect(parseXdmPath('_tenant.field')).toEqual([
      { kind: 'field', name: '_tenant', start: 0, end: 7 },
      { kind: 'field', name: 'field', start: 8, end: 13 },
    ]);
    expect(parseXdmPath('pi[*].names')).toEqual([
      { kind: 'field', name: 'pi', start: 0, end: 2 },
      { kind: 'wildcard', start: 2, end: 5 },
      { kind: 'field', name: 'names', start: 6, end: 11 },
    ]);
    expect(
      parseXdmPath('identityMap.Email[0].id').map((s) => (s.kind === 'index' ? s.index : s.kind)),
    ).toEqual(['field', 'field', 0, 'field']);
    expect(parseXdmPath('a[1][*]')).toHaveLength(3);
  });

  it('throws MappingExpressionError', () => {
    expect(() => parseXdmPath('a.')).toThrow(MappingExpressionError);
  });
});

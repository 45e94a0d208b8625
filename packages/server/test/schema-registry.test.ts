import { Ajv } from 'ajv';
import { describe, expect, it } from 'vitest';
import {
  type CreateSchemaContext,
  compileXdmSchema,
  createTenantSchema,
  type JsonSchema,
  recordValidator,
  resolveSchemaFull,
  schemaIdMatches,
  XDM_ERRORS,
  XdmProblem,
  type XdmResource,
  type XdmSchemaRecord,
} from '../src/xdm/schema-registry.js';
import {
  EXPERIENCE_EVENT_CLASS,
  EXPERIENCE_EVENT_CLASS_ID,
  PROFILE_CLASS,
  PROFILE_CLASS_ID,
  STANDARD_CLASSES,
  standardClass,
} from '../src/xdm/xdm-classes.js';

const HASH = '945546112b746524bfd9f1264b26c2b7d8e7f5b7fadb953a';
const NOW = 1676627988129;
const SANDBOX_ID = '28e74200-e3de-11e9-8f5d-7f27416c5f0d';
const FIELD_GROUP_ID =
  'https://ns.adobe.com/extconndev/mixins/8779fd45d6e4eb074300023a439862bbba359b60d451627a';
const DATA_TYPE_ID = 'https://ns.adobe.com/extconndev/datatypes/5b6a6c1f11f1c0d9d2c3a5a8b2a1e0f4';

/** The Customer.io field group as the reference's field-group example shapes it (§13.1). */
const propertyFieldGroup: XdmResource = {
  $id: FIELD_GROUP_ID,
  'meta:altId': '_extconndev.mixins.8779fd45d6e4eb074300023a439862bbba359b60d451627a',
  'meta:resourceType': 'mixins',
  title: 'Property Details',
  type: 'object',
  'meta:intendedToExtend': [PROFILE_CLASS_ID],
  'meta:containerId': 'tenant',
  definitions: {
    property: {
      properties: {
        _extconndev: {
          type: 'object',
          properties: {
            propertyName: { type: 'string', title: 'Property Name', description: 'Name of the property' },
            propertyType: {
              type: 'string',
              title: 'Property Type',
              enum: ['retail', 'yoga', 'fitness'],
              'meta:enum': { retail: 'Retail Store', yoga: 'Yoga Studio', fitness: 'Fitness Center' },
            },
          },
        },
      },
    },
  },
  allOf: [{ $ref: '#/definitions/property' }],
};

const addressDataType: XdmResource = {
  $id: DATA_TYPE_ID,
  'meta:resourceType': 'datatypes',
  title: 'Postal address',
  type: 'object',
  properties: { city: { type: 'string' }, postalCode: { type: 'string', pattern: '^[0-9]{5}$' } },
};

const anotherSchema: XdmResource = {
  $id: 'https://ns.adobe.com/extconndev/schemas/0000',
  'meta:resourceType': 'schemas',
  title: 'Other schema',
};

const eventOnlyFieldGroup: XdmResource = {
  ...propertyFieldGroup,
  $id: 'https://ns.adobe.com/extconndev/mixins/ee-only',
  title: 'Event only',
  'meta:intendedToExtend': [EXPERIENCE_EVENT_CLASS_ID],
};

const tenantResources = new Map(
  [propertyFieldGroup, addressDataType, anotherSchema, eventOnlyFieldGroup].map((r) => [r.$id, r]),
);
const resolveRef = (id: string) => tenantResources.get(id);

function context(overrides: Partial<CreateSchemaContext> = {}): CreateSchemaContext {
  return {
    tenantId: 'extconndev',
    orgId: '{ORG_ID}@AdobeOrg',
    sandboxId: SANDBOX_ID,
    sandboxType: 'production',
    clientId: 'client-1',
    now: NOW,
    newHash: () => HASH,
    resolveRef,
    titleTaken: () => false,
    ...overrides,
  };
}

const CIO_FIELDS = ['cio_id', 'email', 'event_id0', 'metricx', 'object_type1', 'timestampx'];

/** The Customer.io tutorial's target: ExperienceEvent plus string fields under `_extconndev`. */
function customerIoBody(fields: Record<string, JsonSchema> = {}): Record<string, unknown> {
  return {
    type: 'object',
    title: 'Customer.io webhook events',
    description: 'Target schema for the Customer.io streaming source',
    allOf: [{ $ref: EXPERIENCE_EVENT_CLASS_ID }, { $ref: '#/definitions/customerio' }],
    definitions: {
      customerio: {
        properties: {
          _extconndev: {
            type: 'object',
            'meta:xdmType': 'object',
            properties: Object.fromEntries([
              ...CIO_FIELDS.map((name) => [name, { type: 'string', title: name }]),
              ...Object.entries(fields),
            ]),
          },
        },
      },
    },
  };
}

function problemOf(fn: () => unknown): XdmProblem {
  try {
    fn();
  } catch (error) {
    if (XdmProblem.isInstance(error)) return error;
    throw error;
  }
  throw new Error('expected an XdmProblem');
}

const sampleEvent = () => ({
  _id: 'b7d2c0e4-1f0a-4d6b-9a51-2d6f1c3e7a90',
  timestamp: '2023-02-17T09:59:48Z',
  _extconndev: {
    cio_id: 'd9c106000001',
    email: 'cool.person@example.com',
    event_id0: '01E4C4C6P79C12J5A6KPE6XNFD',
    metricx: 'subscribed',
    object_type1: 'customer',
    timestampx: '1613063089',
  },
});

describe('the standard classes', () => {
  it('profile and experience event, by $id, meta:altId and URL-encoded $id', () => {
    expect(standardClass(PROFILE_CLASS_ID)).toBe(PROFILE_CLASS);
    expect(standardClass('_xdm.context.experienceevent')).toBe(EXPERIENCE_EVENT_CLASS);
    expect(standardClass(encodeURIComponent(EXPERIENCE_EVENT_CLASS_ID))).toBe(EXPERIENCE_EVENT_CLASS);
    expect(standardClass('https://ns.adobe.com/xdm/context/nope')).toBeUndefined();
    expect(STANDARD_CLASSES.size).toBe(4);
  });

  it('are read-only global classes with the registry annotations', () => {
    for (const cls of [PROFILE_CLASS, EXPERIENCE_EVENT_CLASS]) {
      expect(cls).toMatchObject({
        'meta:resourceType': 'classes',
        'meta:containerId': 'global',
        type: 'object',
      });
      expect(cls.title).toMatch(/^XDM /);
      expect(Object.isFrozen(cls)).toBe(true);
      expect(Object.isFrozen(cls.properties)).toBe(true);
    }
    expect(PROFILE_CLASS['meta:extends']).toEqual([
      'https://ns.adobe.com/xdm/common/auditable',
      'https://ns.adobe.com/xdm/data/record',
    ]);
    expect(EXPERIENCE_EVENT_CLASS.required).toEqual(['_id', 'timestamp']);
    expect(EXPERIENCE_EVENT_CLASS.properties.timestamp).toMatchObject({
      type: 'string',
      format: 'date-time',
    });
    expect(Object.keys(PROFILE_CLASS.properties)).toEqual(
      expect.arrayContaining(['_id', 'identityMap', 'person', 'personalEmail', 'workEmail', 'mobilePhone']),
    );
  });

  it('compile as JSON Schema and validate real records', () => {
    const profile = recordValidator(PROFILE_CLASS);
    expect(
      profile({
        _id: 'p1',
        identityMap: { Email: [{ id: 'a@b.co', primary: true }] },
        person: {
          name: { firstName: 'Ada', lastName: 'Lovelace' },
          birthDate: '1815-12-10',
          gender: 'female',
        },
        workEmail: { address: 'ada@example.com', primary: true, type: 'work', status: 'active' },
        mobilePhone: { number: '+44 20 7946 0000' },
      }),
    ).toEqual([]);
    expect(profile({ person: { birthDate: '1815-02-30' }, identityMap: { Email: [{ id: 5 }] } })).toEqual([
      'identityMap.Email.0.id must be string',
      'person.birthDate must match format "date"',
    ]);
    expect(recordValidator(EXPERIENCE_EVENT_CLASS)({ _id: 'e1' })).toEqual(['timestamp is required']);
  });
});

describe('createTenantSchema: the Customer.io target schema', () => {
  it('returns the stored record, which is the 201 body', () => {
    const record = createTenantSchema(customerIoBody(), context({ userId: 'user-1' }));
    expect(record).toEqual({
      $id: `https://ns.adobe.com/extconndev/schemas/${HASH}`,
      'meta:altId': `_extconndev.schemas.${HASH}`,
      'meta:resourceType': 'schemas',
      version: '1.0',
      title: 'Customer.io webhook events',
      type: 'object',
      description: 'Target schema for the Customer.io streaming source',
      definitions: customerIoBody().definitions,
      allOf: [
        { $ref: EXPERIENCE_EVENT_CLASS_ID, type: 'object', 'meta:xdmType': 'object' },
        { $ref: '#/definitions/customerio', type: 'object', 'meta:xdmType': 'object' },
      ],
      refs: [EXPERIENCE_EVENT_CLASS_ID],
      imsOrg: '{ORG_ID}@AdobeOrg',
      'meta:extensible': false,
      'meta:abstract': false,
      'meta:extends': [
        'https://ns.adobe.com/xdm/data/time-series',
        'https://ns.adobe.com/xdm/context/identitymap',
        EXPERIENCE_EVENT_CLASS_ID,
      ],
      'meta:xdmType': 'object',
      'meta:registryMetadata': {
        'repo:createdDate': NOW,
        'repo:lastModifiedDate': NOW,
        'xdm:createdClientId': 'client-1',
        'xdm:lastModifiedClientId': 'client-1',
        'xdm:createdUserId': 'user-1',
        'xdm:lastModifiedUserId': 'user-1',
        eTag: expect.stringMatching(/^[0-9a-f]{64}$/),
      },
      'meta:class': EXPERIENCE_EVENT_CLASS_ID,
      'meta:containerId': 'tenant',
      'meta:sandboxId': SANDBOX_ID,
      'meta:sandboxType': 'production',
      'meta:tenantNamespace': '_extconndev',
      required: ['@id', 'xdm:timestamp'],
    });
  });

  it('the eTag follows the content', () => {
    const a = createTenantSchema(customerIoBody(), context());
    const b = createTenantSchema(customerIoBody(), context());
    const c = createTenantSchema({ ...customerIoBody(), description: 'changed' }, context());
    expect(a['meta:registryMetadata'].eTag).toBe(b['meta:registryMetadata'].eTag);
    expect(c['meta:registryMetadata'].eTag).not.toBe(a['meta:registryMetadata'].eTag);
  });

  it('resolves to the xed-full view: one properties object, tenant fields under _extconndev', () => {
    const record = createTenantSchema(customerIoBody(), context());
    const full = resolveSchemaFull(record, resolveRef);
    expect(full).not.toHaveProperty('allOf');
    expect(full).not.toHaveProperty('definitions');
    expect(full).not.toHaveProperty('refs');
    expect(full).toMatchObject({
      $id: record.$id,
      'meta:altId': record['meta:altId'],
      'meta:class': EXPERIENCE_EVENT_CLASS_ID,
      type: 'object',
      required: ['_id', 'timestamp'],
    });
    const properties = full.properties as Record<string, JsonSchema>;
    expect(Object.keys(properties).sort()).toEqual(
      ['_extconndev', '_id', 'eventType', 'identityMap', 'producedBy', 'timestamp', 'web'].sort(),
    );
    expect(properties._extconndev).toMatchObject({ type: 'object' });
    const custom = properties._extconndev?.properties as Record<string, JsonSchema>;
    expect(Object.keys(custom)).toEqual(CIO_FIELDS);
    for (const name of CIO_FIELDS) expect(custom[name]).toEqual({ type: 'string', title: name });
    expect(properties.timestamp).toMatchObject({ type: 'string', format: 'date-time' });
  });

  it('compiles with ajv and validates a sample event; wrong types and missing fields fail', () => {
    const full = resolveSchemaFull(createTenantSchema(customerIoBody(), context()), resolveRef);
    const validate = recordValidator(full);
    expect(validate(sampleEvent())).toEqual([]);

    const wrongType = sampleEvent();
    (wrongType._extconndev as Record<string, unknown>).email = 42;
    expect(validate(wrongType)).toEqual(['_extconndev.email must be string']);

    const { timestamp: _t, ...noTimestamp } = sampleEvent();
    expect(validate(noTimestamp)).toEqual(['timestamp is required']);
    expect(validate({ ...sampleEvent(), timestamp: '2023-02-17 25:00:00Z' })).toEqual([
      'timestamp must match format "date-time"',
    ]);
    expect(validate({ ...sampleEvent(), timestamp: '2023-02-17T09:59:48.123+01:00' })).toEqual([]);
    expect(validate('not an object')).toEqual(['(record) must be object']);
  });

  it('is plain draft-07: a stock ajv compiles it and agrees', () => {
    const full = resolveSchemaFull(createTenantSchema(customerIoBody(), context()), resolveRef);
    const stock = new Ajv({ strict: false, validateFormats: false }).compile(full);
    expect(stock(sampleEvent())).toBe(true);
    expect(stock({ ...sampleEvent(), _extconndev: { email: ['x'] } })).toBe(false);
    expect(stock.errors?.[0]).toMatchObject({ instancePath: '/_extconndev/email', keyword: 'type' });
  });

  it('takes field groups meant for the class, merging their tenant fields with the inline ones', () => {
    const body = {
      ...customerIoBody(),
      allOf: [...(customerIoBody().allOf as object[]), { $ref: eventOnlyFieldGroup.$id }],
    };
    const record = createTenantSchema(body, context());
    expect(record.refs).toEqual([EXPERIENCE_EVENT_CLASS_ID, eventOnlyFieldGroup.$id]);
    expect(record['meta:extends']).toContain(eventOnlyFieldGroup.$id);
    const full = resolveSchemaFull(record, resolveRef);
    const tenant = (full.properties as Record<string, JsonSchema>)._extconndev as JsonSchema;
    expect(Object.keys(tenant.properties as object)).toEqual([...CIO_FIELDS, 'propertyName', 'propertyType']);
  });

  it('keeps meta:immutableTags and leaves no state behind in the shared ajv', () => {
    const record = createTenantSchema({ ...customerIoBody(), 'meta:immutableTags': ['union'] }, context());
    expect(record['meta:immutableTags']).toEqual(['union']);
    // Compiling two schemas with the same $id must not collide.
    const full = resolveSchemaFull(record, resolveRef);
    expect(() => compileXdmSchema(full)).not.toThrow();
    expect(() => compileXdmSchema({ ...full })).not.toThrow();
  });
});

describe('createTenantSchema: a profile schema with a tenant field group', () => {
  const body = {
    type: 'object',
    title: 'Loyalty Members',
    description: 'Profiles with property details',
    allOf: [{ $ref: PROFILE_CLASS_ID }, { $ref: FIELD_GROUP_ID }, { $ref: '#/definitions/loyalty' }],
    definitions: {
      loyalty: {
        properties: {
          _extconndev: {
            type: 'object',
            properties: {
              loyaltyId: { type: 'string' },
              points: { type: 'integer', minimum: 0 },
              homeAddress: { $ref: DATA_TYPE_ID },
            },
            required: ['loyaltyId'],
          },
          person: {
            type: 'object',
            properties: { _extconndev: { type: 'object', properties: { nickname: { type: 'string' } } } },
          },
        },
      },
    },
  };

  it('records the class, field group and lineage; no required fields for a profile', () => {
    const record = createTenantSchema(body, context({ sandboxType: undefined }));
    expect(record.refs).toEqual([PROFILE_CLASS_ID, FIELD_GROUP_ID]);
    expect(record['meta:extends']).toEqual([
      'https://ns.adobe.com/xdm/common/auditable',
      'https://ns.adobe.com/xdm/data/record',
      PROFILE_CLASS_ID,
      FIELD_GROUP_ID,
    ]);
    expect(record['meta:class']).toBe(PROFILE_CLASS_ID);
    expect(record).not.toHaveProperty('required');
    expect(record).not.toHaveProperty('meta:sandboxType');
    expect(record['meta:registryMetadata']).not.toHaveProperty('xdm:createdUserId');
  });

  it('merges class, field group, inline definition and data type into the full view', () => {
    const full = resolveSchemaFull(createTenantSchema(body, context()), resolveRef);
    const properties = full.properties as Record<string, JsonSchema>;
    expect(full).not.toHaveProperty('required');
    const tenant = properties._extconndev as JsonSchema;
    expect(Object.keys(tenant.properties as object).sort()).toEqual(
      ['homeAddress', 'loyaltyId', 'points', 'propertyName', 'propertyType'].sort(),
    );
    expect(tenant.required).toEqual(['loyaltyId']);
    expect((tenant.properties as Record<string, JsonSchema>).homeAddress).toMatchObject({
      type: 'object',
      title: 'Postal address',
      properties: { city: { type: 'string' }, postalCode: { type: 'string', pattern: '^[0-9]{5}$' } },
    });
    const person = properties.person as JsonSchema;
    expect(Object.keys(person.properties as object)).toEqual(['name', 'birthDate', 'gender', '_extconndev']);

    const validate = recordValidator(full);
    expect(
      validate({
        _id: 'p1',
        person: { name: { firstName: 'Ada' }, _extconndev: { nickname: 'A' } },
        _extconndev: {
          loyaltyId: 'L1',
          points: 10,
          propertyType: 'yoga',
          homeAddress: { postalCode: '12345' },
        },
      }),
    ).toEqual([]);
    expect(
      validate({ _extconndev: { propertyType: 'gym', points: -1, homeAddress: { postalCode: 'x' } } }),
    ).toEqual([
      '_extconndev.loyaltyId is required',
      '_extconndev.propertyType must be equal to one of the allowed values (retail, yoga, fitness)',
      '_extconndev.points must be >= 0',
      '_extconndev.homeAddress.postalCode must match pattern "^[0-9]{5}$"',
    ]);
  });

  it('an unknown ref found only when resolving a stored record is a 404', () => {
    const record = createTenantSchema(body, context());
    const problem = problemOf(() => resolveSchemaFull(record, () => undefined));
    expect([problem.code, problem.status]).toEqual(['XDM-1010-404', 404]);
  });
});

describe('createTenantSchema rejections', () => {
  type Case = [
    name: string,
    body: unknown,
    code: string,
    detail: string | RegExp,
    ctx?: Partial<CreateSchemaContext>,
  ];
  const { title: _title, ...untitled } = customerIoBody();
  const { description: _d, ...undescribed } = customerIoBody();
  const definitionsOnly = { ...customerIoBody(), allOf: [{ $ref: '#/definitions/customerio' }] };
  const twoClasses = {
    ...customerIoBody(),
    allOf: [{ $ref: EXPERIENCE_EVENT_CLASS_ID }, { $ref: PROFILE_CLASS_ID }],
  };
  const withField = (field: string, schema: JsonSchema) => {
    const body = customerIoBody();
    ((body.definitions as JsonSchema).customerio as JsonSchema).properties = {
      ...(((body.definitions as JsonSchema).customerio as JsonSchema).properties as JsonSchema),
      [field]: schema,
    };
    return body;
  };
  const cases: Case[] = [
    ['a body that is not an object', 'schema', 'XDM-1000-400', '(body) must be a JSON object'],
    ['a missing title', untitled, 'XDM-1000-400', 'title is required'],
    ['a blank title', { ...customerIoBody(), title: '  ' }, 'XDM-1000-400', 'title must not be empty'],
    ['a missing description', undescribed, 'XDM-1000-400', 'description is required'],
    [
      'type other than object',
      { ...customerIoBody(), type: 'array' },
      'XDM-1000-400',
      'type must be "object"',
    ],
    ['no allOf', { ...customerIoBody(), allOf: undefined }, 'XDM-1000-400', 'allOf is required'],
    ['an empty allOf', { ...customerIoBody(), allOf: [] }, 'XDM-1000-400', 'allOf must reference one class'],
    [
      'an allOf entry without $ref',
      { ...customerIoBody(), allOf: [{ properties: {} }] },
      'XDM-1000-400',
      'allOf.0.$ref is required',
    ],
    [
      'no class',
      definitionsOnly,
      'XDM-1000-400',
      'allOf has no class: add one, e.g. {"$ref": "https://ns.adobe.com/xdm/context/experienceevent"}',
    ],
    [
      'two classes',
      twoClasses,
      'XDM-1000-400',
      `allOf has 2 classes (${EXPERIENCE_EVENT_CLASS_ID}, ${PROFILE_CLASS_ID}); a schema has exactly one`,
    ],
    [
      'an unknown ref',
      {
        ...customerIoBody(),
        allOf: [{ $ref: EXPERIENCE_EVENT_CLASS_ID }, { $ref: 'https://ns.adobe.com/extconndev/mixins/nope' }],
      },
      'XDM-1010-404',
      'The requested resource https://ns.adobe.com/extconndev/mixins/nope (allOf.1) with version 1 is not found.',
    ],
    [
      'an unknown class',
      { ...customerIoBody(), allOf: [{ $ref: 'https://ns.adobe.com/xdm/context/nope' }] },
      'XDM-1010-404',
      'The requested resource https://ns.adobe.com/xdm/context/nope (allOf.0) with version 1 is not found.',
    ],
    [
      'a definition ref that is not in the body',
      { ...customerIoBody(), allOf: [{ $ref: EXPERIENCE_EVENT_CLASS_ID }, { $ref: '#/definitions/nope' }] },
      'XDM-1000-400',
      "allOf.1.$ref #/definitions/nope does not name one of the body's definitions (#/definitions/<name>)",
    ],
    [
      'a ref to a schema',
      { ...customerIoBody(), allOf: [{ $ref: EXPERIENCE_EVENT_CLASS_ID }, { $ref: anotherSchema.$id }] },
      'XDM-1000-400',
      `allOf.1 references ${anotherSchema.$id}, a schemas; a schema is one class plus field groups`,
    ],
    [
      'a field group meant for another class',
      { ...customerIoBody(), allOf: [{ $ref: EXPERIENCE_EVENT_CLASS_ID }, { $ref: FIELD_GROUP_ID }] },
      'XDM-1000-400',
      `field group ${FIELD_GROUP_ID} extends ${PROFILE_CLASS_ID}, not the class ${EXPERIENCE_EVENT_CLASS_ID}`,
    ],
    [
      'a custom field outside the tenant namespace',
      withField('loyaltyId', { type: 'string' }),
      'XDM-1021-400',
      'A custom field is defined under an invalid namespace: loyaltyId (in definitions.customerio). All custom fields must be defined under a top-level field named _extconndev.',
    ],
    [
      'a custom field inside a standard object but outside the namespace',
      withField('web', { type: 'object', properties: { hobby: { type: 'string' } } }),
      'XDM-1021-400',
      'A custom field is defined under an invalid namespace: web.hobby (in definitions.customerio). All custom fields must be defined under a top-level field named _extconndev.',
    ],
    [
      "another tenant's namespace",
      withField('_othertenant', { type: 'object', properties: { a: { type: 'string' } } }),
      'XDM-1021-400',
      /invalid namespace: _othertenant \(in definitions\.customerio\)/,
    ],
    [
      'an underscore field name under the namespace',
      customerIoBody({ _secret: { type: 'string' } }),
      'XDM-1021-400',
      'Field names may not start with an underscore: _extconndev._secret (in definitions.customerio); only the namespace _extconndev does.',
    ],
    [
      'a property whose type is not a JSON Schema type',
      customerIoBody({ email: { type: 'strnig' } }),
      'XDM-1000-400',
      'definitions.customerio.properties._extconndev.properties.email.type must be equal to one of the allowed values (array, boolean, integer, null, number, object, string)',
    ],
    [
      'required that is not an array',
      (() => {
        const body = customerIoBody();
        const tenant = (((body.definitions as JsonSchema).customerio as JsonSchema).properties as JsonSchema)
          ._extconndev as JsonSchema;
        tenant.required = 'cio_id';
        return body;
      })(),
      'XDM-1000-400',
      'definitions.customerio.properties._extconndev.required must be array',
    ],
    [
      'a negative maxLength',
      customerIoBody({ code: { type: 'string', maxLength: -1 } }),
      'XDM-1000-400',
      'definitions.customerio.properties._extconndev.properties.code.maxLength must be >= 0',
    ],
    [
      'an invalid regular expression',
      customerIoBody({ code: { type: 'string', pattern: '(' } }),
      'XDM-1000-400',
      'definitions.customerio.properties._extconndev.properties.code.pattern: Invalid regular expression: /(/u: Unterminated group',
    ],
    [
      'a pattern that backtracks exponentially (a group repeated without bound, repeating inside)',
      customerIoBody({ code: { type: 'string', pattern: '^(a+)+$' } }),
      'XDM-1000-400',
      /^definitions\.customerio\.properties\._extconndev\.properties\.code\.pattern: the group \(a\+\) repeats and can match the same text in many ways .*exponential time/,
    ],
    [
      'array items of an unknown type (the deepest error is the one reported)',
      customerIoBody({ tags: { type: 'array', items: { type: 'nope' } } }),
      'XDM-1000-400',
      'definitions.customerio.properties._extconndev.properties.tags.items.type must be equal to one of the allowed values (array, boolean, integer, null, number, object, string)',
    ],
    [
      'an unknown keyword',
      customerIoBody({ code: { type: 'string', titel: 'Code' } }),
      'XDM-1000-400',
      'definitions.customerio.properties._extconndev.properties.code: unknown keyword "titel"',
    ],
    [
      'an unknown format',
      customerIoBody({ code: { type: 'string', format: 'zipcode' } }),
      'XDM-1000-400',
      /^definitions\.customerio\.properties\._extconndev\.properties\.code\.format: unknown format "zipcode" \(use date, date-time, /,
    ],
    [
      'a standard field redefined with another type',
      withField('timestamp', { type: 'integer' }),
      'XDM-1413-400',
      'Cannot merge incompatible data types. The path /timestamp has already been defined using a different data type. Types: string, integer',
    ],
    [
      'circular definitions',
      {
        ...customerIoBody(),
        allOf: [{ $ref: EXPERIENCE_EVENT_CLASS_ID }, { $ref: '#/definitions/a' }],
        definitions: {
          a: { allOf: [{ $ref: '#/definitions/b' }] },
          b: { allOf: [{ $ref: '#/definitions/a' }] },
        },
      },
      'XDM-1000-400',
      'circular $ref: #/definitions/b → #/definitions/a → #/definitions/b',
    ],
    [
      'a duplicate title',
      customerIoBody(),
      'XDM-1521-400',
      /^Object titles must be unique\. .*"Customer\.io webhook events"$/,
      {
        titleTaken: (title) => title === 'Customer.io webhook events',
      },
    ],
  ];

  it.each(cases)('%s', (_name, body, code, detail, ctx) => {
    const problem = problemOf(() => createTenantSchema(body, context(ctx)));
    expect(problem.code).toBe(code);
    expect(problem.status).toBe(Number(code.slice(-3)));
    if (typeof detail === 'string') expect(problem.detail).toBe(detail);
    else expect(problem.detail).toMatch(detail);
  });

  it('the title is checked against the org and sandbox through the context', () => {
    const asked: string[] = [];
    const titleTaken = (title: string) => {
      asked.push(title);
      return false;
    };
    createTenantSchema(customerIoBody(), context({ titleTaken }));
    expect(asked).toEqual(['Customer.io webhook events']);
  });
});

describe('XdmProblem', () => {
  it("body() is the registry's error shape", () => {
    const problem = new XdmProblem(XDM_ERRORS.titleNotUnique, 'Object titles must be unique.');
    expect(problem.body('req-1', Date.UTC(2021, 5, 1, 4, 11, 6))).toEqual({
      type: 'http://ns.adobe.com/aep/errors/XDM-1521-400',
      title: 'Title not unique',
      status: 400,
      report: {
        registryRequestId: 'req-1',
        timestamp: '06-01-2021 04:11:06',
        'detailed-message': 'Object titles must be unique.',
        'sub-errors': [],
      },
      detail: 'Object titles must be unique.',
    });
    expect(problem.message).toBe('XDM-1521-400 Title not unique: Object titles must be unique.');
    expect(new XdmProblem(XDM_ERRORS.notFound, 'x').status).toBe(404);
    expect(XdmProblem.isInstance(problem)).toBe(true);
    expect(XdmProblem.isInstance(new Error('x'))).toBe(false);
  });
});

describe('schemaIdMatches', () => {
  const record = createTenantSchema(customerIoBody(), context()) as XdmSchemaRecord;

  it.each([
    [record.$id, true],
    [record['meta:altId'], true],
    [encodeURIComponent(record.$id), true],
    [encodeURIComponent(record['meta:altId']), true],
    [`https://ns.adobe.com/extconndev/schemas/${HASH.slice(1)}`, false],
    [`_extconndev.schemas.${HASH}x`, false],
    ['%E0%A4%A', false],
  ])('%s → %s', (id, expected) => {
    expect(schemaIdMatches(id, record)).toBe(expected);
  });
});

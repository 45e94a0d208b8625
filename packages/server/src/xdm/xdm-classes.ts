/**
 * The standard XDM classes Inflow ships (global container, read-only): small but real JSON Schema
 * (draft-07) documents in the registry's raw `xed` shape. Field names are the ones records carry
 * (`_id`, `timestamp`, `person`); `meta:xdmField` gives each standard field's JSON-LD name, which is
 * what a schema's raw `required` lists (`@id`, `xdm:timestamp`, reference §13.1).
 */

/** A JSON Schema draft-07 document (or subschema), with XDM `meta:*` annotations. */
export type JsonSchema = Record<string, unknown>;

/**
 * Any Schema Registry resource as stored and served in the raw `xed` view: a class, a field group
 * (`meta:resourceType: 'mixins'`), a data type or a schema.
 */
export interface XdmResource {
  $id: string;
  'meta:altId'?: string;
  'meta:resourceType'?: 'classes' | 'mixins' | 'datatypes' | 'schemas' | (string & {});
  title?: string;
  type?: string;
  properties?: Record<string, JsonSchema>;
  definitions?: Record<string, JsonSchema>;
  allOf?: JsonSchema[];
  required?: string[];
  'meta:extends'?: string[];
  /** For field groups: the classes (or behaviours) they may be added to. */
  'meta:intendedToExtend'?: string[];
  [key: string]: unknown;
}

/** A standard class: a resource with its own `properties`, in the global container. */
export interface XdmClass extends XdmResource {
  'meta:resourceType': 'classes';
  'meta:containerId': 'global';
  'meta:altId': string;
  title: string;
  type: 'object';
  properties: Record<string, JsonSchema>;
  'meta:extends': string[];
}

export const PROFILE_CLASS_ID = 'https://ns.adobe.com/xdm/context/profile';
export const EXPERIENCE_EVENT_CLASS_ID = 'https://ns.adobe.com/xdm/context/experienceevent';

const str = (title: string, extra: JsonSchema = {}): JsonSchema => ({
  title,
  type: 'string',
  'meta:xdmType': 'string',
  ...extra,
});
const bool = (title: string): JsonSchema => ({ title, type: 'boolean', 'meta:xdmType': 'boolean' });
const obj = (title: string, properties: Record<string, JsonSchema>, extra: JsonSchema = {}): JsonSchema => ({
  title,
  type: 'object',
  'meta:xdmType': 'object',
  properties,
  ...extra,
});

const id = (): JsonSchema =>
  str('Identifier', {
    description: 'A unique identifier for the record or event.',
    'meta:xdmField': '@id',
  });

const identityMap = (): JsonSchema => ({
  title: 'Identity Map',
  description: 'Identities of the subject by namespace code: {"Email": [{"id": "a@b.c", "primary": true}]}.',
  type: 'object',
  'meta:xdmType': 'map',
  'meta:xdmField': 'xdm:identityMap',
  additionalProperties: {
    type: 'array',
    items: obj('Identity', {
      id: str('Identifier'),
      authenticatedState: str('Authenticated state', {
        enum: ['ambiguous', 'authenticated', 'loggedOut'],
        default: 'ambiguous',
      }),
      primary: bool('Primary'),
    }),
  },
});

const emailAddress = (title: string, xdmField: string): JsonSchema =>
  obj(
    title,
    {
      address: str('Address', { format: 'email' }),
      primary: bool('Primary'),
      type: str('Type'),
      label: str('Label'),
      status: str('Status', { enum: ['active', 'incomplete', 'blacklisted', 'blocked'] }),
    },
    { 'meta:xdmField': xdmField },
  );

const deepFreeze = <T>(value: T): T => {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
};

/** XDM Individual Profile: record behaviour (one row per person, upserted). */
export const PROFILE_CLASS: XdmClass = deepFreeze({
  $id: PROFILE_CLASS_ID,
  'meta:altId': '_xdm.context.profile',
  'meta:resourceType': 'classes',
  version: '1.0',
  title: 'XDM Individual Profile',
  type: 'object',
  description: 'The attributes and identities of one person, merged across sources.',
  'meta:extensible': true,
  'meta:abstract': false,
  'meta:extends': ['https://ns.adobe.com/xdm/common/auditable', 'https://ns.adobe.com/xdm/data/record'],
  'meta:xdmType': 'object',
  'meta:containerId': 'global',
  properties: {
    _id: id(),
    identityMap: identityMap(),
    person: obj(
      'Person',
      {
        name: obj('Full name', {
          firstName: str('First name'),
          middleName: str('Middle name'),
          lastName: str('Last name'),
          fullName: str('Full name'),
        }),
        birthDate: str('Birth date', { format: 'date' }),
        gender: str('Gender', { enum: ['male', 'female', 'not_specified', 'non_specific'] }),
      },
      { 'meta:xdmField': 'xdm:person' },
    ),
    personalEmail: emailAddress('Personal email', 'xdm:personalEmail'),
    workEmail: emailAddress('Work email', 'xdm:workEmail'),
    mobilePhone: obj(
      'Mobile phone',
      { number: str('Number'), primary: bool('Primary') },
      { 'meta:xdmField': 'xdm:mobilePhone' },
    ),
  },
});

/** XDM ExperienceEvent: time-series behaviour (one immutable row per event); `_id` and `timestamp` required. */
export const EXPERIENCE_EVENT_CLASS: XdmClass = deepFreeze({
  $id: EXPERIENCE_EVENT_CLASS_ID,
  'meta:altId': '_xdm.context.experienceevent',
  'meta:resourceType': 'classes',
  version: '1.0',
  title: 'XDM ExperienceEvent',
  type: 'object',
  description: 'A fact about what happened at a point in time: a page view, a purchase, an email open.',
  'meta:extensible': true,
  'meta:abstract': false,
  'meta:extends': [
    'https://ns.adobe.com/xdm/data/time-series',
    'https://ns.adobe.com/xdm/context/identitymap',
  ],
  'meta:xdmType': 'object',
  'meta:containerId': 'global',
  properties: {
    _id: id(),
    timestamp: str('Timestamp', {
      description: 'When the event happened (RFC 3339).',
      format: 'date-time',
      'meta:xdmType': 'date-time',
      'meta:xdmField': 'xdm:timestamp',
    }),
    eventType: str('Event Type', { 'meta:xdmField': 'xdm:eventType' }),
    producedBy: str('Produced by', { 'meta:xdmField': 'xdm:producedBy' }),
    identityMap: identityMap(),
    web: obj(
      'Web',
      {
        webPageDetails: obj('Web page details', {
          name: str('Name'),
          URL: str('URL', { format: 'uri' }),
        }),
        webReferrer: obj('Web referrer', {
          URL: str('URL', { format: 'uri' }),
          type: str('Type'),
        }),
      },
      { 'meta:xdmField': 'xdm:web' },
    ),
  },
  required: ['_id', 'timestamp'],
});

/** The standard classes by `$id` and by `meta:altId`. */
export const STANDARD_CLASSES: ReadonlyMap<string, XdmClass> = new Map(
  [PROFILE_CLASS, EXPERIENCE_EVENT_CLASS].flatMap((c) => [
    [c.$id, c],
    [c['meta:altId'], c],
  ]),
);

/** A standard class by `$id` or `meta:altId` (URL-encoded or not). */
export function standardClass(idOrAltId: string): XdmClass | undefined {
  let decoded = idOrAltId;
  try {
    decoded = decodeURIComponent(idOrAltId);
  } catch {
    // not encoded
  }
  return STANDARD_CLASSES.get(decoded);
}

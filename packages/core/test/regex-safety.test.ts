import { nestedRepetition } from '@inflow/core';
import { describe, expect, it } from 'vitest';

describe('nestedRepetition', () => {
  it.each([
    ['(a+)+', '(a+)'],
    ['^(a+)+$', '(a+)'],
    ['(\\w+\\s?)*', '(\\w+\\s?)'],
    ['(x{1,9})+', '(x{1,9})'],
    ['((a+))+', '((a+))'],
    ['(?:a*b*)*', '(?:a*b*)'],
    ['(a+|b)+', '(a+|b)'],
    ['^(?<n>a+)+$', '(?<n>a+)'],
    ['([a-z]+)*$', '([a-z]+)'],
    ['(a+){2,}', '(a+)'],
    // Found by review: a character matched once that the repeated part matches too is no separator,
    // escapes are one atom, a bounded repetition repeats, and looseness goes through `?` and `{n}`.
    ['^(a+a)+$', '(a+a)'],
    ['^(\\w+\\d)+$', '(\\w+\\d)'],
    ['(\\d+\\.?\\d)+$', '(\\d+\\.?\\d)'],
    ['^(.*,)*$', '(.*,)'],
    ['^(\\w+=[^;]*;?)+$', '(\\w+=[^;]*;?)'],
    ['^(\\p{L}+)+$', '(\\p{L}+)'],
    ['(\\x61+)+', '(\\x61+)'],
    ['(\\u0061+)+', '(\\u0061+)'],
    ['((a+){2})+', '((a+){2})'],
    ['((a+)?)+', '((a+)?)'],
    ['(?:(?:a+){1})+', '(?:(?:a+){1})'],
    ['(a+){1,100}', '(a+)'],
    ['(a+){1,5}', '(a+)'],
    ['([^]+)+', '([^]+)'],
    ['^(\\w+\\s?\\w)+$', '(\\w+\\s?\\w)'],
  ])('refuses %s, naming the group %s', (pattern, group) => {
    expect(nestedRepetition(pattern)).toContain(
      `the group ${group} repeats and can match the same text in many ways`,
    );
  });

  it.each([
    'a+',
    '(ab)+',
    '(\\w+\\.)+\\w+',
    '^([a-z0-9]+(-[a-z0-9]+)*\\.)+[a-z]{2,}$',
    '(\\d{1,3}\\.){3}\\d{1,3}',
    '[(a+)]+',
    '\\(a+\\)+',
    '^\\p{L}+$',
    '(a+){2}',
    '^\\w+(?:\\s\\w+)*$',
    '^(\\w+,)*\\w+$',
    '^(\\d+\\.)+\\d+$',
    '(\\[[^\\]]*\\])+',
    '^[A-Z]{2}\\d{2}( ?\\d{4}){4}$',
    '((?:[^",]|"")*,)+',
    '(?=a+)b',
    '^[^@]+@[^@]+\\.[a-z]+$',
    '(\\s*,\\s*\\w+)*',
    '([^,]+),[^,]*,([^,]+)',
  ])(
    'lets %s through: each round of a repeated group matches once something its repeated parts cannot',
    (pattern) => {
      expect(nestedRepetition(pattern)).toBeUndefined();
    },
  );
});
